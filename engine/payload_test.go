package engine

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/providers"
	sm "github.com/paystate/paystate/statemachine"
)

// payloadSeeds are payloads encode writes, and the shapes of JSON that
// scanPayload must leave to encoding/json.
func payloadSeeds() [][]byte {
	full := newPayload(providers.Event{Name: "CAPTURED", ProviderStatus: "Captured", MerchantReference: "réf-1",
		Parent: &providers.Ref{Kind: sm.KindPayment, ID: "p-1"}, Amount: -1250, HasAmount: true, Currency: "EUR",
		OccurredAt: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.FixedZone("x", 3600)), RecordOnly: true, Snapshot: true, Operation: true})
	full.Effect, full.AmountOf = true, "refund r-1"
	seeds := [][]byte{
		full.encode(),
		newPayload(providers.Event{Name: "AUTH"}).encode(),
		payload{}.encode(),
		payload{Name: "a\"b\\c\x01", ProviderStatus: "\xff", MerchantReference: "<&> \u2028"}.encode(),
	}
	for _, s := range []string{
		``, `{`, `{}`, `{} `, ` {}`, `null`, `[]`, `{"name":"x"}x`, `{"name":"x",}`, `{"name":null}`,
		`{"NAME":"x"}`, `{"name":"x","Name":"y"}`, `{"name":"x","name":"y"}`, `{"unknown":1,"name":"x"}`,
		`{"name":"a\u0062"}`, "{\"name\":\"\xff\"}", "{\"name\":\"\x01\"}", `{"name":"x`, `{"name"`, `{"name":`,
		`{"amount":01}`, `{"amount":-0}`, `{"amount":-}`, `{"amount":1.0}`, `{"amount":1e3}`, `{"amount":"1"}`,
		`{"amount":9223372036854775807}`, `{"amount":9223372036854775808}`, `{"amount":-9223372036854775808}`,
		`{"has_amount":true}`, `{"has_amount":tru}`, `{"has_amount":1}`, `{"record_only":false}`, `{"snapshot":true}`, `{"operation":true}`, `{"effect":true}`,
		`{"amount_of":"refund r-1"}`,
		`{"occurred_at":"2026-01-02T03:04:05Z"}`, `{"occurred_at":"2026-01-02T03:04:05.123456789+05:30"}`,
		`{"occurred_at":"2026-01-02 03:04:05Z"}`, `{"occurred_at":null}`, `{"occurred_at":"2026-13-02T03:04:05Z"}`,
		`{"name": "x"}`, `{ "name":"x"}`,
	} {
		seeds = append(seeds, []byte(s))
	}
	return seeds
}

// FuzzDecodePayload: decodePayload answers exactly as encoding/json does,
// whether scanPayload takes the input or leaves it.
func FuzzDecodePayload(f *testing.F) {
	for _, s := range payloadSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want payload
		wantErr := json.Unmarshal(b, &want)
		got, err := decodePayload(b)
		if wantErr != nil {
			require.EqualError(t, err, wantErr.Error())
			return
		}
		require.NoError(t, err)
		require.Equal(t, want, got)
		if p, ok := scanPayload(b); ok {
			require.Equal(t, want, p)
		}
	})
}

// TestScanPayloadTakesWhatEncodeWrites: the fast path is the path for
// every payload the engine writes without escapes.
func TestScanPayloadTakesWhatEncodeWrites(t *testing.T) {
	for _, b := range payloadSeeds()[:3] {
		want, err := decodePayload(b)
		require.NoError(t, err)
		got, ok := scanPayload(b)
		require.True(t, ok, "%s", b)
		require.Equal(t, want, got)
	}
}
