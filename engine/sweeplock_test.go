package engine_test

import (
	"context"
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

// TestSweepLocksItsKeysInIngestOrder: the expiry sweep takes its keys'
// advisory locks in the order an ingest batch takes them (ascending), all
// before deciding any. Another session plays an ingest batch naming the
// same two keys: it holds the lower lock while the sweep waits for it, and
// must then get the higher one at once. A sweep that locked its keys one
// at a time, in the order the events were held (the higher lock first),
// would hold it: the two would deadlock, which PostgreSQL breaks only
// after its deadlock_timeout, with a retry.
func TestSweepLocksItsKeysInIngestOrder(t *testing.T) {
	t.Parallel()
	open, ok := backends(t)["postgres"]
	if !ok {
		t.Skip("PAYSTATE_TEST_POSTGRES_DSN is not set: the PostgreSQL sweep lock test skipped")
	}
	b := setupOn(t, open)
	ctx := t.Context()
	pg := b.store.(*postgres.Store)
	key := func(id string) storage.AggregateKey {
		return storage.AggregateKey{Provider: "acme", Kind: string(sm.KindPayment), ID: id}
	}
	// first is held first, so an expiry in held order locks it first; its
	// lock is the higher of the two.
	first, second := "o-a", "o-b"
	if pg.AggregateLock(key(first)) < pg.AggregateLock(key(second)) {
		first, second = second, first
	}
	high, low := pg.AggregateLock(key(first)), pg.AggregateLock(key(second))
	require.Equal(t, sm.VerdictDeferred, b.send(t, ev{id: first, name: "CAPTURE", amount: -1}).Verdict)
	require.Equal(t, sm.VerdictDeferred, b.send(t, ev{id: second, name: "CAPTURE", amount: -1}).Verdict)
	b.clock.Add(2 * time.Hour)

	other, err := pgx.Connect(ctx, os.Getenv("PAYSTATE_TEST_POSTGRES_DSN"))
	require.NoError(t, err)
	defer func() { _ = other.Close(context.Background()) }()
	otx, err := other.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = otx.Rollback(context.Background()) }()
	_, err = otx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, low)
	require.NoError(t, err)

	type result struct {
		out []engine.Outcome
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := b.eng.Sweep(ctx, b.clock.Now())
		done <- result{out, err}
	}()
	// The sweep waits for the lower lock (pg_locks splits the key in two
	// halves). A generous deadline: the machine may be loaded.
	require.Eventually(t, func() bool {
		var waiting bool
		err := other.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
			AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))`,
			int64(uint64(low)>>32), int64(uint64(low)&0xffffffff)).Scan(&waiting)
		return err == nil && waiting
	}, 60*time.Second, 10*time.Millisecond, "the sweep waits for the lower lock")

	var got bool
	require.NoError(t, otx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, high).Scan(&got))
	require.True(t, got, "the sweep holds none of its keys while it waits for the lower one")
	require.NoError(t, otx.Commit(ctx))

	r := <-done
	require.NoError(t, r.err)
	require.Len(t, r.out, 2)
	for _, o := range r.out {
		require.Equal(t, sm.VerdictRejected, o.Verdict)
		require.Contains(t, o.Reason, "expired")
	}
	b.verify(t)
}
