package bulkload

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	_ "github.com/mattn/go-sqlite3" // the driver storage/sqlite registers

	"github.com/paystate/paystate/engine"
	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/sqlite"
)

// sqliteFile writes copies straight into an SQLite database file, on a
// connection of its own, several times faster than storage.Tx can:
//   - multi-row INSERTs, whose columns that every copy of a template
//     entry shares (provider, event, verdict, states, …) are literals in
//     the statement: binding a value is a cgo call, and those calls were
//     most of a single-row INSERT's cost;
//   - receipts gathered in a temporary table and inserted at the end, in
//     key order: their keys are hashes, so inserted as they come they
//     would land all over their B-tree, and every commit would rewrite
//     thousands of its pages (two thirds of the cost, and growing with
//     the store);
//   - a large page cache, rare checkpoints and no fsync until the end.
//
// It writes the columns of the tables as storage/sqlite lays them out
// (migration 0001, and 0007's journal layout, whose encodings of hashes
// and bodies it takes from storage/sqlite); a column added later must
// have a default. Load reads
// the last copy back through the store to check that the layouts agree.
type sqliteFile struct {
	path string
	db   *sql.DB
	// conn is the one connection, pinned: the temporary table lives in
	// it.
	conn *sql.Conn
	// head is the chain head after the last batch prepared.
	head storage.ChainHead
	// Prepared batches go to a goroutine of their own that commits them:
	// chaining and laying out the rows of one batch overlaps the commit of
	// the one before.
	pending chan prepared
	// stopped is closed when the committer returns; err is why, if it
	// failed.
	stopped chan struct{}
	err     error
	// journalRow[j] and aggregateRow[j] are the row patterns of template
	// entry j and aggregate j.
	journalRow, aggregateRow []row
}

// row is "(…)" with a literal for each column that no copy changes and ?
// for the others, of which there are binds.
type row struct {
	sql   string
	binds int
}

// A column of a table: what it holds, and whether copies can differ in it.
type column[T any] struct {
	name  string
	value func(*T) any
	// varies: copy may change it (see template.copy); the others are
	// literals.
	varies func(t *template, v *T) bool
}

func always[T any](*template, *T) bool { return true }
func never[T any](*template, *T) bool  { return false }

// hasID: the value varies when it holds the template's id.
func hasID[T any](s func(*T) string) func(*template, *T) bool {
	return func(t *template, v *T) bool { return strings.Contains(s(v), t.id) }
}

type entry = storage.JournalEntry

// reasonVaries: a reason holds the template's id, or the expiry a
// deferral recorded, which moves with the copy's receipt.
func reasonVaries(t *template, e *entry) bool {
	_, held := engine.HeldUntil(e)
	return held || strings.Contains(e.Reason, t.id)
}

var journalColumns = []column[entry]{
	{"seq", func(e *entry) any { return e.Seq }, always[entry]},
	{"provider", func(e *entry) any { return e.Key.Provider }, never[entry]},
	{"kind", func(e *entry) any { return e.Key.Kind }, never[entry]},
	{"aggregate_id", func(e *entry) any { return e.Key.ID }, always[entry]},
	{"event", func(e *entry) any { return e.Event }, never[entry]},
	{"verdict", func(e *entry) any { return e.Verdict }, never[entry]},
	{"reason", func(e *entry) any { return e.Reason }, reasonVaries},
	{"state_before", func(e *entry) any { return e.StateBefore }, never[entry]},
	{"state_after", func(e *entry) any { return e.StateAfter }, never[entry]},
	{"version_after", func(e *entry) any { return e.VersionAfter }, never[entry]},
	{"dedupe_key", func(e *entry) any { return sqlite.HashValue(e.DedupeKey) }, always[entry]},
	{"body_sha256", func(e *entry) any { return sqlite.HashValue(e.BodySHA256) }, always[entry]},
	{"redacted_body", func(e *entry) any { return sqlite.EncodeBody(e.RedactedBody) }, always[entry]},
	{"payload", func(e *entry) any { return sqlite.EncodePayload(e.Payload) }, always[entry]},
	{"received_at", func(e *entry) any { return micros(e.ReceivedAt) }, always[entry]},
	{"occurred_at", func(e *entry) any { return micros(e.OccurredAt) }, never[entry]},
	{"resolves_seq", func(e *entry) any { return e.ResolvesSeq }, func(_ *template, e *entry) bool { return e.ResolvesSeq != 0 }},
	{"skipped", func(e *entry) any { return skipped(e.Skipped) }, never[entry]},
	{"actor", func(e *entry) any { return e.Actor }, never[entry]},
	{"machine_version", func(e *entry) any { return e.MachineVersion }, never[entry]},
	// Templates are ingested, never re-evaluated: nothing to renumber.
	{"revises_seq", func(e *entry) any { return e.RevisesSeq }, never[entry]},
	{"prev_hash", func(e *entry) any { return sqlite.HashValue(e.PrevHash) }, always[entry]},
	{"hash", func(e *entry) any { return sqlite.HashValue(e.Hash) }, always[entry]},
	{"layout", func(*entry) any { return int64(sqlite.JournalLayout) }, never[entry]},
}

