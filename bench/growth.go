package bench

// The growth scenario: how reads and the database's size grow with the
// number of aggregates. Each store is built by package bulkload (the first
// order through the engine, the others copies of it written in bulk), so
// that ten million orders take minutes rather than most of an hour.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/paystate/paystate/bulkload"
	"github.com/paystate/paystate/config"
	pb "github.com/paystate/paystate/proto/paystate/v1"
	"github.com/paystate/paystate/providers"
	"github.com/paystate/paystate/providers/ngenius"
	"github.com/paystate/paystate/storage/sqlite"
)

// sizesFlag is a comma-separated list of store sizes.
type sizesFlag []int

func (s *sizesFlag) String() string {
	var parts []string
	for _, n := range *s {
		parts = append(parts, strconv.Itoa(n))
	}
	return strings.Join(parts, ",")
}

func (s *sizesFlag) Set(v string) error {
	var out []int
	for part := range strings.SplitSeq(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < 1 || n > maxGrowth {
			return fmt.Errorf("%q: want a number of aggregates from 1 to %d", part, maxGrowth)
		}
		out = append(out, n)
	}
	*s = out
	return nil
}

// maxGrowth: benchOrderID's eight digits, which every copy must keep.
const maxGrowth = 99_999_999

// growthEntriesPerOrder: AUTHORISED, then CAPTURED.
const growthEntriesPerOrder = 2

func growthSequence(p providers.Provider) bulkload.Sequence {
	return bulkload.Sequence{
		Provider: p,
		Bodies: func(id string) [][]byte {
			return [][]byte{benchOrderBody(id, "AUTHORISED"), benchOrderBody(id, "CAPTURED")}
		},
		ID: benchOrderID,
	}
}

// benchGrowth builds a store of each size in turn under dir, measures it,
// and removes it before building the next.
func benchGrowth(ctx context.Context, ps Paystate, cfg config.Config, dev *config.DevCredentials, o Options, dir string, step func(string, ...any)) ([]Row, error) {
	var rows []Row
	bytesPerEvent := 1500.0 // until the first store says better
	for _, n := range o.Growth {
		gcfg := cfg
		gcfg.DataDir = filepath.Join(dir, fmt.Sprintf("growth-%d", n))
		if err := checkFreeSpace(dir, float64(n*growthEntriesPerOrder)*bytesPerEvent); err != nil {
			return rows, err
		}
		step("growth: loading %d orders in bulk", n)
		load, size, err := growthStore(ctx, ps, gcfg, n, step)
		if err != nil {
			return rows, errors.Join(err, os.RemoveAll(gcfg.DataDir))
		}
		bytesPerEvent = size.BytesPerEvent
		step("growth: reads over %d orders", n)
		reads, err := growthReads(ctx, ps, gcfg, dev, o, n, step)
		rows = append(rows, load, size)
		rows = append(rows, reads...)
		if err := errors.Join(err, os.RemoveAll(gcfg.DataDir)); err != nil {
			return rows, err
		}
	}
	compareGrowth(rows, o.Growth)
	return rows, nil
}

