package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/internal/checkpoints"
	"github.com/paystate/paystate/storage/internal/view"
)

// The Reader methods run on the read pool, outside any write transaction.
// Each is one statement, so each sees one committed snapshot; plain reads
// take no row locks in PostgreSQL, so none of them waits for a writer, and
// none sees a transaction that has not committed.
//
// A key or reference PostgreSQL text cannot hold (NUL, invalid UTF-8)
// cannot have been stored, so it is not found rather than an error.

func (s *Store) Aggregate(ctx context.Context, key storage.AggregateKey) (storage.Aggregate, error) {
	op := fmt.Sprintf("aggregate %v", key)
	if s.closed.Load() {
		return storage.Aggregate{}, errClosed
	}
	if !validKey(key) {
		return storage.Aggregate{}, fmt.Errorf("postgres: %s: %w", op, storage.ErrNotFound)
	}
	a, err := scanAggregate(s.reader.QueryRow(ctx,
		`SELECT `+aggregateColumns+` FROM aggregates WHERE provider = $1 AND kind = $2 AND id = $3`,
		key.Provider, key.Kind, key.ID))
	if err != nil {
		return storage.Aggregate{}, classify(op, err)
	}
	return a, nil
}

// viewQuery reads an aggregate (child false) and its children (child true)
// with their held counts in one statement, so from one snapshot. Each
// count is a search of deferred_by_aggregate; the children come from
// aggregates_by_parent. view.Read sorts the children.
const viewQuery = `SELECT ` + aggregateColumns + `, ` + heldCount + `, FALSE
	FROM aggregates a WHERE provider = $1 AND kind = $2 AND id = $3
	UNION ALL
	SELECT ` + aggregateColumns + `, ` + heldCount + `, TRUE
	FROM aggregates a WHERE parent_provider = $1 AND parent_kind = $2 AND parent_id = $3`

const heldCount = `(SELECT COUNT(*) FROM deferred d
	WHERE d.provider = a.provider AND d.kind = a.kind AND d.aggregate_id = a.id AND d.expired_seq = 0)`

// AggregateView implements storage.Reader.
func (s *Store) AggregateView(ctx context.Context, key storage.AggregateKey) (storage.AggregateView, error) {
	fail := func(err error) error { return classify(fmt.Sprintf("aggregate view %v", key), err) }
	if s.closed.Load() {
		return storage.AggregateView{}, errClosed
	}
	if !validKey(key) {
		return storage.AggregateView{}, fail(pgx.ErrNoRows)
	}
	rows, err := s.reader.Query(ctx, viewQuery, key.Provider, key.Kind, key.ID)
	if err != nil {
		return storage.AggregateView{}, fail(err)
	}
	defer rows.Close()
	v, found, err := view.Read(rows, func(r view.Rows) (storage.Aggregate, error) { return scanAggregate(r) })
	if err != nil {
		return storage.AggregateView{}, fail(err)
	}
	if !found {
		return storage.AggregateView{}, fail(pgx.ErrNoRows)
	}
	return v, nil
}

// Children implements storage.Reader.
func (s *Store) Children(ctx context.Context, parent storage.AggregateKey) ([]storage.Aggregate, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	if !validKey(parent) {
		return nil, nil
	}
	rows, err := s.reader.Query(ctx, `SELECT `+aggregateColumns+` FROM aggregates
		WHERE parent_provider = $1 AND parent_kind = $2 AND parent_id = $3 ORDER BY kind, id`,
		parent.Provider, parent.Kind, parent.ID)
	out, err := collect(rows, err, scanAggregate)
	return out, classify("children", err)
}

func (s *Store) AggregatesByReference(ctx context.Context, ref string) ([]storage.Aggregate, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	if !validText(ref) {
		return nil, nil
	}
	rows, err := s.reader.Query(ctx, `SELECT `+aggregateColumns+` FROM aggregates
		WHERE merchant_reference = $1 ORDER BY provider, kind, id`, ref)
	out, err := collect(rows, err, scanAggregate)
	return out, classify("aggregates by reference", err)
}

// Journal returns nothing for a limit below one.
func (s *Store) Journal(ctx context.Context, key *storage.AggregateKey, after int64, limit int) ([]storage.JournalEntry, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	if limit <= 0 || (key != nil && !validKey(*key)) {
		return nil, nil
	}
	// Unsealed entries (negative seq) are not in the journal yet.
	after = max(after, 0)
	q := `SELECT ` + journalColumns + ` FROM journal WHERE seq > $1 ORDER BY seq LIMIT $2`
	args := []any{after, limit}
	if key != nil {
		q = `SELECT ` + journalColumns + ` FROM journal
			WHERE provider = $1 AND kind = $2 AND aggregate_id = $3 AND seq > $4
			ORDER BY seq LIMIT $5`
		args = []any{key.Provider, key.Kind, key.ID, after, limit}
	}
	rows, err := s.reader.Query(ctx, q, args...)
	out, err := collect(rows, err, scanJournal)
	return out, classify("journal", err)
}

// Head reads chain_head, which every write transaction moves together with
// its Appends; it is deliberately not derived from the journal's last row.
func (s *Store) Head(ctx context.Context) (storage.ChainHead, error) {
	if s.closed.Load() {
		return storage.ChainHead{}, errClosed
	}
	var h storage.ChainHead
	err := s.reader.QueryRow(ctx, `SELECT seq, hash FROM chain_head WHERE id = 1`).Scan(&h.Seq, &h.Hash)
	if err != nil {
		return storage.ChainHead{}, classify("chain head", err)
	}
	return h, nil
}

