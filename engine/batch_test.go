package engine_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/engine"
	"github.com/paystate/paystate/providers"
	sm "github.com/paystate/paystate/statemachine"
)

// The events of one transaction read what the transaction wrote before
// them (the engine reads a batch's state once, up front): a capture held
// and then released by its authorisation, a duplicate of an event earlier
// in the batch, an aggregate created and moved on. Sent as one delivery
// (one transaction) and one event at a time (one transaction each), they
// must get the same verdicts and leave the same state.
func TestOneTransactionSeesItsOwnWrites(t *testing.T) {
	t.Parallel()
	event := func(id, name, key string, amount int64) providers.Event {
		return providers.Event{Provider: "acme", Kind: sm.KindPayment, AggregateID: id, Name: name,
			DedupeKey: key, Currency: "EUR", Amount: amount, HasAmount: amount > 0}
	}
	events := []providers.Event{
		event("o1", "CAPTURE", "k1", 0),  // held: o1 does not exist yet
		event("o1", "AUTH", "k2", 100),   // applied, releases k1
		event("o1", "AUTH", "k2", 100),   // duplicate of the line above
		event("o1", "CAPTURE", "k3", 0),  // o1 is captured by now: rejected
		event("o2", "AUTH", "k4", 200),   // a new aggregate...
		event("o2", "CAPTURE", "k5", 50), // ...moved on in the same transaction
		event("o2", "VOID", "k6", 0),     // captured: rejected
	}
	delivery := func(evs ...providers.Event) engine.Delivery {
		return engine.Delivery{Provider: "acme", BodySHA256: "body", RedactedBody: []byte("body"), Events: evs}
	}

	together := setup(t)
	batched, err := together.eng.Submit(t.Context(), delivery(events...))
	require.NoError(t, err)

	apart := setup(t)
	var single []engine.Outcome
	for _, e := range events {
		out, err := apart.eng.Submit(t.Context(), delivery(e))
		require.NoError(t, err)
		single = append(single, out...)
	}

	verdicts := func(os []engine.Outcome) (vs []sm.Verdict) {
		for _, o := range os {
			vs = append(vs, o.Verdict)
			for _, r := range o.Resolved {
				vs = append(vs, "resolved "+r.Verdict)
			}
		}
		return vs
	}
	want := []sm.Verdict{sm.VerdictDeferred, sm.VerdictApplied, "resolved " + sm.VerdictApplied,
		sm.VerdictDuplicate, sm.VerdictRejected, sm.VerdictApplied, sm.VerdictApplied, sm.VerdictRejected}
	require.Equal(t, want, verdicts(single), "one at a time")
	require.Equal(t, want, verdicts(batched), "in one transaction")
	for _, id := range []string{"o1", "o2"} {
		a, b := together.state(t, id), apart.state(t, id)
		require.Equal(t, b.State, a.State, id)
		require.Equal(t, b.Version, a.Version, id)
		require.Equal(t, b.Captured, a.Captured, id)
	}
	require.Equal(t, "captured", together.state(t, "o1").State)
	require.Equal(t, int64(2), together.state(t, "o2").Version)
	together.verify(t)
	apart.verify(t)
}