// growthStore loads n orders into the (empty) store of cfg and measures
// the files it takes.
func growthStore(ctx context.Context, ps Paystate, cfg config.Config, n int, step func(string, ...any)) (load, size Row, err error) {
	store, _, err := ps.OpenStore(ctx, cfg)
	if err != nil {
		return load, size, err
	}
	defer store.Close()
	machines, byName, err := benchMachines(ps, cfg)
	if err != nil {
		return load, size, err
	}
	path := filepath.Join(cfg.DataDir, "paystate.db")
	sq, ok := store.(*sqlite.Store)
	if !ok {
		return load, size, errors.New("bench: growth: the store is not SQLite")
	}
	// A large load says how far it got every tenth.
	tenth := max(n/10, 100_000)
	next := tenth
	// The load's live heap is a few batches; collecting it less often
	// was 10-15 % faster here. Nothing else runs in the process meanwhile.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	cpu0 := processCPU()
	st, err := bulkload.Load(ctx, store, machines, growthSequence(byName[ngenius.Name]), n, bulkload.Options{
		SQLiteFile: path,
		Progress: func(done int) {
			if done >= next {
				step("growth: %d of %d orders loaded", done, n)
				for next <= done {
					next += tenth
				}
			}
		},
	})
	if err != nil {
		return load, size, err
	}
	load = loadRow("growth", fmt.Sprintf("bulk load, %s orders", thousands(n)), loadResult{ok: st.Entries, elapsed: st.Elapsed, cpu: processCPU() - cpu0}, 0)
	load.Note = fmt.Sprintf("%d journal entries; order 0 through the engine, the others copies of it in multi-row INSERTs", st.Entries)

	if err := sq.Checkpoint(ctx); err != nil {
		return load, size, err
	}
	var bytes int64
	for _, name := range []string{path, path + "-wal"} {
		fi, err := os.Stat(name)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return load, size, err
		}
		bytes += fi.Size()
	}
	size = Row{Scenario: "growth", Variant: fmt.Sprintf("database size, %s orders", thousands(n)), Ops: st.Entries,
		BytesPerEvent: float64(bytes) / float64(st.Entries)}
	size.Note = fmt.Sprintf("%d bytes (database + WAL after a checkpoint) / %d journal entries = %.0f bytes per event", bytes, st.Entries, size.BytesPerEvent)
	return load, size, nil
}

// growthReads times one stream of each read over the store of cfg: a
// random order, a random order's history page, and the global journal
// page after page.
//
// GetOrder is timed twice: right after the load, with whatever of the
// store the load left in the page cache, and again after the tables it
// reads have been read through once, as a server that has been answering
// for a while has them. A store larger than memory can only keep part of
// itself cached; the first figure is its worst case, the second its steady
// state.
func growthReads(ctx context.Context, ps Paystate, cfg config.Config, dev *config.DevCredentials, o Options, n int, step func(string, ...any)) ([]Row, error) {
	// What is timed here is how the store's reads scale with its size: the
	// server's view cache (which would answer the second pass over the
	// same keys from memory) stays off.
	cfg.ReadCacheViews = 0
	srv, err := startBenchServer(ctx, ps, cfg, dev)
	if err != nil {
		return nil, err
	}
	defer srv.close()
	actx := srv.authed(ctx)
	orders, audit := pb.NewOrderServiceClient(srv.conn), pb.NewAuditServiceClient(srv.conn)
	key := func(i int) string { return benchOrderID(int(uint64(i)*2654435761) % n) }
	// The store must answer as ingest would have left it.
	last, err := orders.GetOrder(actx, &pb.GetOrderRequest{Provider: ngenius.Name, OrderId: benchOrderID(n - 1)})
	if err != nil {
		return nil, fmt.Errorf("bench: growth: GetOrder of the last order: %w", err)
	}
	if last.GetStateName() != "captured" || last.GetVersion() != 2 {
		return nil, fmt.Errorf("bench: growth: the last order is %s version %d, not captured version 2", last.GetStateName(), last.GetVersion())
	}
	label := func(what string) string { return fmt.Sprintf("%s, 1 stream, %s orders", what, thousands(n)) }
	var rows []Row
	getOrder := func(ctx context.Context, i int) error {
		_, err := orders.GetOrder(ctx, &pb.GetOrderRequest{Provider: ngenius.Name, OrderId: key(i)})
		return err
	}
	r := readLoop(actx, 1, o.ReadFor, getOrder)
	rows = append(rows, loadRow("growth", label("GetOrder gRPC, right after the load"), r, 0))
	step("growth: reading the tables GetOrder and the history read through once")
	warmed, err := warmReadPath(ctx, filepath.Join(cfg.DataDir, "paystate.db"))
	if err != nil {
		return rows, err
	}
	r = readLoop(actx, 1, o.ReadFor, getOrder)
	row := loadRow("growth", label("GetOrder gRPC"), r, 0)
	row.Note = warmed
	rows = append(rows, row)
	r = readLoop(actx, 1, o.ReadFor, func(ctx context.Context, i int) error {
		page, err := audit.ListOrderEvents(ctx, &pb.ListOrderEventsRequest{Provider: ngenius.Name, OrderId: key(i)})
		if err == nil && len(page.GetEntries()) != growthEntriesPerOrder {
			err = fmt.Errorf("order %s: %d entries", key(i), len(page.GetEntries()))
		}
		return err
	})
	rows = append(rows, loadRow("growth", label("order history page gRPC"), r, 0))
	token := ""
	r = readLoop(actx, 1, o.ReadFor, func(ctx context.Context, i int) error {
		page, err := audit.ListJournal(ctx, &pb.ListJournalRequest{PageSize: 100, PageToken: token})
		if err == nil && len(page.GetEntries()) == 0 && token == "" {
			err = errors.New("the first journal page is empty")
		}
		// From the start again after the last page (which may be empty:
		// the page before it could not know that nothing followed).
		token = page.GetNextPageToken()
		return err
	})
	rows = append(rows, loadRow("growth", label("journal page of 100 gRPC"), r, 0))
	return rows, srv.close()
}

