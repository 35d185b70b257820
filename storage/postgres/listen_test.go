package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/storage"
)

// TestListenHearsAnotherStoresCommits: a seal of entries committed
// through one Store wakes a Listen on the same schema (another replica's,
// in production); a commit that appends nothing, a commit not sealed yet,
// or a seal in another schema, does not.
func TestListenHearsAnotherStoresCommits(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	other := newSetup(t)
	ctx, cancel := context.WithCancel(t.Context())
	heard := make(chan struct{}, 16)
	done := make(chan error, 1)
	go func() { done <- Listen(ctx, su.dsn, func() { heard <- struct{}{} }, WithSchema(su.schema)) }()
	t.Cleanup(func() { cancel(); require.ErrorIs(t, <-done, context.Canceled) })
	<-heard // connected and listening: the first call says so

	key := storage.AggregateKey{Provider: "acme", Kind: "payment", ID: "p1"}
	appendEntry := func(s *Store) {
		require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
			e := storage.JournalEntry{Key: key, Event: "e", Verdict: "applied", ReceivedAt: t0, Actor: "webhook"}
			return tx.Append(ctx, &e)
		}))
	}
	// Nothing appended: nothing announced. Then a seal elsewhere.
	require.NoError(t, su.s.Update(ctx, func(tx storage.Tx) error { return nil }))
	appendEntry(other.s)
	seal(t, other.s)
	// The commit that matters, through a second Store on the schema:
	// announced by its seal, not by the commit.
	second := openIn(t, su.dsn, su.schema)
	appendEntry(second)
	select {
	case <-heard:
		t.Fatal("woken by a commit not sealed yet")
	case <-time.After(50 * time.Millisecond):
	}
	seal(t, second)
	<-heard
	select {
	case <-heard:
		t.Fatal("woken by a commit that appended nothing, or by another schema's")
	case <-time.After(50 * time.Millisecond):
	}
}
