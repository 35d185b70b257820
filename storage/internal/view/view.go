// Package view assembles a storage.AggregateView from the rows of a
// backend's view query. Both backends share the query's shape, so they
// share its reading.
package view

import (
	"cmp"
	"slices"
	"strings"

	"github.com/paystate/paystate/storage"
)

// Rows is what both backends' result sets offer.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// Read reads rows whose columns are an aggregate's (read by scan), its
// held count, and whether it is a child (rather than the aggregate asked
// for). found is false when no row was the aggregate itself.
//
// Children are sorted here, in byte order (the order of SQLite's BINARY
// and PostgreSQL's "C" collation), not by an ORDER BY: SQLite re-plans a
// statement that searches a non-unique index with a bound parameter and
// has an ORDER BY or LIMIT every time its parameters are bound again, and
// the driver binds them on every execution.
func Read(rows Rows, scan func(Rows) (storage.Aggregate, error)) (v storage.AggregateView, found bool, err error) {
	for rows.Next() {
		var h storage.HeldAggregate
		var child bool
		if h.Aggregate, err = scan(extra{rows, []any{&h.Pending, &child}}); err != nil {
			return storage.AggregateView{}, false, err
		}
		if child {
			v.Children = append(v.Children, h)
		} else {
			v.HeldAggregate, found = h, true
		}
	}
	if err := rows.Err(); err != nil {
		return storage.AggregateView{}, false, err
	}
	SortChildren(v.Children)
	return v, found, nil
}

// SortChildren sorts a view's children by (kind, id) in byte order; see
// Read for why a query does not.
func SortChildren(children []storage.HeldAggregate) {
	slices.SortFunc(children, func(x, y storage.HeldAggregate) int {
		return cmp.Or(strings.Compare(x.Key.Kind, y.Key.Kind), strings.Compare(x.Key.ID, y.Key.ID))
	})
}

// Scanner is one row.
type Scanner interface {
	Scan(dest ...any) error
}

// Held scans a row whose columns are an aggregate's (read by scan) and
// then its held count.
func Held(row Scanner, scan func(Scanner) (storage.Aggregate, error)) (storage.HeldAggregate, error) {
	var h storage.HeldAggregate
	var err error
	h.Aggregate, err = scan(extraScan{row, []any{&h.Pending}})
	return h, err
}

type extraScan struct {
	Scanner
	dest []any
}

func (e extraScan) Scan(dest ...any) error { return e.Scanner.Scan(append(dest, e.dest...)...) }

// extra scans the columns that follow an aggregate's into its dest.
type extra struct {
	Rows
	dest []any
}

func (e extra) Scan(dest ...any) error { return e.Rows.Scan(append(dest, e.dest...)...) }
