package sqlite

import (
	"context"
	"database/sql/driver"
	"fmt"
	"math/bits"
	"strings"

	"github.com/mattn/go-sqlite3"

	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/internal/aggrow"
)

// pending holds a transaction's journal entries, receipts and aggregates
// — the three rows every ingested event writes — until the transaction
// runs any other statement or commits (flush). Each table's rows are then
// written by a few multi-row INSERTs (one per power of two in the count,
// up to writeChunk rows each) instead of one statement per row: each
// statement is a trip through the driver and cgo and a start of
// SQLite's program, which cost more than the row itself. Whatever reads
// or writes the tables next runs after the flush, so the transaction
// sees its own writes as before; a write the database refuses (a
// duplicate receipt) fails that next statement, or Update.
//
// The rows' values are kept one after the other in one slice per table,
// in the order of their statement's parameters and as the driver takes
// them (write), so that a statement's arguments are a part of it, not
// a copy: no slice per row, none per statement. Every value is of a type
// the driver binds as it is (string, int64, bool, []byte, nil;
// TestPendingValuesAreDriverValues).
type pending struct {
	journal, receipts []driver.NamedValue
	aggregates        []pendingAggregate
	// aggregate is where an aggregate's row sits in aggregates: a
	// later put of the same aggregate replaces it.
	aggregate map[storage.AggregateKey]int
	// inserts and updates hold the aggregates' values while they are
	// written.
	inserts, updates []driver.NamedValue
}

// arg is a pending value.
func arg(x any) driver.NamedValue { return driver.NamedValue{Value: x} }

// pendingAggregate is an aggregate to write. update says the stored row
// exists and keeps its reference and parent: an UPDATE of the other
// columns writes it without touching aggregates_by_reference and
// aggregates_by_parent (SQLite updates an index only when the statement
// sets one of its columns), two B-tree leaves fewer for an event that
// moves an existing aggregate.
type pendingAggregate struct {
	a      storage.Aggregate
	update bool
}

func (p *pending) empty() bool {
	return len(p.journal) == 0 && len(p.receipts) == 0 && len(p.aggregates) == 0
}

func (p *pending) putAggregate(a storage.Aggregate, update bool) {
	if i, ok := p.aggregate[a.Key]; ok {
		// Still an insert if the first put was: the row is not stored yet.
		p.aggregates[i] = pendingAggregate{a, update && p.aggregates[i].update}
		return
	}
	if p.aggregate == nil {
		p.aggregate = map[storage.AggregateKey]int{}
	}
	p.aggregate[a.Key] = len(p.aggregates)
	p.aggregates = append(p.aggregates, pendingAggregate{a, update})
}

// identity is what an aggregate's secondary indexes other than by state
// hold of it.
type identity struct {
	reference string
	parent    storage.AggregateKey
}

func identityOf(a *storage.Aggregate) identity { return identity{a.MerchantReference, a.Parent} }

// writeChunk bounds the rows of one INSERT (24 columns a journal row:
// far under SQLite's 32 766 parameters).
const writeChunk = 64

// A multi-row write: its statements by row count, and the values a row
// has.
type rowWrite struct {
	name       string
	statements map[int]string
	width      int
}

func multiRow(name, head string, width int, tail string) rowWrite {
	w := rowWrite{name: name, statements: map[int]string{}, width: width}
	for n := 1; n <= writeChunk; n *= 2 {
		w.statements[n] = head + " VALUES " + placeholders(n, width) + tail
	}
	return w
}

var (
	journalWrite = multiRow("journal entries", `INSERT INTO journal (`+journalColumns+`)`,
		strings.Count(journalColumns, ",")+1, "")
	receiptWrite = multiRow("receipts", `INSERT INTO receipts (provider, dedupe_key, seq, body_sha256)`, 4, "")
	// An aggregate's row replaces the stored one whole.
	aggregateWrite = multiRow("aggregates", `INSERT INTO aggregates (`+aggregateColumns+`)`,
		strings.Count(aggregateColumns, ",")+1, aggrow.Upsert)
)

