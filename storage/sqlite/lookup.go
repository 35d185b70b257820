package sqlite

import (
	"context"
	"encoding/hex"
	"strings"

	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/internal/lookup"
)

// Lookup reads a batch's receipts in one statement and its aggregates with
// their held markers in another (per lookupChunk keys), instead of two or
// three statements per event: each key is a search of a primary key or of
// deferred_by_aggregate, far cheaper than a trip of its own through
// database/sql and cgo, and only what exists comes back. Like LockAggregate
// it is a plain read: the transaction already holds SQLite's write lock.
func (t *tx) Lookup(ctx context.Context, receipts []storage.ReceiptKey, aggregates []storage.AggregateKey) (storage.Lookups, error) {
	l := lookup.New()
	readReceipts := func() error {
		return inChunks(receipts, func(keys []storage.ReceiptKey) error {
			args := make([]any, 0, 2*lookupSize(len(keys)))
			for _, k := range padded(keys) {
				args = append(args, k.Provider, k.DedupeKey)
			}
			rows, err := t.query(ctx, receiptLookups[lookupSize(len(keys))], args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			return lookup.Receipts(rows, l)
		})
	}
	var err error
	if len(aggregates) == 0 {
		// Receipts alone (in a batch, the receipt of a snapshot whose
		// aggregate an earlier event of the batch moved) are read without
		// writing the pending rows first, which would break the batch's
		// rows into small INSERTs around every such lookup: the receipts
		// this transaction has put and not written yet are answered from
		// pending, and only the others are read.
		receipts = t.pending.lookupReceipts(receipts, l)
		err = t.withoutFlush(readReceipts)
	} else {
		err = readReceipts()
	}
	if err != nil {
		return storage.Lookups{}, classify("lookup receipts", err)
	}
	err = inChunks(aggregates, func(keys []storage.AggregateKey) error {
		args := make([]any, 0, 3*lookupSize(len(keys)))
		for _, k := range padded(keys) {
			args = append(args, k.Provider, k.Kind, k.ID)
		}
		rows, err := t.query(ctx, aggregateLookups[lookupSize(len(keys))], args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		return lookup.Aggregates(rows, scanLookupAggregate, l)
	})
	if err != nil {
		return storage.Lookups{}, classify("lookup aggregates", err)
	}
	for _, a := range l.Aggregates {
		t.saw(&a)
	}
	return l, nil
}

// lookupReceipts puts in l the receipts of keys that are pending, as the
// receipt lookup would read them once written, and returns the other
// keys. A pending receipt is not stored yet (receipts are only ever
// inserted), so it is the only one of its key.
func (p *pending) lookupReceipts(keys []storage.ReceiptKey, l storage.Lookups) []storage.ReceiptKey {
	if len(p.receipts) == 0 {
		return keys
	}
	var rest []storage.ReceiptKey
	for _, k := range keys {
		found := false
		for i := 0; i+receiptWrite.width <= len(p.receipts); i += receiptWrite.width {
			if r := p.receipts[i:]; r[0].Value == any(k.Provider) && r[1].Value == any(k.DedupeKey) {
				l.Receipts[k] = storage.Receipt{Seq: r[2].Value.(int64), BodySHA256: hashAsTextValue(r[3].Value)}
				found = true
				break
			}
		}
		if !found {
			rest = append(rest, k)
		}
	}
	return rest
}

func scanLookupAggregate(rows lookup.Rows) (storage.Aggregate, error) { return scanAggregate(rows) }

// lookupChunk bounds the keys of one statement, well under SQLite's limit
// of 32 766 parameters. A statement takes a power-of-two number of keys,
// the last one repeated to fill it (a repeat finds the same rows again),
// so that a few statements, prepared once, serve every batch size.
const lookupChunk = 512

func lookupSize(n int) int {
	size := 1
	for size < n {
		size *= 2
	}
	return size
}

func padded[K any](keys []K) []K {
	for len(keys) < lookupSize(len(keys)) {
		keys = append(keys, keys[len(keys)-1])
	}
	return keys
}

func inChunks[K any](keys []K, fn func([]K) error) error {
	for len(keys) > 0 {
		n := min(len(keys), lookupChunk)
		// The chunk gets its own backing array: padded appends to it.
		if err := fn(append([]K(nil), keys[:n]...)); err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}

// receiptLookups and aggregateLookups hold the statements by key count.
// The keys are a table of VALUES joined to the indexes; CROSS JOIN keeps
// SQLite from scanning the big table instead (it does for row-value IN).
// An aggregate row comes with exists = TRUE; a key with events held comes
// back as a second row with exists = FALSE and the rest zero.
var receiptLookups, aggregateLookups = func() (map[int]string, map[int]string) {
	rs, as := map[int]string{}, map[int]string{}
	for n := 1; n <= lookupChunk; n *= 2 {
		rs[n] = `WITH k(provider, dedupe_key) AS (VALUES ` + placeholders(n, 2) + `)
			SELECT r.provider, r.dedupe_key, r.seq, ` + hashAsText("r.body_sha256") + `
			FROM k CROSS JOIN receipts r ON r.provider = k.provider AND r.dedupe_key = k.dedupe_key`
		as[n] = `WITH k(provider, kind, id) AS (VALUES ` + placeholders(n, 3) + `)
			SELECT TRUE, ` + prefixed("a.", aggregateColumns) + `
			FROM k CROSS JOIN aggregates a ON a.provider = k.provider AND a.kind = k.kind AND a.id = k.id
			UNION ALL
			SELECT FALSE, k.provider, k.kind, k.id, '', '', '', '', '', '', '', 0, 0, 0, 0, FALSE, FALSE, 0, 0, 0, 0, 0
			FROM k WHERE EXISTS (SELECT 1 FROM deferred d
				WHERE d.provider = k.provider AND d.kind = k.kind AND d.aggregate_id = k.id)`
	}
	return rs, as
}()

// hashAsText is a hash column as the hex text hashText would make of it
// (body.go), in SQL, for a scan shared with PostgreSQL.
func hashAsText(col string) string {
	return `CASE WHEN typeof(` + col + `) = 'blob' THEN lower(hex(` + col + `)) ELSE ` + col + ` END`
}

// hashAsTextValue is hashAsText of a value hashValue made.
func hashAsTextValue(v any) string {
	if b, ok := v.([]byte); ok {
		return hex.EncodeToString(b)
	}
	return v.(string)
}

// placeholders is n rows of width parameters: (?, ?), (?, ?), ...
func placeholders(n, width int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", width), ", ") + ")"
	return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

// prefixed qualifies every column of a column list.
func prefixed(prefix, columns string) string {
	fields := strings.Split(columns, ",")
	for i, f := range fields {
		fields[i] = prefix + strings.TrimSpace(f)
	}
	return strings.Join(fields, ", ")
}
