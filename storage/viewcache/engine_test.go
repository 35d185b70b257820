package viewcache_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/engine"
	"github.com/paystate/paystate/providers"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/viewcache"
)

// The differential test again, with the engine writing: random
// deliveries (early events held, released, expired by the sweep and
// revived, refunds created under their payments, some moving to another
// payment), the clock carrying nanoseconds in another zone, and after
// every delivery and every sweep each view the cache holds compared
// with a fresh read of the store.
func TestEngineWritesKeepViewsExact(t *testing.T) {
	ctx := t.Context()
	raw := openSQLite(t)
	cache := viewcache.New(0)
	s := cache.Wrap(raw)
	reg, err := sm.NewRegistry(sm.Table{
		Provider: "acme", Kind: sm.KindPayment,
		Transitions: []sm.Transition{
			{Event: "AUTH", From: []sm.State{sm.StateNew}, To: sm.Authorized, Effect: sm.Authorize},
			{Event: "CAPTURE", From: []sm.State{sm.Authorized}, To: sm.Captured, Effect: sm.Capture},
			{Event: "REFUND", From: []sm.State{sm.Captured, sm.PartiallyRefunded}, To: sm.PartiallyRefunded, Effect: sm.Refund},
			{Event: "VOID", From: []sm.State{sm.Authorized}, To: sm.Voided},
		},
		RecordOnly: []string{"NOTE"},
	}, sm.Table{
		Provider: "acme", Kind: sm.KindRefund,
		Transitions: []sm.Transition{
			{Event: "REQUESTED", From: []sm.State{sm.StateNew}, To: sm.Requested},
			{Event: "DONE", From: []sm.State{sm.Requested}, To: sm.Succeeded},
			{Event: "FAILED", From: []sm.State{sm.Requested}, To: sm.Failed},
		},
	})
	require.NoError(t, err)
	zone := time.FixedZone("east", 5*3600+1800)
	now := time.Date(2026, 12, 6, 11, 0, 0, 123456789, zone)
	eng := engine.New(s, reg, engine.Config{SweepEvery: time.Hour, Now: func() time.Time { return now }})
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); eng.Run(runCtx) }()
	defer func() { cancel(); <-done }()

	rng := rand.New(rand.NewPCG(7, 11))
	payments := []string{"p1", "p2", "p3"}
	refunds := []string{"r1", "r2", "r3", "r4"}
	var keys []storage.AggregateKey
	for _, id := range payments {
		keys = append(keys, storage.AggregateKey{Provider: "acme", Kind: "payment", ID: id})
	}
	for _, id := range refunds {
		keys = append(keys, storage.AggregateKey{Provider: "acme", Kind: "refund", ID: id})
	}
	held, children := 0, 0 // cached views compared with a held count, with children
	check := func(step int, what string) {
		for _, k := range keys {
			got, ok := cache.Peek(k)
			if !ok {
				continue
			}
			if got.Pending > 0 {
				held++
			}
			if len(got.Children) > 0 {
				children++
			}
			want, err := raw.AggregateView(ctx, k)
			require.NoError(t, err, "step %d (%s): %v is cached but not stored", step, what, k)
			require.Equal(t, want, got, "step %d (%s), cached view of %v", step, what, k)
		}
	}
	for step := range 1500 {
		now = now.Add(time.Duration(rng.Int64N(int64(time.Second))) + 1)
		var pe providers.Event
		if rng.IntN(2) == 0 {
			pe = providers.Event{Provider: "acme", Kind: sm.KindPayment, AggregateID: payments[rng.IntN(len(payments))],
				Name: []string{"AUTH", "CAPTURE", "REFUND", "VOID", "NOTE"}[rng.IntN(5)], Currency: "EUR"}
			if pe.Name != "VOID" && pe.Name != "NOTE" {
				pe.Amount, pe.HasAmount = int64(10*(1+rng.IntN(10))), true
			}
		} else {
			pe = providers.Event{Provider: "acme", Kind: sm.KindRefund, AggregateID: refunds[rng.IntN(len(refunds))],
				Name: []string{"REQUESTED", "DONE", "FAILED"}[rng.IntN(3)], Currency: "EUR",
				Parent: &providers.Ref{Kind: sm.KindPayment, ID: payments[rng.IntN(len(payments))]}}
		}
		pe.DedupeKey = fmt.Sprintf("%s/%s/%d", pe.AggregateID, pe.Name, rng.IntN(40))
		pe.OccurredAt = now.Add(-time.Duration(rng.Int64N(int64(time.Minute))))
		d := engine.Delivery{Provider: "acme", BodySHA256: fmt.Sprintf("%064x", step), Events: []providers.Event{pe}}
		if _, err := eng.Submit(ctx, d); err != nil && !errors.Is(err, storage.ErrNotFound) {
			require.NoError(t, err, "step %d", step)
		}
		check(step, pe.Name+" "+pe.AggregateID)
		if rng.IntN(15) == 0 { // far past every window: whatever is held expires, kept to be revived
			now = now.Add(1000 * time.Hour)
			_, err := eng.Sweep(ctx, now)
			require.NoError(t, err)
			check(step, "sweep")
		}
		for range 2 {
			_, err := s.AggregateView(ctx, keys[rng.IntN(len(keys))])
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				require.NoError(t, err)
			}
		}
	}
	hits, misses := cache.Stats()
	t.Logf("hits %d, misses %d; views compared with events held %d, with children %d", hits, misses, held, children)
	require.Positive(t, held)
	require.Positive(t, children)
	bad, err := engine.Verify(ctx, raw, reg)
	require.NoError(t, err)
	require.Empty(t, bad)
}
