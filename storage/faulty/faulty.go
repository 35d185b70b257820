// Package faulty wraps a storage.Store and injects faults at random,
// from a seed, so that a test can show what callers answer when the
// database fails: errors (wrapping storage.ErrUnavailable, as a real
// backend reports a failed transaction) and stalls; and, on request,
// refuses chosen journal entries, as a database refuses a statement.
//
// Faults are injected only where the wrapped store really rolls the
// transaction back, so that the wrapper never lies about a commit:
//
//   - before fn runs (the database could not begin a transaction);
//   - on a Tx call inside fn (a statement failed half-way: what fn wrote
//     before it is rolled back with the rest);
//   - after fn returned, before the commit (the commit failed): the
//     wrapper returns the error from inside the wrapped Update, which
//     therefore rolls back.
//
// A fault after a real commit would turn a durable transaction into a
// reported failure, which no backend does (Update's contract: nil means
// durable, an error means nothing was committed); it is not offered.
package faulty

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/paystate/paystate/storage"
)

var _ storage.Store = (*Store)(nil)

// ErrInjected marks every injected error; each also wraps
// storage.ErrUnavailable.
var ErrInjected = errors.New("faulty: injected fault")

// Config sets the probability (0 to 1) of each fault per Update.
type Config struct {
	Seed uint64
	// BeforeFn fails Update before fn runs.
	BeforeFn float64
	// InTx fails one of fn's Tx calls (each call with this probability).
	InTx float64
	// BeforeCommit fails Update after fn returned nil, before the commit.
	BeforeCommit float64
	// Stall pauses Update for up to MaxStall before it begins.
	Stall    float64
	MaxStall time.Duration
	// Refuse, when set, is asked about every journal entry before it is
	// appended; an error it returns fails that Append. It stands for a
	// statement the database refuses whatever the retry, so its error
	// should not wrap storage.ErrUnavailable. It runs where the engine
	// writes, so it may also panic there.
	Refuse func(e *storage.JournalEntry) error
}

// Counts says how many faults were injected and how many Updates went
// through unharmed.
type Counts struct {
	Updates, BeforeFn, InTx, BeforeCommit, Stalls, Committed int
	// Refused counts the Appends Refuse failed.
	Refused int
}

// Store is a storage.Store that fails at random. Reads pass through.
type Store struct {
	storage.Store
	cfg Config

	mu     sync.Mutex
	rng    *rand.Rand
	counts Counts
}

// New wraps s.
func New(s storage.Store, cfg Config) *Store {
	return &Store{Store: s, cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))}
}

// Set replaces the probabilities from now on (the random sequence goes
// on): a test can make a store fail, then heal it.
func (s *Store) Set(cfg Config) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg.Seed = s.cfg.Seed
	s.cfg = cfg
}

// Counts returns what has been injected so far.
func (s *Store) Counts() Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts
}

// roll draws a fault with the probability p picks from the
// configuration and counts it in *n.
func (s *Store) roll(p func(Config) float64, n *int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := p(s.cfg); p > 0 && s.rng.Float64() < p {
		*n++
		return true
	}
	return false
}

func (s *Store) stall() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.Stall > 0 && s.cfg.MaxStall > 0 && s.rng.Float64() < s.cfg.Stall {
		s.counts.Stalls++
		return time.Duration(s.rng.Int64N(int64(s.cfg.MaxStall)))
	}
	return 0
}

func injected(where string) error {
	return fmt.Errorf("%w %s: %w", ErrInjected, where, storage.ErrUnavailable)
}

// Update runs fn in the wrapped store's transaction, with faults.
func (s *Store) Update(ctx context.Context, fn func(tx storage.Tx) error) error {
	s.mu.Lock()
	s.counts.Updates++
	s.mu.Unlock()
	if d := s.stall(); d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return fmt.Errorf("faulty: stalled: %w: %w", ctx.Err(), storage.ErrUnavailable)
		}
	}
	if s.roll(func(c Config) float64 { return c.BeforeFn }, &s.counts.BeforeFn) {
		return injected("before the transaction")
	}
	err := s.Store.Update(ctx, func(tx storage.Tx) error {
		if err := fn(&faultyTx{Tx: tx, s: s}); err != nil {
			return err
		}
		if s.roll(func(c Config) float64 { return c.BeforeCommit }, &s.counts.BeforeCommit) {
			return injected("at commit") // the wrapped store rolls back
		}
		return nil
	})
	if err == nil {
		s.mu.Lock()
		s.counts.Committed++
		s.mu.Unlock()
	}
	return err
}

// faultyTx fails a call now and then; the error makes fn fail, and the
// wrapped store rolls the transaction back.
type faultyTx struct {
	storage.Tx
	s *Store
}

func (t *faultyTx) fault(op string) error {
	if t.s.roll(func(c Config) float64 { return c.InTx }, &t.s.counts.InTx) {
		return injected("in " + op)
	}
	return nil
}

func (t *faultyTx) LockAggregate(ctx context.Context, key storage.AggregateKey) (storage.Aggregate, error) {
	if err := t.fault("LockAggregate"); err != nil {
		return storage.Aggregate{}, err
	}
	return t.Tx.LockAggregate(ctx, key)
}

func (t *faultyTx) Lookup(ctx context.Context, receipts []storage.ReceiptKey, aggregates []storage.AggregateKey) (storage.Lookups, error) {
	if err := t.fault("Lookup"); err != nil {
		return storage.Lookups{}, err
	}
	return t.Tx.Lookup(ctx, receipts, aggregates)
}

func (t *faultyTx) PutAggregate(ctx context.Context, a storage.Aggregate) error {
	if err := t.fault("PutAggregate"); err != nil {
		return err
	}
	return t.Tx.PutAggregate(ctx, a)
}

func (t *faultyTx) PutReceipt(ctx context.Context, provider, dedupeKey string, r storage.Receipt) error {
	if err := t.fault("PutReceipt"); err != nil {
		return err
	}
	return t.Tx.PutReceipt(ctx, provider, dedupeKey, r)
}

func (t *faultyTx) Append(ctx context.Context, e *storage.JournalEntry) error {
	if err := t.fault("Append"); err != nil {
		return err
	}
	if t.s.cfg.Refuse != nil {
		if err := t.s.cfg.Refuse(e); err != nil {
			t.s.mu.Lock()
			t.s.counts.Refused++
			t.s.mu.Unlock()
			return err
		}
	}
	return t.Tx.Append(ctx, e)
}

func (t *faultyTx) Defer(ctx context.Context, d storage.DeferredEvent) error {
	if err := t.fault("Defer"); err != nil {
		return err
	}
	return t.Tx.Defer(ctx, d)
}

func (t *faultyTx) Undefer(ctx context.Context, seq int64) error {
	if err := t.fault("Undefer"); err != nil {
		return err
	}
	return t.Tx.Undefer(ctx, seq)
}

func (t *faultyTx) Touch(ctx context.Context) error {
	if err := t.fault("Touch"); err != nil {
		return err
	}
	return t.Tx.Touch(ctx)
}
