package engine

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paystate/paystate/providers"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage/sqlite"
)

// BenchmarkWriterBatch is the writer alone: batches of 32 deliveries
// (16 authorisations of new payments, 16 captures of the previous
// batch's) committed by transact on this goroutine, with no load
// generator, HTTP or scheduling around it. Its writer CPU per event,
// from the thread's CPU clock, is the figure issue #16 targets; run under
// callgrind (GOMAXPROCS=1) its instruction count per event does not move
// with the machine's load:
//
//	go test -run XXX -bench WriterBatch -benchtime 200x ./engine/ [-args -writerbatch.preload 100000]
//
// In quarter-held, every fourth payment's capture comes a batch before its
// authorisation: it is held, then released by the authorisation. In
// quarter-snapshots every event is a status snapshot (as Magnius and Inyo
// send them: its receipt is scoped to its aggregate's version) and every
// fourth payment's capture comes in the same batch as its authorisation,
// so that its receipt is looked up once the authorisation has moved the
// payment.
func BenchmarkWriterBatch(b *testing.B) {
	b.Run("in-order", func(b *testing.B) { benchWriterBatch(b, 0, 0) })
	b.Run("quarter-held", func(b *testing.B) { benchWriterBatch(b, 4, 0) })
	b.Run("quarter-snapshots", func(b *testing.B) { benchWriterBatch(b, 0, 4) })
}

// benchWriterBatch reverses the events of every heldEvery-th payment (0:
// none); with sameBatchEvery, the events are snapshots and every
// sameBatchEvery-th payment's two events come in one batch.
func benchWriterBatch(b *testing.B, heldEvery, sameBatchEvery int) {
	reg, err := sm.NewRegistry(sm.Table{
		Provider: "acme",
		Kind:     sm.KindPayment,
		Transitions: []sm.Transition{
			{Event: "AUTH", From: []sm.State{sm.StateNew}, To: sm.Authorized, Effect: sm.Authorize},
			{Event: "CAPTURE", From: []sm.State{sm.Authorized}, To: sm.Captured, Effect: sm.Capture},
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	store, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	var cpu time.Duration
	e := New(store, reg, Config{Observer: observerFunc(func(bt Batch) { cpu += bt.CPU })})
	const half = 16
	delivery := func(name string, i int) *request {
		id := fmt.Sprintf("o%d", i)
		body := fmt.Sprintf(`{"order":%q,"event":%q}`, id, name)
		r := &request{d: Delivery{Provider: "acme", BodySHA256: name + id, RedactedBody: []byte(body), Actor: ActorWebhook,
			Events: []providers.Event{{Provider: "acme", Kind: sm.KindPayment, AggregateID: id, Name: name,
				Amount: 1250, HasAmount: true, Currency: "EUR", DedupeKey: name + id, MerchantReference: "ref-" + id,
				Snapshot: sameBatchEvery > 0}}},
			reply: make(chan reply, 1)}
		// As Submit does, on the submitter's goroutine: not the writer's
		// CPU.
		r.pre = e.prepare(r.d)
		return r
	}
	ctx := context.Background()
	// -writerbatch.preload orders first (one event each, 1 000 a batch),
	// for a store whose B-trees no longer fit SQLite's page cache.
	for n := 0; n < *preload; n += 1000 {
		batch := make([]*request, 0, 1000)
		for i := n; i < min(n+1000, *preload); i++ {
			batch = append(batch, delivery("AUTH", -1-i))
		}
		if _, err := e.transact(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	cpu = 0
	var allocs uint64
	var delivered float64
	written0 := writtenBytes(b)
	b.ResetTimer()
	for n := range b.N {
		batch := make([]*request, 0, 2*half)
		events := func(i int) (first, second string) {
			if heldEvery > 0 && i%heldEvery == 0 {
				return "CAPTURE", "AUTH"
			}
			return "AUTH", "CAPTURE"
		}
		sameBatch := func(i int) bool { return sameBatchEvery > 0 && i%sameBatchEvery == 0 }
		for i := range half {
			first, second := events(i)
			batch = append(batch, delivery(first, n*half+i))
			if sameBatch(i) {
				batch = append(batch, delivery(second, n*half+i))
			} else if n > 0 {
				batch = append(batch, delivery(second, (n-1)*half+i))
			}
		}
		delivered += float64(len(batch))
		allocs0 := heapAllocs()
		if _, err := e.transact(ctx, batch); err != nil {
			b.Fatal(err)
		}
		allocs += heapAllocs() - allocs0
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/1000/delivered, "writer-cpu-µs/event")
	// The writer's own allocations, apart from building the deliveries.
	b.ReportMetric(float64(allocs)/delivered, "writer-allocs/event")
	// What the writes cost the disk: the WAL's frames (a page each, and
	// a header) and the checkpoints' copies into the database file.
	b.ReportMetric(float64(writtenBytes(b)-written0)/1024/delivered, "written-KiB/event")
}

// heapAllocs is how many heap objects the process has allocated: exact,
// since ReadMemStats flushes every P's cached counts (runtime/metrics'
// lag behind them by the spans still cached).
func heapAllocs() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.Mallocs
}

var preload = flag.Int("writerbatch.preload", 0, "orders BenchmarkWriterBatch loads before it measures")

// writtenBytes is what this process has written through write(2) and
// its kind (/proc/self/io wchar); 0 where that file does not exist.
func writtenBytes(b *testing.B) int64 {
	raw, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "wchar: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	return 0
}

type observerFunc func(Batch)

func (f observerFunc) Committed(b Batch) { f(b) }
func (f observerFunc) Expired(int)       {}
