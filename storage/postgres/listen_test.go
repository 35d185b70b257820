package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/storage"
)

// TestListenHearsAnotherStoresCommits: a commit that appends to the
// journal through one Store wakes a Listen on the same schema (another
// replica's, in production); a commit that appends nothing, or one to
// another schema, does not.
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
	// Nothing appended: nothing announced. Then a commit elsewhere.
	require.NoError(t, su.s.Update(ctx, func(tx storage.Tx) error { return nil }))
	appendEntry(other.s)
	// The commit that matters, through a second Store on the schema.
	appendEntry(openIn(t, su.dsn, su.schema))
	<-heard
	select {
	case <-heard:
		t.Fatal("woken by a commit that appended nothing, or by another schema's")
	case <-time.After(50 * time.Millisecond):
	}
}
