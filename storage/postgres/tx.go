package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/internal/aggrow"
	"github.com/paystate/paystate/storage/internal/checkpoints"
)

// tx is storage.Tx on one READ COMMITTED transaction. It never takes the
// chain head's row lock (only Touch does): the transaction holds only the
// advisory locks of the aggregates it reads, so that replicas decide and
// commit in parallel and wait for each other only on the same aggregate;
// its entries are inserted unsealed (chain.go) and sealed later
// (seal.go). It begins and ends the transaction itself, in the
// pipelines of its first and last statements, rather than through pgx.Tx,
// which spends a round trip on each.
type tx struct {
	conn  *pgx.Conn
	store *Store
	// begun: BEGIN was sent (with the first pipeline).
	begun bool
	// trips counts the round trips (pipelines sent).
	trips int
	// touched: Touch asked for the chain head to be rewritten at commit.
	touched bool
	// failed is the first statement PostgreSQL refused. It aborts the
	// transaction: every later statement fails, and so does Update.
	failed error
	// pending are writes whose answer nothing waits for (PutAggregate,
	// PutReceipt, Defer, ...): they are sent ahead of the next statement
	// that does wait, or at commit, in the same round trip. A round
	// trip costs far more than the statements, and a batch of events
	// would otherwise pay several per event. A pending write that fails
	// is reported by the call that sent it, and fails Update.
	pending []write
	// appended are the callers' entries, told once the transaction
	// commits that they are unsealed.
	appended []*storage.JournalEntry
	// held are the aggregates' advisory locks taken (lockKeys), keyed
	// with the schema.
	held   map[int64]bool
	schema string
}

type write struct {
	op, sql string
	args    []any
}

// queue adds a write to pending; once a statement has failed, the
// transaction is aborted and the write fails at once.
func (t *tx) queue(op, sql string, args ...any) error {
	if t.failed != nil {
		return fmt.Errorf("postgres: %s: transaction already failed: %w", op, t.failed)
	}
	t.pending = append(t.pending, write{op, sql, args})
	return nil
}

// statement is one that waits for its answer: read reads its results
// (and classifies their errors).
type statement struct {
	sql  string
	args []any
	read func(pgx.BatchResults) error
}

// send sends the pending writes and then the statements in one round
// trip, preceded, in the transaction's first round trip, by BEGIN.
// Errors of the pending writes are classified here.
func (t *tx) send(ctx context.Context, stmts ...statement) error {
	if len(t.pending) == 0 && len(stmts) == 0 {
		return nil
	}
	if t.failed != nil {
		return fmt.Errorf("postgres: transaction already failed: %w", t.failed)
	}
	var b pgx.Batch
	begin := !t.begun
	spare := false
	if begin {
		b.Queue(beginTx)
		// The next block of handles rides in the first pipeline (chain.go).
		if spare = t.store != nil && t.store.handles.wantSpare(); spare {
			b.Queue(nextHandles)
		}
	}
	for _, w := range t.pending {
		b.Queue(w.sql, w.args...)
	}
	for _, st := range stmts {
		b.Queue(st.sql, st.args...)
	}
	pending := t.pending
	t.pending = nil
	// From here a transaction may be open on the connection, whatever
	// the answer: Update rolls it back unless it committed.
	t.begun = true
	t.trips++
	res := t.conn.SendBatch(ctx, &b)
	var err error
	if begin {
		if _, err = res.Exec(); err != nil {
			err = unavailable("begin", err)
			t.failed = err
		}
	}
	if spare && err == nil {
		var start int64
		if err = res.QueryRow().Scan(&start); err != nil {
			err = t.classify("handles", err)
		} else {
			t.store.handles.addSpare(start)
		}
	}
	for _, w := range pending {
		if err != nil {
			break
		}
		if _, werr := res.Exec(); werr != nil {
			err = t.classify(w.op, werr)
		}
	}
	for _, st := range stmts {
		if err != nil {
			break
		}
		err = st.read(res)
	}
	if cerr := res.Close(); err == nil && cerr != nil {
		err = t.classify("send", cerr)
	}
	return err
}

// beginTx opens the transaction, in the first pipeline.
const beginTx = `BEGIN ISOLATION LEVEL READ COMMITTED`

