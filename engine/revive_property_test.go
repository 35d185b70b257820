package engine_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/paystate/paystate/engine"
	"github.com/paystate/paystate/providers"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
)

// TestExpiryNeverChangesWhereAnAggregateEnds is the model of holding: an
// early event waits for its predecessor, and expiring it after its window
// only says it waited long; when the predecessor lands, however late, the
// expired event is re-decided with the held ones, in the same order. So
// the same deliveries, with the expiry sweep run between any of them, end
// every aggregate in the state and amounts they reach with no sweep at
// all; the journal with expiries replays to the stored state, audits
// clean (expired events waiting are derived from it), and nothing stays
// pending after a sweep.
func TestExpiryNeverChangesWhereAnAggregateEnds(t *testing.T) {
	t.Parallel()
	storeA, storeB := openSQLite(t, "swept.db"), openSQLite(t, "unswept.db")
	engA, regA, stopA := runOnT(t, storeA)
	defer stopA()
	engB, _, stopB := runOnT(t, storeB)
	defer stopB()
	words := []string{"AUTH", "REVIEW", "ACCEPT", "CAPTURE", "REFUND", "VOID", "CLOSE", "NOTE"}
	amounts := []int64{-1, 30, 50, 100}
	n := 0
	rapid.Check(t, func(rt *rapid.T) {
		n++
		ids := []string{fmt.Sprintf("x%d-p1", n), fmt.Sprintf("x%d-p2", n)}
		ctx := context.Background()
		for i := range rapid.IntRange(1, 10).Draw(rt, "deliveries") {
			id := ids[rapid.IntRange(0, 1).Draw(rt, fmt.Sprintf("id%d", i))]
			pe := providers.Event{Provider: "acme", Kind: sm.KindPayment, AggregateID: id,
				Name:      rapid.SampledFrom(words).Draw(rt, fmt.Sprintf("word%d", i)),
				DedupeKey: fmt.Sprintf("%s/%d", id, i), Currency: "EUR"}
			if a := rapid.SampledFrom(amounts).Draw(rt, fmt.Sprintf("amount%d", i)); a >= 0 {
				pe.Amount, pe.HasAmount = a, true
			}
			d := engine.Delivery{Provider: "acme", BodySHA256: pe.DedupeKey, Events: []providers.Event{pe}}
			for _, eng := range []*engine.Engine{engA, engB} {
				if _, err := eng.Submit(ctx, d); err != nil {
					rt.Fatalf("submit: %v", err)
				}
			}
			if rapid.Bool().Draw(rt, fmt.Sprintf("sweep%d", i)) {
				// Far past every window: whatever is held now expires.
				if _, err := engA.Sweep(ctx, time.Now().Add(1000*time.Hour)); err != nil {
					rt.Fatalf("sweep: %v", err)
				}
				for _, id := range ids {
					if p, _ := storeA.PendingDeferred(ctx, storage.AggregateKey{Provider: "acme", Kind: "payment", ID: id}); p != 0 {
						rt.Fatalf("%s: %d still pending after the sweep", id, p)
					}
				}
			}
		}
		for _, id := range ids {
			k := storage.AggregateKey{Provider: "acme", Kind: "payment", ID: id}
			got, gerr := storeA.Aggregate(ctx, k)
			want, werr := storeB.Aggregate(ctx, k)
			if (gerr == nil) != (werr == nil) {
				rt.Fatalf("%s: exists with expiries %v, without %v", id, gerr == nil, werr == nil)
			}
			if got.State != want.State || got.Amount != want.Amount || got.Authorized != want.Authorized ||
				got.Captured != want.Captured || got.Refunded != want.Refunded || got.AmountsUnknown != want.AmountsUnknown {
				rt.Fatalf("%s: with expiries %s %d/%d/%d, without %s %d/%d/%d", id,
					got.State, got.Authorized, got.Captured, got.Refunded, want.State, want.Authorized, want.Captured, want.Refunded)
			}
		}
		bad, err := engine.Verify(ctx, storeA, regA)
		if err != nil || len(bad) > 0 {
			rt.Fatalf("replay: %v %v", err, bad)
		}
		audit, err := engine.Audit(ctx, storeA, regA, engine.AuditConfig{})
		if err != nil || !audit.Chain.OK || len(audit.Problems) > 0 {
			rt.Fatalf("audit: %v %+v", err, audit)
		}
	})
}

// runOnT is runOn for a whole test rather than one rapid case.
func runOnT(t *testing.T, store storage.Store) (*engine.Engine, *sm.Registry, func()) {
	reg, err := sm.NewRegistry(testTable())
	if err != nil {
		t.Fatal(err)
	}
	eng := engine.New(store, reg, engine.Config{SweepEvery: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); eng.Run(ctx) }()
	return eng, reg, func() { cancel(); <-done }
}
