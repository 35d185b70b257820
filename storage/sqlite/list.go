package sqlite

import (
	"context"
	"strconv"

	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/internal/listq"
	"github.com/paystate/paystate/storage/internal/view"
)

// listDialect: "+kind" is SQLite's way of keeping a term from picking an
// index.
var listDialect = listq.Dialect{
	Param:   func(int) string { return "?" },
	Text:    func(p string) string { return p },
	NoIndex: func(column string) string { return "+" + column },
}

// ListAggregates implements storage.Reader.
func (s *Store) ListAggregates(ctx context.Context, f storage.AggregateFilter, after storage.AggregateKey, limit int) ([]storage.HeldAggregate, error) {
	if limit <= 0 {
		return nil, nil
	}
	q, args := listQuery(f, after, limit)
	rows, err := s.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, classify("list aggregates", err)
	}
	return collect(rows, scanHeld, "list aggregates")
}

func listQuery(f storage.AggregateFilter, after storage.AggregateKey, limit int) (string, []any) {
	where, args := listq.Where(listDialect, f, toMicros(f.UpdatedSince), toMicros(f.UpdatedUntil), after)
	return `SELECT ` + aggregateColumns + `, ` + heldCount + ` FROM aggregates a WHERE ` + where + `
		ORDER BY provider, kind, id LIMIT ` + strconv.Itoa(limit), args
}

func scanHeld(row scanner) (storage.HeldAggregate, error) {
	return view.Held(row, func(r view.Scanner) (storage.Aggregate, error) { return scanAggregate(r) })
}
