package engine_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/engine"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/postgres"
)

func paymentKey(id string) storage.AggregateKey {
	return storage.AggregateKey{Provider: "acme", Kind: string(sm.KindPayment), ID: id}
}

// postgresBundle is a bundle on PostgreSQL, or skips.
func postgresBundle(t *testing.T) *bundle {
	t.Helper()
	open, ok := backends(t)["postgres"]
	if !ok {
		t.Skip("PAYSTATE_TEST_POSTGRES_DSN is not set: the PostgreSQL lock order tests skipped")
	}
	return setupOn(t, open)
}

// locksInIngestOrder runs work, a writer that must lock the aggregates
// first and second, while another session plays an ingest batch naming
// both: it takes their advisory locks in ascending order, as a batch
// does. It holds the lower one, waits until work waits for it too, then
// must get the higher one at once: work holds none of them while it
// waits. A writer that locked first (the higher lock) before second
// would hold it: the two would deadlock, which PostgreSQL breaks only
// after its deadlock_timeout, with a retry.
func locksInIngestOrder(t *testing.T, pg *postgres.Store, first, second storage.AggregateKey, work func() error) {
	t.Helper()
	ctx := t.Context()
	high, low := pg.AggregateLock(first), pg.AggregateLock(second)
	require.Greater(t, high, low, "the writer's first key must hold the higher lock")
	other, err := pgx.Connect(ctx, os.Getenv("PAYSTATE_TEST_POSTGRES_DSN"))
	require.NoError(t, err)
	defer func() { _ = other.Close(context.Background()) }()
	otx, err := other.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = otx.Rollback(context.Background()) }()
	_, err = otx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, low)
	require.NoError(t, err)

	done := make(chan error, 1)
	go func() { done <- work() }()
	// pg_locks splits the key in two halves. A generous deadline: the
	// machine may be loaded.
	require.Eventually(t, func() bool {
		var waiting bool
		err := other.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
			AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))`,
			int64(uint64(low)>>32), int64(uint64(low)&0xffffffff)).Scan(&waiting)
		return err == nil && waiting
	}, time.Minute, 10*time.Millisecond, "the writer waits for the lower lock")

	var got bool
	require.NoError(t, otx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, high).Scan(&got))
	require.True(t, got, "the writer holds none of its keys while it waits for the lower one")
	require.NoError(t, otx.Commit(ctx))
	require.NoError(t, <-done)
}

// TestSweepLocksItsKeysInIngestOrder: the expiry sweep locks its keys as
// a batch does, not one at a time in the order the events were held.
func TestSweepLocksItsKeysInIngestOrder(t *testing.T) {
	t.Parallel()
	b := postgresBundle(t)
	pg := b.store.(*postgres.Store)
	// first is held first, so an expiry in held order locks it first; its
	// lock is the higher of the two.
	first, second := "o-a", "o-b"
	if pg.AggregateLock(paymentKey(first)) < pg.AggregateLock(paymentKey(second)) {
		first, second = second, first
	}
	require.Equal(t, sm.VerdictDeferred, b.send(t, ev{id: first, name: "CAPTURE", amount: -1}).Verdict)
	require.Equal(t, sm.VerdictDeferred, b.send(t, ev{id: second, name: "CAPTURE", amount: -1}).Verdict)
	b.clock.Add(2 * time.Hour)

	var out []engine.Outcome
	locksInIngestOrder(t, pg, paymentKey(first), paymentKey(second), func() (err error) {
		out, err = b.eng.Sweep(t.Context(), b.clock.Now())
		return err
	})
	require.Len(t, out, 2)
	for _, o := range out {
		require.Equal(t, sm.VerdictRejected, o.Verdict)
		require.Contains(t, o.Reason, "expired")
	}
	b.verify(t)
}

// TestReevaluateLocksItsKeysInIngestOrder: a re-evaluation locks its
// aggregates as a batch does, not one at a time in key order.
func TestReevaluateLocksItsKeysInIngestOrder(t *testing.T) {
	t.Parallel()
	b := postgresBundle(t)
	pg := b.store.(*postgres.Store)
	// Two ids in key order whose first holds the higher lock.
	var first, second string
	for i := 0; first == ""; i += 2 {
		a, z := fmt.Sprintf("o-%03d", i), fmt.Sprintf("o-%03d", i+1)
		if pg.AggregateLock(paymentKey(a)) > pg.AggregateLock(paymentKey(z)) {
			first, second = a, z
		}
	}
	for _, id := range []string{first, second} {
		b.send(t, ev{id: id, name: "AUTH", amount: 100})
		require.Equal(t, sm.VerdictDeferred, b.send(t, ev{id: id, name: "CLOSE", amount: -1}).Verdict)
	}
	// An authorisation can be closed without a capture (it lapsed).
	b.withTable(t, changed("CLOSE", func(tr *sm.Transition) { tr.From = append(tr.From, sm.Authorized) }))
	pg = b.store.(*postgres.Store)

	var rep engine.ReevaluateReport
	locksInIngestOrder(t, pg, paymentKey(first), paymentKey(second), func() (err error) {
		rep, err = b.eng.Reevaluate(t.Context(), engine.ReevaluateOptions{})
		return err
	})
	require.Len(t, rep.Aggregates, 2)
	for _, id := range []string{first, second} {
		require.Equal(t, "closed", b.state(t, id).State, id)
	}
	b.verify(t)
}
