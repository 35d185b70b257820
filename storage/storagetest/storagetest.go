// Package storagetest is the conformance suite for storage backends: every
// backend's tests call Run, so every backend is held to the same reading of
// the storage.Store contract. It needs nothing but the contract, plus two
// hooks that reach past it to prove that VerifyChain catches tampering.
//
// A backend's test looks like:
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) storagetest.Backend {
//			s := openFreshStore(t) // closed by t.Cleanup
//			return storagetest.Backend{Store: s, Tamper: ..., DeleteLast: ...}
//		})
//	}
package storagetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/storage"
)

// Backend is one fresh, empty store under test, with hooks that change the
// database behind the contract's back.
type Backend struct {
	Store storage.Store
	// Tamper edits the reason of the journal row seq directly in the
	// database, bypassing the contract, to prove VerifyChain detects it.
	// Nil skips the tests that need it.
	Tamper func(seq int64, newReason string) error
	// DeleteLast deletes the newest journal row directly in the database
	// (leaving the stored chain head alone, as an intruder would). Nil
	// skips the tests that need it.
	DeleteLast func() error
}

// Run runs the suite. newStore must return a fresh, empty store that
// shares nothing with any other it returns, and must arrange for it to be
// closed (t.Cleanup); subtests run in parallel.
func Run(t *testing.T, newStore func(t *testing.T) Backend) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, b Backend)
	}{
		{"AggregateRoundTrip", testAggregateRoundTrip},
		{"AggregateNotFound", testAggregateNotFound},
		{"AggregatesByReference", testAggregatesByReference},
		{"Children", testChildren},
		{"AggregateView", testAggregateView},
		{"AggregateViewIsOneSnapshot", testAggregateViewIsOneSnapshot},
		{"ListAggregates", testListAggregates},
		{"ListAggregatesModel", testListAggregatesModel},
		{"Receipts", testReceipts},
		{"DuplicateReceiptRejected", testDuplicateReceipt},
		{"AppendAssignsSeqAndHash", testAppendAssignsSeqAndHash},
		{"JournalRoundTrip", testJournalRoundTrip},
		{"JournalPaging", testJournalPaging},
		{"ReplayJournal", testReplayJournal},
		{"Head", testHead},
		{"TouchChangesNothing", testTouch},
		{"VerifyChainOK", testVerifyChainOK},
		{"VerifyChainDetectsTamper", testVerifyChainDetectsTamper},
		{"VerifyChainDetectsDeleteLast", testVerifyChainDetectsDeleteLast},
		{"VerifyChainDetectsHeadMovedBack", testVerifyChainDetectsHeadMovedBack},
		{"VerifyChainUnderLiveAppends", testVerifyChainUnderLiveAppends},
		{"VerifyRange", testVerifyRange},
		{"UpdateRollsBackOnError", testUpdateRollsBack},
		{"TxReadsItsOwnWrites", testTxReadsOwnWrites},
		{"PutAfterRead", testPutAfterRead},
		{"ReadsDoNotWaitForWriter", testReadsDoNotWaitForWriter},
		{"Deferred", testDeferred},
		{"ExpiredWaiting", testExpiredWaiting},
		{"DerivedTablesListAndDelete", testDerivedTablesListAndDelete},
		{"Checkpoints", testCheckpoints},
		{"Lookup", testLookup},
		{"LookupManyKeys", testLookupManyKeys},
		{"ConcurrentWriters", testConcurrentWriters},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newStore(t)
			require.NotNil(t, b.Store, "newStore returned no store")
			tc.fn(t, b)
		})
	}
}

// t0 is microsecond-precise: every backend keeps microseconds.
var t0 = time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.UTC)

var (
	payKey    = storage.AggregateKey{Provider: "acme", Kind: "payment", ID: "pay_1"}
	refundKey = storage.AggregateKey{Provider: "acme", Kind: "refund", ID: "re_1"}
)

const sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

// update runs fn and, on a store that seals entries after they commit
// (storage.Sealer), seals what it appended: the suite reads the journal
// right after.
func update(t *testing.T, s storage.Store, fn func(tx storage.Tx) error) {
	t.Helper()
	require.NoError(t, s.Update(t.Context(), fn))
	require.NoError(t, storage.SealAll(t.Context(), s))
}

func putAggregates(t *testing.T, s storage.Store, as ...storage.Aggregate) {
	t.Helper()
	update(t, s, func(tx storage.Tx) error {
		for _, a := range as {
			if err := tx.PutAggregate(t.Context(), a); err != nil {
				return err
			}
		}
		return nil
	})
}

