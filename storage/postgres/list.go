package postgres

import (
	"context"

	"github.com/paystate/paystate/storage"
)

// ListAggregates implements storage.Reader.
func (s *Store) ListAggregates(ctx context.Context, f storage.AggregateFilter, after storage.AggregateKey, limit int) ([]storage.Aggregate, error) {
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
	rows, err := s.reader.Query(ctx, `SELECT `+aggregateColumns+` FROM aggregates
		WHERE ($1 = '' OR provider = $1) AND ($2 = '' OR kind = $2) AND ($3 = '' OR state = $3)
		AND ($4::bigint = 0 OR updated_at >= $4) AND ($5::bigint = 0 OR updated_at < $5)
		AND (provider, kind, id) > ($6::text COLLATE "C", $7::text COLLATE "C", $8::text COLLATE "C")
		ORDER BY provider, kind, id LIMIT $9`,
		f.Provider, f.Kind, f.State, toMicros(f.UpdatedSince), toMicros(f.UpdatedUntil),
		after.Provider, after.Kind, after.ID, limit)
	out, err := collect(rows, err, scanAggregate)
	return out, classify("list aggregates", err)
}
