package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/paystate/paystate/storage"
)

// BenchmarkRawBaseline is paystate's "without paystate" baseline: what the
// same SQLite file, with the same DSN (WAL, synchronous=FULL, BEGIN
// IMMEDIATE), sustains when an application writes each event as one
// journal INSERT of about 400 bytes and one aggregate UPSERT with plain
// database/sql and prepared statements — no hashing, no dedupe, no state
// machine. per-commit-1 commits (and so fsyncs) every event, as a webhook
// that must be durable before it is answered does; per-commit-100 batches
// 100 events per commit, the ceiling group commit could approach.
func BenchmarkRawBaseline(b *testing.B) {
	for _, every := range []int{1, 100} {
		b.Run(fmt.Sprintf("per-commit-%d", every), func(b *testing.B) { benchRaw(b, every) })
	}
}

const (
	rawInsertJournal = `INSERT INTO journal (` + journalColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	rawUpsertAggregate = `INSERT INTO aggregates (` + aggregateColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (provider, kind, id) DO UPDATE SET
			state = excluded.state, provider_status = excluded.provider_status,
			captured = excluded.captured, version = aggregates.version + 1,
			updated_at = excluded.updated_at`
)

func benchRaw(b *testing.B, every int) {
	ctx := b.Context()
	path := filepath.Join(b.TempDir(), "raw.db")
	if _, err := Migrate(ctx, path); err != nil { // just the tables
		b.Fatal(err)
	}
	db, err := sql.Open("sqlite3", dsn(path, defaultBusyTimeout, ""))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	insert, err := db.PrepareContext(ctx, rawInsertJournal)
	if err != nil {
		b.Fatal(err)
	}
	defer insert.Close()
	upsert, err := db.PrepareContext(ctx, rawUpsertAggregate)
	if err != nil {
		b.Fatal(err)
	}
	defer upsert.Close()

	const (
		provider = "acme"
		kind     = "payment"
		hash     = "5d41402abc4b2a76b9719d911017c592ae2e9c8ad8a7e5f2b8e1c3c7d5e0f6a1"
	)
	body := []byte(`{"id":"evt_0000000000","type":"payment.captured","data":{"amount":1250,"currency":"EUR","card":"[redacted]"}}`)
	var tx *sql.Tx
	var txInsert, txUpsert *sql.Stmt
	commit := func() {
		if tx == nil {
			return
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		tx = nil
	}
	seq := int64(0)
	cpu0 := processCPU(b)
	for b.Loop() {
		if tx == nil {
			if tx, err = db.BeginTx(ctx, nil); err != nil {
				b.Fatal(err)
			}
			txInsert, txUpsert = tx.StmtContext(ctx, insert), tx.StmtContext(ctx, upsert)
		}
		seq++
		id := fmt.Sprintf("pay_%06d", seq%1000)
		now := time.Now().UnixMicro()
		if _, err := txInsert.ExecContext(ctx,
			seq, provider, kind, id, "payment.captured", "applied", "capture of the authorized amount",
			"authorized", "captured", seq, fmt.Sprintf("evt_%010d", seq), hash, body,
			[]byte(`{"name":"payment.captured"}`), now, now, 0, "[]", "webhook", hash, hash); err != nil {
			b.Fatal(err)
		}
		if _, err := txUpsert.ExecContext(ctx,
			provider, kind, id, "order-"+id, "", "", "", "captured", "succeeded", "EUR",
			1250, 1250, 1250, 0, 1, now, now); err != nil {
			b.Fatal(err)
		}
		if seq%int64(every) == 0 {
			commit()
		}
	}
	commit()
	b.ReportMetric(float64(seq)/b.Elapsed().Seconds(), "events/s")
	// CPU per event is steadier than the rate on a shared machine.
	b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(seq), "cpu-µs/event")
}

// processCPU is the CPU time the process has used, user and system.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkStoreUpdate is the same event through Store.Update (lock, put,
// hash-chained append, one commit each), for comparison with
// BenchmarkRawBaseline/per-commit-1.
func BenchmarkStoreUpdate(b *testing.B) {
	ctx := b.Context()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "store.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	body := []byte(strings.Repeat("x", 110))
	n := int64(0)
	for b.Loop() {
		n++
		key := storage.AggregateKey{Provider: "acme", Kind: "payment", ID: fmt.Sprintf("pay_%06d", n%1000)}
		err := s.Update(ctx, func(tx storage.Tx) error {
			a, err := tx.LockAggregate(ctx, key)
			switch {
			case errors.Is(err, storage.ErrNotFound):
				a = storage.Aggregate{Key: key, MerchantReference: "order-" + key.ID, Currency: "EUR", Amount: 1250}
			case err != nil:
				return err
			}
			a.State, a.Version, a.UpdatedAt = "captured", a.Version+1, time.Now()
			if err := tx.PutAggregate(ctx, a); err != nil {
				return err
			}
			e := storage.JournalEntry{Key: key, Event: "payment.captured", Verdict: "applied",
				Reason: "capture of the authorized amount", StateBefore: "authorized", StateAfter: "captured",
				VersionAfter: a.Version, DedupeKey: fmt.Sprintf("evt_%010d", n),
				BodySHA256:   "5d41402abc4b2a76b9719d911017c592ae2e9c8ad8a7e5f2b8e1c3c7d5e0f6a1",
				RedactedBody: body, ReceivedAt: time.Now(), Actor: "webhook"}
			return tx.Append(ctx, &e)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkAggregateView is one GetOrder miss at the store: the view of
// one of 2 000 orders (one with two children), read under a cancellable
// context as a gRPC handler's is, straight from the store (direct) and
// through the bound the server puts on every read (bounded,
// storage.WithTimeout). Under callgrind it counts what a view-cache miss
// costs below the API:
//
//	go test -c -o sqlite.test ./storage/sqlite/
//	GODEBUG=asyncpreemptoff=1 GOGC=off GOMAXPROCS=1 valgrind --tool=callgrind \
//	  ./sqlite.test -test.run XXX -test.bench 'AggregateView/bounded$' -test.benchtime 20000x
func BenchmarkAggregateView(b *testing.B) {
	ctx := b.Context()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "views.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const orders = 2000
	keys := make([]storage.AggregateKey, orders)
	for i := range keys {
		keys[i] = storage.AggregateKey{Provider: "ngenius", Kind: "payment", ID: fmt.Sprintf("bench-order-%07d", i)}
	}
	key := func(i int) storage.AggregateKey { return keys[i%orders] }
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	err = s.Update(ctx, func(tx storage.Tx) error {
		for i := range orders {
			if err := tx.PutAggregate(ctx, storage.Aggregate{Key: key(i), MerchantReference: "ref-" + key(i).ID,
				State: "authorized", ProviderStatus: "AUTHORISED", Currency: "AED", Amount: 12345, Authorized: 12345,
				Version: 1, CreatedAt: at, UpdatedAt: at}); err != nil {
				return err
			}
		}
		for _, id := range []string{"r1", "r2"} {
			if err := tx.PutAggregate(ctx, storage.Aggregate{Key: storage.AggregateKey{Provider: "ngenius", Kind: "refund", ID: id},
				Parent: key(7), State: "refunded", Currency: "AED", Version: 1, CreatedAt: at, UpdatedAt: at}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	v, err := s.AggregateView(ctx, key(7))
	if err != nil || len(v.Children) != 2 {
		b.Fatalf("view %+v: %v", v, err)
	}
	// A gRPC handler's context can be cancelled (the client may go).
	call, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, c := range []struct {
		name string
		r    storage.Reader
	}{{"direct", s}, {"bounded", storage.WithTimeout(s, storage.DefaultTimeout)}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				if _, err := c.r.AggregateView(call, key(i)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAggregateViewAfterCommits: point reads of random orders of a
// store far larger than a connection's page cache, with a commit before
// every readsPerCommit reads, as an order service reads while webhooks
// commit. SQLite empties a read connection's page cache at the first read
// after a commit changed the WAL, so each commit frees the pages the
// reads since the last one fetched and the reads after it allocate them
// again. It reports the reads' own CPU time (their thread's, the commits
// left out) and the minor page faults they took.
func BenchmarkAggregateViewAfterCommits(b *testing.B) {
	ctx := b.Context()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "views.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const orders, readsPerCommit = 100_000, 64
	key := func(i int) storage.AggregateKey {
		return storage.AggregateKey{Provider: "ngenius", Kind: "payment", ID: fmt.Sprintf("bench-order-%07d", i)}
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	agg := func(i, version int) storage.Aggregate {
		return storage.Aggregate{Key: key(i), MerchantReference: "ref-" + key(i).ID, State: "authorized",
			ProviderStatus: "AUTHORISED", Currency: "AED", Amount: 12345, Authorized: 12345,
			Version: int64(version), CreatedAt: at, UpdatedAt: at}
	}
	err = s.Update(ctx, func(tx storage.Tx) error {
		for i := range orders {
			if err := tx.PutAggregate(ctx, agg(i, 1)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	thread := func() (time.Duration, int64) {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_THREAD, &ru); err != nil {
			b.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), ru.Minflt
	}
	next := uint64(1)
	random := func() int { // a fixed sequence, the same in every run
		next = next*6364136223846793005 + 1442695040888963407
		return int(next>>33) % orders
	}
	var cpu time.Duration
	var faults, reads int64
	round := 0
	for b.Loop() {
		round++
		if err := s.Update(ctx, func(tx storage.Tx) error { return tx.PutAggregate(ctx, agg(random(), round+1)) }); err != nil {
			b.Fatal(err)
		}
		c0, f0 := thread()
		for range readsPerCommit {
			if _, err := s.AggregateView(ctx, key(random())); err != nil {
				b.Fatal(err)
			}
		}
		c1, f1 := thread()
		cpu, faults, reads = cpu+c1-c0, faults+f1-f0, reads+readsPerCommit
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(reads), "read-cpu-µs/read")
	b.ReportMetric(float64(faults)/float64(reads), "faults/read")
}
