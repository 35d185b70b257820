package postgres

import (
	"context"
	"strconv"

	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/internal/listq"
	"github.com/paystate/paystate/storage/internal/view"
)

// listDialect compares key text in the "C" collation of the key columns.
// PostgreSQL's planner has statistics to choose between the primary key
// and aggregates_by_state: it needs no hint.
var listDialect = listq.Dialect{
	Param:   func(n int) string { return "$" + strconv.Itoa(n) },
	Text:    func(p string) string { return p + `::text COLLATE "C"` },
	NoIndex: func(column string) string { return column },
}

// ListAggregates implements storage.Reader.
func (s *Store) ListAggregates(ctx context.Context, f storage.AggregateFilter, after storage.AggregateKey, limit int) ([]storage.HeldAggregate, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	if limit <= 0 {
		return nil, nil
	}
	for _, t := range []string{f.Provider, f.Kind, f.State, after.Provider, after.Kind, after.ID} {
		if !validText(t) {
			return nil, nil // nothing stored can match text PostgreSQL refuses
		}
	}
	where, args := listq.Where(listDialect, f, toMicros(f.UpdatedSince), toMicros(f.UpdatedUntil), after)
	rows, err := s.reader.Query(ctx, `SELECT `+aggregateColumns+`, `+heldCount+` FROM aggregates a WHERE `+where+`
		ORDER BY provider, kind, id LIMIT `+strconv.Itoa(limit), args...)
	out, err := collect(rows, err, func(row scanner) (storage.HeldAggregate, error) {
		return view.Held(row, func(r view.Scanner) (storage.Aggregate, error) { return scanAggregate(r) })
	})
	return out, classify("list aggregates", err)
}
