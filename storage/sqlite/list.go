package sqlite

import (
	"context"

	"github.com/paystate/paystate/storage"
)

// ListAggregates implements storage.Reader.
func (s *Store) ListAggregates(ctx context.Context, f storage.AggregateFilter, after storage.AggregateKey, limit int) ([]storage.Aggregate, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT `+aggregateColumns+` FROM aggregates
		WHERE (?1 = '' OR provider = ?1) AND (?2 = '' OR kind = ?2) AND (?3 = '' OR state = ?3)
		AND (?4 = 0 OR updated_at >= ?4) AND (?5 = 0 OR updated_at < ?5)
		AND (provider, kind, id) > (?6, ?7, ?8)
		ORDER BY provider, kind, id LIMIT ?9`,
		f.Provider, f.Kind, f.State, toMicros(f.UpdatedSince), toMicros(f.UpdatedUntil),
		after.Provider, after.Kind, after.ID, limit)
	if err != nil {
		return nil, classify("list aggregates", err)
	}
	return collect(rows, scanAggregate, "list aggregates")
}
