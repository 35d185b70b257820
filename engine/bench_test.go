package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/paystate/paystate/engine"
	"github.com/paystate/paystate/providers"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/postgres"
	"github.com/paystate/paystate/storage/sqlite"
)

// BenchmarkIngest measures durable ingest through the engine (dedupe,
// decide, journal + state, group commit) with 1, 16 and 64 concurrent
// producers, each event its own delivery as a webhook would be. Compare
// with the raw baselines of the same backend in the same run:
//
//	go test -run XXX -bench 'Ingest|RawBaseline' ./engine/ ./storage/sqlite/
//
// (PostgreSQL joins when PAYSTATE_TEST_POSTGRES_DSN is set.)
func BenchmarkIngest(b *testing.B) {
	reg, err := sm.NewRegistry(testTable())
	if err != nil {
		b.Fatal(err)
	}
	backends := []struct {
		name string
		open func(b *testing.B) storage.Store
	}{
		{"sqlite", func(b *testing.B) storage.Store {
			s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
	}
	if dsn := os.Getenv("PAYSTATE_TEST_POSTGRES_DSN"); dsn != "" {
		backends = append(backends, struct {
			name string
			open func(b *testing.B) storage.Store
		}{"postgres", func(b *testing.B) storage.Store {
			schema := fmt.Sprintf("bench_%d", time.Now().UnixNano())
			s, err := postgres.Open(context.Background(), dsn, postgres.WithSchema(schema))
			if err != nil {
				b.Fatal(err)
			}
			return s
		}})
	}
	for _, be := range backends {
		for _, producers := range []int{1, 16, 64} {
			b.Run(fmt.Sprintf("%s/producers-%d", be.name, producers), func(b *testing.B) {
				store := be.open(b)
				defer store.Close()
				var writer writerCPU
				eng := engine.New(store, reg, engine.Config{Observer: &writer})
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() { defer close(done); eng.Run(ctx) }()
				defer func() { cancel(); <-done }()

				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				start, cpu0, w0, n0 := time.Now(), processCPU(b), writer.cpu.Load(), writer.batches.Load()
				for range producers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							i := next.Add(1)
							if i > int64(b.N) {
								return
							}
							id := fmt.Sprintf("o%d", i)
							_, err := eng.Submit(ctx, engine.Delivery{Provider: "acme", BodySHA256: id, RedactedBody: []byte(`{"order":"` + id + `"}`),
								Events: []providers.Event{{Provider: "acme", Kind: sm.KindPayment, AggregateID: id, Name: "AUTH",
									Amount: 1250, HasAmount: true, Currency: "EUR", DedupeKey: id}}})
							if err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
				// CPU per event is steadier than the rate on a shared machine.
				b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/event")
				// The writer thread's own share (engine.Batch.CPU).
				b.ReportMetric(float64(time.Duration(writer.cpu.Load()-w0).Microseconds())/float64(b.N), "writer-cpu-µs/event")
				// The writer's CPU per event falls as batches grow.
				b.ReportMetric(float64(b.N)/float64(max(1, writer.batches.Load()-n0)), "events/batch")
			})
		}
	}
}

// processCPU is the CPU time the process has used, user and system.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// writerCPU sums the writer's CPU time over the batches it commits.
type writerCPU struct{ cpu, batches atomic.Int64 }

func (w *writerCPU) Committed(b engine.Batch) { w.cpu.Add(int64(b.CPU)); w.batches.Add(1) }
func (w *writerCPU) Expired(int)              {}
