package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/storage"
)

// deferFor holds one event for each key, in one transaction.
func deferFor(t *testing.T, s storage.Store, keys ...storage.AggregateKey) {
	t.Helper()
	var es []storage.JournalEntry
	for _, k := range keys {
		es = append(es, entry(k, "early"))
	}
	es = appendEntries(t, s, es...)
	update(t, s, func(tx storage.Tx) error {
		for _, e := range es {
			d := storage.DeferredEvent{Seq: e.Seq, Key: e.Key, DedupeKey: e.DedupeKey, BodySHA256: sha,
				ReceivedAt: t0, ExpiresAt: t0.Add(time.Hour)}
			if err := tx.Defer(t.Context(), d); err != nil {
				return err
			}
		}
		return nil
	})
}

func normView(v storage.AggregateView) storage.AggregateView {
	v.Aggregate = normAggregate(v.Aggregate)
	kids := []storage.HeldAggregate{}
	for _, c := range v.Children {
		c.Aggregate = normAggregate(c.Aggregate)
		kids = append(kids, c)
	}
	v.Children = kids
	return v
}

// testAggregateView: the view is what Aggregate, Children and
// PendingDeferred answer one by one.
func testAggregateView(t *testing.T, b Backend) {
	s, ctx := b.Store, t.Context()
	pay := storage.AggregateKey{Provider: "acme", Kind: "payment", ID: "p1"}
	agg := func(kind, id string, parent storage.AggregateKey) storage.Aggregate {
		return storage.Aggregate{
			Key: storage.AggregateKey{Provider: "acme", Kind: kind, ID: id}, Parent: parent,
			MerchantReference: "order-7", State: "open", Currency: "EUR", Amount: 900, Captured: 900,
			// The flags differ by kind, so that a view reading them from
			// the wrong columns shows.
			AmountKnown: true, CapturedRest: int64(len(kind)), RefundedRest: int64(len(id)),
			Version: 3, CreatedAt: t0, UpdatedAt: t0.Add(time.Minute),
		}
	}
	other := storage.AggregateKey{Provider: "acme", Kind: "payment", ID: "p2"}
	orphanParent := storage.AggregateKey{Provider: "acme", Kind: "payment", ID: "never-seen"}
	// Put out of order; a child of another parent, a child whose parent
	// was never stored, and an aggregate of the same id in another kind.
	putAggregates(t, s,
		agg("refund", "r2", pay),
		agg("payment", "p1", storage.AggregateKey{}),
		agg("chargeback", "c1", pay),
		agg("refund", "r1", pay),
		agg("refund", "r9", other),
		agg("payment", "p2", storage.AggregateKey{}),
		agg("refund", "orphan", orphanParent),
		agg("refund", "p1", storage.AggregateKey{}),
	)
	r1 := storage.AggregateKey{Provider: "acme", Kind: "refund", ID: "r1"}
	deferFor(t, s, pay, pay, r1, other)
	deferFor(t, s, orphanParent)

	held := func(a storage.Aggregate, n int) storage.HeldAggregate {
		return storage.HeldAggregate{Aggregate: a, Pending: n}
	}
	got, err := s.AggregateView(ctx, pay)
	require.NoError(t, err)
	require.Equal(t, storage.AggregateView{
		HeldAggregate: held(agg("payment", "p1", storage.AggregateKey{}), 2),
		Children: []storage.HeldAggregate{
			held(agg("chargeback", "c1", pay), 0), held(agg("refund", "r1", pay), 1), held(agg("refund", "r2", pay), 0),
		},
	}, normView(got), "every field, children ordered by (kind, id)")

	// The same as the reads one by one.
	for _, k := range []storage.AggregateKey{pay, other, r1} {
		v, err := s.AggregateView(ctx, k)
		require.NoError(t, err)
		a, err := s.Aggregate(ctx, k)
		require.NoError(t, err)
		n, err := s.PendingDeferred(ctx, k)
		require.NoError(t, err)
		kids, err := s.Children(ctx, k)
		require.NoError(t, err)
		want := storage.AggregateView{HeldAggregate: held(a, n)}
		for _, c := range kids {
			n, err := s.PendingDeferred(ctx, c.Key)
			require.NoError(t, err)
			want.Children = append(want.Children, held(c, n))
		}
		require.Equal(t, normView(want), normView(v), "%v", k)
	}

	// Not found, even when children or held events name the key.
	for _, k := range []storage.AggregateKey{
		orphanParent,
		{Provider: "acme", Kind: "payment", ID: "p3"},
		{Provider: "other", Kind: "payment", ID: "p1"},
		{Provider: "acme", Kind: "chargeback", ID: "p1"},
		{},
	} {
		_, err := s.AggregateView(ctx, k)
		require.ErrorIs(t, err, storage.ErrNotFound, "%v", k)
		require.NotErrorIs(t, err, storage.ErrUnavailable)
	}
}

// testAggregateViewIsOneSnapshot: a view read while a write transaction
// is open neither waits for it nor sees any of it, and sees all of it once
// it has committed.
func testAggregateViewIsOneSnapshot(t *testing.T, b Backend) {
	s, ctx := b.Store, t.Context()
	pay := storage.Aggregate{Key: payKey, State: "authorized", Version: 1, CreatedAt: t0, UpdatedAt: t0}
	putAggregates(t, s, pay)

	refund := storage.Aggregate{Key: refundKey, Parent: payKey, State: "refund_pending", Version: 1, CreatedAt: t0, UpdatedAt: t0}
	var during storage.AggregateView
	var duringErr error
	update(t, s, func(tx storage.Tx) error {
		captured := pay
		captured.State, captured.Version = "captured", 2
		if err := tx.PutAggregate(ctx, captured); err != nil {
			return err
		}
		if err := tx.PutAggregate(ctx, refund); err != nil {
			return err
		}
		e := entry(refundKey, "early")
		if err := tx.Append(ctx, &e); err != nil {
			return err
		}
		if err := tx.Defer(ctx, storage.DeferredEvent{Seq: e.Seq, Key: refundKey, DedupeKey: e.DedupeKey,
			BodySHA256: sha, ReceivedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
			return err
		}
		// A reader that queued behind this transaction would time out.
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		during, duringErr = s.AggregateView(rctx, payKey)
		return nil
	})
	require.NoError(t, duringErr)
	require.Equal(t, storage.AggregateView{HeldAggregate: storage.HeldAggregate{Aggregate: pay}, Children: []storage.HeldAggregate{}},
		normView(during), "nothing uncommitted")

	after, err := s.AggregateView(ctx, payKey)
	require.NoError(t, err)
	require.Equal(t, int64(2), after.Version)
	require.Equal(t, []storage.HeldAggregate{{Aggregate: refund, Pending: 1}}, normView(after).Children, "all of it once committed")
}
