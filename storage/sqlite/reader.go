package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/internal/checkpoints"
)

// The Reader methods run on the query_only pool. Each is one statement,
// so each sees one committed snapshot; in WAL mode none of them waits for
// the writer, and none sees a transaction the writer has not committed.

func (s *Store) Aggregate(ctx context.Context, key storage.AggregateKey) (storage.Aggregate, error) {
	a, err := scanAggregate(s.reader.QueryRowContext(ctx,
		`SELECT `+aggregateColumns+` FROM aggregates WHERE provider = ? AND kind = ? AND id = ?`,
		key.Provider, key.Kind, key.ID))
	if err != nil {
		return storage.Aggregate{}, classify(fmt.Sprintf("aggregate %v", key), err)
	}
	return a, nil
}

// viewQuery reads an aggregate (child false) and its children (child true)
// with their held counts in one statement, so from one snapshot and in
// one trip through cgo. Each count is a search of deferred_by_aggregate;
// the children come from aggregates_by_parent (which holds only
// aggregates with a parent: no aggregate has an empty id, so the term
// parent_id <> ” changes no answer). view.Read sorts the children.
const viewQuery = `SELECT ` + aggregateColumns + `, ` + heldCount + `, FALSE
	FROM aggregates a WHERE provider = ?1 AND kind = ?2 AND id = ?3
	UNION ALL
	SELECT ` + aggregateColumns + `, ` + heldCount + `, TRUE
	FROM aggregates a WHERE parent_provider = ?1 AND parent_kind = ?2 AND parent_id = ?3 AND parent_id <> ''`

const heldCount = `(SELECT COUNT(*) FROM deferred d
	WHERE d.provider = a.provider AND d.kind = a.kind AND d.aggregate_id = a.id AND d.expired_seq = 0)`

// AggregateView implements storage.Reader.
func (s *Store) AggregateView(ctx context.Context, key storage.AggregateKey) (storage.AggregateView, error) {
	return s.AggregateViewWithin(ctx, key, 0)
}

// AggregateViewWithin implements storage.ViewBounder.
func (s *Store) AggregateViewWithin(ctx context.Context, key storage.AggregateKey, bound time.Duration) (storage.AggregateView, error) {
	fail := func(err error) error { return classify(fmt.Sprintf("aggregate view %v", key), err) }
	if err := ctx.Err(); err != nil {
		return storage.AggregateView{}, fail(err)
	}
	pc, err := s.views.get(ctx, bound)
	if err != nil {
		return storage.AggregateView{}, fail(err)
	}
	v, found, err := pc.read(ctx, key)
	s.views.put(pc, errors.Is(err, driver.ErrBadConn))
	if err != nil {
		return storage.AggregateView{}, fail(err)
	}
	if !found {
		return storage.AggregateView{}, fail(sql.ErrNoRows)
	}
	return v, nil
}

// Children implements storage.Reader.
func (s *Store) Children(ctx context.Context, parent storage.AggregateKey) ([]storage.Aggregate, error) {
	// aggregates_by_parent holds only aggregates with a parent; the
	// children of a parent with an empty id (which no aggregate has) are
	// found by reading every aggregate, as before the index was partial.
	query := `SELECT ` + aggregateColumns + ` FROM aggregates
		WHERE parent_provider = ? AND parent_kind = ? AND parent_id = ? AND parent_id <> '' ORDER BY kind, id`
	if parent.ID == "" {
		query = strings.Replace(query, ` AND parent_id <> ''`, ``, 1)
	}
	rows, err := s.reader.QueryContext(ctx, query, parent.Provider, parent.Kind, parent.ID)
	if err != nil {
		return nil, classify("children", err)
	}
	return collect(rows, scanAggregate, "children")
}

