package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/internal/lookup"
)

// receiptLookup and aggregateLookup take the keys as parallel arrays
// (unnest), so that one statement serves a batch of any size. The keys'
// text is compared as COLLATE "C", the columns' collation, which also lets
// the primary keys serve. FOR UPDATE may not stand on the nullable side of
// an outer join nor beside UNION, so the aggregates are locked inside
// their own WITH query. An aggregate row comes with exists = TRUE; a key
// with events held comes back as a second row with exists = FALSE and the
// rest zero. A receipt's seq is translated from the handle it was written
// with to the entry's sequence once the entry is sealed (reader.go).
const (
	receiptLookup = `SELECT r.provider, r.dedupe_key, ` + receiptSeq + `, r.body_sha256
		FROM unnest($1::text[], $2::text[]) AS k(provider, dedupe_key)
		JOIN receipts r ON r.provider = k.provider COLLATE "C" AND r.dedupe_key = k.dedupe_key COLLATE "C"
		LEFT JOIN journal j ON r.seq < 0 AND j.handle = r.seq`
	aggregateLookup = `WITH k AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) AS k(provider, kind, id)),
		a AS (SELECT a.* FROM k JOIN aggregates a
			ON a.provider = k.provider COLLATE "C" AND a.kind = k.kind COLLATE "C" AND a.id = k.id COLLATE "C"
			FOR UPDATE OF a)
		SELECT TRUE, ` + aggregateColumns + ` FROM a
		UNION ALL
		SELECT FALSE, k.provider, k.kind, k.id, '', '', '', '', '', '', '', 0, 0, 0, 0, FALSE, FALSE, 0, 0, 0, 0, 0
		FROM k WHERE EXISTS (SELECT 1 FROM deferred d WHERE d.provider = k.provider COLLATE "C"
			AND d.kind = k.kind COLLATE "C" AND d.aggregate_id = k.id COLLATE "C")`
)

// Lookup implements storage.Tx: two statements, in one round trip, whatever
// the number of keys. Keys with text PostgreSQL cannot hold
// name nothing stored and are left out.
func (t *tx) Lookup(ctx context.Context, receipts []storage.ReceiptKey, aggregates []storage.AggregateKey) (storage.Lookups, error) {
	var rp, rd []string
	for _, k := range receipts {
		if validText(k.Provider) && validText(k.DedupeKey) {
			rp, rd = append(rp, k.Provider), append(rd, k.DedupeKey)
		}
	}
	var ap, ak, ai []string
	for _, k := range aggregates {
		if validKey(k) {
			ap, ak, ai = append(ap, k.Provider), append(ak, k.Kind), append(ai, k.ID)
		}
	}
	// The aggregates' advisory locks first, in a statement of their own:
	// what the lookups read is then what the keys' previous writers
	// committed.
	t.lockKeys(aggregates...)
	l := lookup.New()
	err := t.send(ctx, statement{receiptLookup, []any{rp, rd}, func(res pgx.BatchResults) error {
		return t.classify("lookup receipts", read(res, func(rows pgx.Rows) error { return lookup.Receipts(rows, l) }))
	}}, statement{aggregateLookup, []any{ap, ak, ai}, func(res pgx.BatchResults) error {
		return t.classify("lookup aggregates", read(res, func(rows pgx.Rows) error {
			return lookup.Aggregates(rows, scanLookupAggregate, l)
		}))
	}})
	if err != nil {
		return storage.Lookups{}, err
	}
	return l, nil
}

// read reads the next result of a batch.
func read(res pgx.BatchResults, fn func(pgx.Rows) error) error {
	rows, err := res.Query()
	if err != nil {
		return err
	}
	defer rows.Close()
	return fn(rows)
}

func scanLookupAggregate(rows lookup.Rows) (storage.Aggregate, error) { return scanAggregate(rows) }