// appendEntries appends es in one transaction and returns them as
// assigned (Seq, PrevHash, Hash set).
func appendEntries(t *testing.T, s storage.Store, es ...storage.JournalEntry) []storage.JournalEntry {
	t.Helper()
	// The entries are read back after Update: a backend may give them
	// their place in the chain only as the transaction commits, or, a
	// Sealer, only once they are sealed (update seals), when it leaves
	// Seq 0 and the place is read from the journal.
	head, err := s.Head(t.Context())
	require.NoError(t, err)
	var out []storage.JournalEntry
	update(t, s, func(tx storage.Tx) error {
		out = slices.Clone(es)
		for i := range out {
			if err := tx.Append(t.Context(), &out[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if _, sealer := storage.AsSealer(s); sealer {
		stored, err := s.Journal(t.Context(), nil, head.Seq, len(out))
		require.NoError(t, err)
		require.Len(t, stored, len(out), "every entry sealed")
		for i := range out {
			require.Zero(t, out[i].Seq, "a Sealer's entry has no place until sealed")
			out[i].Seq, out[i].PrevHash, out[i].Hash = stored[i].Seq, stored[i].PrevHash, stored[i].Hash
			out[i].ResolvesSeq, out[i].RevisesSeq = stored[i].ResolvesSeq, stored[i].RevisesSeq
		}
	}
	return out
}

func entry(key storage.AggregateKey, event string) storage.JournalEntry {
	return storage.JournalEntry{
		Key: key, Event: event, Verdict: "applied", Actor: "webhook",
		DedupeKey: "evt_" + event, BodySHA256: sha, ReceivedAt: t0,
	}
}

func allJournal(t *testing.T, r storage.Reader) []storage.JournalEntry {
	t.Helper()
	es, err := r.Journal(t.Context(), nil, 0, 1_000_000)
	require.NoError(t, err)
	return es
}

func seqs(es []storage.JournalEntry) []int64 {
	out := []int64{}
	for _, e := range es {
		out = append(out, e.Seq)
	}
	return out
}

func deferredSeqs(ds []storage.DeferredEvent) []int64 {
	out := []int64{}
	for _, d := range ds {
		out = append(out, d.Seq)
	}
	return out
}

// Normalization: the contract promises instants at microsecond precision,
// not a time.Location, and does not tell nil from empty slices.

func normTime(tm time.Time) time.Time {
	if tm.IsZero() {
		return time.Time{}
	}
	return time.UnixMicro(tm.UnixMicro()).UTC()
}

func normAggregate(a storage.Aggregate) storage.Aggregate {
	a.CreatedAt, a.UpdatedAt = normTime(a.CreatedAt), normTime(a.UpdatedAt)
	return a
}

func unheld(hs []storage.HeldAggregate) []storage.Aggregate {
	var out []storage.Aggregate
	for _, h := range hs {
		out = append(out, h.Aggregate)
	}
	return out
}

func normAggregates(as []storage.Aggregate) []storage.Aggregate {
	out := []storage.Aggregate{}
	for _, a := range as {
		out = append(out, normAggregate(a))
	}
	return out
}

func normEntry(e storage.JournalEntry) storage.JournalEntry {
	e.ReceivedAt, e.OccurredAt = normTime(e.ReceivedAt), normTime(e.OccurredAt)
	if len(e.RedactedBody) == 0 {
		e.RedactedBody = nil
	}
	if len(e.Payload) == 0 {
		e.Payload = nil
	}
	if len(e.Skipped) == 0 {
		e.Skipped = nil
	}
	return e
}

func normEntries(es []storage.JournalEntry) []storage.JournalEntry {
	out := []storage.JournalEntry{}
	for _, e := range es {
		out = append(out, normEntry(e))
	}
	return out
}

func normDeferred(ds []storage.DeferredEvent) []storage.DeferredEvent {
	out := []storage.DeferredEvent{}
	for _, d := range ds {
		d.ReceivedAt, d.ExpiresAt = normTime(d.ReceivedAt), normTime(d.ExpiresAt)
		if len(d.Payload) == 0 {
			d.Payload = nil
		}
		out = append(out, d)
	}
	return out
}

func testAggregateRoundTrip(t *testing.T, b Backend) {
	s, ctx := b.Store, t.Context()
	full := storage.Aggregate{
		Key:               refundKey,
		MerchantReference: "order-42",
		Parent:            payKey,
		State:             "refund_pending",
		ProviderStatus:    "Pending",
		Currency:          "EUR",
		Amount:            1250,
		Authorized:        1<<53 + 1, // not representable as a float64
		Captured:          4000,
		Refunded:          -7,
		AmountsUnknown:    true,
		AmountKnown:       true,
		CapturedRest:      1<<53 + 3,
		Version:           12,
		CreatedAt:         t0.In(time.FixedZone("UTC+5:30", 5*3600+1800)),
		UpdatedAt:         t0.Add(90*time.Minute + 123*time.Microsecond),
	}
	putAggregates(t, s, full)

	var locked storage.Aggregate
	update(t, s, func(tx storage.Tx) error {
		var err error
		locked, err = tx.LockAggregate(ctx, refundKey)
		return err
	})
	require.Equal(t, normAggregate(full), normAggregate(locked), "LockAggregate")
	got, err := s.Aggregate(ctx, refundKey)
	require.NoError(t, err)
	require.Equal(t, normAggregate(full), normAggregate(got), "Aggregate")
	require.True(t, got.CreatedAt.Equal(full.CreatedAt), "CreatedAt keeps its instant")

	// With the same reference and parent, every other field is replaced.
	moved := storage.Aggregate{Key: refundKey, MerchantReference: full.MerchantReference, Parent: full.Parent,
		State: "refunded", ProviderStatus: "Done", Currency: "USD", Amount: 99, Authorized: 1, Captured: 2, Refunded: 3,
		RefundedRest: 2, Version: 13, CreatedAt: t0.Add(time.Minute), UpdatedAt: t0.Add(2 * time.Hour)}
	putAggregates(t, s, moved)
	got, err = s.Aggregate(ctx, refundKey)
	require.NoError(t, err)
	require.Equal(t, normAggregate(moved), normAggregate(got))
	// A new reference alone moves the aggregate in the reference and
	// state listings.
	moved.MerchantReference, moved.Version = "order-43", 14
	putAggregates(t, s, moved)
	for ref, want := range map[string]int{"order-42": 0, "order-43": 1} {
		byRef, err := s.AggregatesByReference(ctx, ref)
		require.NoError(t, err)
		require.Len(t, byRef, want, "aggregates under reference %s", ref)
	}
	listed, err := s.ListAggregates(ctx, storage.AggregateFilter{Kind: refundKey.Kind, State: "refunded"}, storage.AggregateKey{}, 10)
	require.NoError(t, err)
	require.Len(t, listed, 1)
	require.Equal(t, normAggregate(moved), normAggregate(listed[0].Aggregate))

	// PutAggregate replaces every field, down to a zero parent and zero times.
	bare := storage.Aggregate{Key: refundKey, State: "refunded", Version: 13}
	putAggregates(t, s, bare)
	got, err = s.Aggregate(ctx, refundKey)
	require.NoError(t, err)
	require.Equal(t, bare, normAggregate(got))
	require.True(t, got.CreatedAt.IsZero() && got.UpdatedAt.IsZero(), "zero times stay zero")
	require.Equal(t, storage.AggregateKey{}, got.Parent)
}

func testAggregateNotFound(t *testing.T, b Backend) {
	s, ctx := b.Store, t.Context()
	_, err := s.Aggregate(ctx, payKey)
	require.ErrorIs(t, err, storage.ErrNotFound)

	putAggregates(t, s, storage.Aggregate{Key: payKey, State: "created", Version: 1})
	for _, k := range []storage.AggregateKey{
		{Provider: "acme", Kind: "refund", ID: "pay_1"},
		{Provider: "other", Kind: "payment", ID: "pay_1"},
		{Provider: "acme", Kind: "payment", ID: "pay_2"},
		{Provider: "acme"},
	} {
		_, err := s.Aggregate(ctx, k)
		require.ErrorIs(t, err, storage.ErrNotFound, "Aggregate(%v)", k)
		var lockErr error
		err = s.Update(ctx, func(tx storage.Tx) error {
			_, lockErr = tx.LockAggregate(ctx, k)
			return lockErr
		})
		require.ErrorIs(t, lockErr, storage.ErrNotFound, "LockAggregate(%v)", k)
		require.ErrorIs(t, err, storage.ErrNotFound, "Update returns fn's error")
		require.NotErrorIs(t, err, storage.ErrUnavailable)
	}
}

func testAggregatesByReference(t *testing.T, b Backend) {
	s, ctx := b.Store, t.Context()
	agg := func(p, k, id, ref string) storage.Aggregate {
		return storage.Aggregate{
			Key: storage.AggregateKey{Provider: p, Kind: k, ID: id}, MerchantReference: ref,
			State: "created", Currency: "EUR", Amount: 100, Version: 1, CreatedAt: t0, UpdatedAt: t0,
		}
	}
	// Put out of order, over two transactions.
	putAggregates(t, s, agg("zeta", "payment", "a", "order-1"), agg("acme", "refund", "b", "order-1"))
	putAggregates(t, s,
		agg("acme", "payment", "z", "order-1"),
		agg("acme", "payment", "c", "order-2"),
		agg("acme", "payment", "b", "order-1"),
		agg("acme", "chargeback", "y", "order-10"),
	)
	got, err := s.AggregatesByReference(ctx, "order-1")
	require.NoError(t, err)
	require.Equal(t, []storage.Aggregate{
		agg("acme", "payment", "b", "order-1"),
		agg("acme", "payment", "z", "order-1"),
		agg("acme", "refund", "b", "order-1"),
		agg("zeta", "payment", "a", "order-1"),
	}, normAggregates(got))

	got, err = s.AggregatesByReference(ctx, "order-2")
	require.NoError(t, err)
	require.Equal(t, []storage.Aggregate{agg("acme", "payment", "c", "order-2")}, normAggregates(got))

	got, err = s.AggregatesByReference(ctx, "no-such-order")
	require.NoError(t, err)
	require.Empty(t, got)
}

func testChildren(t *testing.T, b Backend) {
	s, ctx := b.Store, t.Context()
	pay := storage.AggregateKey{Provider: "acme", Kind: "payment", ID: "p1"}
	child := func(kind, id string, parent storage.AggregateKey) storage.Aggregate {
		return storage.Aggregate{
			Key: storage.AggregateKey{Provider: "acme", Kind: kind, ID: id}, Parent: parent,
			State: "open", Version: 1, CreatedAt: t0, UpdatedAt: t0,
		}
	}
	other := storage.AggregateKey{Provider: "acme", Kind: "payment", ID: "p2"}
	putAggregates(t, s,
		child("payment", "p1", storage.AggregateKey{}),
		child("refund", "r2", pay),
		child("chargeback", "c1", pay),
		child("refund", "r1", pay),
		child("refund", "r9", other),
		child("refund", "alone", storage.AggregateKey{}),
	)
	got, err := s.Children(ctx, pay)
	require.NoError(t, err)
	require.Equal(t, []storage.Aggregate{
		child("chargeback", "c1", pay), child("refund", "r1", pay), child("refund", "r2", pay),
	}, normAggregates(got))
	got, err = s.Children(ctx, storage.AggregateKey{Provider: "acme", Kind: "refund", ID: "r1"})
	require.NoError(t, err)
	require.Empty(t, got)
}

func testListAggregates(t *testing.T, b Backend) {
	s, ctx := b.Store, t.Context()
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	agg := func(p, k, id, state string, updated time.Time) storage.Aggregate {
		return storage.Aggregate{Key: storage.AggregateKey{Provider: p, Kind: k, ID: id},
			State: state, Version: 1, CreatedAt: t0, UpdatedAt: updated}
	}
	all := []storage.Aggregate{
		agg("acme", "payment", "p1", "fraud_review", at(1)),
		agg("acme", "payment", "p2", "captured", at(2)),
		agg("acme", "payment", "p3", "fraud_review", at(3)),
		agg("acme", "refund", "r1", "succeeded", at(4)),
		agg("zeta", "payment", "p1", "fraud_review", at(5)),
	}
	putAggregates(t, s, all[4], all[2], all[0], all[3], all[1])
	// Two events held for acme/payment/p3: each row carries its count.
	for seq := range int64(2) {
		update(t, s, func(tx storage.Tx) error {
			return tx.Defer(ctx, storage.DeferredEvent{Seq: 100 + seq, Key: all[2].Key, DedupeKey: fmt.Sprintf("evt_held_%d", seq),
				BodySHA256: sha, ReceivedAt: t0, ExpiresAt: t0.Add(time.Hour)})
		})
	}
	list := func(f storage.AggregateFilter, after storage.AggregateKey, limit int) []storage.Aggregate {
		got, err := s.ListAggregates(ctx, f, after, limit)
		require.NoError(t, err)
		for _, h := range got {
			want := 0
			if h.Key == all[2].Key {
				want = 2
			}
			require.Equal(t, want, h.Pending, "held count of %v", h.Key)
		}
		return normAggregates(unheld(got))
	}
	require.Equal(t, all, list(storage.AggregateFilter{}, storage.AggregateKey{}, 10), "everything, in key order")
	require.Equal(t, []storage.Aggregate{all[0], all[2], all[4]},
		list(storage.AggregateFilter{Kind: "payment", State: "fraud_review"}, storage.AggregateKey{}, 10))
	require.Equal(t, []storage.Aggregate{all[0], all[2]},
		list(storage.AggregateFilter{Provider: "acme", State: "fraud_review"}, storage.AggregateKey{}, 10))
	require.Equal(t, []storage.Aggregate{all[1], all[2]},
		list(storage.AggregateFilter{UpdatedSince: at(2), UpdatedUntil: at(4)}, storage.AggregateKey{}, 10),
		"since inclusive, until exclusive")
	// Paging with the last key as cursor visits everything once.
	var paged []storage.Aggregate
	cursor := storage.AggregateKey{}
	for {
		page := list(storage.AggregateFilter{}, cursor, 2)
		paged = append(paged, page...)
		if len(page) < 2 {
			break
		}
		cursor = page[len(page)-1].Key
	}
	require.Equal(t, all, paged)
	require.Empty(t, list(storage.AggregateFilter{State: "nope"}, storage.AggregateKey{}, 10))
	require.Empty(t, list(storage.AggregateFilter{}, storage.AggregateKey{}, 0))
}

// testListAggregatesModel compares every combination of filter, cursor
// and page size with a model: the aggregates in key order (bytewise), the
// filter applied, those after the cursor, the first limit of them. The
// cursors include every stored key and keys between and around them whose
// provider or kind is below, equal to or above the filter's, since the
// backends rewrite the cursor over the columns a filter leaves free.
func testListAggregatesModel(t *testing.T, b Backend) {
	s, ctx := b.Store, t.Context()
	var all []storage.Aggregate
	n := 0
	for _, p := range []string{"acme", "bolt", "cove"} {
		for _, k := range []string{"payment", "refund"} {
			for _, id := range []string{"a", "b", "c", "d"} {
				n++
				state := []string{"fraud_review", "captured"}[n%2]
				all = append(all, storage.Aggregate{Key: storage.AggregateKey{Provider: p, Kind: k, ID: id},
					State: state, Version: 1, CreatedAt: t0, UpdatedAt: t0.Add(time.Duration(n%5) * time.Minute)})
			}
		}
	}
	putAggregates(t, s, all...)
	less := func(x, y storage.AggregateKey) bool {
		return cmp.Or(strings.Compare(x.Provider, y.Provider), strings.Compare(x.Kind, y.Kind), strings.Compare(x.ID, y.ID)) < 0
	}
	slices.SortFunc(all, func(x, y storage.Aggregate) int {
		return cmp.Or(strings.Compare(x.Key.Provider, y.Key.Provider), strings.Compare(x.Key.Kind, y.Key.Kind), strings.Compare(x.Key.ID, y.Key.ID))
	})
	cursors := []storage.AggregateKey{{}}
	for _, a := range all {
		cursors = append(cursors, a.Key)
	}
	for _, p := range []string{"", "acme", "b", "bolt", "bolu", "zz"} {
		for _, k := range []string{"", "a", "payment", "q", "refund", "z"} {
			for _, id := range []string{"", "b", "bb", "~"} {
				cursors = append(cursors, storage.AggregateKey{Provider: p, Kind: k, ID: id})
			}
		}
	}
	since := t0.Add(time.Minute)
	for _, p := range []string{"", "acme", "bolt", "nope"} {
		for _, k := range []string{"", "payment", "refund", "nope"} {
			for _, st := range []string{"", "fraud_review", "captured"} {
				for _, upd := range []bool{false, true} {
					f := storage.AggregateFilter{Provider: p, Kind: k, State: st}
					if upd {
						f.UpdatedSince = since
					}
					var match []storage.Aggregate
					for _, a := range all {
						if (p == "" || a.Key.Provider == p) && (k == "" || a.Key.Kind == k) && (st == "" || a.State == st) &&
							(!upd || !a.UpdatedAt.Before(since)) {
							match = append(match, a)
						}
					}
					for _, after := range cursors {
						var want []storage.Aggregate
						for _, a := range match {
							if less(after, a.Key) {
								want = append(want, a)
							}
						}
						for _, limit := range []int{1, 3, 100} {
							got, err := s.ListAggregates(ctx, f, after, limit)
							require.NoError(t, err)
							msg := fmt.Sprintf("filter %+v after %+v limit %d", f, after, limit)
							if w := want[:min(limit, len(want))]; len(w) > 0 {
								require.Equal(t, w, normAggregates(unheld(got)), msg)
							} else {
								require.Empty(t, got, msg)
							}
						}
					}
				}
			}
		}
	}
}

func testReceipts(t *testing.T, b Backend) {
	s, ctx := b.Store, t.Context()
	r := storage.Receipt{Seq: 17, BodySHA256: sha}
	var after, otherProvider storage.Receipt
	var beforeErr, otherErr error
	update(t, s, func(tx storage.Tx) error {
		_, beforeErr = tx.Receipt(ctx, "acme", "evt_1")
		return tx.PutReceipt(ctx, "acme", "evt_1", r)
	})
	require.ErrorIs(t, beforeErr, storage.ErrNotFound)

	update(t, s, func(tx storage.Tx) error {
		var err error
		if after, err = tx.Receipt(ctx, "acme", "evt_1"); err != nil {
			return err
		}
		// The same dedupe key from another provider is another receipt.
		_, otherErr = tx.Receipt(ctx, "other", "evt_1")
		if err := tx.PutReceipt(ctx, "other", "evt_1", storage.Receipt{Seq: 18, BodySHA256: "ab"}); err != nil {
			return err
		}
		otherProvider, err = tx.Receipt(ctx, "other", "evt_1")
		return err
	})
	require.Equal(t, r, after)
	require.ErrorIs(t, otherErr, storage.ErrNotFound)
	require.Equal(t, storage.Receipt{Seq: 18, BodySHA256: "ab"}, otherProvider)
}

func testDuplicateReceipt(t *testing.T, b Backend) {
	s, ctx := b.Store, t.Context()
	first := storage.Receipt{Seq: 1, BodySHA256: sha}
	update(t, s, func(tx storage.Tx) error { return tx.PutReceipt(ctx, "acme", "evt_1", first) })

	// In a later transaction. A backend reports the duplicate at the call
	// (SQLite) or, holding the insert back with the writes nothing waits
	// for, from the next call that sends or from Update (PostgreSQL).
	var dupErr error
	err := s.Update(ctx, func(tx storage.Tx) error {
		dupErr = tx.PutReceipt(ctx, "acme", "evt_1", storage.Receipt{Seq: 2, BodySHA256: "other"})
		return dupErr
	})
	require.Error(t, err)
	if dupErr == nil {
		dupErr = err
	}
	require.Error(t, dupErr, "second receipt for the same key")
	require.NotErrorIs(t, dupErr, storage.ErrNotFound)
	require.NotErrorIs(t, dupErr, storage.ErrUnavailable, "a retry cannot fix a duplicate")

	// In the same transaction as the first: the whole transaction fails.
	err = s.Update(ctx, func(tx storage.Tx) error {
		if err := tx.PutReceipt(ctx, "acme", "evt_2", first); err != nil {
			return err
		}
		return tx.PutReceipt(ctx, "acme", "evt_2", first)
	})
	require.Error(t, err)

	update(t, s, func(tx storage.Tx) error {
		got, err := tx.Receipt(ctx, "acme", "evt_1")
		if err != nil {
			return err
		}
		if got != first {
			return fmt.Errorf("receipt evt_1 = %+v, want the first %+v", got, first)
		}
		if _, err := tx.Receipt(ctx, "acme", "evt_2"); !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("receipt evt_2 after a failed transaction: err = %v, want ErrNotFound", err)
		}
		return nil
	})
}

func testAppendAssignsSeqAndHash(t *testing.T, b Backend) {
	s, ctx := b.Store, t.Context()
	e := entry(payKey, "one")
	e.Seq, e.PrevHash, e.Hash = 99, "caller's prev", "caller's hash" // overwritten
	first := appendEntries(t, s, e)
	require.Len(t, first, 1)
	require.Equal(t, int64(1), first[0].Seq, "the journal starts at 1")
	require.Equal(t, storage.GenesisHash, first[0].PrevHash)
	require.Equal(t, storage.EntryHash(&first[0], storage.GenesisHash), first[0].Hash)

	more := appendEntries(t, s, entry(payKey, "two"), entry(refundKey, "three"), entry(payKey, "four"))
	more = append(more, appendEntries(t, s, entry(refundKey, "five"))...)
	all := append(first, more...)
	prev := storage.GenesisHash
	for i, e := range all {
		require.Equal(t, int64(i+1), e.Seq, "gap-free global sequence")
		require.Equal(t, prev, e.PrevHash, "entry %d links to the one before", e.Seq)
		require.Equal(t, storage.EntryHash(&e, prev), e.Hash, "entry %d hash", e.Seq)
		prev = e.Hash
	}

	stored := allJournal(t, s)
	require.Equal(t, normEntries(all), normEntries(stored), "what Append assigned is what is stored")

	head, err := s.Head(ctx)
	require.NoError(t, err)
	require.Equal(t, storage.ChainHead{Seq: 5, Hash: all[4].Hash}, head)

	// A rolled-back Append leaves no gap.
	boom := errors.New("boom")
	err = s.Update(ctx, func(tx storage.Tx) error {
		e := entry(payKey, "rolled back")
		if err := tx.Append(ctx, &e); err != nil {
			return err
		}
		return boom
	})
	require.ErrorIs(t, err, boom)
	six := appendEntries(t, s, entry(payKey, "six"))
	require.Equal(t, int64(6), six[0].Seq, "no gap after a rollback")
	require.Equal(t, all[4].Hash, six[0].PrevHash)
}

func testJournalRoundTrip(t *testing.T, b Backend) {
	s, ctx := b.Store, t.Context()
	full := storage.JournalEntry{
		Key:          refundKey,
		Event:        "refund.succeeded",
		Verdict:      "applied",
		Reason:       "montant remboursé — 12,50 €\n\"quoted\"\t\\",
		StateBefore:  "refund_pending",
		StateAfter:   "refunded",
		VersionAfter: 3,
		DedupeKey:    "evt_full",
		BodySHA256:   sha,
		RedactedBody: []byte("{\"id\":\"evt_full\",\"card\":\"[redacted]\",\"bin\":\"\x00\xff\"}"),
		Payload:      []byte(`{"name":"refund.succeeded","amount":1250}`),
		ReceivedAt:   t0,
		OccurredAt:   t0.Add(-1500 * time.Millisecond).In(time.FixedZone("UTC-3", -3*3600)),
		ResolvesSeq:  1,
		Skipped:      []string{"authorized", "captured", "partially_refunded"},
		Actor:        "engine",
		// A re-evaluation's entry: decided by this version, revising entry 1.
		MachineVersion: "51b23f5d1620",
		RevisesSeq:     1,
	}
	// An unparseable body: no kind or id, no times, nothing optional.
	bare := storage.JournalEntry{Key: storage.AggregateKey{Provider: "acme"}, Event: "", Verdict: "rejected", Actor: "webhook"}
	// Nanoseconds are not kept, and need not be: the hash covers microseconds.
	nanos := entry(payKey, "nanos")
	nanos.ReceivedAt = t0.Add(789 * time.Nanosecond)
	nanos.OccurredAt = t0.Add(-time.Hour + 999*time.Nanosecond)
	nanos.Skipped = []string{}
	nanos.RedactedBody = []byte{}

	assigned := appendEntries(t, s, full, bare)
	assigned = append(assigned, appendEntries(t, s, nanos)...)
	got := allJournal(t, s)
	require.Len(t, got, 3)
	require.Equal(t, normEntries(assigned), normEntries(got))

	require.Equal(t, t0, got[0].ReceivedAt.UTC())
	require.True(t, got[0].OccurredAt.Equal(full.OccurredAt))
	require.Equal(t, full.Skipped, got[0].Skipped)
	require.Equal(t, full.RedactedBody, got[0].RedactedBody)
	require.Equal(t, full.Payload, got[0].Payload)
	require.Equal(t, int64(1), got[0].ResolvesSeq)
	require.Equal(t, "engine", got[0].Actor)
	require.Equal(t, "51b23f5d1620", got[0].MachineVersion)
	require.Equal(t, int64(1), got[0].RevisesSeq)
	require.Empty(t, got[1].MachineVersion, "no machine decided it")
	require.Zero(t, got[1].RevisesSeq)
	require.True(t, got[1].ReceivedAt.IsZero() && got[1].OccurredAt.IsZero(), "zero times stay zero")
	require.Empty(t, got[1].RedactedBody)
	require.Empty(t, got[1].Skipped)
	require.True(t, got[2].ReceivedAt.Equal(t0), "nanoseconds truncated to the microsecond")
	for i := range got {
		require.Equal(t, storage.EntryHash(&got[i], got[i].PrevHash), got[i].Hash, "entry %d read back hashes as written", got[i].Seq)
	}

	rep, err := storage.VerifyChain(ctx, s)
	require.NoError(t, err)
	require.True(t, rep.OK, "%+v", rep)
}

func testJournalPaging(t *testing.T, b Backend) {
	s, ctx := b.Store, t.Context()
	a, bk := payKey, refundKey
	bare := storage.AggregateKey{Provider: "acme"}
	otherProvider := storage.AggregateKey{Provider: "zeta", Kind: payKey.Kind, ID: payKey.ID}
	keys := []storage.AggregateKey{a, bk, a, bk, a, bk, a, bk, a, bare, otherProvider}
	var es []storage.JournalEntry
	for i, k := range keys {
		es = append(es, entry(k, fmt.Sprintf("e%d", i+1)))
	}
	appendEntries(t, s, es[:4]...)
	appendEntries(t, s, es[4:]...)

	page := func(key *storage.AggregateKey, after int64, limit int) []int64 {
		t.Helper()
		got, err := s.Journal(ctx, key, after, limit)
		require.NoError(t, err)
		for _, e := range got {
			if key != nil {
				require.Equal(t, *key, e.Key)
			}
		}
		return seqs(got)
	}
	require.Equal(t, []int64{1, 2, 3}, page(nil, 0, 3))
	require.Equal(t, []int64{4, 5, 6}, page(nil, 3, 3))
	require.Equal(t, []int64{10, 11}, page(nil, 9, 3))
	require.Equal(t, []int64{}, page(nil, 11, 3))
	require.Equal(t, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, page(nil, 0, 100))

	require.Equal(t, []int64{1, 3}, page(&a, 0, 2))
	require.Equal(t, []int64{5, 7}, page(&a, 3, 2))
	require.Equal(t, []int64{5, 7, 9}, page(&a, 4, 10))
	require.Equal(t, []int64{}, page(&a, 9, 10))
	require.Equal(t, []int64{2, 4, 6, 8}, page(&bk, 0, 100))
	require.Equal(t, []int64{10}, page(&bare, 0, 100), "a key with empty kind and id is a key")
	require.Equal(t, []int64{11}, page(&otherProvider, 0, 100))
	unknown := storage.AggregateKey{Provider: "acme", Kind: "payment", ID: "nope"}
	require.Equal(t, []int64{}, page(&unknown, 0, 100))
}

func testTouch(t *testing.T, b Backend) {
	s, ctx := b.Store, t.Context()
	update(t, s, func(tx storage.Tx) error { return tx.Touch(ctx) })
	head, err := s.Head(ctx)
	require.NoError(t, err)
	require.Equal(t, storage.ChainHead{Seq: 0, Hash: storage.GenesisHash}, head, "an empty store touched")

	es := appendEntries(t, s, entry(payKey, "a"))
	update(t, s, func(tx storage.Tx) error { return tx.Touch(ctx) })
	head, err = s.Head(ctx)
	require.NoError(t, err)
	require.Equal(t, storage.ChainHead{Seq: 1, Hash: es[0].Hash}, head)
	// Touched in the transaction that appends, the head is the append's.
	var e storage.JournalEntry
	update(t, s, func(tx storage.Tx) error {
		if err := tx.Touch(ctx); err != nil {
			return err
		}
		e = entry(payKey, "b")
		return tx.Append(ctx, &e)
	})
	all := allJournal(t, s)
	head, err = s.Head(ctx)
	require.NoError(t, err)
	require.Equal(t, storage.ChainHead{Seq: 2, Hash: all[1].Hash}, head)
	rep, err := storage.VerifyChain(ctx, s)
	require.NoError(t, err)
	require.True(t, rep.OK, rep.Problem)
}

func testHead(t *testing.T, b Backend) {
	s, ctx := b.Store, t.Context()
	head, err := s.Head(ctx)
	require.NoError(t, err)
	require.Equal(t, storage.ChainHead{Seq: 0, Hash: storage.GenesisHash}, head, "empty store")

	es := appendEntries(t, s, entry(payKey, "a"), entry(payKey, "b"))
	head, err = s.Head(ctx)
	require.NoError(t, err)
	require.Equal(t, storage.ChainHead{Seq: 2, Hash: es[1].Hash}, head)

	es = appendEntries(t, s, entry(refundKey, "c"))
	head, err = s.Head(ctx)
	require.NoError(t, err)
	require.Equal(t, storage.ChainHead{Seq: 3, Hash: es[0].Hash}, head)
}

func testVerifyChainOK(t *testing.T, b Backend) {
	s, ctx := b.Store, t.Context()
	rep, err := storage.VerifyChain(ctx, s)
	require.NoError(t, err)
	require.Equal(t, storage.ChainReport{OK: true, Head: storage.ChainHead{Hash: storage.GenesisHash}}, rep, "empty journal")

	// More than one VerifyChain page (1000), over several transactions.
	var es []storage.JournalEntry
	for i := range 1005 {
		e := entry([]storage.AggregateKey{payKey, refundKey}[i%2], fmt.Sprintf("e%d", i))
		e.Skipped = []string{"s"}
		es = append(es, e)
	}
	appendEntries(t, s, es[:1]...)
	appendEntries(t, s, es[1:1003]...)
	last := appendEntries(t, s, es[1003:]...)

	rep, err = storage.VerifyChain(ctx, s)
	require.NoError(t, err)
	require.True(t, rep.OK, "%+v", rep)
	require.Equal(t, int64(1005), rep.Checked)
	require.Equal(t, storage.ChainHead{Seq: 1005, Hash: last[1].Hash}, rep.Head)
	require.Zero(t, rep.FirstBad)
}

func fiveEntries(t *testing.T, s storage.Store) []storage.JournalEntry {
	t.Helper()
	es := appendEntries(t, s, entry(payKey, "a"), entry(payKey, "b"))
	es = append(es, appendEntries(t, s, entry(refundKey, "c"), entry(payKey, "d"))...)
	return append(es, appendEntries(t, s, entry(refundKey, "e"))...)
}

func testVerifyChainDetectsTamper(t *testing.T, b Backend) {
	if b.Tamper == nil {
		t.Skip("backend has no Tamper hook")
	}
	s, ctx := b.Store, t.Context()
	fiveEntries(t, s)
	require.NoError(t, b.Tamper(3, "nothing to see here"))
	got := allJournal(t, s)
	require.Len(t, got, 5)
	require.Equal(t, "nothing to see here", got[2].Reason, "Tamper changed the row")

	rep, err := storage.VerifyChain(ctx, s)
	require.NoError(t, err)
	require.False(t, rep.OK)
	require.Equal(t, int64(3), rep.FirstBad, "%+v", rep)
	require.Equal(t, int64(2), rep.Checked)
	require.NotEmpty(t, rep.Problem)
}

func testVerifyChainDetectsDeleteLast(t *testing.T, b Backend) {
	if b.DeleteLast == nil {
		t.Skip("backend has no DeleteLast hook")
	}
	s, ctx := b.Store, t.Context()
	fiveEntries(t, s)
	require.NoError(t, b.DeleteLast())
	require.Len(t, allJournal(t, s), 4, "DeleteLast removed the row")

	rep, err := storage.VerifyChain(ctx, s)
	require.NoError(t, err)
	require.False(t, rep.OK, "the stored head still names entry 5")
	require.Equal(t, int64(5), rep.FirstBad, "%+v", rep)
	require.Equal(t, int64(4), rep.Checked)
	require.NotEmpty(t, rep.Problem)
}

// headAt reads the chain head as stored: head, whatever the journal holds.
type headAt struct {
	storage.Store
	head storage.ChainHead
}

func (r headAt) Head(context.Context) (storage.ChainHead, error) { return r.head, nil }

// testVerifyChainDetectsHeadMovedBack: a head moved back to an earlier
// entry, the later ones left in place, is named as what it is, not as
// entries missing.
func testVerifyChainDetectsHeadMovedBack(t *testing.T, b Backend) {
	s, ctx := b.Store, t.Context()
	fiveEntries(t, s)
	third := allJournal(t, s)[2]
	rep, err := storage.VerifyChain(ctx, headAt{Store: s, head: storage.ChainHead{Seq: third.Seq, Hash: third.Hash}})
	require.NoError(t, err)
	require.False(t, rep.OK, "entries 4 and 5 lie past the head")
	require.Equal(t, int64(4), rep.FirstBad, "%+v", rep)
	require.Equal(t, int64(3), rep.Checked)
	require.Contains(t, rep.Problem, "the stored head (3) is behind the journal: entry 4 lies past it")
}

// appendingReader appends one entry right after VerifyChain's first
// journal read, as live traffic would.
type appendingReader struct {
	storage.Store
	t    *testing.T
	once bool
}

func (r *appendingReader) Journal(ctx context.Context, key *storage.AggregateKey, after int64, limit int) ([]storage.JournalEntry, error) {
	out, err := r.Store.Journal(ctx, key, after, limit)
	if !r.once {
		r.once = true
		appendEntries(r.t, r.Store, entry(payKey, "during-verify"))
	}
	return out, err
}

func testVerifyChainUnderLiveAppends(t *testing.T, b Backend) {
	s, ctx := b.Store, t.Context()
	fiveEntries(t, s)
	rep, err := storage.VerifyChain(ctx, &appendingReader{Store: s, t: t})
	require.NoError(t, err)
	require.True(t, rep.OK, "an append during verification is not tampering: %s", rep.Problem)
	require.Equal(t, int64(5), rep.Checked, "the check stops at the head it started from")
	rep, err = storage.VerifyChain(ctx, s)
	require.NoError(t, err)
	require.True(t, rep.OK)
	require.Equal(t, int64(6), rep.Checked)
}

func testVerifyRange(t *testing.T, b Backend) {
	s, ctx := b.Store, t.Context()
	fiveEntries(t, s)
	rep, err := storage.VerifyRange(ctx, s, 2, 4)
	require.NoError(t, err)
	require.True(t, rep.OK, rep.Problem)
	require.Equal(t, int64(3), rep.Checked)
	require.Equal(t, int64(4), rep.Head.Seq)
	rep, err = storage.VerifyRange(ctx, s, 4, 0)
	require.NoError(t, err)
	require.True(t, rep.OK, rep.Problem)
	require.Equal(t, int64(2), rep.Checked)
	rep, err = storage.VerifyRange(ctx, s, 3, 9)
	require.NoError(t, err)
	require.False(t, rep.OK, "a range past the head cannot be verified")
	if b.Tamper != nil {
		require.NoError(t, b.Tamper(3, "edited"))
		rep, err = storage.VerifyRange(ctx, s, 2, 4)
		require.NoError(t, err)
		require.False(t, rep.OK)
		require.Equal(t, int64(3), rep.FirstBad)
		// A range is anchored on the stored hash of the entry before it:
		// 4..5 still verifies, because entry 3's stored hash (the one
		// entry 4 links to) was not changed, only its contents. An
		// auditor anchors ranges on a chain head they hold.
		rep, err = storage.VerifyRange(ctx, s, 4, 5)
		require.NoError(t, err)
		require.True(t, rep.OK, rep.Problem)
	}
}

func testUpdateRollsBack(t *testing.T, b Backend) {
	s, ctx := b.Store, t.Context()
	v1 := storage.Aggregate{Key: payKey, MerchantReference: "order-1", State: "authorized", Currency: "EUR",
		Amount: 100, Authorized: 100, Version: 1, CreatedAt: t0, UpdatedAt: t0}
	putAggregates(t, s, v1)
	es := appendEntries(t, s, entry(payKey, "a"), entry(payKey, "b"))
	held := storage.DeferredEvent{Seq: es[1].Seq, Key: payKey, DedupeKey: "evt_b", Payload: []byte("p"),
		BodySHA256: sha, ReceivedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	update(t, s, func(tx storage.Tx) error {
		if err := tx.PutReceipt(ctx, "acme", "evt_a", storage.Receipt{Seq: es[0].Seq, BodySHA256: sha}); err != nil {
			return err
		}
		return tx.Defer(ctx, held)
	})
	headBefore, err := s.Head(ctx)
	require.NoError(t, err)
	journalBefore := allJournal(t, s)

	sentinel := errors.New("the engine changed its mind")
	err = s.Update(ctx, func(tx storage.Tx) error {
		v2 := v1
		v2.State, v2.Version, v2.Captured = "captured", 2, 100
		steps := []func() error{
			func() error { return tx.PutAggregate(ctx, v2) },
			func() error {
				return tx.PutAggregate(ctx, storage.Aggregate{Key: refundKey, MerchantReference: "order-1", Version: 1})
			},
			func() error { return tx.PutReceipt(ctx, "acme", "evt_c", storage.Receipt{Seq: 3, BodySHA256: sha}) },
			func() error { e := entry(payKey, "c"); return tx.Append(ctx, &e) },
			func() error {
				return tx.Defer(ctx, storage.DeferredEvent{Seq: 3, Key: payKey, DedupeKey: "evt_c", BodySHA256: sha, ExpiresAt: t0})
			},
			func() error { return tx.Undefer(ctx, held.Seq) },
		}
		for i, step := range steps {
			if err := step(); err != nil {
				return fmt.Errorf("step %d: %w", i, err)
			}
		}
		return sentinel
	})
	require.Same(t, sentinel, err, "fn's error is returned unchanged")

	got, err := s.Aggregate(ctx, payKey)
	require.NoError(t, err)
	require.Equal(t, v1, normAggregate(got), "aggregate untouched")
	_, err = s.Aggregate(ctx, refundKey)
	require.ErrorIs(t, err, storage.ErrNotFound, "new aggregate not created")
	refs, err := s.AggregatesByReference(ctx, "order-1")
	require.NoError(t, err)
	require.Len(t, refs, 1)

	head, err := s.Head(ctx)
	require.NoError(t, err)
	require.Equal(t, headBefore, head, "head untouched")
	require.Equal(t, normEntries(journalBefore), normEntries(allJournal(t, s)), "journal untouched")

	n, err := s.PendingDeferred(ctx, payKey)
	require.NoError(t, err)
	require.Equal(t, 1, n, "deferred untouched")
	expired, err := s.ExpiredDeferred(ctx, t0.Add(24*time.Hour), 10)
	require.NoError(t, err)
	require.Equal(t, normDeferred([]storage.DeferredEvent{held}), normDeferred(expired))

	var receiptA storage.Receipt
	var receiptCErr error
	var heldNow []storage.DeferredEvent
	update(t, s, func(tx storage.Tx) error {
		var err error
		if receiptA, err = tx.Receipt(ctx, "acme", "evt_a"); err != nil {
			return err
		}
		_, receiptCErr = tx.Receipt(ctx, "acme", "evt_c")
		heldNow, err = tx.DeferredFor(ctx, payKey)
		return err
	})
	require.Equal(t, storage.Receipt{Seq: es[0].Seq, BodySHA256: sha}, receiptA)
	require.ErrorIs(t, receiptCErr, storage.ErrNotFound, "receipt rolled back")
	require.Equal(t, normDeferred([]storage.DeferredEvent{held}), normDeferred(heldNow))

	rep, err := storage.VerifyChain(ctx, s)
	require.NoError(t, err)
	require.True(t, rep.OK, "%+v", rep)
}

func testTxReadsOwnWrites(t *testing.T, b Backend) {
	s, ctx := b.Store, t.Context()
	a := storage.Aggregate{Key: payKey, State: "created", Version: 1, CreatedAt: t0, UpdatedAt: t0}
	d := storage.DeferredEvent{Seq: 1, Key: payKey, DedupeKey: "evt_1", Payload: []byte("x"), BodySHA256: sha,
		ReceivedAt: t0, ExpiresAt: t0.Add(time.Minute)}
	var locked storage.Aggregate
	var receipt storage.Receipt
	var held []storage.DeferredEvent
	var appended int64
	update(t, s, func(tx storage.Tx) error {
		e := entry(payKey, "created")
		if err := tx.Append(ctx, &e); err != nil {
			return err
		}
		appended = e.Seq
		if err := tx.PutAggregate(ctx, a); err != nil {
			return err
		}
		var err error
		if locked, err = tx.LockAggregate(ctx, payKey); err != nil {
			return err
		}
		if err := tx.PutReceipt(ctx, "acme", "evt_1", storage.Receipt{Seq: e.Seq, BodySHA256: sha}); err != nil {
			return err
		}
		if receipt, err = tx.Receipt(ctx, "acme", "evt_1"); err != nil {
			return err
		}
		if err := tx.Defer(ctx, d); err != nil {
			return err
		}
		held, err = tx.DeferredFor(ctx, payKey)
		return err
	})
	require.Equal(t, a, normAggregate(locked))
	// What was put, as Append named the entry then (a backend that chains
	// at commit names it by a provisional handle until then).
	require.Equal(t, storage.Receipt{Seq: appended, BodySHA256: sha}, receipt)
	require.Equal(t, normDeferred([]storage.DeferredEvent{d}), normDeferred(held))
}

// The Reader never waits behind an open write transaction, and never sees
// what it has not committed.
func testReadsDoNotWaitForWriter(t *testing.T, b Backend) {
	s, ctx := b.Store, t.Context()
	v1 := storage.Aggregate{Key: payKey, State: "authorized", Version: 1, CreatedAt: t0, UpdatedAt: t0}
	putAggregates(t, s, v1)
	appendEntries(t, s, entry(payKey, "a"))

	var during struct {
		agg     storage.Aggregate
		head    storage.ChainHead
		journal []storage.JournalEntry
		err     error
	}
	update(t, s, func(tx storage.Tx) error {
		v2 := v1
		v2.State, v2.Version = "captured", 2
		if err := tx.PutAggregate(ctx, v2); err != nil {
			return err
		}
		e := entry(payKey, "b")
		if err := tx.Append(ctx, &e); err != nil {
			return err
		}
		// A reader that queued behind this transaction would time out.
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		var errs [3]error
		during.agg, errs[0] = s.Aggregate(rctx, payKey)
		during.head, errs[1] = s.Head(rctx)
		during.journal, errs[2] = s.Journal(rctx, nil, 0, 100)
		during.err = errors.Join(errs[:]...)
		return nil
	})
	require.NoError(t, during.err, "reads during a write transaction")
	require.Equal(t, v1, normAggregate(during.agg), "uncommitted aggregate invisible")
	require.Equal(t, int64(1), during.head.Seq, "uncommitted append invisible to Head")
	require.Len(t, during.journal, 1, "uncommitted append invisible to Journal")

	got, err := s.Aggregate(ctx, payKey)
	require.NoError(t, err)
	require.Equal(t, int64(2), got.Version, "visible once committed")
	head, err := s.Head(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(2), head.Seq)
}

func testDeferred(t *testing.T, b Backend) {
	s, ctx := b.Store, t.Context()
	now := t0
	es := appendEntries(t, s, entry(payKey, "d1"), entry(payKey, "d2"), entry(refundKey, "d3"), entry(payKey, "d4"))
	// seq, ReceivedAt and ExpiresAt orders agree, so "oldest first" means
	// the same whichever of them a backend orders by.
	d := func(i int, key storage.AggregateKey, received, expires time.Time, payload []byte) storage.DeferredEvent {
		return storage.DeferredEvent{Seq: es[i].Seq, Key: key, DedupeKey: es[i].DedupeKey, Payload: payload,
			BodySHA256: fmt.Sprintf("%064x", i), ReceivedAt: received, ExpiresAt: expires}
	}
	d1 := d(0, payKey, now.Add(-3*time.Hour), now.Add(-time.Hour), []byte{0x00, 0xff, 0x01, '{'})
	d2 := d(1, payKey, now.Add(-2*time.Hour), now, []byte(`{"event":"capture"}`)) // expires exactly now
	d3 := d(2, refundKey, now.Add(-90*time.Minute), now.Add(time.Microsecond), nil)
	d4 := d(3, payKey, now.Add(-time.Hour), now.Add(time.Hour), []byte("late"))
	update(t, s, func(tx storage.Tx) error {
		if err := tx.Defer(ctx, d4); err != nil {
			return err
		}
		return tx.Defer(ctx, d1)
	})
	update(t, s, func(tx storage.Tx) error {
		if err := tx.Defer(ctx, d3); err != nil {
			return err
		}
		return tx.Defer(ctx, d2)
	})

	pending := func(k storage.AggregateKey) int {
		t.Helper()
		n, err := s.PendingDeferred(ctx, k)
		require.NoError(t, err)
		return n
	}
	deferredFor := func(k storage.AggregateKey) []storage.DeferredEvent {
		t.Helper()
		var out []storage.DeferredEvent
		update(t, s, func(tx storage.Tx) error {
			var err error
			out, err = tx.DeferredFor(ctx, k)
			return err
		})
		return out
	}
	// expired asks the Reader and a transaction, which must agree.
	expired := func(at time.Time, limit int) []int64 {
		t.Helper()
		got, err := s.ExpiredDeferred(ctx, at, limit)
		require.NoError(t, err)
		var inTx []storage.DeferredEvent
		update(t, s, func(tx storage.Tx) error {
			var err error
			inTx, err = tx.ExpiredDeferred(ctx, at, limit)
			return err
		})
		require.Equal(t, normDeferred(got), normDeferred(inTx), "Tx.ExpiredDeferred and Reader.ExpiredDeferred")
		return deferredSeqs(got)
	}

	require.Equal(t, 3, pending(payKey))
	require.Equal(t, 1, pending(refundKey))
	require.Equal(t, 0, pending(storage.AggregateKey{Provider: "acme", Kind: "payment", ID: "nope"}))
	require.Equal(t, normDeferred([]storage.DeferredEvent{d1, d2, d4}), normDeferred(deferredFor(payKey)), "oldest first, every field")
	require.Equal(t, normDeferred([]storage.DeferredEvent{d3}), normDeferred(deferredFor(refundKey)))

	require.Equal(t, []int64{d1.Seq, d2.Seq}, expired(now, 10), "ExpiresAt == now is expired; now+1µs is not")
	require.Equal(t, []int64{d1.Seq}, expired(now, 1), "limit, oldest first")
	require.Equal(t, []int64{d1.Seq, d2.Seq, d3.Seq}, expired(now.Add(time.Microsecond), 10))
	require.Equal(t, []int64{d1.Seq, d2.Seq, d3.Seq, d4.Seq}, expired(now.Add(24*time.Hour), 10))
	require.Equal(t, []int64{}, expired(now.Add(-time.Hour-time.Microsecond), 10))
	got, err := s.ExpiredDeferred(ctx, now, 10)
	require.NoError(t, err)
	require.Equal(t, normDeferred([]storage.DeferredEvent{d1, d2}), normDeferred(got), "every field")

	// A transaction sees its own changes: what it undefers is gone from
	// its ExpiredDeferred, before it commits.
	update(t, s, func(tx storage.Tx) error {
		if err := tx.Undefer(ctx, d2.Seq); err != nil {
			return err
		}
		got, err := tx.ExpiredDeferred(ctx, now, 10)
		require.Equal(t, []int64{d1.Seq}, deferredSeqs(got), "in the transaction that undeferred it")
		return err
	})
	require.Equal(t, 2, pending(payKey))
	require.Equal(t, []int64{d1.Seq, d4.Seq}, deferredSeqs(deferredFor(payKey)))
	require.Equal(t, []int64{d1.Seq}, expired(now, 10))

	update(t, s, func(tx storage.Tx) error {
		if err := tx.Undefer(ctx, d1.Seq); err != nil {
			return err
		}
		return tx.Undefer(ctx, d4.Seq)
	})
	require.Equal(t, 0, pending(payKey))
	require.Empty(t, deferredFor(payKey))
	require.Equal(t, 1, pending(refundKey), "other keys untouched")
}

// testExpiredWaiting: an expired event stays in the held table, marked
// with the entry that expired it (ExpiredSeq), so that its predecessor can
// still revive it: Lookup's Held and DeferredFor see it, the sweep
// (ExpiredDeferred) and the held counts do not. The mark is written, as
// Seq is, with what Append gave inside the transaction (a Sealer's handle)
// and read by a Reader as the entry's sequence once sealed.
func testExpiredWaiting(t *testing.T, b Backend) {
	s, ctx := b.Store, t.Context()
	putAggregates(t, s, storage.Aggregate{Key: payKey, State: "new", CreatedAt: t0, UpdatedAt: t0})
	held := storage.DeferredEvent{Key: payKey, DedupeKey: "early", Payload: []byte("p"),
		BodySHA256: fmt.Sprintf("%064x", 7), ReceivedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	update(t, s, func(tx storage.Tx) error {
		e := entry(payKey, "early")
		if err := tx.Append(ctx, &e); err != nil {
			return err
		}
		held.Seq = e.Seq
		return tx.Defer(ctx, held)
	})
	update(t, s, func(tx storage.Tx) error {
		e := entry(payKey, "early")
		e.ResolvesSeq = held.Seq
		if err := tx.Append(ctx, &e); err != nil {
			return err
		}
		if err := tx.Undefer(ctx, held.Seq); err != nil {
			return err
		}
		marked := held
		marked.ExpiredSeq = e.Seq
		return tx.Defer(ctx, marked)
	})
	journal, err := s.Journal(ctx, &payKey, 0, 10)
	require.NoError(t, err)
	require.Len(t, journal, 2)

	n, err := s.PendingDeferred(ctx, payKey)
	require.NoError(t, err)
	require.Zero(t, n, "an expired event is not pending")
	view, err := s.AggregateView(ctx, payKey)
	require.NoError(t, err)
	require.Zero(t, view.Pending)
	list, err := s.ListAggregates(ctx, storage.AggregateFilter{}, storage.AggregateKey{}, 10)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Zero(t, list[0].Pending)
	swept, err := s.ExpiredDeferred(ctx, t0.Add(48*time.Hour), 10)
	require.NoError(t, err)
	require.Empty(t, swept, "the sweep expires an event once")

	listed, err := s.Deferred(ctx, 0, 10)
	require.NoError(t, err)
	require.Len(t, listed, 1)
	require.Equal(t, journal[0].Seq, listed[0].Seq)
	require.Equal(t, journal[1].Seq, listed[0].ExpiredSeq, "a Reader sees the expiry's sequence")

	update(t, s, func(tx storage.Tx) error {
		l, err := tx.Lookup(ctx, nil, []storage.AggregateKey{payKey})
		require.NoError(t, err)
		require.True(t, l.Held[payKey], "the per-key probe finds an expired event waiting")
		inTx, err := tx.ExpiredDeferred(ctx, t0.Add(48*time.Hour), 10)
		require.NoError(t, err)
		require.Empty(t, inTx)
		got, err := tx.DeferredFor(ctx, payKey)
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.NotZero(t, got[0].ExpiredSeq)
		require.Equal(t, "early", got[0].DedupeKey)
		return tx.Undefer(ctx, got[0].Seq) // revived
	})
	listed, err = s.Deferred(ctx, 0, 10)
	require.NoError(t, err)
	require.Empty(t, listed)
}

func testConcurrentWriters(t *testing.T, b Backend) {
	const writers, perWriter = 8, 50
	s, ctx := b.Store, t.Context()
	putAggregates(t, s, storage.Aggregate{Key: payKey, State: "authorized", CreatedAt: t0, UpdatedAt: t0})

	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				err := s.Update(ctx, func(tx storage.Tx) error {
					a, err := tx.LockAggregate(ctx, payKey)
					if err != nil {
						return err
					}
					a.Version++
					a.UpdatedAt = t0.Add(time.Duration(a.Version) * time.Microsecond)
					if err := tx.PutAggregate(ctx, a); err != nil {
						return err
					}
					e := entry(payKey, fmt.Sprintf("w%d-%d", w, i))
					e.VersionAfter = a.Version
					return tx.Append(ctx, &e)
				})
				if err != nil {
					errs <- fmt.Errorf("writer %d, update %d: %w", w, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.NoError(t, storage.SealAll(ctx, s))

	a, err := s.Aggregate(ctx, payKey)
	require.NoError(t, err)
	require.Equal(t, int64(writers*perWriter), a.Version, "no lost update")
	es := allJournal(t, s)
	require.Len(t, es, writers*perWriter)
	for i, e := range es {
		require.Equal(t, int64(i+1), e.Seq)
		require.Equal(t, e.Seq, e.VersionAfter, "writers were serialized")
	}
	rep, err := storage.VerifyChain(ctx, s)
	require.NoError(t, err)
	require.True(t, rep.OK, "%+v", rep)
	require.Equal(t, int64(writers*perWriter), rep.Checked)
}

// testDerivedTablesListAndDelete: what verify walks (every receipt, every
// held event, in order, a page at a time) and what a repair from the
// journal removes.
func testDerivedTablesListAndDelete(t *testing.T, b Backend) {
	s, ctx := b.Store, t.Context()
	// Keys whose byte order differs from a case-folding or locale order.
	rk := func(provider, key string) storage.ReceiptKey {
		return storage.ReceiptKey{Provider: provider, DedupeKey: key}
	}
	keys := []storage.ReceiptKey{rk("acme", "B"), rk("acme", "a"), rk("acme", "a/2"), rk("acme", "é"), rk("beta", "A"), rk("Zed", "x")}
	es := appendEntries(t, s, entry(payKey, "d1"), entry(payKey, "d2"), entry(refundKey, "d3"))
	update(t, s, func(tx storage.Tx) error {
		for i, k := range keys {
			if err := tx.PutReceipt(ctx, k.Provider, k.DedupeKey, storage.Receipt{Seq: int64(i + 1), BodySHA256: sha}); err != nil {
				return err
			}
		}
		for _, e := range es {
			err := tx.Defer(ctx, storage.DeferredEvent{Seq: e.Seq, Key: e.Key, DedupeKey: e.Event, Payload: []byte(e.Event),
				BodySHA256: sha, ReceivedAt: t0, ExpiresAt: t0.Add(time.Hour)})
			if err != nil {
				return err
			}
		}
		return nil
	})
	putAggregates(t, s, storage.Aggregate{Key: payKey, State: "authorized", CreatedAt: t0, UpdatedAt: t0})

	listReceipts := func(page int) []storage.StoredReceipt {
		t.Helper()
		var out []storage.StoredReceipt
		for after := (storage.ReceiptKey{}); ; {
			got, err := s.Receipts(ctx, after, page)
			require.NoError(t, err)
			require.LessOrEqual(t, len(got), page)
			out = append(out, got...)
			if len(got) < page {
				return out
			}
			after = got[len(got)-1].Key
		}
	}
	want := slices.Clone(keys)
	slices.SortFunc(want, storage.ReceiptKey.Compare)
	for _, page := range []int{1, 2, 100} {
		got := listReceipts(page)
		require.Len(t, got, len(keys), "page %d", page)
		for i, r := range got {
			require.Equal(t, want[i], r.Key, "page %d, row %d", page, i)
			require.Equal(t, int64(slices.Index(keys, r.Key)+1), r.Seq)
			require.Equal(t, sha, r.BodySHA256)
		}
	}
	none, err := s.Receipts(ctx, storage.ReceiptKey{}, 0)
	require.NoError(t, err)
	require.Empty(t, none)

	held, err := s.Deferred(ctx, 0, 2)
	require.NoError(t, err)
	require.Equal(t, []int64{es[0].Seq, es[1].Seq}, seqsOf(held))
	require.Equal(t, es[0].Key, held[0].Key)
	require.Equal(t, []byte("d1"), held[0].Payload)
	require.Equal(t, t0, held[0].ReceivedAt)
	held, err = s.Deferred(ctx, es[1].Seq, 2)
	require.NoError(t, err)
	require.Equal(t, []int64{es[2].Seq}, seqsOf(held))

	var missingAgg, missingReceipt error
	update(t, s, func(tx storage.Tx) error {
		if err := tx.DeleteAggregate(ctx, payKey); err != nil {
			return err
		}
		missingAgg = tx.DeleteAggregate(ctx, payKey)
		if err := tx.DeleteReceipt(ctx, keys[1]); err != nil {
			return err
		}
		missingReceipt = tx.DeleteReceipt(ctx, keys[1])
		return nil
	})
	require.ErrorIs(t, missingAgg, storage.ErrNotFound)
	require.ErrorIs(t, missingReceipt, storage.ErrNotFound)
	_, err = s.Aggregate(ctx, payKey)
	require.ErrorIs(t, err, storage.ErrNotFound)
	got := listReceipts(100)
	require.Len(t, got, len(keys)-1)
	for _, r := range got {
		require.NotEqual(t, keys[1], r.Key)
	}
}

func seqsOf(ds []storage.DeferredEvent) []int64 {
	out := make([]int64, len(ds))
	for i, d := range ds {
		out[i] = d.Seq
	}
	return out
}

// testCheckpoints: signed checkpoints are kept as given (the store does not
// sign or check them), listed by sequence, the first of a sequence wins.
func testCheckpoints(t *testing.T, b Backend) {
	s, ctx := b.Store, t.Context()
	_, err := s.LatestCheckpoint(ctx)
	require.ErrorIs(t, err, storage.ErrNotFound)
	cp := func(seq int64, sig string) storage.Checkpoint {
		return storage.Checkpoint{Head: storage.ChainHead{Seq: seq, Hash: fmt.Sprintf("%064x", seq)},
			SignedAt: t0.Add(time.Duration(seq) * time.Minute), KeyID: "0123456789abcdef",
			PublicKey: []byte{0, 1, 2, 0xff}, Signature: []byte(sig), TreeRoot: fmt.Sprintf("%064x", seq*seq)}
	}
	update(t, s, func(tx storage.Tx) error {
		for _, c := range []storage.Checkpoint{cp(7, "a"), cp(3, "b"), cp(12, "c")} {
			if err := tx.PutCheckpoint(ctx, c); err != nil {
				return err
			}
		}
		return nil
	})
	update(t, s, func(tx storage.Tx) error { return tx.PutCheckpoint(ctx, cp(7, "second")) })
	// One without a tree root is replaced by one with.
	bare := cp(20, "bare")
	bare.TreeRoot = ""
	update(t, s, func(tx storage.Tx) error { return tx.PutCheckpoint(ctx, bare) })
	update(t, s, func(tx storage.Tx) error { return tx.PutCheckpoint(ctx, cp(20, "tree")) })
	update(t, s, func(tx storage.Tx) error { return tx.PutCheckpoint(ctx, bare) })
	withTree, err := s.Checkpoints(ctx, 19, 1)
	require.NoError(t, err)
	require.Equal(t, []storage.Checkpoint{cp(20, "tree")}, withTree)
	update(t, s, func(tx storage.Tx) error { return tx.PutCheckpoint(ctx, cp(12, "c")) })

	latest, err := s.LatestCheckpoint(ctx)
	require.NoError(t, err)
	require.Equal(t, cp(20, "tree"), latest)
	got, err := s.Checkpoints(ctx, 0, 2)
	require.NoError(t, err)
	require.Equal(t, []storage.Checkpoint{cp(3, "b"), cp(7, "a")}, got, "the first checkpoint of a sequence is kept")
	got, err = s.Checkpoints(ctx, 7, 10)
	require.NoError(t, err)
	require.Equal(t, []storage.Checkpoint{cp(12, "c"), cp(20, "tree")}, got)
}

// An aggregate read in the transaction (Lookup, LockAggregate) and put
// again — with its reference and parent as stored, changed, put twice,
// deleted and put — reads back whole, and the listings by reference,
// parent and state follow it (SQLite writes the first case with an
// UPDATE that leaves the reference and parent indexes alone).
func testPutAfterRead(t *testing.T, b Backend) {
	s, ctx := b.Store, t.Context()
	pay := storage.Aggregate{Key: payKey, MerchantReference: "order-1", State: "authorized", Currency: "EUR",
		Amount: 100, Authorized: 100, Version: 1, CreatedAt: t0, UpdatedAt: t0}
	refund := storage.Aggregate{Key: refundKey, MerchantReference: "order-1", Parent: payKey, State: "pending",
		Currency: "EUR", Amount: 40, Version: 1, CreatedAt: t0, UpdatedAt: t0}
	putAggregates(t, s, pay, refund)

	captured := pay
	captured.State, captured.Captured, captured.Version, captured.UpdatedAt = "captured", 100, 2, t0.Add(time.Second)
	renamed := refund
	renamed.MerchantReference, renamed.Parent, renamed.State, renamed.Version = "order-2", storage.AggregateKey{}, "succeeded", 2
	update(t, s, func(tx storage.Tx) error {
		if _, err := tx.Lookup(ctx, nil, []storage.AggregateKey{payKey, refundKey}); err != nil {
			return err
		}
		if err := tx.PutAggregate(ctx, captured); err != nil {
			return err
		}
		return tx.PutAggregate(ctx, renamed)
	})
	got, err := s.Aggregate(ctx, payKey)
	require.NoError(t, err)
	require.Equal(t, captured, normAggregate(got))
	got, err = s.Aggregate(ctx, refundKey)
	require.NoError(t, err)
	require.Equal(t, renamed, normAggregate(got))
	kids, err := s.Children(ctx, payKey)
	require.NoError(t, err)
	require.Empty(t, kids, "the refund no longer names the payment")
	byRef, err := s.AggregatesByReference(ctx, "order-2")
	require.NoError(t, err)
	require.Len(t, byRef, 1)
	require.Equal(t, refundKey, byRef[0].Key)
	listed, err := s.ListAggregates(ctx, storage.AggregateFilter{Kind: "payment", State: "captured"}, storage.AggregateKey{}, 10)
	require.NoError(t, err)
	require.Len(t, listed, 1)
	require.Equal(t, payKey, listed[0].Key)

	// Locked, put twice, then deleted and put again: the last put stands.
	refunded := captured
	refunded.State, refunded.Refunded, refunded.Version = "refunded", 100, 4
	update(t, s, func(tx storage.Tx) error {
		a, err := tx.LockAggregate(ctx, payKey)
		if err != nil {
			return err
		}
		a.State, a.Version = "partially_refunded", 3
		if err := tx.PutAggregate(ctx, a); err != nil {
			return err
		}
		if err := tx.PutAggregate(ctx, refunded); err != nil {
			return err
		}
		if err := tx.DeleteAggregate(ctx, payKey); err != nil {
			return err
		}
		return tx.PutAggregate(ctx, refunded)
	})
	got, err = s.Aggregate(ctx, payKey)
	require.NoError(t, err)
	require.Equal(t, refunded, normAggregate(got))
	listed, err = s.ListAggregates(ctx, storage.AggregateFilter{Kind: "payment", State: "captured"}, storage.AggregateKey{}, 10)
	require.NoError(t, err)
	require.Empty(t, listed)
}
