// Package lookup reads the rows of a backend's Tx.Lookup statements into
// storage.Lookups. Both backends share the statements' shape, so they
// share their reading.
package lookup

import "github.com/paystate/paystate/storage"

// Rows is what both backends' result sets offer.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// New returns Lookups with empty maps.
func New() storage.Lookups {
	return storage.Lookups{
		Receipts:   map[storage.ReceiptKey]storage.Receipt{},
		Aggregates: map[storage.AggregateKey]storage.Aggregate{},
		Held:       map[storage.AggregateKey]bool{},
	}
}

// Receipts reads rows of (provider, dedupe key, seq, body SHA-256) into l.
func Receipts(rows Rows, l storage.Lookups) error {
	for rows.Next() {
		var k storage.ReceiptKey
		var r storage.Receipt
		if err := rows.Scan(&k.Provider, &k.DedupeKey, &r.Seq, &r.BodySHA256); err != nil {
			return err
		}
		l.Receipts[k] = r
	}
	return rows.Err()
}

// Aggregates reads rows of (exists, an aggregate's columns, read by scan)
// into l: an aggregate when exists, else a key with events held.
func Aggregates(rows Rows, scan func(Rows) (storage.Aggregate, error), l storage.Lookups) error {
	for rows.Next() {
		var exists bool
		a, err := scan(flagged{rows, &exists})
		if err != nil {
			return err
		}
		if exists {
			l.Aggregates[a.Key] = a
		} else {
			l.Held[a.Key] = true
		}
	}
	return rows.Err()
}

// flagged scans the flag column, then the columns asked for.
type flagged struct {
	Rows
	flag *bool
}

func (f flagged) Scan(dest ...any) error {
	return f.Rows.Scan(append([]any{f.flag}, dest...)...)
}
