package sqlite

import (
	"context"
	"fmt"
	"math/bits"
	"strings"

	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/internal/aggrow"
)

// pending holds a transaction's journal entries, receipts and aggregates
// — the three rows every ingested event writes — until the transaction
// runs any other statement or commits (flush). Each table's rows are then
// written by a few multi-row INSERTs (one per power of two in the count,
// up to writeChunk rows each) instead of one statement per row: each
// statement is a trip through database/sql and cgo and a start of
// SQLite's program, which cost more than the row itself. Whatever reads
// or writes the tables next runs after the flush, so the transaction
// sees its own writes as before; a write the database refuses (a
// duplicate receipt) fails that next statement, or Update.
//
// The rows' values are kept one after the other in one slice per table,
// in the order of their statement's parameters, so that a statement's
// arguments are a part of it, not a copy: no slice per row, none per
// statement.
type pending struct {
	journal, receipts []any
	aggregates        []pendingAggregate
	// aggregate is where an aggregate's row sits in aggregates: a
	// later put of the same aggregate replaces it.
	aggregate map[storage.AggregateKey]int
	// inserts and updates hold the aggregates' values while they are
	// written.
	inserts, updates []any
}

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

func appendAggregateUpdateArgs(args []any, a *storage.Aggregate) []any {
	return append(args, a.Key.Provider, a.Key.Kind, a.Key.ID, a.State, a.ProviderStatus, a.Currency,
		a.Amount, a.Authorized, a.Captured, a.Refunded, a.AmountsUnknown, a.AmountKnown, a.CapturedRest, a.RefundedRest, a.Version,
		toMicros(a.CreatedAt), toMicros(a.UpdatedAt))
}

// rowWrites are every multi-row statement, for the writer to prepare.
func rowWrites() []string {
	var qs []string
	for _, w := range []rowWrite{journalWrite, receiptWrite, aggregateWrite, aggregateUpdate} {
		for n := 1; n <= writeChunk; n *= 2 {
			qs = append(qs, w.statements[n])
		}
	}
	return qs
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
	for _, w := range []struct {
		write rowWrite
		args  []any
	}{{journalWrite, journal}, {receiptWrite, receipts}, {aggregateWrite, p.inserts}, {aggregateUpdate, p.updates}} {
		if err := t.writeRows(ctx, w.write, w.args); err != nil {
			return err
		}
	}
	return nil
}

// writeRows inserts the rows whose values are args with the fewest
// statements of power-of-two sizes: 45 rows are written 32, 8, 4 and 1
// at a time.
func (t *tx) writeRows(ctx context.Context, w rowWrite, args []any) error {
	if len(args)%w.width != 0 {
		return fmt.Errorf("sqlite: write %s: %d values are not rows of %d", w.name, len(args), w.width)
	}
	for rows := len(args) / w.width; rows > 0; rows = len(args) / w.width {
		n := min(writeChunk, 1<<(bits.Len(uint(rows))-1))
		if err := t.write(ctx, w.statements[n], args[:n*w.width]); err != nil {
			return classify(fmt.Sprintf("write %d %s", n, w.name), err)
		}
		args = args[n*w.width:]
	}
	return nil
}
