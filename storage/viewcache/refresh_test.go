package viewcache_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/sqlite"
	"github.com/paystate/paystate/storage/viewcache"
)

// zones are the locations the random writes' times are in: the store
// keeps UTC microseconds, so a refresh that kept a zone or a nanosecond
// shows.
var zones = []*time.Location{time.UTC, time.FixedZone("east", 4*3600+1800), time.FixedZone("west", -7*3600)}

// odd are values a refresh must keep byte for byte: non-ASCII, invalid
// UTF-8, a NUL, empty.
var odd = []string{"", "captured", "réglé", "\xff\xfe", "a b\tc", "nul\x00inside"}

// TestRefreshedViewsMatchTheStore is the differential proof of the
// refresh: random transactions (rows with nanosecond times in several
// zones, new children, children moving and deleted, events held and
// released, events expired and kept to be revived, several writes of
// one key in one transaction) and, after
// every commit, every view the cache holds — refreshed or not — compared
// whole with a fresh read of the store, before anything reads through
// the cache again.
func TestRefreshedViewsMatchTheStore(t *testing.T) {
	for _, size := range []int{6, 1000} {
		t.Run(fmt.Sprint("entries=", size), func(t *testing.T) { differential(t, size, 3000) })
	}
}

func differential(t *testing.T, size, steps int) {
	ctx := t.Context()
	raw := openSQLite(t)
	cache := viewcache.New(size)
	s := cache.Wrap(raw)
	rng := rand.New(rand.NewPCG(3, uint64(size)))
	const parents, children = 4, 8
	var keys []storage.AggregateKey
	for i := range parents {
		keys = append(keys, key("payment", i))
	}
	for i := range children {
		keys = append(keys, key("refund", i))
	}
	version := map[storage.AggregateKey]int64{}
	var held []storage.DeferredEvent
	stamp := func() time.Time {
		return t0.Add(time.Duration(rng.Int64N(int64(48 * time.Hour)))).In(zones[rng.IntN(len(zones))])
	}
	put := func(ctx context.Context, tx storage.Tx, k storage.AggregateKey) error {
		version[k]++
		a := storage.Aggregate{Key: k, MerchantReference: odd[rng.IntN(len(odd))],
			State: fmt.Sprint("s", rng.IntN(3)), ProviderStatus: odd[rng.IntN(len(odd))], Currency: "EUR",
			Amount: rng.Int64N(1000), Authorized: rng.Int64N(1000) - 10, Captured: rng.Int64N(1 << 62), Refunded: rng.Int64N(5),
			AmountsUnknown: rng.IntN(2) == 0, Version: version[k], CreatedAt: stamp(), UpdatedAt: stamp()}
		switch rng.IntN(8) {
		case 0:
			a.CreatedAt = time.Time{}
		case 1:
			a.UpdatedAt = time.Unix(0, 999).In(zones[1]) // reads back as the zero time
		}
		if k.Kind == "refund" && rng.IntN(5) > 0 {
			a.Parent = key("payment", rng.IntN(parents))
		}
		return tx.PutAggregate(ctx, a)
	}
	hold := func(ctx context.Context, tx storage.Tx, k storage.AggregateKey, step, n int) error {
		e := storage.JournalEntry{Key: k, Event: "early", Verdict: "deferred", Actor: "webhook",
			DedupeKey: fmt.Sprint("d", step, "-", n), BodySHA256: fmt.Sprintf("%064x", step*10+n), ReceivedAt: t0}
		if err := tx.Append(ctx, &e); err != nil {
			return err
		}
		d := storage.DeferredEvent{Seq: e.Seq, Key: k, DedupeKey: e.DedupeKey, BodySHA256: e.BodySHA256,
			ReceivedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		if err := tx.Defer(ctx, d); err != nil {
			return err
		}
		held = append(held, d)
		return nil
	}
	refreshed := 0
	for step := range steps {
		var undone []int64
		heldBefore := len(held)
		written := map[storage.AggregateKey]bool{}
		err := s.Update(ctx, func(tx storage.Tx) error {
			undone, held = nil, held[:heldBefore]
			clear(written)
			for n := range 1 + rng.IntN(3) {
				k := keys[rng.IntN(len(keys))]
				written[k] = true
				var err error
				switch op := rng.IntN(10); {
				case op < 4:
					err = put(ctx, tx, k)
				case op < 6:
					err = hold(ctx, tx, k, step, n)
				case op < 7: // expire one, kept to be revived, as the engine does
					var got []storage.DeferredEvent
					if got, err = tx.DeferredFor(ctx, k); err != nil || len(got) == 0 {
						return err
					}
					d := got[rng.IntN(len(got))]
					if d.ExpiredSeq != 0 {
						break
					}
					e := storage.JournalEntry{Key: k, Event: "early", Verdict: "rejected", Reason: "expired", Actor: "engine",
						ResolvesSeq: d.Seq, ReceivedAt: t0}
					if err := tx.Append(ctx, &e); err != nil {
						return err
					}
					if err := tx.Undefer(ctx, d.Seq); err != nil {
						return err
					}
					d.ExpiredSeq = e.Seq
					err = tx.Defer(ctx, d)
				case op < 9: // release (or revive) k's held events, as the engine does
					var got []storage.DeferredEvent
					if got, err = tx.DeferredFor(ctx, k); err != nil {
						return err
					}
					for _, d := range got[:rng.IntN(len(got)+1)] {
						if err := tx.Undefer(ctx, d.Seq); err != nil {
							return err
						}
						undone = append(undone, d.Seq)
					}
					if rng.IntN(2) == 0 {
						err = put(ctx, tx, k)
					}
				default:
					if err = tx.DeleteAggregate(ctx, k); errors.Is(err, storage.ErrNotFound) {
						err = nil
					}
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
		require.NoError(t, err)
		for _, seq := range undone {
			for i, d := range held {
				if d.Seq == seq {
					held = append(held[:i], held[i+1:]...)
					break
				}
			}
		}
		for _, k := range keys {
			got, ok := cache.Peek(k)
			if !ok {
				continue
			}
			want, err := raw.AggregateView(ctx, k)
			require.NoError(t, err, "step %d: %v is cached but not stored", step, k)
			require.Equal(t, want, got, "step %d, cached view of %v", step, k)
			if written[k] {
				refreshed++
			}
		}
		// Read some keys through the cache, so that views are cached
		// when later transactions write them.
		for range 3 {
			k := keys[rng.IntN(len(keys))]
			_, err := s.AggregateView(ctx, k)
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				require.NoError(t, err)
			}
		}
		require.LessOrEqual(t, cache.Len(), size)
	}
	t.Logf("%d views written by a commit were still cached and exact after it", refreshed)
	require.Positive(t, refreshed, "no view survived a commit: the refresh was not exercised")
}

// Concurrent writers and readers: commits refresh the cache in an order
// of their own (after the store's commit, outside its lock), readers put
// views read from snapshots that may hold commits not yet reflected.
// Every view cached once all is quiet must be the store's, and a read
// right after a commit must see it (run with -race).
func TestConcurrentCommitsKeepViewsExact(t *testing.T) {
	ctx := t.Context()
	raw := openSQLite(t)
	cache := viewcache.New(0)
	s := cache.Wrap(raw)
	pay := key("payment", 0)
	refunds := []storage.AggregateKey{key("refund", 0), key("refund", 1), key("refund", 2)}
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		return tx.PutAggregate(ctx, storage.Aggregate{Key: pay, State: "open", Version: 1, CreatedAt: t0, UpdatedAt: t0})
	}))
	var seq atomic.Int64
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := range 3 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				k := pay
				if r > 0 {
					k = refunds[r-1]
				}
				if _, err := s.AggregateView(ctx, k); err != nil && !errors.Is(err, storage.ErrNotFound) {
					errs <- err
					return
				}
			}
		})
	}
	var writers sync.WaitGroup
	for w := range 4 {
		writers.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			for range 150 {
				k := refunds[rng.IntN(len(refunds))]
				n := seq.Add(1)
				var v int64
				err := s.Update(ctx, func(tx storage.Tx) error {
					switch rng.IntN(3) {
					case 0: // hold an event for the child: its count in the parent's view
						e := storage.JournalEntry{Key: k, Event: "early", Verdict: "deferred", Actor: "webhook",
							DedupeKey: fmt.Sprint("c", n), BodySHA256: fmt.Sprintf("%064x", n), ReceivedAt: t0}
						if err := tx.Append(ctx, &e); err != nil {
							return err
						}
						return tx.Defer(ctx, storage.DeferredEvent{Seq: e.Seq, Key: k, DedupeKey: e.DedupeKey,
							BodySHA256: e.BodySHA256, ReceivedAt: t0, ExpiresAt: t0.Add(time.Hour)})
					case 1:
						held, err := tx.DeferredFor(ctx, k)
						if err != nil || len(held) == 0 {
							return err
						}
						return tx.Undefer(ctx, held[0].Seq)
					default:
						a, err := tx.LockAggregate(ctx, k)
						if err != nil && !errors.Is(err, storage.ErrNotFound) {
							return err
						}
						v = a.Version + 1
						return tx.PutAggregate(ctx, storage.Aggregate{Key: k, Parent: pay, State: fmt.Sprint("v", n),
							Version: v, CreatedAt: t0, UpdatedAt: t0.Add(time.Duration(n) * time.Nanosecond * 1001)})
					}
				})
				if err != nil {
					errs <- err
					return
				}
				if v > 0 { // acknowledged: every later read sees it
					got, err := s.AggregateView(ctx, pay)
					if err != nil {
						errs <- err
						return
					}
					for _, ch := range got.Children {
						if ch.Key == k && ch.Version < v {
							errs <- fmt.Errorf("%v read at version %d after version %d committed", k, ch.Version, v)
							return
						}
					}
				}
			}
		})
	}
	writers.Wait()
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for _, k := range append([]storage.AggregateKey{pay}, refunds...) {
		got, ok := cache.Peek(k)
		if !ok {
			continue
		}
		want, err := raw.AggregateView(ctx, k)
		require.NoError(t, err)
		require.Equal(t, want, got, "cached view of %v once all is quiet", k)
	}
	hits, misses := cache.Stats()
	t.Logf("hits %d, misses %d", hits, misses)
}

