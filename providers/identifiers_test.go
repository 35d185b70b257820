package providers_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/engine/enginetest"
	"github.com/paystate/paystate/providers"
	"github.com/paystate/paystate/providers/generic"
	"github.com/paystate/paystate/providers/inyo"
	"github.com/paystate/paystate/providers/magnius"
	"github.com/paystate/paystate/providers/ngenius"
	"github.com/paystate/paystate/providers/payengine"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
)

// Identifiers are bytes. encoding/json turns invalid UTF-8 and unpaired
// surrogate escapes into U+FFFD, so two objects whose ids differ only
// there would become one aggregate. For every provider, such an id is
// malformed (recorded; the webhook handler answers 400), while the same
// body with a clean id is applied and a bad byte in a field paystate does
// not read is harmless.
func TestIdentifiersAreBytes(t *testing.T) {
	t.Parallel()
	magniusP, err := magnius.New(magnius.Config{})
	require.NoError(t, err)
	cases := []struct {
		name string
		p    providers.Provider
		kind sm.Kind
		// body is a webhook for an aggregate whose id is id; extra is a
		// field of the body paystate does not read.
		body func(id, extra string) string
	}{
		{"generic", generic.New(generic.Config{}), sm.KindPayment, func(id, extra string) string {
			return `{"id":"evt-` + id + `","type":"payment.completed","created":1741944000,"note":"` + extra + `",` +
				`"data":{"id":"` + id + `","amount":100,"currency":"USD"}}`
		}},
		{"magnius", magniusP, sm.KindPayment, func(id, extra string) string {
			return `{"type":"transaction","id":"` + id + `","status":"AUTHORIZED","amount":100,"note":"` + extra + `"}`
		}},
		{"inyo", inyo.New(inyo.Config{}), sm.KindPayment, func(id, extra string) string {
			return `{"paymentId":"` + id + `","status":"AUTHORIZED","amount":95,"issuerName":"` + extra + `"}`
		}},
		{"ngenius", ngenius.New(ngenius.Config{}), sm.KindPayment, func(id, extra string) string {
			return `{"event":"AUTHORISED","note":"` + extra + `","order":{"id":"` + id + `","reference":"r-1",` +
				`"amount":{"currencyCode":"AED","value":100}},"transaction":{"id":"t-1","state":"AUTHORISED"}}`
		}},
		{"payengine", payengine.New(payengine.Config{}), sm.KindPayment, func(id, extra string) string {
			return `{"event_uid":"u-` + id + `","event":"PAYMENT_AUTH","note":"` + extra + `","data":{"transaction_id":"` + id + `",` +
				`"auth_response":{"status":"PASS","totalAmount":"1.00"}}}`
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := enginetest.New(t, tc.p)
			for _, id := range []string{"o-\xff1", "o-\xfe1", `o-\udc801`, `o-\udc811`, "o-\xed\xa0\x801"} {
				out := h.Post([]byte(tc.body(id, "x")))
				require.Len(t, out, 1, "%q", id)
				require.Equal(t, sm.VerdictRejected, out[0].Verdict, "%q", id)
				require.NotEmpty(t, out[0].Malformed, "%q", id)
				require.True(t, strings.HasPrefix(out[0].Reason, "malformed"), out[0].Reason)
			}
			listed, err := h.Store.ListAggregates(t.Context(), storage.AggregateFilter{}, storage.AggregateKey{}, 10)
			require.NoError(t, err)
			require.Empty(t, listed, "no aggregate from an id with lost bytes")

			// A clean id, and an emoji written as a surrogate pair, apply;
			// a bad byte outside what paystate reads does not matter.
			for _, id := range []string{"o-1", `o-\ud83d\ude00`} {
				out := h.Post([]byte(tc.body(id, "\xff")))
				require.Len(t, out, 1)
				require.Equal(t, sm.VerdictApplied, out[0].Verdict, "%q: %s", id, out[0].Reason)
			}
			h.Aggregate(tc.kind, "o-1")
			h.Aggregate(tc.kind, "o-\U0001F600")
			h.Verify()
		})
	}
}
