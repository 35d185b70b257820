// Package viewcache keeps aggregate views (storage.Reader.AggregateView,
// what GetOrder and GetAggregate read) in memory, in front of a store
// whose every write passes through this process: an SQLite store, which
// one server holds at a time (the store lock keeps a second process, and
// the offline commands, away).
//
// It is exact, not eventually consistent: a commit that changes a view
// the cache holds replaces it with the view as the store now reads it
// (refresh.go), or removes it, before Update returns, so before the
// engine answers the webhook that caused it or wakes a watcher. A read
// that began before such a commit and ends after it does not put its
// (old) view in: every commit advances a generation, a view read under
// an older generation is not kept, and neither is a view a transaction
// about to commit touches (inflight).
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
	"errors"
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
	// inflight counts, by key, the transactions that touch it and are
	// committing or committed but not yet reflected here (registered at
	// the end of their fn, released after their refresh); inflightAll
	// counts those that touch every view. A reader does not put a view
	// they touch (its snapshot may or may not hold their commit), and a
	// refresh does not build on one (its cached content may lack an
	// earlier commit still in flight): it removes it.
	inflight    map[storage.AggregateKey]int
	inflightAll int

	hits, misses atomic.Uint64
}

// New returns a cache of up to max views (max <= 0: DefaultEntries).
func New(max int) *Cache {
	if max <= 0 {
		max = DefaultEntries
	}
	return &Cache{max: max, views: map[string]string{}, parentOf: map[storage.AggregateKey]storage.AggregateKey{},
		inflight: map[storage.AggregateKey]int{}}
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
	if c.gen != gen || c.touchedInFlight(v) {
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

// Wrap returns s with AggregateView answered from the cache when it can,
// and Update refreshing or removing the views each transaction changed.
// Views are refreshed only when s is, or wraps (storage.Unwrapper), a
// store that says how it reads a written aggregate back (Normalizer);
// through any other store, commits only remove. The views returned share
// their Children slices with the cache: callers must not modify them.
func (c *Cache) Wrap(s storage.Store) storage.Store {
	return &store{Store: s, c: c, norm: findNormalizer(s)}
}

type store struct {
	storage.Store
	c    *Cache
	norm Normalizer // nil: commits only remove views
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
	// Committed or not (a failed commit may still have landed), panicking
	// (rolled back: nothing is refreshed) or not, and before the caller
	// hears of it.
	committed := false
	defer func() { s.c.commit(t, committed && !t.failed, s.norm) }()
	err := s.Store.Update(ctx, func(under storage.Tx) error {
		// fn may run more than once (the store retries a busy
		// transaction): only the last run's writes are committed.
		t.Tx = under
		t.restart()
		if err := fn(t); err != nil {
			return err
		}
		// The store commits after fn returns, and no other transaction
		// runs before it does: from here the views this one touches are
		// in flight.
		s.c.register(t)
		return nil
	})
	committed = err == nil
	return err
}

// tx records what a transaction changes: the keys whose views it
// touches (over every run of fn: removing a view is always safe), and
// the last run's writes, from which a commit refreshes the cached views.
// It implements every method of storage.Tx itself, without embedding: a
// method added to storage.Tx does not compile here until it says what it
// changes.
type tx struct {
	Tx      storage.Tx
	touched []storage.AggregateKey
	all     bool
	// held maps the sequences of held events this run read or held to
	// their keys, for Undefer.
	held map[int64]heldEvent
	// registered are the keys (and all) this transaction put in flight.
	registered    []storage.AggregateKey
	registeredAll bool
	// The last run's writes: each aggregate's last row written (deleted:
	// removed), and the change in each key's held count.
	rows    map[storage.AggregateKey]written
	pending map[storage.AggregateKey]int
	// failed: a statement of the last run failed in a way that leaves
	// what it changed unknown; the commit then only removes views.
	failed bool
}

// heldEvent is a held event's key, and whether the held counts count it
// (an event expired and kept to be revived, DeferredEvent.ExpiredSeq, is
// not counted).
type heldEvent struct {
	key     storage.AggregateKey
	counted bool
}

type written struct {
	a       storage.Aggregate
	deleted bool
}

var _ storage.Tx = (*tx)(nil)

// restart forgets the writes of a previous run of fn (rolled back).
func (t *tx) restart() {
	clear(t.rows)
	clear(t.pending)
	clear(t.held)
	t.failed = false
}

func (t *tx) touch(keys ...storage.AggregateKey) {
	for _, k := range keys {
		if k != (storage.AggregateKey{}) {
			t.touched = append(t.touched, k)
		}
	}
}

// check notes a failed statement: unless it is a read that found
// nothing, what the run wrote is no longer known for sure.
func (t *tx) check(err error, read bool) error {
	if err != nil && !(read && errors.Is(err, storage.ErrNotFound)) {
		t.failed = true
	}
	return err
}

func (t *tx) sawHeld(events []storage.DeferredEvent) {
	if len(events) == 0 {
		return
	}
	if t.held == nil {
		t.held = make(map[int64]heldEvent, len(events))
	}
	for _, d := range events {
		t.held[d.Seq] = heldEvent{d.Key, d.ExpiredSeq == 0}
	}
}

func (t *tx) wrote(key storage.AggregateKey, w written) {
	if t.rows == nil {
		t.rows = map[storage.AggregateKey]written{}
	}
	t.rows[key] = w
}

func (t *tx) held1(key storage.AggregateKey, n int) {
	if t.pending == nil {
		t.pending = map[storage.AggregateKey]int{}
	}
	t.pending[key] += n
}

func (t *tx) LockAggregate(ctx context.Context, key storage.AggregateKey) (storage.Aggregate, error) {
	a, err := t.Tx.LockAggregate(ctx, key)
	return a, t.check(err, true)
}

func (t *tx) Lookup(ctx context.Context, receipts []storage.ReceiptKey, aggregates []storage.AggregateKey) (storage.Lookups, error) {
	l, err := t.Tx.Lookup(ctx, receipts, aggregates)
	return l, t.check(err, false)
}

func (t *tx) PutAggregate(ctx context.Context, a storage.Aggregate) error {
	t.touch(a.Key, a.Parent)
	if err := t.check(t.Tx.PutAggregate(ctx, a), false); err != nil {
		return err
	}
	t.wrote(a.Key, written{a: a})
	return nil
}

func (t *tx) Receipt(ctx context.Context, provider, dedupeKey string) (storage.Receipt, error) {
	r, err := t.Tx.Receipt(ctx, provider, dedupeKey)
	return r, t.check(err, true)
}

func (t *tx) PutReceipt(ctx context.Context, provider, dedupeKey string, r storage.Receipt) error {
	return t.check(t.Tx.PutReceipt(ctx, provider, dedupeKey, r), false)
}

func (t *tx) Append(ctx context.Context, e *storage.JournalEntry) error {
	return t.check(t.Tx.Append(ctx, e), false)
}

func (t *tx) Defer(ctx context.Context, d storage.DeferredEvent) error {
	t.touch(d.Key)
	if err := t.check(t.Tx.Defer(ctx, d), false); err != nil {
		return err
	}
	t.sawHeld([]storage.DeferredEvent{d})
	if d.ExpiredSeq == 0 {
		t.held1(d.Key, 1)
	}
	return nil
}

func (t *tx) DeferredFor(ctx context.Context, key storage.AggregateKey) ([]storage.DeferredEvent, error) {
	held, err := t.Tx.DeferredFor(ctx, key)
	t.sawHeld(held)
	return held, t.check(err, false)
}

func (t *tx) ExpiredDeferred(ctx context.Context, now time.Time, limit int) ([]storage.DeferredEvent, error) {
	held, err := t.Tx.ExpiredDeferred(ctx, now, limit)
	t.sawHeld(held)
	return held, t.check(err, false)
}

func (t *tx) Undefer(ctx context.Context, seq int64) error {
	h, ok := t.held[seq]
	if ok {
		t.touch(h.key)
	} else {
		t.all = true
	}
	if err := t.check(t.Tx.Undefer(ctx, seq), false); err != nil {
		return err
	}
	if ok {
		if h.counted {
			t.held1(h.key, -1)
		}
		delete(t.held, seq)
	}
	return nil
}

func (t *tx) DeleteAggregate(ctx context.Context, key storage.AggregateKey) error {
	t.touch(key)
	if err := t.check(t.Tx.DeleteAggregate(ctx, key), false); err != nil {
		return err
	}
	t.wrote(key, written{deleted: true})
	return nil
}

func (t *tx) DeleteReceipt(ctx context.Context, key storage.ReceiptKey) error {
	return t.check(t.Tx.DeleteReceipt(ctx, key), false)
}

func (t *tx) PutCheckpoint(ctx context.Context, c storage.Checkpoint) error {
	return t.check(t.Tx.PutCheckpoint(ctx, c), false)
}

func (t *tx) Touch(ctx context.Context) error { return t.check(t.Tx.Touch(ctx), false) }
