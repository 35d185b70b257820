package engine_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/paystate/paystate/engine"
	"github.com/paystate/paystate/providers"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/sqlite"
)

// runOn runs an engine with tables over store until stop is called.
func runOn(rt *rapid.T, store storage.Store, tables ...sm.Table) (eng *engine.Engine, reg *sm.Registry, stop func()) {
	reg, err := sm.NewRegistry(tables...)
	if err != nil {
		rt.Fatalf("registry: %v", err)
	}
	eng = engine.New(store, reg, engine.Config{SweepEvery: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); eng.Run(ctx) }()
	return eng, reg, func() { cancel(); <-done }
}

func openSQLite(t *testing.T, name string) storage.Store {
	t.Helper()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return store
}

// wrongTable is testTable with edges taken away: some rows lose sources,
// some lose themselves. Nil when what is left does not build.
func wrongTable(rt *rapid.T) *sm.Table {
	tb := testTable()
	var rows []sm.Transition
	for i, tr := range tb.Transitions {
		switch rapid.IntRange(0, 3).Draw(rt, fmt.Sprintf("row%d", i)) {
		case 0: // gone
			continue
		case 1: // one source fewer
			if len(tr.From) > 1 {
				k := rapid.IntRange(0, len(tr.From)-1).Draw(rt, fmt.Sprintf("row%dsource", i))
				tr.From = slices.Delete(slices.Clone(tr.From), k, k+1)
			}
		}
		rows = append(rows, tr)
	}
	tb.Transitions = rows
	if _, err := sm.Build(tb); err != nil {
		return nil
	}
	return &tb
}

// TestReevaluateIsAsIfTheRightTableHadRunAllAlong: deliveries decided by a
// wrong table (the right one with edges missing) and then re-evaluated
// under the right one leave every aggregate that re-evaluation did not
// refuse in the state and amounts the right table gives when it decides
// the same deliveries from the start; the journal verifies, replays to the
// stored state and audits clean; a second re-evaluation appends nothing;
// a refused aggregate is left as it was.
func TestReevaluateIsAsIfTheRightTableHadRunAllAlong(t *testing.T) {
	t.Parallel()
	// One store for the wrong-then-corrected run, one for the right table
	// from the start; every case has aggregates of its own, so each
	// re-evaluation also re-decides every earlier case's aggregates, and
	// must change nothing there.
	storeA, storeB := openSQLite(t, "a.db"), openSQLite(t, "b.db")
	words := []string{"AUTH", "REVIEW", "ACCEPT", "CAPTURE", "REFUND", "VOID", "CLOSE", "NOTE"}
	amounts := []int64{-1, 30, 50, 100}
	n := 0
	rapid.Check(t, func(rt *rapid.T) {
		wrong := wrongTable(rt)
		if wrong == nil {
			rt.Skip("the mutilated table does not build")
		}
		n++
		ids := []string{fmt.Sprintf("c%d-p1", n), fmt.Sprintf("c%d-p2", n)}
		type delivery struct {
			id, word string
			amount   int64
		}
		var ds []delivery
		for i := range rapid.IntRange(1, 9).Draw(rt, "deliveries") {
			ds = append(ds, delivery{
				id:     ids[rapid.IntRange(0, 1).Draw(rt, fmt.Sprintf("id%d", i))],
				word:   rapid.SampledFrom(words).Draw(rt, fmt.Sprintf("word%d", i)),
				amount: rapid.SampledFrom(amounts).Draw(rt, fmt.Sprintf("amount%d", i)),
			})
		}
		// One delivery of every event: decided in order, as one after the
		// other would be, in one commit.
		ingest := func(eng *engine.Engine) {
			var events []providers.Event
			for i, d := range ds {
				pe := providers.Event{Provider: "acme", Kind: sm.KindPayment, AggregateID: d.id, Name: d.word,
					DedupeKey: fmt.Sprintf("%s/%d", d.id, i), Currency: "EUR"}
				if d.amount >= 0 {
					pe.Amount, pe.HasAmount = d.amount, true
				}
				events = append(events, pe)
			}
			body := fmt.Sprint("body", n)
			if _, err := eng.Submit(context.Background(), engine.Delivery{Provider: "acme", BodySHA256: body, Events: events}); err != nil {
				rt.Fatalf("submit: %v", err)
			}
		}
		eng, _, stop := runOn(rt, storeA, *wrong)
		ingest(eng)
		stop()
		eng, _, stop = runOn(rt, storeB, testTable())
		ingest(eng)
		stop()

		eng, reg, stop := runOn(rt, storeA, testTable())
		defer stop()
		ctx := context.Background()
		keys := []storage.AggregateKey{{Provider: "acme", Kind: "payment", ID: ids[0]}, {Provider: "acme", Kind: "payment", ID: ids[1]}}
		before := map[storage.AggregateKey]storage.Aggregate{}
		for _, k := range keys {
			before[k], _ = storeA.Aggregate(ctx, k)
		}
		rep, err := eng.Reevaluate(ctx, engine.ReevaluateOptions{})
		if err != nil {
			rt.Fatalf("reevaluate: %v", err)
		}
		refused := map[storage.AggregateKey]string{}
		for _, r := range rep.Aggregates {
			switch {
			case r.Refused != "":
				refused[r.Key] = r.Refused
			case !slices.Contains(keys, r.Key):
				rt.Fatalf("an earlier case's %s changed again: %+v", r.Key.ID, r.Changes)
			}
		}
		for _, k := range keys {
			got, gerr := storeA.Aggregate(ctx, k)
			if why, ok := refused[k]; ok {
				if got != before[k] {
					rt.Fatalf("%s was refused (%s) but changed", k.ID, why)
				}
				continue
			}
			want, werr := storeB.Aggregate(ctx, k)
			if (gerr == nil) != (werr == nil) {
				rt.Fatalf("%s: exists after re-evaluation %v, under the right table from the start %v", k.ID, gerr == nil, werr == nil)
			}
			if got.State != want.State || got.Currency != want.Currency || got.Amount != want.Amount ||
				got.Authorized != want.Authorized || got.Captured != want.Captured || got.Refunded != want.Refunded {
				rt.Fatalf("%s: re-evaluated to %s %d/%d/%d, the right table from the start gives %s %d/%d/%d", k.ID,
					got.State, got.Authorized, got.Captured, got.Refunded, want.State, want.Authorized, want.Captured, want.Refunded)
			}
		}

		bad, err := engine.Verify(ctx, storeA, reg)
		if err != nil || len(bad) > 0 {
			rt.Fatalf("replay: %v %v", err, bad)
		}
		audit, err := engine.Audit(ctx, storeA, reg, engine.AuditConfig{})
		if err != nil || !audit.Chain.OK || len(audit.Problems) > 0 {
			rt.Fatalf("audit: %v %+v", err, audit)
		}
		head, _ := storeA.Head(ctx)
		if _, err := eng.Reevaluate(ctx, engine.ReevaluateOptions{}); err != nil {
			rt.Fatalf("second reevaluate: %v", err)
		}
		if again, _ := storeA.Head(ctx); again != head {
			rt.Fatalf("a second re-evaluation appended entries %d..%d", head.Seq+1, again.Seq)
		}
	})
}
