package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/storage"
)

// lookup runs Tx.Lookup in a transaction of its own.
func lookup(t *testing.T, s storage.Store, rs []storage.ReceiptKey, as []storage.AggregateKey) storage.Lookups {
	t.Helper()
	var l storage.Lookups
	update(t, s, func(tx storage.Tx) error {
		var err error
		l, err = tx.Lookup(t.Context(), rs, as)
		return err
	})
	return l
}

func testLookup(t *testing.T, b Backend) {
	s, ctx := b.Store, t.Context()
	r1 := storage.ReceiptKey{Provider: "acme", DedupeKey: "evt_1"}
	otherProvider := storage.ReceiptKey{Provider: "other", DedupeKey: "evt_1"}
	missing := storage.AggregateKey{Provider: "acme", Kind: "payment", ID: "nope"}
	rs := []storage.ReceiptKey{r1, otherProvider, r1}
	as := []storage.AggregateKey{payKey, refundKey, missing, payKey}

	empty := lookup(t, s, rs, as)
	require.Empty(t, empty.Receipts)
	require.Empty(t, empty.Aggregates)
	require.Empty(t, empty.Held)
	none := lookup(t, s, nil, nil)
	require.Empty(t, none.Receipts)

	// The transaction's own writes, before they commit; an event held for
	// an aggregate that does not exist yet is held all the same.
	a := storage.Aggregate{Key: payKey, MerchantReference: "ORD-1", Parent: refundKey, State: "authorized",
		ProviderStatus: "AUTHORISED", Currency: "EUR", Amount: 1250, Authorized: 1250, Captured: 1, Refunded: 2,
		Version: 3, CreatedAt: t0, UpdatedAt: t0.Add(time.Second)}
	rec := storage.Receipt{Seq: 7, BodySHA256: sha}
	heldRefund := storage.DeferredEvent{Seq: 8, Key: refundKey, DedupeKey: "evt_8", BodySHA256: sha,
		ReceivedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	var own storage.Lookups
	update(t, s, func(tx storage.Tx) error {
		if err := tx.PutReceipt(ctx, r1.Provider, r1.DedupeKey, rec); err != nil {
			return err
		}
		if err := tx.PutAggregate(ctx, a); err != nil {
			return err
		}
		if err := tx.Defer(ctx, heldRefund); err != nil {
			return err
		}
		var err error
		own, err = tx.Lookup(ctx, rs, as)
		return err
	})
	want := storage.Lookups{
		Receipts:   map[storage.ReceiptKey]storage.Receipt{r1: rec},
		Aggregates: map[storage.AggregateKey]storage.Aggregate{payKey: a},
		Held:       map[storage.AggregateKey]bool{refundKey: true},
	}
	requireLookups(t, want, own)
	requireLookups(t, want, lookup(t, s, rs, as))

	// Receipts alone, the transaction's own among stored ones (a store
	// may answer these without writing its pending rows first), a body
	// hash that is not hex included.
	r2 := storage.ReceiptKey{Provider: "acme", DedupeKey: "evt_2"}
	r3 := storage.ReceiptKey{Provider: "other", DedupeKey: "evt_3"}
	rec2, rec3 := storage.Receipt{Seq: 10, BodySHA256: sha}, storage.Receipt{Seq: 11, BodySHA256: "not hex"}
	var receiptsOnly storage.Lookups
	update(t, s, func(tx storage.Tx) error {
		if err := tx.PutReceipt(ctx, r2.Provider, r2.DedupeKey, rec2); err != nil {
			return err
		}
		if err := tx.PutReceipt(ctx, r3.Provider, r3.DedupeKey, rec3); err != nil {
			return err
		}
		var err error
		receiptsOnly, err = tx.Lookup(ctx, []storage.ReceiptKey{r1, r2, otherProvider, r3, r2}, nil)
		return err
	})
	require.Equal(t, map[storage.ReceiptKey]storage.Receipt{r1: rec, r2: rec2, r3: rec3}, receiptsOnly.Receipts)
	require.Equal(t, receiptsOnly.Receipts, lookup(t, s, []storage.ReceiptKey{r1, r2, otherProvider, r3}, nil).Receipts)

	heldPay := heldRefund
	heldPay.Seq, heldPay.Key, heldPay.DedupeKey = 9, payKey, "evt_9"
	update(t, s, func(tx storage.Tx) error { return tx.Defer(ctx, heldPay) })
	want.Held[payKey] = true
	requireLookups(t, want, lookup(t, s, rs, as))

	update(t, s, func(tx storage.Tx) error { return tx.Undefer(ctx, heldRefund.Seq) })
	delete(want.Held, refundKey)
	requireLookups(t, want, lookup(t, s, rs, as))
	update(t, s, func(tx storage.Tx) error { return tx.Undefer(ctx, heldPay.Seq) })
	require.Empty(t, lookup(t, s, rs, as).Held)
}

func requireLookups(t *testing.T, want, got storage.Lookups) {
	t.Helper()
	require.Equal(t, want.Receipts, got.Receipts)
	require.Equal(t, want.Held, got.Held)
	require.Len(t, got.Aggregates, len(want.Aggregates))
	for k, a := range want.Aggregates {
		require.Equal(t, a, normAggregate(got.Aggregates[k]), "aggregate %v", k)
	}
}

// More keys than a backend might put in one statement, half of them
// stored, with the stored ones spread among the rest.
func testLookupManyKeys(t *testing.T, b Backend) {
	const n = 1100
	s, ctx := b.Store, t.Context()
	var rs []storage.ReceiptKey
	var as []storage.AggregateKey
	for i := range n {
		rs = append(rs, storage.ReceiptKey{Provider: "acme", DedupeKey: fmt.Sprintf("evt_%d", i)})
		as = append(as, storage.AggregateKey{Provider: "acme", Kind: "payment", ID: fmt.Sprintf("pay_%d", i)})
	}
	update(t, s, func(tx storage.Tx) error {
		for i := 0; i < n; i += 2 {
			if err := tx.PutReceipt(ctx, "acme", rs[i].DedupeKey, storage.Receipt{Seq: int64(i + 1), BodySHA256: sha}); err != nil {
				return err
			}
			a := storage.Aggregate{Key: as[i], State: "authorized", Version: int64(i), CreatedAt: t0, UpdatedAt: t0}
			if err := tx.PutAggregate(ctx, a); err != nil {
				return err
			}
		}
		return tx.Defer(ctx, storage.DeferredEvent{Seq: 1, Key: as[n-1], DedupeKey: "evt_held", BodySHA256: sha,
			ReceivedAt: t0, ExpiresAt: t0.Add(time.Hour)})
	})
	l := lookup(t, s, rs, as)
	require.Len(t, l.Receipts, n/2)
	require.Len(t, l.Aggregates, n/2)
	for i := 0; i < n; i += 2 {
		require.Equal(t, int64(i+1), l.Receipts[rs[i]].Seq)
		require.Equal(t, int64(i), l.Aggregates[as[i]].Version)
	}
	require.Equal(t, map[storage.AggregateKey]bool{as[n-1]: true}, l.Held)
}
