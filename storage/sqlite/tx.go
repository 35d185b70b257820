package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/internal/checkpoints"
)

// tx is storage.Tx on one BEGIN IMMEDIATE transaction. The transaction
// already holds SQLite's single write lock, so every aggregate is "locked"
// from the first statement on: LockAggregate is a plain read.
type tx struct {
	tx *sql.Tx
	// conn is the writer's connection tx runs on: flush writes the
	// pending rows through the driver's connection (Raw).
	conn *sql.Conn
	// prepared holds this transaction's statements: preparing costs more
	// than running most of them, and a group-commit batch runs the same
	// few statements for every event in it. They close with the
	// transaction.
	prepared map[string]*sql.Stmt
	// shared are the writer's statements prepared once at Open (ingest's
	// own); a transaction borrows them rather than preparing them again.
	shared map[string]*sql.Stmt
	// run is the context statements run under: Update's, without its
	// cancellation. The driver runs a statement under a context that can
	// end on a goroutine of its own, to interrupt it, one goroutine and two
	// switches per statement, more than most statements cost here; and
	// what it could interrupt is never a wait (the transaction holds the
	// write lock; a flush cannot be interrupted). The caller's deadline is
	// checked before each statement instead (live).
	run context.Context
	// pending are the hot writes not yet written (pending.go).
	pending pending
	// stored is the reference and parent of the aggregates this
	// transaction has read or written, as stored (or as they will be once
	// pending is written): an aggregate put again with the same ones is
	// written by an UPDATE that leaves their indexes alone.
	stored map[storage.AggregateKey]identity
	// unflushed: the statements run now need not see the pending rows
	// (onDeferred, and Lookup of receipts alone).
	unflushed bool
	// head caches the chain head for the transaction's appends.
	head                storage.ChainHead
	headRead, headMoved bool
	// touched: Touch asked for the head's page to be written at commit.
	touched bool
}

func (t *tx) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := t.prepared[query]; ok {
		return st, nil
	}
	var st *sql.Stmt
	if shared, ok := t.shared[query]; ok {
		// Reuses the statement already prepared on this connection.
		st = t.tx.StmtContext(ctx, shared)
	} else {
		var err error
		if st, err = t.tx.PrepareContext(ctx, query); err != nil {
			return nil, err
		}
	}
	if t.prepared == nil {
		t.prepared = map[string]*sql.Stmt{}
	}
	t.prepared[query] = st
	return st, nil
}

// ready prepares the ground for a statement: it fails once ctx has
// ended (no statement starts after the caller's deadline), and writes
// the pending rows first, so that the statement sees them.
func (t *tx) ready(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if t.unflushed {
		return nil
	}
	return t.flush(ctx)
}

// onDeferred runs fn, whose statements read and write only the deferred
// table, without writing the pending rows first: pending never holds
// that table's rows, and a batch whose events are held or released would
// otherwise write its rows a few at a time, between them.
func (t *tx) onDeferred(fn func() error) error { return t.withoutFlush(fn) }

// withoutFlush runs fn, whose statements need not see the pending rows,
// without writing them first.
func (t *tx) withoutFlush(fn func() error) error {
	t.unflushed = true
	defer func() { t.unflushed = false }()
	return fn()
}