// An order's first commit: its refund arrived first (a child naming an
// order that did not exist yet) and an early event of its own is held,
// so its view has a child and a held count that the commit creating it
// did not write. No view the cache then holds, and no read through it,
// may differ from the store: a commit that inserted the new order's view
// from its own writes (children and held count unknown) fails here.
func TestFirstCommitOfAnOrder(t *testing.T) {
	ctx := t.Context()
	raw := openSQLite(t)
	cache := viewcache.New(0)
	s := cache.Wrap(raw)
	pay, ref := key("payment", 1), key("refund", 1)
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		if err := tx.PutAggregate(ctx, storage.Aggregate{Key: ref, Parent: pay, State: "requested", Version: 1, CreatedAt: t0, UpdatedAt: t0}); err != nil {
			return err
		}
		e := storage.JournalEntry{Key: pay, Event: "CAPTURED", Verdict: "deferred", Actor: "webhook", DedupeKey: "early",
			BodySHA256: fmt.Sprintf("%064x", 1), ReceivedAt: t0}
		if err := tx.Append(ctx, &e); err != nil {
			return err
		}
		return tx.Defer(ctx, storage.DeferredEvent{Seq: e.Seq, Key: pay, DedupeKey: e.DedupeKey, BodySHA256: e.BodySHA256,
			ReceivedAt: t0, ExpiresAt: t0.Add(time.Hour)})
	}))
	_, err := s.AggregateView(ctx, pay)
	require.ErrorIs(t, err, storage.ErrNotFound, "no order yet")
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		return tx.PutAggregate(ctx, storage.Aggregate{Key: pay, State: "authorized", Version: 1, CreatedAt: t0, UpdatedAt: t0})
	}))
	want, err := raw.AggregateView(ctx, pay)
	require.NoError(t, err)
	require.Len(t, want.Children, 1)
	require.Equal(t, 1, want.Pending)
	if got, ok := cache.Peek(pay); ok {
		require.Equal(t, want, got, "the view the first commit left in the cache")
	}
	for range 2 { // a miss, then a hit
		got, err := s.AggregateView(ctx, pay)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	hits, misses := cache.Stats()
	require.Equal(t, [2]uint64{1, 2}, [2]uint64{hits, misses}, "the read after the first commit is a miss, the next a hit")
}

