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
	"github.com/paystate/paystate/storage/storagetest"
	"github.com/paystate/paystate/storage/viewcache"
)

func openSQLite(t *testing.T) storage.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "paystate.db"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// The whole store contract holds through the cache.
func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storagetest.Backend {
		return storagetest.Backend{Store: viewcache.New(0).Wrap(openSQLite(t))}
	})
}

var t0 = time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.UTC)

func key(kind string, i int) storage.AggregateKey {
	return storage.AggregateKey{Provider: "acme", Kind: kind, ID: fmt.Sprint(i)}
}

// model drives random writes through a cached store and, after each
// committed transaction, asks every key's view through the cache and
// straight from the store: they must be the same. The writes cover every
// way a view changes: an aggregate's fields, a new child, a child moving
// to another parent, a child's fields and held count, a held event
// resolved (Undefer after DeferredFor, and a blind Undefer as a repair
// does), and an aggregate deleted.
func TestViewsAlwaysMatchTheStore(t *testing.T) {
	ctx := t.Context()
	raw := openSQLite(t)
	cache := viewcache.New(5) // smaller than the keys: evictions too
	s := cache.Wrap(raw)
	rng := rand.New(rand.NewPCG(1, 2))
	const parents, children = 4, 6
	var keys []storage.AggregateKey
	for i := range parents {
		keys = append(keys, key("payment", i))
	}
	for i := range children {
		keys = append(keys, key("refund", i))
	}
	version := map[storage.AggregateKey]int64{}
	var held []storage.DeferredEvent // what is held now, by seq
	put := func(ctx context.Context, tx storage.Tx, k storage.AggregateKey) error {
		version[k]++
		a := storage.Aggregate{Key: k, State: fmt.Sprint("s", rng.IntN(3)), Currency: "EUR", Amount: rng.Int64N(1000),
			Version: version[k], CreatedAt: t0, UpdatedAt: t0.Add(time.Duration(version[k]) * time.Second)}
		if k.Kind == "refund" && rng.IntN(4) > 0 {
			a.Parent = key("payment", rng.IntN(parents))
		}
		return tx.PutAggregate(ctx, a)
	}
	for step := range 400 {
		op := rng.IntN(6)
		k := keys[rng.IntN(len(keys))]
		var undone []int64
		err := s.Update(ctx, func(tx storage.Tx) error {
			undone = nil
			switch op {
			case 0, 1:
				return put(ctx, tx, k)
			case 2: // hold an event for k (whether or not it exists)
				e := storage.JournalEntry{Key: k, Event: "early", Verdict: "deferred", Actor: "webhook",
					DedupeKey: fmt.Sprint("d", step), BodySHA256: fmt.Sprintf("%064x", step), ReceivedAt: t0}
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
			case 3: // resolve k's held events as the engine does
				got, err := tx.DeferredFor(ctx, k)
				if err != nil {
					return err
				}
				for _, d := range got {
					if err := tx.Undefer(ctx, d.Seq); err != nil {
						return err
					}
					undone = append(undone, d.Seq)
				}
				return put(ctx, tx, k)
			case 4: // resolve one held event by sequence alone, as a repair does
				if len(held) == 0 {
					return nil
				}
				seq := held[rng.IntN(len(held))].Seq
				undone = append(undone, seq)
				return tx.Undefer(ctx, seq)
			default:
				err := tx.DeleteAggregate(ctx, k)
				if errors.Is(err, storage.ErrNotFound) {
					return nil
				}
				return err
			}
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
		// Read in a random order, so that cached views meet later writes
		// in every combination.
		for _, i := range rng.Perm(len(keys)) {
			k := keys[i]
			want, werr := raw.AggregateView(ctx, k)
			got, gerr := s.AggregateView(ctx, k)
			require.Equal(t, errors.Is(werr, storage.ErrNotFound), errors.Is(gerr, storage.ErrNotFound), "step %d, %v", step, k)
			require.Equal(t, want, got, "step %d (op %d on %v), view of %v", step, op, k, k)
		}
		require.LessOrEqual(t, cache.Len(), 5)
	}
	hits, misses := cache.Stats()
	require.Positive(t, hits, "the cache answered nothing: the test proves nothing")
	require.Positive(t, misses)
}

// A write acknowledged (Update returned) is seen by every read that
// starts after it, while other goroutines read the same view the whole
// time (run with -race).
func TestNoStaleViewAfterCommit(t *testing.T) {
	ctx := t.Context()
	s := viewcache.New(0).Wrap(openSQLite(t))
	pay, refund := key("payment", 1), key("refund", 1)
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				_, err := s.AggregateView(ctx, pay)
				if err != nil && !errors.Is(err, storage.ErrNotFound) {
					t.Error(err)
					return
				}
			}
		})
	}
	defer func() { stop.Store(true); wg.Wait() }()
	for v := int64(1); v <= 300; v++ {
		require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
			if err := tx.PutAggregate(ctx, storage.Aggregate{Key: pay, State: "open", Version: v, CreatedAt: t0, UpdatedAt: t0}); err != nil {
				return err
			}
			return tx.PutAggregate(ctx, storage.Aggregate{Key: refund, Parent: pay, State: "open", Version: v, CreatedAt: t0, UpdatedAt: t0})
		}))
		got, err := s.AggregateView(ctx, pay)
		require.NoError(t, err)
		require.Equal(t, v, got.Version, "the aggregate, read right after its commit")
		require.Len(t, got.Children, 1)
		require.Equal(t, v, got.Children[0].Version, "its child, read right after its commit")
	}
}