// aggregateUpdate rewrites existing aggregates whose reference and parent
// stay as stored: every other column, by primary key.
var aggregateUpdate = func() rowWrite {
	const cols = `provider, kind, id, state, provider_status, currency, amount, authorized, captured,
		refunded, amounts_unknown, amount_known, captured_rest, refunded_rest, version, created_at, updated_at`
	w := rowWrite{name: "aggregate updates", statements: map[int]string{}, width: 17}
	var set []string
	for _, c := range strings.Split(cols, ",")[3:] {
		c = strings.TrimSpace(c)
		set = append(set, c+" = v."+c)
	}
	for n := 1; n <= writeChunk; n *= 2 {
		w.statements[n] = `WITH v(` + cols + `) AS (VALUES ` + placeholders(n, 17) + `)
	UPDATE aggregates SET ` + strings.Join(set, ", ") + `
	FROM v WHERE aggregates.provider = v.provider AND aggregates.kind = v.kind AND aggregates.id = v.id`
	}
	return w
}()

func appendAggregateUpdateArgs(args []driver.NamedValue, a *storage.Aggregate) []driver.NamedValue {
	return append(args, arg(a.Key.Provider), arg(a.Key.Kind), arg(a.Key.ID), arg(a.State), arg(a.ProviderStatus), arg(a.Currency),
		arg(a.Amount), arg(a.Authorized), arg(a.Captured), arg(a.Refunded), arg(a.AmountsUnknown), arg(a.AmountKnown), arg(a.CapturedRest),
		arg(a.RefundedRest), arg(a.Version), arg(toMicros(a.CreatedAt)), arg(toMicros(a.UpdatedAt)))
}

// flush writes what is pending, journal first. It runs its statements
// itself (not through exec, which flushes). What was pending is gone
// whether or not its statements worked (a failed one fails the
// transaction); the slices are kept for the transaction's next rows.
func (t *tx) flush(ctx context.Context) error {
	p := &t.pending
	if p.empty() {
		return nil
	}
	p.inserts, p.updates = p.inserts[:0], p.updates[:0]
	for i := range p.aggregates {
		if pa := &p.aggregates[i]; pa.update {
			p.updates = appendAggregateUpdateArgs(p.updates, &pa.a)
		} else {
			p.inserts = appendAggregateArgs(p.inserts, &pa.a)
		}
	}
	journal, receipts := p.journal, p.receipts
	p.journal, p.receipts, p.aggregates = p.journal[:0], p.receipts[:0], p.aggregates[:0]
	clear(p.aggregate)
	// The statements run on the driver's connection itself (write).
	return t.conn.Raw(func(dc any) error {
		c, ok := dc.(*sqlite3.SQLiteConn)
		if !ok {
			return fmt.Errorf("sqlite: the writer's connection is a %T", dc)
		}
		for _, w := range []struct {
			write rowWrite
			args  []driver.NamedValue
		}{{journalWrite, journal}, {receiptWrite, receipts}, {aggregateWrite, p.inserts}, {aggregateUpdate, p.updates}} {
			if err := t.writeRows(ctx, c, w.write, w.args); err != nil {
				return err
			}
		}
		return nil
	})
}

// writeRows inserts the rows whose values are args with the fewest
// statements of power-of-two sizes: 45 rows are written 32, 8, 4 and 1
// at a time.
func (t *tx) writeRows(ctx context.Context, c *sqlite3.SQLiteConn, w rowWrite, args []driver.NamedValue) error {
	if len(args)%w.width != 0 {
		return fmt.Errorf("sqlite: write %s: %d values are not rows of %d", w.name, len(args), w.width)
	}
	for rows := len(args) / w.width; rows > 0; rows = len(args) / w.width {
		n := min(writeChunk, 1<<(bits.Len(uint(rows))-1))
		if err := t.write(ctx, c, w.statements[n], args[:n*w.width]); err != nil {
			return classify(fmt.Sprintf("write %d %s", n, w.name), err)
		}
		args = args[n*w.width:]
	}
	return nil
}

// write runs a statement that returns no rows on the writer's driver
// connection c (sql.Conn.Raw), binding args and stepping it in one
// crossing into SQLite (the driver's query path; its exec path binds each
// argument with a crossing of its own). Through database/sql, each
// statement had its arguments converted into a []driver.NamedValue
// allocated for it, and a Rows of its own; here the pending values are
// the driver's arguments already. The statements are compiled once and
// kept by the driver's statement cache on the writer's connection
// (_stmt_cache_size, set in openWriter), which also finalizes them when
// the connection closes.
func (t *tx) write(ctx context.Context, c *sqlite3.SQLiteConn, query string, args []driver.NamedValue) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// The driver binds the values by their position in this statement.
	for i := range args {
		args[i].Ordinal = i + 1
	}
	rows, err := c.QueryContext(t.run, query, args)
	if err != nil {
		return err
	}
	return rows.Close()
}
