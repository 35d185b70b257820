// Package viewcache keeps aggregate views (storage.Reader.AggregateView,
// what GetOrder and GetAggregate read) in memory, in front of a store
// whose every write passes through this process: an SQLite store, which
// one server holds at a time (the store lock keeps a second process, and
// the offline commands, away).
//
// It is exact, not eventually consistent: a write that changes a view
// removes it from the cache before Update returns, so before the engine
// answers the webhook that caused it or wakes a watcher. A read that
// began before such a commit and ends after it does not put its (old)
// view in: every removal advances a generation, and a view read under an
// older generation is not kept.
//
// What changes a view of key K: a PutAggregate, Defer or DeleteAggregate
// of K (its own fields, its held count), of one of its children (their
// fields and held counts are in K's view), or of an aggregate naming K as
// parent (a new child). Undefer names a journal sequence, not a key: the
// key is known when the same transaction read the held event
// (DeferredFor, ExpiredDeferred), as the engine does; otherwise (a
// repair, a re-evaluation) the whole cache is emptied.
//
// Do not put it in front of PostgreSQL with several replicas: another
// replica's commits do not pass through this process (see docs).
package viewcache

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paystate/paystate/storage"
)

// DefaultEntries is the cache's default bound, in views.
const DefaultEntries = 100_000

// maxChildren: a view with more children than this is not cached (its
// size is unbounded; it is read rarely).
const maxChildren = 32

// Cache holds up to its bound of views. Wrap stores with it: every store
// it wraps shares the cache.
type Cache struct {
	max int

	mu  sync.Mutex
	gen uint64
	// views holds each view flattened into one string (encode), keyed by
	// keyString: a hundred thousand views are then two hundred thousand
	// pointers for the collector to follow, not two million.
	views map[string]string
	// parentOf maps the children listed in cached views to the view that
	// lists them, so that a change to a child removes its parent's view
	// (even when the change is the child moving to another parent).
	parentOf map[storage.AggregateKey]storage.AggregateKey

	hits, misses atomic.Uint64
}

// New returns a cache of up to max views (max <= 0: DefaultEntries).
func New(max int) *Cache {
	if max <= 0 {
		max = DefaultEntries
	}
	return &Cache{max: max, views: map[string]string{}, parentOf: map[storage.AggregateKey]storage.AggregateKey{}}
}

// Stats returns the reads answered from the cache and those that read
// the store.
func (c *Cache) Stats() (hits, misses uint64) { return c.hits.Load(), c.misses.Load() }

// Len is the number of views held.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.views)
}

func (c *Cache) get(key storage.AggregateKey) (storage.AggregateView, uint64, bool) {
	var buf [128]byte
	k := appendKey(buf[:0], key)
	c.mu.Lock()
	e, ok := c.views[string(k)] // no copy of k: the compiler looks it up in place
	gen := c.gen
	c.mu.Unlock()
	if !ok {
		return storage.AggregateView{}, gen, false
	}
	return decode(e), gen, true
}

// put keeps v, read after get returned gen, unless a write removed views
// since.
func (c *Cache) put(key storage.AggregateKey, v storage.AggregateView, gen uint64) {
	if len(v.Children) > maxChildren || v.Key != key {
		return
	}
	e, ok := encode(v)
	if !ok {
		return
	}
	k := string(appendKey(nil, key))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if _, ok := c.views[k]; !ok && len(c.views) >= c.max {
		for victim := range c.views { // an arbitrary victim: map iteration starts anywhere
			c.dropLocked(victim)
			break
		}
	}
	for _, ch := range v.Children {
		if p, ok := c.parentOf[ch.Key]; ok && p != key {
			c.dropLocked(string(appendKey(nil, p)))
		}
		c.parentOf[ch.Key] = key
	}
	c.views[k] = e
}

// dropLocked removes the view under k and its children's back
// references.
func (c *Cache) dropLocked(k string) {
	e, ok := c.views[k]
	if !ok {
		return
	}
	delete(c.views, k)
	v := decode(e)
	for _, ch := range v.Children {
		if c.parentOf[ch.Key] == v.Key {
			delete(c.parentOf, ch.Key)
		}
	}
}