func (s *Store) AggregatesByReference(ctx context.Context, ref string) ([]storage.Aggregate, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT `+aggregateColumns+` FROM aggregates
		WHERE merchant_reference = ? ORDER BY provider, kind, id`, ref)
	if err != nil {
		return nil, classify("aggregates by reference", err)
	}
	return collect(rows, scanAggregate, "aggregates by reference")
}

// Journal returns nothing for a limit below one.
func (s *Store) Journal(ctx context.Context, key *storage.AggregateKey, after int64, limit int) ([]storage.JournalEntry, error) {
	if limit <= 0 {
		return nil, nil
	}
	q := `SELECT ` + journalColumns + ` FROM journal WHERE seq > ? ORDER BY seq LIMIT ?`
	args := []any{after, limit}
	if key != nil {
		q = `SELECT ` + journalColumns + ` FROM journal
			WHERE provider = ? AND kind = ? AND aggregate_id = ? AND seq > ?
			ORDER BY seq LIMIT ?`
		args = []any{key.Provider, key.Kind, key.ID, after, limit}
	}
	rows, err := s.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, classify("journal", err)
	}
	return collect(rows, scanJournal, "journal")
}

// Head reads chain_head, which Append moves in the same transaction as it
// inserts; it is deliberately not derived from the journal's last row.
func (s *Store) Head(ctx context.Context) (storage.ChainHead, error) {
	var h storage.ChainHead
	err := s.reader.QueryRowContext(ctx, `SELECT seq, hash FROM chain_head WHERE id = 1`).Scan(&h.Seq, hashText{&h.Hash})
	if err != nil {
		return storage.ChainHead{}, classify("chain head", err)
	}
	return h, nil
}

func (s *Store) PendingDeferred(ctx context.Context, key storage.AggregateKey) (int, error) {
	var n int
	err := s.reader.QueryRowContext(ctx,
		`SELECT COUNT(*) FROM deferred WHERE provider = ? AND kind = ? AND aggregate_id = ? AND expired_seq = 0`,
		key.Provider, key.Kind, key.ID).Scan(&n)
	if err != nil {
		return 0, classify(fmt.Sprintf("pending deferred %v", key), err)
	}
	return n, nil
}

// ExpiredDeferred orders by seq (the order the events were deferred in),
// like DeferredFor. It returns nothing for a limit below one.
func (s *Store) ExpiredDeferred(ctx context.Context, now time.Time, limit int) ([]storage.DeferredEvent, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT `+deferredColumns+` FROM deferred
		WHERE expires_at <= ? AND expired_seq = 0 ORDER BY seq LIMIT ?`, toMicros(now), limit)
	if err != nil {
		return nil, classify("expired deferred", err)
	}
	return collect(rows, scanDeferred, "expired deferred")
}

// Receipts walks the primary key in order. It returns nothing for a limit
// below one.
func (s *Store) Receipts(ctx context.Context, after storage.ReceiptKey, limit int) ([]storage.StoredReceipt, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT provider, dedupe_key, seq, body_sha256 FROM receipts
		WHERE (provider, dedupe_key) > (?, ?) ORDER BY provider, dedupe_key LIMIT ?`,
		after.Provider, after.DedupeKey, limit)
	if err != nil {
		return nil, classify("receipts", err)
	}
	return collect(rows, func(r scanner) (storage.StoredReceipt, error) {
		var sr storage.StoredReceipt
		err := r.Scan(&sr.Key.Provider, &sr.Key.DedupeKey, &sr.Seq, hashText{&sr.BodySHA256})
		return sr, err
	}, "receipts")
}

// Deferred returns nothing for a limit below one.
func (s *Store) Deferred(ctx context.Context, after int64, limit int) ([]storage.DeferredEvent, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT `+deferredColumns+` FROM deferred
		WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, classify("deferred", err)
	}
	return collect(rows, scanDeferred, "deferred")
}

// Checkpoints returns nothing for a limit below one.
func (s *Store) Checkpoints(ctx context.Context, after int64, limit int) ([]storage.Checkpoint, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT `+checkpoints.Columns+` FROM checkpoints
		WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, classify("checkpoints", err)
	}
	return collect(rows, scanCheckpoint, "checkpoints")
}

func (s *Store) LatestCheckpoint(ctx context.Context) (storage.Checkpoint, error) {
	c, err := checkpoints.Scan(s.reader.QueryRowContext(ctx,
		`SELECT `+checkpoints.Columns+` FROM checkpoints ORDER BY seq DESC LIMIT 1`))
	if err != nil {
		return storage.Checkpoint{}, classify("latest checkpoint", err)
	}
	return c, nil
}

func scanCheckpoint(r scanner) (storage.Checkpoint, error) { return checkpoints.Scan(r) }
