package storage

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// DefaultTimeout is how long one store operation may take when nothing
// else is configured.
const DefaultTimeout = 5 * time.Second

// Bound returns ctx bounded by d (d <= 0: unbounded), its cancel, and
// late, which classifies an error returned under the bound: a failure
// after the bound ran out, while ctx itself had not ended, is the store
// not answering in time — it wraps ErrUnavailable (unless it already
// says ErrUnavailable or ErrCorrupt). The caller's own cancellation or
// deadline is left as it is.
func Bound(ctx context.Context, d time.Duration) (bounded context.Context, late func(error) error, cancel context.CancelFunc) {
	if d <= 0 {
		return ctx, func(err error) error { return err }, func() {}
	}
	bounded, cancel = context.WithTimeout(ctx, d)
	late = func(err error) error {
		if err == nil || ctx.Err() != nil || !errors.Is(bounded.Err(), context.DeadlineExceeded) ||
			errors.Is(err, ErrUnavailable) || errors.Is(err, ErrCorrupt) {
			return err
		}
		return fmt.Errorf("storage: no answer within %s: %w: %w", d, ErrUnavailable, err)
	}
	return bounded, late, cancel
}

// WithTimeout returns s with every Reader call and every Update bounded
// by d, so that a store that stops answering (a stalled connection, a
// lock held elsewhere) fails the call with ErrUnavailable instead of
// holding it for as long as the caller waits. Update's bound covers
// beginning and committing the transaction; statements inside fn run
// under the ctx fn is given by its caller, which must bound it too (the
// engine does). Methods added to Store after these pass through
// unbounded.
func WithTimeout(s Store, d time.Duration) Store {
	if d <= 0 {
		return s
	}
	return &timeoutStore{Store: s, d: d}
}

type timeoutStore struct {
	Store
	d time.Duration
}

// Unwrap returns the store s bounds (storage.AsSealer finds a Sealer
// through it).
func (s *timeoutStore) Unwrap() Store { return s.Store }

func bounded[T any](ctx context.Context, d time.Duration, f func(context.Context) (T, error)) (T, error) {
	ctx, late, cancel := Bound(ctx, d)
	defer cancel()
	v, err := f(ctx)
	return v, late(err)
}

func (s *timeoutStore) Update(ctx context.Context, fn func(tx Tx) error) error {
	_, err := bounded(ctx, s.d, func(ctx context.Context) (struct{}, error) { return struct{}{}, s.Store.Update(ctx, fn) })
	return err
}

func (s *timeoutStore) Aggregate(ctx context.Context, key AggregateKey) (Aggregate, error) {
	return bounded(ctx, s.d, func(ctx context.Context) (Aggregate, error) { return s.Store.Aggregate(ctx, key) })
}

// ViewBounder is a store that bounds an AggregateView by itself, more
// cheaply than a timer per call: WithTimeout hands it the bound. A read
// that the store does not answer within d (taking the time it waits for
// a connection, for a lock and for the statement together) must fail
// with an error wrapping ErrUnavailable, as under Bound; the caller's
// own cancellation stays the caller's.
type ViewBounder interface {
	AggregateViewWithin(ctx context.Context, key AggregateKey, d time.Duration) (AggregateView, error)
}

func (s *timeoutStore) AggregateView(ctx context.Context, key AggregateKey) (AggregateView, error) {
	if vb, ok := s.Store.(ViewBounder); ok {
		return vb.AggregateViewWithin(ctx, key, s.d)
	}
	return bounded(ctx, s.d, func(ctx context.Context) (AggregateView, error) { return s.Store.AggregateView(ctx, key) })
}

func (s *timeoutStore) AggregatesByReference(ctx context.Context, ref string) ([]Aggregate, error) {
	return bounded(ctx, s.d, func(ctx context.Context) ([]Aggregate, error) { return s.Store.AggregatesByReference(ctx, ref) })
}

func (s *timeoutStore) Children(ctx context.Context, parent AggregateKey) ([]Aggregate, error) {
	return bounded(ctx, s.d, func(ctx context.Context) ([]Aggregate, error) { return s.Store.Children(ctx, parent) })
}

func (s *timeoutStore) ListAggregates(ctx context.Context, f AggregateFilter, after AggregateKey, limit int) ([]HeldAggregate, error) {
	return bounded(ctx, s.d, func(ctx context.Context) ([]HeldAggregate, error) {
		return s.Store.ListAggregates(ctx, f, after, limit)
	})
}

func (s *timeoutStore) Journal(ctx context.Context, key *AggregateKey, after int64, limit int) ([]JournalEntry, error) {
	return bounded(ctx, s.d, func(ctx context.Context) ([]JournalEntry, error) { return s.Store.Journal(ctx, key, after, limit) })
}

func (s *timeoutStore) ReplayJournal(ctx context.Context, key *AggregateKey, after int64, limit int) ([]JournalEntry, error) {
	return bounded(ctx, s.d, func(ctx context.Context) ([]JournalEntry, error) {
		return s.Store.ReplayJournal(ctx, key, after, limit)
	})
}

func (s *timeoutStore) Head(ctx context.Context) (ChainHead, error) {
	return bounded(ctx, s.d, s.Store.Head)
}

func (s *timeoutStore) PendingDeferred(ctx context.Context, key AggregateKey) (int, error) {
	return bounded(ctx, s.d, func(ctx context.Context) (int, error) { return s.Store.PendingDeferred(ctx, key) })
}

func (s *timeoutStore) ExpiredDeferred(ctx context.Context, now time.Time, limit int) ([]DeferredEvent, error) {
	return bounded(ctx, s.d, func(ctx context.Context) ([]DeferredEvent, error) { return s.Store.ExpiredDeferred(ctx, now, limit) })
}