var aggregateColumns = []column[storage.Aggregate]{
	{"provider", func(a *storage.Aggregate) any { return a.Key.Provider }, never[storage.Aggregate]},
	{"kind", func(a *storage.Aggregate) any { return a.Key.Kind }, never[storage.Aggregate]},
	{"id", func(a *storage.Aggregate) any { return a.Key.ID }, always[storage.Aggregate]},
	{"merchant_reference", func(a *storage.Aggregate) any { return a.MerchantReference }, hasID(func(a *storage.Aggregate) string { return a.MerchantReference })},
	{"parent_provider", func(a *storage.Aggregate) any { return a.Parent.Provider }, never[storage.Aggregate]},
	{"parent_kind", func(a *storage.Aggregate) any { return a.Parent.Kind }, never[storage.Aggregate]},
	{"parent_id", func(a *storage.Aggregate) any { return a.Parent.ID }, hasID(func(a *storage.Aggregate) string { return a.Parent.ID })},
	{"state", func(a *storage.Aggregate) any { return a.State }, never[storage.Aggregate]},
	{"provider_status", func(a *storage.Aggregate) any { return a.ProviderStatus }, never[storage.Aggregate]},
	{"currency", func(a *storage.Aggregate) any { return a.Currency }, never[storage.Aggregate]},
	{"amount", func(a *storage.Aggregate) any { return a.Amount }, never[storage.Aggregate]},
	{"authorized", func(a *storage.Aggregate) any { return a.Authorized }, never[storage.Aggregate]},
	{"captured", func(a *storage.Aggregate) any { return a.Captured }, never[storage.Aggregate]},
	{"refunded", func(a *storage.Aggregate) any { return a.Refunded }, never[storage.Aggregate]},
	// SQLite keeps a bool as the integer 0 or 1.
	{"amounts_unknown", func(a *storage.Aggregate) any { return boolInt(a.AmountsUnknown) }, never[storage.Aggregate]},
	{"amount_known", func(a *storage.Aggregate) any { return boolInt(a.AmountKnown) }, never[storage.Aggregate]},
	{"captured_rest", func(a *storage.Aggregate) any { return a.CapturedRest }, never[storage.Aggregate]},
	{"refunded_rest", func(a *storage.Aggregate) any { return a.RefundedRest }, never[storage.Aggregate]},
	{"version", func(a *storage.Aggregate) any { return a.Version }, never[storage.Aggregate]},
	{"created_at", func(a *storage.Aggregate) any { return micros(a.CreatedAt) }, always[storage.Aggregate]},
	{"updated_at", func(a *storage.Aggregate) any { return micros(a.UpdatedAt) }, always[storage.Aggregate]},
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// rowPattern is the row of template value v.
func rowPattern[T any](t *template, cols []column[T], v *T) (row, error) {
	parts := make([]string, len(cols))
	binds := 0
	for i, c := range cols {
		if c.varies(t, v) {
			parts[i] = "?"
			binds++
			continue
		}
		switch x := c.value(v).(type) {
		case string:
			parts[i] = "'" + strings.ReplaceAll(x, "'", "''") + "'"
		case int64:
			parts[i] = strconv.FormatInt(x, 10)
		default:
			return row{}, fmt.Errorf("bulkload: column %s: no literal for %T", c.name, x)
		}
	}
	return row{"(" + strings.Join(parts, ",") + ")", binds}, nil
}

// args appends the values of v's columns that its pattern binds.
func args[T any](t *template, cols []column[T], pattern, v *T, out []any) []any {
	for _, c := range cols {
		if c.varies(t, pattern) {
			out = append(out, c.value(v))
		}
	}
	return out
}

func names[T any](cols []column[T]) string {
	var s []string
	for _, c := range cols {
		s = append(s, c.name)
	}
	return strings.Join(s, ", ")
}

func openSQLiteFile(ctx context.Context, path string, head storage.ChainHead, t *template) (*sqliteFile, error) {
	f := &sqliteFile{path: path, head: head}
	for j := range t.entries {
		p, err := rowPattern(t, journalColumns, &t.entries[j])
		if err != nil {
			return nil, err
		}
		f.journalRow = append(f.journalRow, p)
	}
	for j := range t.aggs {
		p, err := rowPattern(t, aggregateColumns, &t.aggs[j])
		if err != nil {
			return nil, err
		}
		f.aggregateRow = append(f.aggregateRow, p)
	}
	// storage/sqlite's pragmas but synchronous=OFF (the file is synced
	// once, at the end: a load that crashes is thrown away), a 1 GiB page
	// cache and a checkpoint every 64 MiB of WAL rather than 4.
	db, err := sql.Open("sqlite3", "file:"+strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)+
		"?_journal_mode=WAL&_synchronous=OFF&_busy_timeout=5000&_txlock=immediate&_cache_size=-1048576")
	if err != nil {
		return nil, err
	}
	f.db = db
	fail := func(err error) (*sqliteFile, error) {
		if f.conn != nil {
			err = errors.Join(err, f.conn.Close())
		}
		return nil, errors.Join(fmt.Errorf("bulkload: %s: %w", path, err), db.Close())
	}
	if f.conn, err = db.Conn(ctx); err != nil {
		return fail(err)
	}
	if _, err := f.conn.ExecContext(ctx, `PRAGMA wal_autocheckpoint = 16384`); err != nil {
		return fail(err)
	}
	if _, err := f.conn.ExecContext(ctx, `CREATE TEMP TABLE bulkload_receipts (provider TEXT, dedupe_key TEXT, seq INTEGER, body_sha256 TEXT)`); err != nil {
		return fail(err)
	}
	var got storage.ChainHead
	if err := f.conn.QueryRowContext(ctx, `SELECT seq, hash FROM chain_head WHERE id = 1`).Scan(&got.Seq, &got.Hash); err != nil {
		return fail(err)
	}
	if got != head {
		return fail(fmt.Errorf("not the store's file (its head is %d, the store's %d)", got.Seq, head.Seq))
	}
	f.pending, f.stopped = make(chan prepared, 1), make(chan struct{})
	go func() {
		defer close(f.stopped)
		for p := range f.pending {
			if f.err = f.commit(ctx, p); f.err != nil {
				return
			}
		}
	}()
	return f, nil
}

