package engine_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/engine"
	"github.com/paystate/paystate/providers"
	"github.com/paystate/paystate/reqid"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
)

type recordingObserver struct {
	mu      sync.Mutex
	batches []int
	seen    []engine.Batch
	errs    int
	expired int
}

func (o *recordingObserver) Committed(b engine.Batch) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.batches = append(o.batches, b.Size)
	o.seen = append(o.seen, b)
	if b.Err != nil {
		o.errs++
	}
}

func (o *recordingObserver) lastBatch() engine.Batch {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.seen[len(o.seen)-1]
}

func (o *recordingObserver) Expired(n int) { o.mu.Lock(); o.expired += n; o.mu.Unlock() }

func (o *recordingObserver) snapshot() ([]int, int, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]int(nil), o.batches...), o.errs, o.expired
}

// observed runs a second engine with an observer over the bundle's store
// and clock.
func observed(t *testing.T, b *bundle) (*engine.Engine, *recordingObserver) {
	t.Helper()
	obs := &recordingObserver{}
	eng := engine.New(b.store, b.reg, engine.Config{DeferWindow: time.Hour, Now: b.clock.Now, SweepEvery: time.Hour, Observer: obs})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); eng.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return eng, obs
}

func TestObserverSeesBatchesAndExpiries(t *testing.T) {
	t.Parallel()
	b := setup(t)
	eng, obs := observed(t, b)
	submit := func(name, key string) []engine.Outcome {
		out, err := eng.Submit(t.Context(), engine.Delivery{Provider: "acme", BodySHA256: key, Events: []providers.Event{
			{Provider: "acme", Kind: sm.KindPayment, AggregateID: "o1", Name: name, DedupeKey: key}}})
		require.NoError(t, err)
		return out
	}
	require.Equal(t, sm.VerdictDeferred, submit("CAPTURE", "k1")[0].Verdict)
	b.clock.Add(2 * time.Hour)
	out, err := eng.Sweep(t.Context(), b.clock.Now())
	require.NoError(t, err)
	require.Len(t, out, 1)

	batches, errs, expired := obs.snapshot()
	require.Equal(t, []int{1, 1}, batches, "one submission, then one sweep, each its own batch")
	require.Zero(t, errs)
	require.Equal(t, 1, expired)

	failing := engine.New(failingStore{b.store}, b.reg, engine.Config{Observer: obs})
	run(t, failing)
	_, err = failing.Submit(t.Context(), engine.Delivery{Provider: "acme", BodySHA256: "x", Events: []providers.Event{
		{Provider: "acme", Kind: sm.KindPayment, AggregateID: "o2", Name: "AUTH", DedupeKey: "k2"}}})
	require.Error(t, err)
	_, errs, expired = obs.snapshot()
	require.Equal(t, 1, errs, "a failed commit is reported as failed")
	require.Equal(t, 1, expired, "nothing expires in a failed batch")
	require.Zero(t, obs.lastBatch().Committing, "the failing store never ran the batch's statements")
}

// slowStore spends time before the engine's statements (as if they were
// slow) or after them (as if the flush were), inside Update.
type slowStore struct {
	storage.Store
	deciding, committing time.Duration
}

func (s slowStore) Update(ctx context.Context, fn func(storage.Tx) error) error {
	return s.Store.Update(ctx, func(tx storage.Tx) error {
		time.Sleep(s.deciding)
		if err := fn(tx); err != nil {
			return err
		}
		time.Sleep(s.committing)
		return nil
	})
}

// The observer can tell a writer waiting on the store's commit from one
// busy with its statements. Only lower bounds are asserted: a loaded
// machine can only make either part longer.
func TestObserverSplitsDecidingFromCommitting(t *testing.T) {
	t.Parallel()
	const pause = 30 * time.Millisecond
	for _, tc := range []struct {
		name  string
		store func(storage.Store) storage.Store
		check func(t *testing.T, b engine.Batch)
	}{
		{"slow statements", func(s storage.Store) storage.Store { return slowStore{Store: s, deciding: pause} },
			func(t *testing.T, b engine.Batch) {
				require.GreaterOrEqual(t, b.Took-b.Committing, pause, "the statements' time is not committing")
			}},
		{"slow commit", func(s storage.Store) storage.Store { return slowStore{Store: s, committing: pause} },
			func(t *testing.T, b engine.Batch) {
				require.GreaterOrEqual(t, b.Committing, pause, "the time after the last statement is committing")
				require.GreaterOrEqual(t, b.Took, b.Committing)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			obs := &recordingObserver{}
			eng := engine.New(tc.store(b.store), b.reg, engine.Config{Observer: obs})
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan struct{})
			go func() { defer close(done); eng.Run(ctx) }()
			t.Cleanup(func() { cancel(); <-done })
			_, err := eng.Submit(t.Context(), engine.Delivery{Provider: "acme", BodySHA256: "x", Events: []providers.Event{
				{Provider: "acme", Kind: sm.KindPayment, AggregateID: "o1", Name: "AUTH", DedupeKey: "k1"}}})
			require.NoError(t, err)
			got := obs.lastBatch()
			require.NoError(t, got.Err)
			require.Positive(t, got.Committing, "a durable batch spent time committing")
			tc.check(t, got)
		})
	}
}

func TestRequestIDReachesOutcomes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := reqid.With(t.Context(), "req-from-context")
	out, err := b.submit(ctx, ev{name: "CAPTURE", amount: -1})
	require.NoError(t, err)
	require.Equal(t, "req-from-context", out[0].RequestID)

	// An explicit id wins over the context's, and reaches the deferred
	// events the delivery resolved.
	out, err = b.eng.Submit(ctx, engine.Delivery{Provider: "acme", BodySHA256: "auth", RequestID: "req-explicit", Events: []providers.Event{
		{Provider: "acme", Kind: sm.KindPayment, AggregateID: "o1", Name: "AUTH", DedupeKey: "auth", Amount: 10, HasAmount: true, Currency: "EUR"}}})
	require.NoError(t, err)
	require.Equal(t, "req-explicit", out[0].RequestID)
	require.Len(t, out[0].Resolved, 1)
	require.Equal(t, "req-explicit", out[0].Resolved[0].RequestID)
}
