package sqlite

import (
	"context"
	"fmt"
	"math/bits"
	"strings"

	"github.com/paystate/paystate/storage"
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
type pending struct {
	journal, receipts, aggregates [][]any
	// aggregate is where an aggregate's row sits in aggregates: a
	// later put of the same aggregate replaces it.
	aggregate map[storage.AggregateKey]int
}

func (p *pending) empty() bool {
	return len(p.journal) == 0 && len(p.receipts) == 0 && len(p.aggregates) == 0
}

func (p *pending) putAggregate(key storage.AggregateKey, row []any) {
	if i, ok := p.aggregate[key]; ok {
		p.aggregates[i] = row
		return
	}
	if p.aggregate == nil {
		p.aggregate = map[storage.AggregateKey]int{}
	}
	p.aggregate[key] = len(p.aggregates)
	p.aggregates = append(p.aggregates, row)
}

// writeChunk bounds the rows of one INSERT (24 columns a journal row:
// far under SQLite's 32 766 parameters).
const writeChunk = 64

// A multi-row write: its statements by row count.
type rowWrite struct {
	name       string
	statements map[int]string
}

func multiRow(name, head string, width int, tail string) rowWrite {
	w := rowWrite{name: name, statements: map[int]string{}}
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
		strings.Count(aggregateColumns, ",")+1, `
	ON CONFLICT (provider, kind, id) DO UPDATE SET
		merchant_reference = excluded.merchant_reference,
		parent_provider = excluded.parent_provider,
		parent_kind = excluded.parent_kind,
		parent_id = excluded.parent_id,
		state = excluded.state,
		provider_status = excluded.provider_status,
		currency = excluded.currency,
		amount = excluded.amount,
		authorized = excluded.authorized,
		captured = excluded.captured,
		refunded = excluded.refunded,
		amounts_unknown = excluded.amounts_unknown,
		version = excluded.version,
		created_at = excluded.created_at,
		updated_at = excluded.updated_at`)
)

// rowWrites are every multi-row statement, for the writer to prepare.
func rowWrites() []string {
	var qs []string
	for _, w := range []rowWrite{journalWrite, receiptWrite, aggregateWrite} {
		for n := 1; n <= writeChunk; n *= 2 {
			qs = append(qs, w.statements[n])
		}
	}
	return qs
}

// flush writes what is pending, journal first. It runs its statements
// itself (not through exec, which flushes).
func (t *tx) flush(ctx context.Context) error {
	if t.pending.empty() {
		return nil
	}
	p := t.pending
	t.pending = pending{}
	for _, w := range []struct {
		write rowWrite
		rows  [][]any
	}{{journalWrite, p.journal}, {receiptWrite, p.receipts}, {aggregateWrite, p.aggregates}} {
		if err := t.writeRows(ctx, w.write, w.rows); err != nil {
			return err
		}
	}
	return nil
}

// writeRows inserts rows with the fewest statements of power-of-two
// sizes: 45 rows are written 32, 8, 4 and 1 at a time.
func (t *tx) writeRows(ctx context.Context, w rowWrite, rows [][]any) error {
	for len(rows) > 0 {
		n := min(writeChunk, 1<<(bits.Len(uint(len(rows)))-1))
		args := make([]any, 0, n*len(rows[0]))
		for _, r := range rows[:n] {
			args = append(args, r...)
		}
		if err := t.write(ctx, w.statements[n], args); err != nil {
			return classify(fmt.Sprintf("write %d %s", n, w.name), err)
		}
		rows = rows[n:]
	}
	return nil
}