// opaque hides the SQLite store's Normalizer: through it commits only
// remove views, as before the refresh.
type opaque struct{ storage.Store }

// BenchmarkReadAfterWebhook: the pattern of an order service — a webhook
// commits an event on an order it has read before, then the service
// reads the order. It reports the share of those reads the cache
// answered and the reads' own time, with commits that remove the views
// they change (remove) and that refresh them (refresh). first is an
// order's first webhook instead: the commit creates the order, which no
// view held, and the read after it is a miss (a commit does not insert
// views: it cannot know the new order's children, see docs/performance).
func BenchmarkReadAfterWebhook(b *testing.B) {
	for _, mode := range []string{"remove", "refresh", "first"} {
		b.Run(mode, func(b *testing.B) {
			ctx := b.Context()
			raw, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "paystate.db"))
			require.NoError(b, err)
			b.Cleanup(func() { raw.Close() })
			var under storage.Store = raw
			if mode == "remove" {
				under = opaque{raw}
			}
			cache := viewcache.New(0)
			s := cache.Wrap(under)
			const orders = 64
			for i := range orders {
				require.NoError(b, s.Update(ctx, func(tx storage.Tx) error {
					if err := tx.PutAggregate(ctx, storage.Aggregate{Key: key("payment", i), State: "authorized", Version: 1, CreatedAt: t0, UpdatedAt: t0}); err != nil {
						return err
					}
					return tx.PutAggregate(ctx, storage.Aggregate{Key: key("refund", i), Parent: key("payment", i), State: "requested", Version: 1, CreatedAt: t0, UpdatedAt: t0})
				}))
				_, err := s.AggregateView(ctx, key("payment", i))
				require.NoError(b, err)
			}
			var reads time.Duration
			h0, m0 := cache.Stats()
			for i := 0; b.Loop(); i++ {
				read := key("payment", i%orders)
				if mode == "first" {
					read = key("payment", orders+i)
					require.NoError(b, s.Update(ctx, func(tx storage.Tx) error {
						return tx.PutAggregate(ctx, storage.Aggregate{Key: read, State: "authorized", Version: 1, CreatedAt: t0, UpdatedAt: time.Now()})
					}))
				} else {
					k := key("refund", i%orders)
					require.NoError(b, s.Update(ctx, func(tx storage.Tx) error {
						return tx.PutAggregate(ctx, storage.Aggregate{Key: k, Parent: read, State: "refunded",
							Version: int64(i + 2), CreatedAt: t0, UpdatedAt: time.Now()})
					}))
				}
				start := time.Now()
				_, err := s.AggregateView(ctx, read)
				reads += time.Since(start)
				require.NoError(b, err)
			}
			h, m := cache.Stats()
			b.ReportMetric(float64(h-h0)/float64(h-h0+m-m0), "hits/read")
			b.ReportMetric(float64(reads.Nanoseconds())/float64(b.N), "read-ns/op")
		})
	}
}

// As serve wires it: the engine writes through the SQLite store, the API
// reads through its bounded face (storage.WithTimeout), both wrapped by
// one cache. The read after a commit is answered from the cache.
func TestRefreshAsServeWiresIt(t *testing.T) {
	ctx := t.Context()
	raw := openSQLite(t)
	cache := viewcache.New(0)
	writes, reads := cache.Wrap(raw), cache.Wrap(storage.WithTimeout(raw, time.Minute))
	pay := key("payment", 1)
	for v := int64(1); v <= 3; v++ {
		require.NoError(t, writes.Update(ctx, func(tx storage.Tx) error {
			return tx.PutAggregate(ctx, storage.Aggregate{Key: pay, State: fmt.Sprint("s", v), Version: v, CreatedAt: t0, UpdatedAt: t0.Add(time.Duration(v))})
		}))
		got, err := reads.AggregateView(ctx, pay)
		require.NoError(t, err)
		want, err := raw.AggregateView(ctx, pay)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	hits, misses := cache.Stats()
	require.Equal(t, [2]uint64{2, 1}, [2]uint64{hits, misses}, "the first read misses, the two after a commit hit")
}
