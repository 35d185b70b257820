package sqlite

import (
	"context"
	"database/sql/driver"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/storage"
)

// pragma reads one PRAGMA on a view connection.
func pragma(t *testing.T, pc *pointConn, name string) driver.Value {
	t.Helper()
	rows, err := pc.c.QueryContext(t.Context(), `PRAGMA `+name, nil)
	require.NoError(t, err)
	defer rows.Close()
	dest := make([]driver.Value, 1)
	require.NoError(t, rows.Next(dest))
	require.ErrorIs(t, rows.Next(dest), io.EOF)
	return dest[0]
}

// AggregateView reads on connections of its own: opened with the read
// pool's pragmas, read-only, and as many as the read pool.
func TestViewConnections(t *testing.T) {
	t.Parallel()
	s, _ := openTestStore(t, WithReadConns(2))
	ctx := t.Context()
	var held []*pointConn
	for range 2 {
		pc, err := s.views.get(ctx, time.Second)
		require.NoError(t, err)
		held = append(held, pc)
	}
	require.NotSame(t, held[0], held[1])
	for _, pc := range held {
		require.Equal(t, "wal", pragma(t, pc, "journal_mode"))
		require.EqualValues(t, 2, pragma(t, pc, "synchronous"))
		require.EqualValues(t, 5000, pragma(t, pc, "busy_timeout"))
		require.EqualValues(t, 1, pragma(t, pc, "query_only"))
		_, err := pc.c.ExecContext(ctx, `DELETE FROM aggregates`, nil)
		require.Error(t, err, "view connections cannot write")
	}
	for _, pc := range held {
		s.views.put(pc, false)
	}
}

// A read that finds every view connection busy (a store that stopped
// answering holds them) waits for one no longer than its bound, and then
// fails as unavailable, through storage.WithTimeout too; the caller's own
// cancellation stays the caller's. A connection given back serves the
// next read.
func TestViewReadBounded(t *testing.T) {
	t.Parallel()
	s, _ := openTestStore(t, WithReadConns(2))
	ctx := t.Context()
	key := storage.AggregateKey{Provider: "acme", Kind: "payment", ID: "pay_1"}
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		return tx.PutAggregate(ctx, storage.Aggregate{Key: key, MerchantReference: "r", State: "authorized"})
	}))
	var held []*pointConn
	for range 2 {
		pc, err := s.views.get(ctx, time.Second)
		require.NoError(t, err)
		held = append(held, pc)
	}
	// Past this, a wait without a bound fails the test instead of hanging it.
	safety, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()

	const bound = 50 * time.Millisecond
	start := time.Now()
	_, err := s.AggregateViewWithin(safety, key, bound)
	require.ErrorIs(t, err, storage.ErrUnavailable)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.GreaterOrEqual(t, time.Since(start), bound)

	_, err = storage.WithTimeout(s, bound).AggregateView(safety, key)
	require.ErrorIs(t, err, storage.ErrUnavailable, "WithTimeout hands the store its bound")

	gone, leave := context.WithTimeout(safety, bound/2)
	defer leave()
	_, err = s.AggregateViewWithin(gone, key, time.Minute)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NotErrorIs(t, err, storage.ErrUnavailable, "the caller gave up, not the store")

	s.views.put(held[0], false)
	v, err := s.AggregateViewWithin(safety, key, bound)
	require.NoError(t, err)
	require.Equal(t, "authorized", v.State)
	s.views.put(held[1], false)

	require.NoError(t, s.Close())
	_, err = s.AggregateView(ctx, key)
	require.ErrorIs(t, err, storage.ErrUnavailable, "closed")
}