// inserter runs multi-row INSERTs in one transaction, preparing each
// statement once.
type inserter struct {
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
}

// insert runs "head VALUES rows…" for every row of rows, 64 rows a
// statement, with args the values of rows' ?s in order.
func (in *inserter) insert(ctx context.Context, head string, rows []row, args []any) error {
	const perStatement = 64
	for len(rows) > 0 {
		n := min(perStatement, len(rows))
		var query strings.Builder
		query.WriteString(head + " VALUES ")
		binds := 0
		for i, r := range rows[:n] {
			if i > 0 {
				query.WriteByte(',')
			}
			query.WriteString(r.sql)
			binds += r.binds
		}
		st, ok := in.stmts[query.String()]
		if !ok {
			var err error
			if st, err = in.tx.PrepareContext(ctx, query.String()); err != nil {
				return err
			}
			in.stmts[query.String()] = st
		}
		if _, err := st.ExecContext(ctx, args[:binds]...); err != nil {
			return err
		}
		rows, args = rows[n:], args[binds:]
	}
	return nil
}

// prepared is one batch's rows, ready to insert.
type prepared struct {
	journalRows, receiptRows, aggregateRows []row
	journal, receipts, aggs                 []any
	head                                    storage.ChainHead
}

// write chains batch to the head and hands it to the committer.
func (f *sqliteFile) write(_ context.Context, t *template, batch []copyOf) error {
	p := f.prepare(t, batch)
	select {
	case f.pending <- p:
		f.head = p.head
		return nil
	case <-f.stopped:
		return f.err
	}
}

