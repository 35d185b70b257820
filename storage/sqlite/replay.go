package sqlite

import (
	"context"

	"github.com/paystate/paystate/storage"
)

// replayColumns are the journal columns a replay reads: not the redacted
// body, the body and chain hashes or the skipped list, whose reading (and, for skipped,
// JSON decoding) was most of what a row cost.
const replayColumns = `seq, provider, kind, aggregate_id, verdict, state_before, state_after,
	payload, received_at, layout`

// ReplayJournal returns nothing for a limit below one.
func (s *Store) ReplayJournal(ctx context.Context, key *storage.AggregateKey, after int64, limit int) ([]storage.JournalEntry, error) {
	if limit <= 0 {
		return nil, nil
	}
	q := `SELECT ` + replayColumns + ` FROM journal WHERE seq > ? ORDER BY seq LIMIT ?`
	args := []any{after, limit}
	if key != nil {
		q = `SELECT ` + replayColumns + ` FROM journal
			WHERE provider = ? AND kind = ? AND aggregate_id = ? AND seq > ?
			ORDER BY seq LIMIT ?`
		args = []any{key.Provider, key.Kind, key.ID, after, limit}
	}
	rows, err := s.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, classify("replay journal", err)
	}
	defer rows.Close()
	// A replay reads full pages of many rows: each row is scanned in place
	// into a slice allocated once, since allocating per row cost as much
	// as the scan.
	out := make([]storage.JournalEntry, 0, min(limit, 4096))
	dest := make([]any, 10)
	var received, layout int64
	for rows.Next() {
		out = append(out, storage.JournalEntry{})
		e := &out[len(out)-1]
		dest[0], dest[1], dest[2], dest[3], dest[4] = &e.Seq, &e.Key.Provider, &e.Key.Kind, &e.Key.ID, &e.Verdict
		dest[5], dest[6], dest[7], dest[8], dest[9] = &e.StateBefore, &e.StateAfter, &e.Payload, &received, &layout
		if err := rows.Scan(dest...); err != nil {
			return nil, classify("replay journal", err)
		}
		p, err := decodePayload(layout, e.Payload)
		if err != nil {
			return nil, classify("replay journal", err)
		}
		e.Payload = nilIfEmpty(p)
		e.ReceivedAt = fromMicros(received)
	}
	if err := rows.Err(); err != nil {
		return nil, classify("replay journal", err)
	}
	return out, nil
}
