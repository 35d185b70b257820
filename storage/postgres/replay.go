package postgres

import (
	"context"

	"github.com/paystate/paystate/storage"
)

// replayColumns are the journal columns a replay reads: not the redacted
// body, the body and chain hashes or the skipped list, which are most of a row's bytes.
const replayColumns = `seq, provider, kind, aggregate_id, verdict, state_before, state_after,
	payload, received_at`

// ReplayJournal returns nothing for a limit below one.
func (s *Store) ReplayJournal(ctx context.Context, key *storage.AggregateKey, after int64, limit int) ([]storage.JournalEntry, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	if limit <= 0 || (key != nil && !validKey(*key)) {
		return nil, nil
	}
	after = max(after, 0) // unsealed entries are not in the journal yet
	q := `SELECT ` + replayColumns + ` FROM journal WHERE seq > $1 ORDER BY seq LIMIT $2`
	args := []any{after, limit}
	if key != nil {
		q = `SELECT ` + replayColumns + ` FROM journal
			WHERE provider = $1 AND kind = $2 AND aggregate_id = $3 AND seq > $4
			ORDER BY seq LIMIT $5`
		args = []any{key.Provider, key.Kind, key.ID, after, limit}
	}
	rows, err := s.reader.Query(ctx, q, args...)
	if err != nil {
		return nil, classify("replay journal", err)
	}
	defer rows.Close()
	// Each row is scanned in place into a slice allocated once per page.
	out := make([]storage.JournalEntry, 0, min(limit, 4096))
	var received int64
	for rows.Next() {
		out = append(out, storage.JournalEntry{})
		e := &out[len(out)-1]
		err := rows.Scan(&e.Seq, &e.Key.Provider, &e.Key.Kind, &e.Key.ID, &e.Verdict, &e.StateBefore, &e.StateAfter,
			&e.Payload, &received)
		if err != nil {
			return nil, classify("replay journal", err)
		}
		e.Payload = nilIfEmpty(e.Payload)
		e.ReceivedAt = fromMicros(received)
	}
	if err := rows.Err(); err != nil {
		return nil, classify("replay journal", err)
	}
	return out, nil
}
