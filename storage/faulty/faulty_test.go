package faulty_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/faulty"
	"github.com/paystate/paystate/storage/sqlite"
)

func open(t *testing.T) storage.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "paystate.db"))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func appendOne(ctx context.Context, tx storage.Tx) error {
	if err := tx.PutReceipt(ctx, "p", "k", storage.Receipt{BodySHA256: "x"}); err != nil {
		return err
	}
	return tx.Append(ctx, &storage.JournalEntry{Key: storage.AggregateKey{Provider: "p"}, Verdict: "recorded", DedupeKey: "k", Actor: "test"})
}

// Every fault is reported as a retryable storage failure, and leaves
// nothing of the transaction behind.
func TestFaultsRollBack(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    faulty.Config
		ranFn  bool
		counts func(faulty.Counts) int
	}{
		{"before fn", faulty.Config{BeforeFn: 1}, false, func(c faulty.Counts) int { return c.BeforeFn }},
		{"in a tx call", faulty.Config{InTx: 1}, true, func(c faulty.Counts) int { return c.InTx }},
		{"at commit", faulty.Config{BeforeCommit: 1}, true, func(c faulty.Counts) int { return c.BeforeCommit }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			under := open(t)
			s := faulty.New(under, tc.cfg)
			ran := false
			err := s.Update(t.Context(), func(tx storage.Tx) error { ran = true; return appendOne(t.Context(), tx) })
			require.ErrorIs(t, err, storage.ErrUnavailable)
			require.ErrorIs(t, err, faulty.ErrInjected)
			require.Equal(t, tc.ranFn, ran)
			require.Equal(t, 1, tc.counts(s.Counts()))
			head, err := under.Head(t.Context())
			require.NoError(t, err)
			require.Zero(t, head.Seq, "a failed transaction left entries behind")
			// The same transaction without faults commits: the dedupe key was
			// not taken by the failed one.
			require.NoError(t, under.Update(t.Context(), func(tx storage.Tx) error { return appendOne(t.Context(), tx) }))
		})
	}
}

func TestNoFaultsPassesThrough(t *testing.T) {
	under := open(t)
	s := faulty.New(under, faulty.Config{})
	require.NoError(t, s.Update(t.Context(), func(tx storage.Tx) error { return appendOne(t.Context(), tx) }))
	head, err := s.Head(t.Context())
	require.NoError(t, err)
	require.Equal(t, int64(1), head.Seq)
	require.Equal(t, faulty.Counts{Updates: 1, Committed: 1}, s.Counts())
}

// The same seed injects the same faults.
func TestSeeded(t *testing.T) {
	run := func(seed uint64) []bool {
		s := faulty.New(open(t), faulty.Config{Seed: seed, BeforeFn: 0.5})
		var out []bool
		for range 32 {
			out = append(out, s.Update(t.Context(), func(storage.Tx) error { return nil }) != nil)
		}
		return out
	}
	require.Equal(t, run(7), run(7))
	require.NotEqual(t, run(7), run(8))
}

// A stall gives up when the caller does.
func TestStallHonoursContext(t *testing.T) {
	s := faulty.New(open(t), faulty.Config{Stall: 1, MaxStall: time.Hour, Seed: 1})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	err := s.Update(ctx, func(storage.Tx) error { t.Fatal("fn ran"); return nil })
	require.ErrorIs(t, err, storage.ErrUnavailable)
	require.True(t, errors.Is(err, context.DeadlineExceeded))
	require.Equal(t, 1, s.Counts().Stalls)
}
