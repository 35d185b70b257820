package bench

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// A session of the application blocked on another's row lock is counted
// as lock wait; the sampler changes nothing on the server.
func TestSampleLockWaits(t *testing.T) {
	dsn := os.Getenv("PAYSTATE_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("PAYSTATE_TEST_POSTGRES_DSN is not set: no PostgreSQL to sample")
	}
	ctx := t.Context()
	app := fmt.Sprintf("paystate_lockwait_test_%d", time.Now().UnixNano())
	appDSN := withApplicationName(dsn, app)
	connect := func() *pgx.Conn {
		c, err := pgx.Connect(ctx, appDSN)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close(ctx) })
		return c
	}
	holder, waiter := connect(), connect()
	table := pgx.Identifier{app}.Sanitize()
	_, err := holder.Exec(ctx, "CREATE TABLE "+table+" (id int PRIMARY KEY)")
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = holder.Exec(ctx, "DROP TABLE IF EXISTS "+table) })
	_, err = holder.Exec(ctx, "INSERT INTO "+table+" VALUES (1)")
	require.NoError(t, err)

	stop := sampleLockWaits(ctx, dsn, app)
	tx, err := holder.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "SELECT id FROM "+table+" WHERE id = 1 FOR UPDATE")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		_, err := waiter.Exec(ctx, "SELECT id FROM "+table+" WHERE id = 1 FOR UPDATE")
		done <- err
	}()
	// Hold the lock a while once the waiter is seen queued on it, however
	// late a loaded machine starts it.
	probe, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { probe.Close(ctx) })
	require.Eventually(t, func() bool {
		var n int
		err := probe.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`, app).Scan(&n)
		return err == nil && n == 1
	}, time.Minute, 10*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	require.NoError(t, tx.Commit(ctx))
	require.NoError(t, <-done)
	w, ok := stop()
	require.True(t, ok)
	require.Positive(t, w.waiting["transactionid"], "the waiter queued on the holder's transaction")
	require.Greater(t, w.total(), 100*time.Millisecond)
	// One waiter cannot have waited longer than the sampler ran.
	require.LessOrEqual(t, w.total(), w.elapsed)
	require.Positive(t, w.idleInTx, "the holder sat in its transaction meanwhile")
	require.Contains(t, w.note(10), "transactionid")
}

// Each waiting backend seen stands for one sampling interval, scaled by
// the intervals the sampler really achieved.
func TestLockWaitsTotal(t *testing.T) {
	w := lockWaits{samples: 100, elapsed: time.Second, waiting: map[string]int{"transactionid": 30, "tuple": 20}}
	require.Equal(t, 500*time.Millisecond, w.total())
	require.Contains(t, w.note(1000), "500 µs/op")
	require.Contains(t, w.note(1000), "transactionid 300, tuple 200")
	require.Zero(t, lockWaits{}.total())
}
