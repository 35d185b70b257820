package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/paystate/paystate/engine"
	"github.com/paystate/paystate/providers"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/postgres"
	"github.com/paystate/paystate/storage/sqlite"
)

// BenchmarkReplay measures engine.Replay over two journals of about
// 100 000 entries: "payments", 25 000 payments authorised, captured and
// refunded, a record-only note between, and a duplicate and an illegal
// capture every tenth payment, so that not every entry is applied; and
// "orders", 100 000 orders of one event each, where the replay holds as
// many aggregates as entries (like the pre-loaded store of paystate bench):
//
//	go test -run XXX -bench Replay -benchtime 3x ./engine/
//
// (PostgreSQL joins when PAYSTATE_TEST_POSTGRES_DSN is set.) Building a
// journal takes longer than replaying it.
func BenchmarkReplay(b *testing.B) {
	journals := []struct {
		name          string
		orders, steps int
	}{{"payments", 25_000, 4}, {"orders", 100_000, 1}}
	reg, err := sm.NewRegistry(testTable())
	if err != nil {
		b.Fatal(err)
	}
	// open opens the store named name, the same one each time.
	type opener func(b *testing.B, name string) storage.Store
	backends := []struct {
		name string
		open opener
	}{
		{"sqlite", func(b *testing.B, name string) storage.Store {
			s, err := sqlite.Open(context.Background(), name+".db")
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
	}
	if dsn := os.Getenv("PAYSTATE_TEST_POSTGRES_DSN"); dsn != "" {
		backends = append(backends, struct {
			name string
			open opener
		}{"postgres", func(b *testing.B, name string) storage.Store {
			s, err := postgres.Open(context.Background(), dsn, postgres.WithSchema(name))
			if err != nil {
				b.Fatal(err)
			}
			return s
		}})
	}
	for _, be := range backends {
		for _, j := range journals {
			b.Run(be.name+"/"+j.name, func(b *testing.B) {
				name := fmt.Sprintf("bench_%d", time.Now().UnixNano())
				if be.name == "sqlite" {
					name = filepath.Join(b.TempDir(), name)
				}
				store := be.open(b, name)
				entries := fillJournal(b, store, reg, j.orders, j.steps)
				// Replay as rebuild does, on a store no server has open
				// (SQLite has checkpointed its write-ahead log).
				if err := store.Close(); err != nil {
					b.Fatal(err)
				}
				store = be.open(b, name)
				defer store.Close()
				b.ResetTimer()
				cpu0 := processCPU(b)
				for range b.N {
					aggs, bad, err := engine.Replay(context.Background(), store, reg)
					if err != nil {
						b.Fatal(err)
					}
					if aggs.Len() != j.orders || len(bad) != 0 {
						b.Fatalf("replay gave %d aggregates and %d mismatches, want %d and none", aggs.Len(), len(bad), j.orders)
					}
				}
				b.ReportMetric(float64(entries)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
				// On a shared machine the CPU an entry costs (this process
				// only: not PostgreSQL's) is steadier than the rate.
				b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(entries*int64(b.N)), "cpu-µs/entry")
			})
		}
	}
}

// fillJournal writes the journal through the engine, the first steps of
// each payment's life, in deliveries of many events each so that it takes
// few transactions, and returns the number of journal entries.
func fillJournal(b *testing.B, store storage.Store, reg *sm.Registry, orders, steps int) int64 {
	eng := engine.New(store, reg, engine.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); eng.Run(ctx) }()
	defer func() { cancel(); <-done }()

	const perDelivery = 250
	for _, step := range []string{"AUTH", "NOTE", "CAPTURE", "REFUND"}[:steps] {
		var events []providers.Event
		flush := func() {
			if len(events) == 0 {
				return
			}
			_, err := eng.Submit(ctx, engine.Delivery{Provider: "acme", BodySHA256: step + events[0].DedupeKey, Events: events})
			if err != nil {
				b.Fatal(err)
			}
			events = nil
		}
		for i := range orders {
			id := fmt.Sprintf("order-%06d", i)
			ev := providers.Event{Provider: "acme", Kind: sm.KindPayment, AggregateID: id, Name: step,
				Amount: 1250, HasAmount: true, Currency: "EUR", MerchantReference: "ref-" + id, DedupeKey: id + "/" + step,
				OccurredAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
			if step == "REFUND" {
				ev.Amount = 250
			}
			events = append(events, ev)
			if i%10 == 0 && step == "CAPTURE" {
				// A redelivery (duplicate) and a capture of an already
				// captured payment (rejected): entries replay skips.
				dup := ev
				again := ev
				again.DedupeKey += "/again"
				events = append(events, dup, again)
			}
			if len(events) >= perDelivery {
				flush()
			}
		}
		flush()
	}
	head, err := store.Head(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return head.Seq
}
