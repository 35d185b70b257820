package engine_test

import (
	"crypto/sha256"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/engine"
	"github.com/paystate/paystate/providers"
	"github.com/paystate/paystate/reqid"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
)

// panDigits finds the digits of card numbers as this test writes them
// (digits joined by any separators), written again here rather than taken
// from package redact.
var panDigits = regexp.MustCompile(`[0-9](?:[ ./_\t-]*[0-9]){12,18}`)

func leaks(s string, pans ...string) []string {
	var out []string
	for _, m := range panDigits.FindAllString(s, -1) {
		d := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, m)
		for _, p := range pans {
			if strings.Contains(d, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

// A card number in any field of a parsed event, in a malformed reason or in
// the request id is never journaled or answered; identifiers holding one
// stay distinct and stable, so that events still meet their aggregate.
func TestCardNumbersInParsedFields(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const pan, twin = "4111111111111111", "4111110000091111" // alike once masked
	ctx := reqid.With(t.Context(), "req-4111.1111.1111.1111")
	submit := func(id, name, key string, parent *providers.Ref) []engine.Outcome {
		t.Helper()
		out, err := b.eng.Submit(ctx, engine.Delivery{Provider: "acme", BodySHA256: fmt.Sprintf("%x", sha256.Sum256([]byte(key))), RedactedBody: []byte("{}"), Events: []providers.Event{{
			Provider: "acme", Kind: sm.KindPayment, AggregateID: id, Name: name, ProviderStatus: name + " " + pan,
			DedupeKey: key, Currency: "EUR", MerchantReference: "ref " + pan, Amount: 100, HasAmount: true, Parent: parent}}})
		require.NoError(t, err)
		return out
	}
	var outs []engine.Outcome
	outs = append(outs, submit(pan, "AUTH", "evt-"+pan+"-1", &providers.Ref{Kind: sm.KindPayment, ID: "4111 1111 1111 1111"})...)
	outs = append(outs, submit(twin, "AUTH", "evt-"+twin+"-1", nil)...)
	outs = append(outs, submit(pan, "CAPTURE", "evt-"+pan+"-2", nil)...)
	outs = append(outs, submit(pan, "NOTE x"+pan, "evt-"+pan+"-3", nil)...)
	again := submit(pan, "CAPTURE", "evt-"+pan+"-2", nil)
	require.Equal(t, sm.VerdictDuplicate, again[0].Verdict, "a dedupe key holding a card number still finds its receipt")
	malformed, err := b.eng.Submit(ctx, engine.Delivery{Provider: "acme", BodySHA256: "m", Malformed: "bad card " + pan})
	require.NoError(t, err)
	outs = append(append(outs, malformed...), again...)

	require.Equal(t, sm.VerdictApplied, outs[0].Verdict)
	require.Equal(t, sm.VerdictApplied, outs[1].Verdict, "the twin is another aggregate")
	require.Equal(t, sm.VerdictApplied, outs[2].Verdict, "the capture meets its authorisation")
	require.NotEqual(t, outs[0].Key.ID, outs[1].Key.ID)
	require.Equal(t, outs[0].Key.ID, outs[2].Key.ID)
	require.Equal(t, "captured", string(outs[2].StateAfter))
	for _, o := range outs {
		require.Empty(t, leaks(fmt.Sprintf("%+v", o), pan, twin), "outcome %+v", o)
	}

	entries, err := b.store.Journal(t.Context(), nil, 0, 100)
	require.NoError(t, err)
	require.Len(t, entries, 6)
	for _, e := range entries {
		require.Empty(t, leaks(fmt.Sprintf("%+v %s", e, e.Payload), pan, twin), "entry %d: %+v\npayload %s", e.Seq, e, e.Payload)
	}
	aggs, err := b.store.AggregatesByReference(t.Context(), outs[0].Key.ID)
	require.NoError(t, err)
	require.Empty(t, aggs, "the reference is masked, not the id")
	a, err := b.store.Aggregate(t.Context(), storage.AggregateKey{Provider: "acme", Kind: "payment", ID: outs[0].Key.ID})
	require.NoError(t, err)
	require.Empty(t, leaks(fmt.Sprintf("%+v", a), pan, twin))
	b.verify(t)

	// The database file itself.
	b.stop(t)
	for _, suffix := range []string{"", "-wal"} {
		raw, err := os.ReadFile(b.path + suffix)
		if err == nil {
			require.Empty(t, leaks(string(raw), pan, twin), "paystate.db%s", suffix)
		}
	}
}