// invalidate removes the views the keys' changes touch (all of them when
// all is set).
func (c *Cache) invalidate(keys []storage.AggregateKey, all bool) {
	if len(keys) == 0 && !all {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if all {
		clear(c.views)
		clear(c.parentOf)
		return
	}
	var buf [128]byte
	for _, k := range keys {
		if p, ok := c.parentOf[k]; ok {
			c.dropLocked(string(appendKey(buf[:0], p)))
		}
		c.dropLocked(string(appendKey(buf[:0], k)))
	}
}

// Wrap returns s with AggregateView answered from the cache when it can,
// and Update removing from the cache what each transaction changed. The
// views returned share their Children slices with the cache: callers
// must not modify them.
func (c *Cache) Wrap(s storage.Store) storage.Store { return &store{Store: s, c: c} }

type store struct {
	storage.Store
	c *Cache
}

func (s *store) AggregateView(ctx context.Context, key storage.AggregateKey) (storage.AggregateView, error) {
	v, gen, ok := s.c.get(key)
	if ok {
		s.c.hits.Add(1)
		return v, nil
	}
	s.c.misses.Add(1)
	v, err := s.Store.AggregateView(ctx, key)
	if err == nil {
		s.c.put(key, v, gen)
	}
	return v, err
}

func (s *store) Update(ctx context.Context, fn func(tx storage.Tx) error) error {
	t := &tx{}
	err := s.Store.Update(ctx, func(under storage.Tx) error {
		t.Tx = under
		return fn(t)
	})
	// Committed or not (a failed commit may still have landed), and before
	// the caller hears of it.
	s.c.invalidate(t.touched, t.all)
	return err
}

// tx records the keys whose views a transaction changes. It implements
// every method of storage.Tx itself, without embedding: a method added to
// storage.Tx does not compile here until it says what it changes.
type tx struct {
	Tx      storage.Tx
	touched []storage.AggregateKey
	all     bool
	// held maps the sequences of held events this transaction read to
	// their keys, for Undefer.
	held map[int64]storage.AggregateKey
}

var _ storage.Tx = (*tx)(nil)

func (t *tx) touch(keys ...storage.AggregateKey) {
	for _, k := range keys {
		if k != (storage.AggregateKey{}) {
			t.touched = append(t.touched, k)
		}
	}
}

func (t *tx) sawHeld(events []storage.DeferredEvent) {
	if len(events) == 0 {
		return
	}
	if t.held == nil {
		t.held = make(map[int64]storage.AggregateKey, len(events))
	}
	for _, d := range events {
		t.held[d.Seq] = d.Key
	}
}

func (t *tx) LockAggregate(ctx context.Context, key storage.AggregateKey) (storage.Aggregate, error) {
	return t.Tx.LockAggregate(ctx, key)
}

func (t *tx) Lookup(ctx context.Context, receipts []storage.ReceiptKey, aggregates []storage.AggregateKey) (storage.Lookups, error) {
	return t.Tx.Lookup(ctx, receipts, aggregates)
}

func (t *tx) PutAggregate(ctx context.Context, a storage.Aggregate) error {
	t.touch(a.Key, a.Parent)
	return t.Tx.PutAggregate(ctx, a)
}

func (t *tx) Receipt(ctx context.Context, provider, dedupeKey string) (storage.Receipt, error) {
	return t.Tx.Receipt(ctx, provider, dedupeKey)
}

func (t *tx) PutReceipt(ctx context.Context, provider, dedupeKey string, r storage.Receipt) error {
	return t.Tx.PutReceipt(ctx, provider, dedupeKey, r)
}

func (t *tx) Append(ctx context.Context, e *storage.JournalEntry) error {
	return t.Tx.Append(ctx, e)
}

func (t *tx) Defer(ctx context.Context, d storage.DeferredEvent) error {
	t.touch(d.Key)
	return t.Tx.Defer(ctx, d)
}

func (t *tx) DeferredFor(ctx context.Context, key storage.AggregateKey) ([]storage.DeferredEvent, error) {
	held, err := t.Tx.DeferredFor(ctx, key)
	t.sawHeld(held)
	return held, err
}

func (t *tx) ExpiredDeferred(ctx context.Context, now time.Time, limit int) ([]storage.DeferredEvent, error) {
	held, err := t.Tx.ExpiredDeferred(ctx, now, limit)
	t.sawHeld(held)
	return held, err
}

func (t *tx) Undefer(ctx context.Context, seq int64) error {
	if k, ok := t.held[seq]; ok {
		t.touch(k)
	} else {
		t.all = true
	}
	return t.Tx.Undefer(ctx, seq)
}

func (t *tx) DeleteAggregate(ctx context.Context, key storage.AggregateKey) error {
	t.touch(key)
	return t.Tx.DeleteAggregate(ctx, key)
}

func (t *tx) DeleteReceipt(ctx context.Context, key storage.ReceiptKey) error {
	return t.Tx.DeleteReceipt(ctx, key)
}

func (t *tx) PutCheckpoint(ctx context.Context, c storage.Checkpoint) error {
	return t.Tx.PutCheckpoint(ctx, c)
}

func (t *tx) Touch(ctx context.Context) error { return t.Tx.Touch(ctx) }