// commit sends the last writes and COMMIT in one pipeline. A write that
// fails is reported as flushing it would; PostgreSQL then skips the
// COMMIT and the transaction stays aborted, for Update to roll back. A
// COMMIT that fails, or whose answer is lost, is ErrUnavailable. Once
// committed, the caller's entries are durable and unsealed: their Seq is
// 0 until the sealer gives them their place.
func (t *tx) commit(ctx context.Context) (committed bool, err error) {
	if t.touched {
		// The locks a webhook's writes take, and a write of the head's
		// row (waiting for a sealer): the probe commits only if a webhook
		// could. The head's row alone would commit while another session
		// keeps writers out of the journal, and the engine would call
		// itself ready while every webhook fails.
		if err := t.queue("touch", touchTables); err != nil {
			return false, err
		}
		if err := t.queue("touch", `UPDATE chain_head SET hash = hash WHERE id = 1`); err != nil {
			return false, err
		}
	}
	if t.failed != nil {
		return false, fmt.Errorf("postgres: transaction already failed: %w", t.failed)
	}
	err = t.send(ctx, statement{`COMMIT`, nil, func(res pgx.BatchResults) error {
		tag, err := res.Exec()
		switch {
		case err != nil:
			return unavailable("commit", err)
		case tag.String() != "COMMIT": // ROLLBACK: the transaction had failed
			return fmt.Errorf("postgres: commit: the server rolled the transaction back: %w", storage.ErrUnavailable)
		}
		committed = true
		return nil
	}})
	if committed && err == nil {
		for _, e := range t.appended {
			e.Seq = 0
		}
	}
	return committed && err == nil, err
}

var _ storage.Tx = (*tx)(nil)

// classify classifies a statement's error and remembers a failure that
// aborted the transaction. No rows is not such a failure; a broken
// connection is ErrUnavailable whatever error pgx reports for it.
func (t *tx) classify(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return classify(op, err)
	}
	out := classify(op, err)
	callerGaveUp := errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
	if !errors.Is(out, storage.ErrUnavailable) && !callerGaveUp && t.conn.IsClosed() {
		out = unavailable(op, err)
	}
	if t.failed == nil {
		t.failed = out
	}
	return out
}

// LockAggregate takes the aggregate's advisory lock (chain.go), which
// serializes paystate writers of the key whether or not its row exists,
// then reads the row FOR UPDATE, which orders paystate against other
// sessions (an operator's, a migration's).
func (t *tx) LockAggregate(ctx context.Context, key storage.AggregateKey) (storage.Aggregate, error) {
	op := fmt.Sprintf("lock aggregate %v", key)
	if !validKey(key) { // no such row can exist
		return storage.Aggregate{}, fmt.Errorf("postgres: %s: %w", op, storage.ErrNotFound)
	}
	t.lockKeys(key)
	var a storage.Aggregate
	err := t.send(ctx, statement{`SELECT ` + aggregateColumns + ` FROM aggregates WHERE provider = $1 AND kind = $2 AND id = $3 FOR UPDATE`,
		[]any{key.Provider, key.Kind, key.ID}, func(res pgx.BatchResults) error {
			var err error
			a, err = scanAggregate(res.QueryRow())
			return t.classify(op, err)
		}})
	if err != nil {
		return storage.Aggregate{}, err
	}
	return a, nil
}

