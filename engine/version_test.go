package engine_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/engine"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
)

// TestEveryVerdictRecordsTheVersionThatDecidedIt: deferrals, their
// resolutions, expiries, rejections and record-only words all name the
// table that decided them; an entry no machine decided names none.
func TestEveryVerdictRecordsTheVersionThatDecidedIt(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.send(t, ev{name: "CAPTURE", amount: -1})         // deferred
	b.send(t, ev{name: "AUTH", amount: 100})           // applied, resolves the capture
	b.send(t, ev{name: "AUTH", amount: 100, key: "x"}) // rejected: stale
	b.send(t, ev{name: "NOTE", amount: -1})            // recorded
	b.send(t, ev{id: "o2", name: "CLOSE", amount: -1}) // deferred, then expired
	b.clock.Add(time.Hour)
	_, err := b.eng.Sweep(t.Context(), b.clock.Now())
	require.NoError(t, err)
	_, err = b.eng.Submit(t.Context(), engine.Delivery{Provider: "acme", BodySHA256: "junk", Malformed: "not JSON"})
	require.NoError(t, err)

	want := b.reg.Machine("acme", sm.KindPayment).Version()
	require.NotEmpty(t, want)
	entries, err := b.store.Journal(t.Context(), nil, 0, 100)
	require.NoError(t, err)
	require.Len(t, entries, 8)
	for _, e := range entries[:7] {
		require.Equal(t, want, e.MachineVersion, "entry %d (%s %s)", e.Seq, e.Event, e.Verdict)
		require.Zero(t, e.RevisesSeq)
	}
	require.Equal(t, storage.AggregateKey{Provider: "acme"}, entries[7].Key)
	require.Empty(t, entries[7].MachineVersion, "a malformed body was decided by no machine")
	b.verify(t)
}