func (s *Store) PendingDeferred(ctx context.Context, key storage.AggregateKey) (int, error) {
	if s.closed.Load() {
		return 0, errClosed
	}
	if !validKey(key) {
		return 0, nil
	}
	var n int
	err := s.reader.QueryRow(ctx,
		`SELECT COUNT(*) FROM deferred WHERE provider = $1 AND kind = $2 AND aggregate_id = $3 AND expired_seq = 0`,
		key.Provider, key.Kind, key.ID).Scan(&n)
	if err != nil {
		return 0, classify(fmt.Sprintf("pending deferred %v", key), err)
	}
	return n, nil
}

// ExpiredDeferred orders by seq (the order the events were deferred in),
// like DeferredFor. It returns nothing for a limit below one.
func (s *Store) ExpiredDeferred(ctx context.Context, now time.Time, limit int) ([]storage.DeferredEvent, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.reader.Query(ctx, `SELECT `+translatedDeferred+`
		WHERE d.expires_at <= $1 AND d.expired_seq = 0 ORDER BY `+heldOrder+` LIMIT $2`, toMicros(now), limit)
	out, err := collect(rows, err, scanDeferred)
	return out, classify("expired deferred", err)
}

// translatedDeferred reads held events with the sequence of the entry
// that held them: a row written since the sealer keeps the entry's
// handle, which is translated through journal_by_handle (still negative
// while the entry is unsealed). Readers outside a transaction see
// sequences; a write transaction sees what was written (tx.go). The
// entry that expired an event (expired_seq) is translated the same way.
const translatedDeferred = `COALESCE(j.seq, d.seq), d.provider, d.kind, d.aggregate_id, d.dedupe_key, d.payload,
	d.body_sha256, d.received_at, d.expires_at,
	CASE WHEN d.expired_seq < 0 THEN COALESCE((SELECT x.seq FROM journal x WHERE x.handle = d.expired_seq), d.expired_seq)
		ELSE d.expired_seq END
	FROM deferred d LEFT JOIN journal j ON d.seq < 0 AND j.handle = d.seq`

// receiptSeq is a receipt's seq as readers see it, from receipts r
// joined to the journal by handle (j): the sequence of a sealed entry, the
// handle of one not sealed yet (in flight), and 0 when the handle names no
// entry at all — a receipt and its entry are committed together, so that
// is damage (an entry deleted), and an audit must see it, not wait for it.
const receiptSeq = `CASE WHEN r.seq >= 0 THEN r.seq WHEN j.handle IS NULL THEN 0 ELSE j.seq END`

// Receipts walks the primary key in order (COLLATE "C": byte order). It
// returns nothing for a limit below one.
func (s *Store) Receipts(ctx context.Context, after storage.ReceiptKey, limit int) ([]storage.StoredReceipt, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	if limit <= 0 {
		return nil, nil
	}
	if err := checkText("receipts", field{"provider", after.Provider}, field{"dedupe key", after.DedupeKey}); err != nil {
		return nil, err
	}
	rows, err := s.reader.Query(ctx, `SELECT r.provider, r.dedupe_key, `+receiptSeq+`, r.body_sha256
		FROM receipts r LEFT JOIN journal j ON r.seq < 0 AND j.handle = r.seq
		WHERE (r.provider, r.dedupe_key) > ($1, $2) ORDER BY r.provider, r.dedupe_key LIMIT $3`,
		after.Provider, after.DedupeKey, limit)
	out, err := collect(rows, err, func(r scanner) (storage.StoredReceipt, error) {
		var sr storage.StoredReceipt
		err := r.Scan(&sr.Key.Provider, &sr.Key.DedupeKey, &sr.Seq, &sr.BodySHA256)
		return sr, err
	})
	return out, classify("receipts", err)
}

// Deferred returns nothing for a limit below one.
func (s *Store) Deferred(ctx context.Context, after int64, limit int) ([]storage.DeferredEvent, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.reader.Query(ctx, `SELECT `+translatedDeferred+`
		WHERE COALESCE(j.seq, d.seq) > $1 ORDER BY 1 LIMIT $2`, after, limit)
	out, err := collect(rows, err, scanDeferred)
	return out, classify("deferred", err)
}

// Checkpoints returns nothing for a limit below one.
func (s *Store) Checkpoints(ctx context.Context, after int64, limit int) ([]storage.Checkpoint, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.reader.Query(ctx, `SELECT `+checkpoints.Columns+` FROM checkpoints
		WHERE seq > $1 ORDER BY seq LIMIT $2`, after, limit)
	out, err := collect(rows, err, scanCheckpoint)
	return out, classify("checkpoints", err)
}

func (s *Store) LatestCheckpoint(ctx context.Context) (storage.Checkpoint, error) {
	if s.closed.Load() {
		return storage.Checkpoint{}, errClosed
	}
	c, err := checkpoints.Scan(s.reader.QueryRow(ctx,
		`SELECT `+checkpoints.Columns+` FROM checkpoints ORDER BY seq DESC LIMIT 1`))
	if err != nil {
		return storage.Checkpoint{}, classify("latest checkpoint", err)
	}
	return c, nil
}

func scanCheckpoint(r scanner) (storage.Checkpoint, error) { return checkpoints.Scan(r) }