func (t *tx) PutAggregate(ctx context.Context, a storage.Aggregate) error {
	op := fmt.Sprintf("put aggregate %v", a.Key)
	if err := checkAggregate(op, &a); err != nil {
		return err
	}
	t.lockKeys(a.Key)
	return t.queue(op, `INSERT INTO aggregates (`+aggregateColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)`+aggrow.Upsert,
		aggregateArgs(&a)...)
}

func (t *tx) Receipt(ctx context.Context, provider, dedupeKey string) (storage.Receipt, error) {
	op := fmt.Sprintf("receipt %q/%q", provider, dedupeKey)
	if !validText(provider) || !validText(dedupeKey) {
		return storage.Receipt{}, fmt.Errorf("postgres: %s: %w", op, storage.ErrNotFound)
	}
	var r storage.Receipt
	err := t.send(ctx, statement{`SELECT ` + receiptSeq + `, r.body_sha256
		FROM receipts r LEFT JOIN journal j ON r.seq < 0 AND j.handle = r.seq
		WHERE r.provider = $1 AND r.dedupe_key = $2`,
		[]any{provider, dedupeKey}, func(res pgx.BatchResults) error {
			return t.classify(op, res.QueryRow().Scan(&r.Seq, &r.BodySHA256))
		}})
	if err != nil {
		return storage.Receipt{}, err
	}
	return r, nil
}

// PutReceipt inserts; the primary key (provider, dedupe_key) makes a second
// receipt for the same key a unique violation (23505), which aborts the
// transaction and is not ErrUnavailable: a retry cannot fix it — unless
// another transaction inserted the key meanwhile (two replicas taking the
// same delivery at once), when Update runs fn again and its lookup finds
// the receipt. The insert is held back with the other writes nothing
// waits for; a duplicate is reported by the next call that sends, or by
// Update. A receipt naming an entry appended since the sealer (its
// handle) keeps the handle; readers translate it (Store.Receipts).
func (t *tx) PutReceipt(ctx context.Context, provider, dedupeKey string, r storage.Receipt) error {
	op := fmt.Sprintf("put receipt %q/%q", provider, dedupeKey)
	if err := checkText(op, field{"provider", provider}, field{"dedupe key", dedupeKey},
		field{"body sha256", r.BodySHA256}); err != nil {
		return err
	}
	if err := t.queue(op, `INSERT INTO receipts (provider, dedupe_key, seq, body_sha256) VALUES ($1, $2, $3, $4)`,
		provider, dedupeKey, r.Seq, r.BodySHA256); err != nil {
		return err
	}
	return nil
}

// Append gives e a handle (chain.go) and inserts it unsealed, with the
// next statement or at commit; e.Seq is the handle until the transaction
// commits, and 0 after (storage.Sealer).
func (t *tx) Append(ctx context.Context, e *storage.JournalEntry) error {
	if t.failed != nil {
		return fmt.Errorf("postgres: append: transaction already failed: %w", t.failed)
	}
	n := *e
	n.Seq = -1 // a handle, for the checks; the real one is taken after them
	n.PrevHash, n.Hash = "", ""
	if err := checkEntry("append entry", &n); err != nil {
		return err
	}
	h, err := t.handle(ctx)
	if err != nil {
		return err
	}
	n.Seq = h
	if err := t.queue(fmt.Sprintf("append entry %d", h), insertEntry,
		n.Seq, n.Key.Provider, n.Key.Kind, n.Key.ID, n.Event, n.Verdict, n.Reason,
		n.StateBefore, n.StateAfter, n.VersionAfter, n.DedupeKey, n.BodySHA256, n.RedactedBody,
		n.Payload, toMicros(n.ReceivedAt), toMicros(n.OccurredAt), n.ResolvesSeq, skippedArg(n.Skipped),
		n.Actor, n.MachineVersion, n.RevisesSeq, n.PrevHash, n.Hash); err != nil {
		return err
	}
	t.appended = append(t.appended, e)
	e.Seq, e.PrevHash, e.Hash = h, "", ""
	return nil
}

// touchTables takes, on every table an ingest writes, the lock its
// writes take (ROW EXCLUSIVE, which writers share): it waits for any
// session that keeps writers out (LOCK TABLE, a migration) and for no
// other writer.
const touchTables = `LOCK TABLE aggregates, journal, receipts, deferred IN ROW EXCLUSIVE MODE`

// Touch takes the tables' write locks and rewrites the head's row at
// commit, unchanged.
func (t *tx) Touch(ctx context.Context) error {
	if t.failed != nil {
		return fmt.Errorf("postgres: touch: transaction already failed: %w", t.failed)
	}
	t.touched = true
	return nil
}

func (t *tx) Defer(ctx context.Context, d storage.DeferredEvent) error {
	op := fmt.Sprintf("defer %d", d.Seq)
	if err := checkDeferred(op, &d); err != nil {
		return err
	}
	t.lockKeys(d.Key)
	if err := t.queue(op, `INSERT INTO deferred (`+deferredColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		d.Seq, d.Key.Provider, d.Key.Kind, d.Key.ID, d.DedupeKey, d.Payload,
		d.BodySHA256, toMicros(d.ReceivedAt), toMicros(d.ExpiresAt), d.ExpiredSeq); err != nil {
		return err
	}
	return nil
}

func (t *tx) DeferredFor(ctx context.Context, key storage.AggregateKey) ([]storage.DeferredEvent, error) {
	op := fmt.Sprintf("deferred for %v", key)
	if !validKey(key) {
		return nil, nil
	}
	var out []storage.DeferredEvent
	err := t.send(ctx, statement{`SELECT ` + storedDeferred + `
		WHERE d.provider = $1 AND d.kind = $2 AND d.aggregate_id = $3 ORDER BY ` + heldOrder,
		[]any{key.Provider, key.Kind, key.ID}, func(res pgx.BatchResults) error {
			rows, err := res.Query()
			out, err = collect(rows, err, scanDeferred)
			return t.classify(op, err)
		}})
	return out, err
}

// ExpiredDeferred orders by seq, like DeferredFor. It returns nothing for
// a limit below one.
func (t *tx) ExpiredDeferred(ctx context.Context, now time.Time, limit int) ([]storage.DeferredEvent, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []storage.DeferredEvent
	err := t.send(ctx, statement{`SELECT ` + storedDeferred + `
		WHERE d.expires_at <= $1 AND d.expired_seq = 0 ORDER BY ` + heldOrder + ` LIMIT $2`,
		[]any{toMicros(now), limit}, func(res pgx.BatchResults) error {
			rows, err := res.Query()
			out, err = collect(rows, err, scanDeferred)
			return t.classify("expired deferred", err)
		}})
	return out, err
}

// storedDeferred reads held events as they were written, the seq a
// handle for an event held since the sealer (the value the transaction's
// writes name, which no seal changes under it), joined to the entry that
// held them for heldOrder.
const storedDeferred = deferredColumnsOf + `
	FROM deferred d LEFT JOIN journal j ON d.seq < 0 AND j.handle = d.seq`

// heldOrder orders held events as they were deferred: the sealed by
// sequence, then the unsealed by their entries' commit_order (a handle
// does not sort by time across replicas: each store hands out blocks of
// its own). For one aggregate the sealed come before the unsealed, and
// commit_order is the order of its writers (seal.go), so this is the
// order of its deferrals whatever a concurrent seal does meanwhile.
const heldOrder = `COALESCE(j.seq, d.seq) < 0, CASE WHEN COALESCE(j.seq, d.seq) > 0 THEN COALESCE(j.seq, d.seq) END,
	j.commit_order, d.seq`

// Undefer deletes the held event; one that is not held is ErrNotFound.
// seq is what the transaction read (a handle, for an event held since
// the sealer) or, from a reader (a repair), the sealed entry's sequence,
// whose handle the row may carry.
func (t *tx) Undefer(ctx context.Context, seq int64) error {
	return t.deleteOne(ctx, fmt.Sprintf("undefer %d", seq), `DELETE FROM deferred
		WHERE seq = $1 OR ($1 > 0 AND seq = (SELECT handle FROM journal WHERE seq = $1 AND handle IS NOT NULL))`, seq)
}

// DeleteAggregate deletes the row; one that does not exist is ErrNotFound.
func (t *tx) DeleteAggregate(ctx context.Context, key storage.AggregateKey) error {
	op := fmt.Sprintf("delete aggregate %v", key)
	if !validKey(key) { // no such row can exist
		return fmt.Errorf("postgres: %s: %w", op, storage.ErrNotFound)
	}
	t.lockKeys(key)
	return t.deleteOne(ctx, op, `DELETE FROM aggregates WHERE provider = $1 AND kind = $2 AND id = $3`,
		key.Provider, key.Kind, key.ID)
}

// DeleteReceipt deletes the row; one that does not exist is ErrNotFound.
func (t *tx) DeleteReceipt(ctx context.Context, key storage.ReceiptKey) error {
	op := fmt.Sprintf("delete receipt %q/%q", key.Provider, key.DedupeKey)
	if !validText(key.Provider) || !validText(key.DedupeKey) {
		return fmt.Errorf("postgres: %s: %w", op, storage.ErrNotFound)
	}
	return t.deleteOne(ctx, op, `DELETE FROM receipts WHERE provider = $1 AND dedupe_key = $2`,
		key.Provider, key.DedupeKey)
}

// deleteOne runs a DELETE and reports ErrNotFound when it removed nothing.
func (t *tx) deleteOne(ctx context.Context, op, query string, args ...any) error {
	var tag pgconn.CommandTag
	err := t.send(ctx, statement{query, args, func(res pgx.BatchResults) error {
		var err error
		tag, err = res.Exec()
		return t.classify(op, err)
	}})
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: %s: %w", op, storage.ErrNotFound)
	}
	return nil
}

// collect scans every row and closes rows; err is the error of the query
// that returned rows.
func collect[T any](rows pgx.Rows, err error, scan func(scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// PutCheckpoint keeps the first checkpoint of a sequence, unless c adds a
// tree root it lacks.
func (t *tx) PutCheckpoint(ctx context.Context, c storage.Checkpoint) error {
	op := fmt.Sprintf("put checkpoint %d", c.Head.Seq)
	if err := checkText(op, field{"hash", c.Head.Hash}, field{"key id", c.KeyID}, field{"tree root", c.TreeRoot}); err != nil {
		return err
	}
	return t.queue(op, `INSERT INTO checkpoints (`+checkpoints.Columns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`+checkpoints.Upsert,
		c.Head.Seq, c.Head.Hash, toMicros(c.SignedAt), c.KeyID, c.PublicKey, c.Signature, c.TreeRoot)
}