// warmReadPath reads through once, on a connection of its own, the B-trees
// that GetOrder and an order's history search: the aggregates, their
// parent index, the held events and the journal's per-aggregate index (not
// the journal's rows: most of the file). It says what it read and how long
// that took.
func warmReadPath(ctx context.Context, path string) (string, error) {
	db, err := sql.Open("sqlite3", sqlite.ReadOnlyURI(path))
	if err != nil {
		return "", err
	}
	defer db.Close()
	t0 := time.Now()
	var rows int64
	for _, q := range []string{
		`SELECT COUNT(*) FROM aggregates NOT INDEXED`,
		`SELECT COUNT(*) FROM aggregates INDEXED BY aggregates_by_parent WHERE parent_id <> ''`, // a partial index (0009)
		`SELECT COUNT(*) FROM deferred INDEXED BY deferred_by_aggregate`,
		`SELECT COUNT(*) FROM journal INDEXED BY journal_by_aggregate`,
	} {
		var n int64
		if err := db.QueryRowContext(ctx, q).Scan(&n); err != nil {
			return "", fmt.Errorf("bench: growth: warming the read path: %s: %w", q, err)
		}
		rows += n
	}
	return fmt.Sprintf("after reading the aggregates, their parent index, the held events and the journal's per-aggregate index through once (%d rows, %.1f s)", rows, time.Since(t0).Seconds()), nil
}

// compareGrowth notes, on each read row of the largest store, its p99
// against the same read's on the smallest (the target is at most 2×).
func compareGrowth(rows []Row, sizes []int) {
	if len(sizes) < 2 {
		return
	}
	small, large := thousands(slices.Min(sizes)), thousands(slices.Max(sizes))
	p99 := map[string]float64{}
	for _, r := range rows {
		if what, ok := strings.CutSuffix(r.Variant, ", "+small+" orders"); ok {
			p99[what] = r.P99ms
		}
	}
	for i := range rows {
		r := &rows[i]
		what, ok := strings.CutSuffix(r.Variant, ", "+large+" orders")
		if base := p99[what]; ok && base > 0 && r.P99ms > 0 {
			r.P99Growth = r.P99ms / base
			r.Note = strings.TrimPrefix(r.Note+"; ", "; ") + fmt.Sprintf("p99 %.2f× the %s-order store's (target ≤ 2×)", r.P99Growth, small)
		}
	}
}

// checkFreeSpace refuses to build a store that would not fit: the
// database, its WAL and the temporary copy of the receipts.
func checkFreeSpace(dir string, estimate float64) error {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		return nil // no figure to go by: let the load find out
	}
	free := float64(fs.Bavail) * float64(fs.Bsize)
	if need := 1.5*estimate + 1<<30; need > free {
		return fmt.Errorf("bench: growth: about %.1f GB needed in %s, %.1f GB free", need/1e9, dir, free/1e9)
	}
	return nil
}

// thousands writes n with thin groups: 10 000 000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + " " + s[i:]
	}
	return s
}