func (f *sqliteFile) prepare(t *template, batch []copyOf) prepared {
	p := prepared{head: f.head}
	_ = t.walk(batch, func(j int, e *storage.JournalEntry) error {
		e.Seq, e.PrevHash = p.head.Seq+1, p.head.Hash
		e.Hash = storage.EntryHash(e, e.PrevHash)
		p.head = storage.ChainHead{Seq: e.Seq, Hash: e.Hash}
		p.journalRows = append(p.journalRows, f.journalRow[j])
		p.journal = args(t, journalColumns, &t.entries[j], e, p.journal)
		if t.receipt[j] {
			p.receiptRows = append(p.receiptRows, row{"(?,?,?,?)", 4})
			p.receipts = append(p.receipts, e.Key.Provider, e.DedupeKey, e.Seq, sqlite.HashValue(e.BodySHA256))
		}
		return nil
	}, func(j int, a *storage.Aggregate) error {
		p.aggregateRows = append(p.aggregateRows, f.aggregateRow[j])
		p.aggs = args(t, aggregateColumns, &t.aggs[j], a, p.aggs)
		return nil
	})
	return p
}

// commit inserts one prepared batch in one transaction.
func (f *sqliteFile) commit(ctx context.Context, p prepared) error {
	tx, err := f.conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	in := &inserter{tx: tx, stmts: map[string]*sql.Stmt{}}
	err = in.insert(ctx, "INSERT INTO journal ("+names(journalColumns)+")", p.journalRows, p.journal)
	if err == nil {
		err = in.insert(ctx, "INSERT INTO temp.bulkload_receipts (provider, dedupe_key, seq, body_sha256)", p.receiptRows, p.receipts)
	}
	if err == nil {
		err = in.insert(ctx, "INSERT INTO aggregates ("+names(aggregateColumns)+")", p.aggregateRows, p.aggs)
	}
	if err == nil {
		_, err = tx.ExecContext(ctx, `UPDATE chain_head SET seq = ?, hash = ? WHERE id = 1`, p.head.Seq, p.head.Hash)
	}
	if err == nil {
		err = tx.Commit()
	} else {
		err = errors.Join(err, tx.Rollback())
	}
	if err != nil {
		return fmt.Errorf("bulkload: %s: %w", f.path, err)
	}
	return nil
}

// close waits for the committer, inserts the receipts, checkpoints the
// WAL and makes the file durable.
func (f *sqliteFile) close(ctx context.Context) error {
	close(f.pending)
	<-f.stopped
	err := f.err
	if err == nil {
		_, err = f.conn.ExecContext(ctx, `INSERT INTO receipts (provider, dedupe_key, seq, body_sha256)
			SELECT provider, dedupe_key, seq, body_sha256 FROM temp.bulkload_receipts ORDER BY provider, dedupe_key`)
	}
	if err == nil {
		_, err = f.conn.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	}
	err = errors.Join(err, f.conn.Close(), f.db.Close())
	for _, name := range []string{f.path, f.path + "-wal"} {
		file, oerr := os.Open(name)
		if errors.Is(oerr, os.ErrNotExist) {
			continue
		}
		if oerr != nil {
			return errors.Join(err, oerr)
		}
		err = errors.Join(err, file.Sync(), file.Close())
	}
	return err
}

// skipped is storage/sqlite's encoding of JournalEntry.Skipped.
func skipped(s []string) string {
	if len(s) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(s) // state names: plain text
	return string(b)
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}