func (t *tx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if err := t.ready(ctx); err != nil {
		return nil, err
	}
	st, err := t.stmt(t.run, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(t.run, args...)
}

func (t *tx) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if err := t.ready(ctx); err != nil {
		return nil, err
	}
	st, err := t.stmt(t.run, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(t.run, args...)
}

// queryRow reports a prepare failure through the row, as sql.Row does.
func (t *tx) queryRow(ctx context.Context, query string, args ...any) rowScanner {
	if err := t.ready(ctx); err != nil {
		return errRow{err}
	}
	st, err := t.stmt(t.run, query)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(t.run, args...)
}

type rowScanner interface{ Scan(dest ...any) error }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

var _ storage.Tx = (*tx)(nil)

const (
	readHead  = `SELECT seq, hash FROM chain_head WHERE id = 1`
	writeHead = `UPDATE chain_head SET seq = ?, hash = ? WHERE id = 1`
	// touchHead moves the head away before writeHead puts it back: SQLite
	// leaves a page clean when a row is rewritten with the bytes it holds,
	// so writeHead alone would commit without writing anything.
	touchHead = `UPDATE chain_head SET hash = '' WHERE id = 1`
)

func (t *tx) LockAggregate(ctx context.Context, key storage.AggregateKey) (storage.Aggregate, error) {
	a, err := scanAggregate(t.queryRow(ctx,
		`SELECT `+aggregateColumns+` FROM aggregates WHERE provider = ? AND kind = ? AND id = ?`,
		key.Provider, key.Kind, key.ID))
	if err != nil {
		return storage.Aggregate{}, classify(fmt.Sprintf("lock aggregate %v", key), err)
	}
	t.saw(&a)
	return a, nil
}

// saw records what is stored of a.
func (t *tx) saw(a *storage.Aggregate) {
	if t.stored == nil {
		t.stored = map[storage.AggregateKey]identity{}
	}
	t.stored[a.Key] = identityOf(a)
}

// PutAggregate writes at the transaction's next statement (pending).
func (t *tx) PutAggregate(ctx context.Context, a storage.Aggregate) error {
	if err := ctx.Err(); err != nil {
		return classify(fmt.Sprintf("put aggregate %v", a.Key), err)
	}
	id, ok := t.stored[a.Key]
	t.pending.putAggregate(a, ok && id == identityOf(&a))
	t.saw(&a)
	return nil
}

func (t *tx) Receipt(ctx context.Context, provider, dedupeKey string) (storage.Receipt, error) {
	var r storage.Receipt
	err := t.queryRow(ctx,
		`SELECT seq, body_sha256 FROM receipts WHERE provider = ? AND dedupe_key = ?`,
		provider, dedupeKey).Scan(&r.Seq, hashText{&r.BodySHA256})
	if err != nil {
		return storage.Receipt{}, classify(fmt.Sprintf("receipt %q/%q", provider, dedupeKey), err)
	}
	return r, nil
}

// PutReceipt inserts at the transaction's next statement (pending); the
// primary key (provider, dedupe_key) makes a second receipt for the same
// key a constraint error there.
func (t *tx) PutReceipt(ctx context.Context, provider, dedupeKey string, r storage.Receipt) error {
	if err := ctx.Err(); err != nil {
		return classify(fmt.Sprintf("put receipt %q/%q", provider, dedupeKey), err)
	}
	t.pending.receipts = append(t.pending.receipts, arg(provider), arg(dedupeKey), arg(r.Seq), arg(hashValue(r.BodySHA256)))
	return nil
}

// readHead reads the chain head once per transaction.
func (t *tx) readHead(ctx context.Context) error {
	if t.headRead {
		return nil
	}
	if err := t.queryRow(ctx, readHead).Scan(&t.head.Seq, hashText{&t.head.Hash}); err != nil {
		return classify("read chain head", err)
	}
	t.headRead = true
	return nil
}

// Append reads the chain head, links e to it, inserts e and moves the head,
// all in the caller's transaction. e is changed only when all of it worked.
func (t *tx) Append(ctx context.Context, e *storage.JournalEntry) error {
	skipped, err := encodeSkipped(e.Skipped)
	if err != nil {
		return err
	}
	// The head is read once per transaction and written back once, at
	// commit (flushHead): the only writer is this transaction.
	if err := t.readHead(ctx); err != nil {
		return err
	}
	head := t.head
	n := *e
	n.Seq = head.Seq + 1
	n.PrevHash = head.Hash
	n.Hash = storage.EntryHash(&n, n.PrevHash)
	// Inserted at the transaction's next statement (pending).
	t.pending.journal = appendJournalArgs(t.pending.journal, &n, skipped)
	t.head, t.headMoved = storage.ChainHead{Seq: n.Seq, Hash: n.Hash}, true
	e.Seq, e.PrevHash, e.Hash = n.Seq, n.PrevHash, n.Hash
	return nil
}

// Touch reads the chain head and marks it moved and touched, so that
// flushHead writes it back unchanged at commit through a change SQLite
// cannot skip: the commit writes the head's page to the WAL, which a full
// disk refuses.
func (t *tx) Touch(ctx context.Context) error {
	if err := t.readHead(ctx); err != nil {
		return err
	}
	t.headMoved, t.touched = true, true
	return nil
}

// flushHead writes the chain head moved by this transaction's appends;
// Update calls it just before commit, in the same transaction.
func (t *tx) flushHead(ctx context.Context) error {
	if !t.headMoved {
		return t.flush(ctx)
	}
	if t.touched {
		if _, err := t.exec(ctx, touchHead); err != nil {
			return classify("touch: chain head", err)
		}
	}
	if _, err := t.exec(ctx, writeHead, t.head.Seq, t.head.Hash); err != nil {
		return classify("append: move chain head", err)
	}
	return nil
}

func (t *tx) Defer(ctx context.Context, d storage.DeferredEvent) error {
	err := t.onDeferred(func() error {
		_, err := t.exec(ctx, `INSERT INTO deferred (`+deferredColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			d.Seq, d.Key.Provider, d.Key.Kind, d.Key.ID, d.DedupeKey, d.Payload,
			d.BodySHA256, toMicros(d.ReceivedAt), toMicros(d.ExpiresAt), d.ExpiredSeq)
		return err
	})
	return classify(fmt.Sprintf("defer %d", d.Seq), err)
}

func (t *tx) DeferredFor(ctx context.Context, key storage.AggregateKey) ([]storage.DeferredEvent, error) {
	var rows *sql.Rows
	err := t.onDeferred(func() (err error) {
		rows, err = t.query(ctx, `SELECT `+deferredColumns+` FROM deferred
		WHERE provider = ? AND kind = ? AND aggregate_id = ? ORDER BY seq`,
			key.Provider, key.Kind, key.ID)
		return err
	})
	if err != nil {
		return nil, classify(fmt.Sprintf("deferred for %v", key), err)
	}
	return collect(rows, scanDeferred, "deferred for")
}

// ExpiredDeferred orders by seq, like DeferredFor. It returns nothing for
// a limit below one.
func (t *tx) ExpiredDeferred(ctx context.Context, now time.Time, limit int) ([]storage.DeferredEvent, error) {
	if limit <= 0 {
		return nil, nil
	}
	var rows *sql.Rows
	err := t.onDeferred(func() (err error) {
		rows, err = t.query(ctx, `SELECT `+deferredColumns+` FROM deferred
		WHERE expires_at <= ? AND expired_seq = 0 ORDER BY seq LIMIT ?`, toMicros(now), limit)
		return err
	})
	if err != nil {
		return nil, classify("expired deferred", err)
	}
	return collect(rows, scanDeferred, "expired deferred")
}

// Undefer deletes the held event; one that is not held is ErrNotFound.
func (t *tx) Undefer(ctx context.Context, seq int64) error {
	return t.onDeferred(func() error {
		return t.deleteOne(ctx, fmt.Sprintf("undefer %d", seq), `DELETE FROM deferred WHERE seq = ?`, seq)
	})
}

// DeleteAggregate deletes the row; one that does not exist is ErrNotFound.
func (t *tx) DeleteAggregate(ctx context.Context, key storage.AggregateKey) error {
	delete(t.stored, key)
	return t.deleteOne(ctx, fmt.Sprintf("delete aggregate %v", key),
		`DELETE FROM aggregates WHERE provider = ? AND kind = ? AND id = ?`, key.Provider, key.Kind, key.ID)
}

// DeleteReceipt deletes the row; one that does not exist is ErrNotFound.
func (t *tx) DeleteReceipt(ctx context.Context, key storage.ReceiptKey) error {
	return t.deleteOne(ctx, fmt.Sprintf("delete receipt %q/%q", key.Provider, key.DedupeKey),
		`DELETE FROM receipts WHERE provider = ? AND dedupe_key = ?`, key.Provider, key.DedupeKey)
}

// deleteOne runs a DELETE and reports ErrNotFound when it removed nothing.
func (t *tx) deleteOne(ctx context.Context, op, query string, args ...any) error {
	res, err := t.exec(ctx, query, args...)
	if err != nil {
		return classify(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return classify(op, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: %s: %w", op, storage.ErrNotFound)
	}
	return nil
}

// collect scans every row and closes rows.
func collect[T any](rows *sql.Rows, scan func(scanner) (T, error), op string) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, classify(op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(op, err)
	}
	return out, nil
}

// PutCheckpoint keeps the first checkpoint of a sequence, unless c adds a
// tree root it lacks.
func (t *tx) PutCheckpoint(ctx context.Context, c storage.Checkpoint) error {
	_, err := t.exec(ctx, `INSERT INTO checkpoints (`+checkpoints.Columns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`+checkpoints.Upsert,
		c.Head.Seq, c.Head.Hash, toMicros(c.SignedAt), c.KeyID, c.PublicKey, c.Signature, c.TreeRoot)
	return classify(fmt.Sprintf("put checkpoint %d", c.Head.Seq), err)
}
