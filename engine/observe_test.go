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
)

type recordingObserver struct {
	mu      sync.Mutex
	batches []int
	errs    int
	expired int
}

func (o *recordingObserver) Committed(size int, _ time.Duration, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.batches = append(o.batches, size)
	if err != nil {
		o.errs++
	}
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
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go failing.Run(ctx)
	_, err = failing.Submit(t.Context(), engine.Delivery{Provider: "acme", BodySHA256: "x", Events: []providers.Event{
		{Provider: "acme", Kind: sm.KindPayment, AggregateID: "o2", Name: "AUTH", DedupeKey: "k2"}}})
	require.Error(t, err)
	_, errs, expired = obs.snapshot()
	require.Equal(t, 1, errs, "a failed commit is reported as failed")
	require.Equal(t, 1, expired, "nothing expires in a failed batch")
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
