package postgres

// The sealer: writers commit their entries unsealed (chain.go); a seal
// round, one at a time across every process on the schema because it
// holds the chain head's row lock, reads the committed unsealed rows in
// commit_order, gives each the next sequence, links and hashes it
// (storage.EntryHash), and moves the head, in one transaction.
//
// Why commit_order is a safe order. Its value is a nextval taken when
// the row is inserted. A transaction B that read anything a transaction
// A wrote — A's aggregate, held event or receipt; B takes the
// aggregate's advisory lock before reading it, and PostgreSQL releases
// A's locks only after A is visible — read it after A committed, so
// inserted every row after all of A's: commit_order(A) < commit_order(B),
// and every snapshot that sees B committed sees A committed. So a round
// that seals B's rows seals A's before them, in the same round or an
// earlier one: an aggregate's entries are chained in the order of their
// versions, a held event's deferral before its resolution (whose
// ResolvesSeq, a handle, then names a row sealed already or earlier in
// the round), a dedupe key's first verdict before its duplicates.
// Transactions that read nothing of each other may land in either
// order: a row that commits late, with a smaller commit_order than rows
// already sealed, is simply sealed by a later round, after them. Nothing
// is ever placed behind the head.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/paystate/paystate/storage"
)

// lockHead takes the chain head's row lock: only a seal round (and
// Touch's write) takes it. A row it returns also marks the transaction
// as holding it (sealingMark, for unsealedRows): set above the locking
// query, since a select list in it is computed before its rows are
// locked or skipped.
const lockHead = `WITH h AS MATERIALIZED (` + headForUpdate + `)
	SELECT seq, hash, set_config('` + sealingMark + `', 'on', true) FROM h`

// tryLockHead is lockHead for RunSealer: a head locked by another
// sealer reads as no row, rather than a wait (errSealerBusy), and marks
// nothing.
const tryLockHead = `WITH h AS MATERIALIZED (` + headForUpdate + ` SKIP LOCKED)
	SELECT seq, hash, set_config('` + sealingMark + `', 'on', true) FROM h`

const headForUpdate = `SELECT seq, hash FROM chain_head WHERE id = 1 FOR UPDATE`

// sealingMark is the transaction-local setting lockHead sets once it
// holds the head.
const sealingMark = "paystate.sealing"

// errSealerBusy: another seal round holds the head (tryLockHead).
var errSealerBusy = errors.New("postgres: seal: another sealer holds the chain head")

// sealBatch bounds the rows one round reads and rewrites.
const sealBatch = 1000

var _ storage.Sealer = (*Store)(nil)

// unsealedRows reads a round's rows: the committed unsealed ones, oldest
// commit_order first, with ResolvesSeq and RevisesSeq translated when
// they name a handle whose entry is sealed (a handle of this round is
// translated by sealRound). It runs after the head's lock, in a
// statement of its own: under READ COMMITTED it sees what every earlier
// round committed. It is sent in the same round trip as the lock, so it
// runs whether or not the lock was granted; the mark lockHead sets is a
// condition on no column (a one-time filter, tested before the journal
// is scanned), so a round that found the head busy reads no row.
const unsealedRows = `SELECT handle, ` + journalColumns + `,
	CASE WHEN resolves_seq < 0 THEN COALESCE((SELECT r.seq FROM journal r WHERE r.handle = j.resolves_seq), resolves_seq)
		ELSE resolves_seq END,
	CASE WHEN revises_seq < 0 THEN COALESCE((SELECT r.seq FROM journal r WHERE r.handle = j.revises_seq), revises_seq)
		ELSE revises_seq END
	FROM journal j WHERE seq < 0 AND current_setting('` + sealingMark + `', true) = 'on'
	ORDER BY commit_order LIMIT $1`

// sealRows writes a round's sequences and hashes, by handle.
const sealRows = `UPDATE journal j SET seq = m.seq, resolves_seq = m.resolves, revises_seq = m.revises,
	prev_hash = m.prev_hash, hash = m.hash
	FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::text[])
		AS m(handle, seq, resolves, revises, prev_hash, hash)
	WHERE j.handle = m.handle AND j.seq < 0`

// Seal implements storage.Sealer: rounds of up to sealBatch rows until a
// round finds fewer, so every entry committed before the call is sealed.
// The rounds of one Store run one at a time; those of several stores
// queue on the head's lock, and each finds what the others left.
func (s *Store) Seal(ctx context.Context) (int, error) { return s.seal(ctx, lockHead) }

// seal is Seal with the head locked by lock (lockHead waits for another
// sealer, tryLockHead fails with errSealerBusy).
func (s *Store) seal(ctx context.Context, lock string) (int, error) {
	if s.closed.Load() {
		return 0, errClosed
	}
	s.sealing.Lock()
	defer s.sealing.Unlock()
	total := 0
	for {
		n, err := s.sealRound(ctx, lock)
		total += n
		if err != nil || n < sealBatch {
			return total, err
		}
	}
}

// sealRound is one transaction in two round trips: BEGIN, the head's
// lock and the unsealed rows; then the rows' rewrite, the head's move,
// the NOTIFY and COMMIT. The lock is held for the second round trip, the
// hashing and COMMIT's WAL flush, with no engine work inside.
func (s *Store) sealRound(ctx context.Context, lock string) (n int, err error) {
	conn, err := s.writer.Acquire(ctx)
	if err != nil {
		return 0, unavailable("seal: begin", err)
	}
	defer conn.Release()
	c := conn.Conn()
	open := false
	defer func() {
		if open && err != nil {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
			defer cancel()
			if _, rerr := c.Exec(rctx, "ROLLBACK"); rerr != nil {
				_ = c.Close(rctx)
			}
		}
	}()

	var b pgx.Batch
	b.Queue(beginTx)
	b.Queue(lock)
	b.Queue(unsealedRows, sealBatch)
	open = true
	var head storage.ChainHead
	var rows []sealing
	res := c.SendBatch(ctx, &b)
	if _, err = res.Exec(); err != nil {
		err = unavailable("seal: begin", err)
	} else if err = res.QueryRow().Scan(&head.Seq, &head.Hash, nil); err != nil {
		switch {
		case errors.Is(err, pgx.ErrNoRows) && lock == tryLockHead:
			err = errSealerBusy
		case errors.Is(err, pgx.ErrNoRows):
			err = fmt.Errorf("postgres: seal: the chain_head row is missing (the database was changed behind paystate's back): %w",
				storage.ErrUnavailable)
		case readOnly(err):
			err = fmt.Errorf("postgres: seal: lock chain head: %w: %w", storage.ErrReadOnly, err)
		default:
			err = unavailable("seal: lock chain head", err)
		}
	} else {
		var q pgx.Rows
		q, err = res.Query()
		rows, err = collect(q, err, scanSealing)
		err = classify("seal: read unsealed", err)
	}
	if cerr := res.Close(); err == nil && cerr != nil {
		err = classify("seal", cerr)
	}
	if err != nil {
		return 0, err
	}
	if len(rows) == 0 {
		open = false
		_, err = c.Exec(ctx, "ROLLBACK")
		return 0, classify("seal: end", err)
	}

	handles, seqs, resolves, revises, prevs, hashes, head, err := chainRows(rows, head)
	if err != nil {
		return 0, err
	}
	b = pgx.Batch{}
	b.Queue(sealRows, handles, seqs, resolves, revises, prevs, hashes)
	b.Queue(`UPDATE chain_head SET seq = $1, hash = $2 WHERE id = 1`, head.Seq, head.Hash)
	// Delivered to every Listen on the schema when, and only if, the
	// round commits: only sealed entries are announced.
	b.Queue(`SELECT pg_notify($1, '')`, notifyChannel(s.cfg.schema))
	b.Queue(`COMMIT`)
	res = c.SendBatch(ctx, &b)
	tag, err := res.Exec()
	switch {
	case err != nil:
		err = classify("seal: rewrite rows", err)
	case tag.RowsAffected() != int64(len(rows)):
		err = fmt.Errorf("postgres: seal: %d of %d unsealed rows rewritten", tag.RowsAffected(), len(rows))
	}
	for i := 0; i < 2 && err == nil; i++ {
		if _, err = res.Exec(); err != nil {
			err = classify("seal: move head", err)
		}
	}
	if err == nil {
		if tag, err = res.Exec(); err != nil {
			err = unavailable("seal: commit", err)
		} else if tag.String() != "COMMIT" {
			err = fmt.Errorf("postgres: seal: the server rolled the round back: %w", storage.ErrUnavailable)
		} else {
			open = false
		}
	}
	if cerr := res.Close(); err == nil && cerr != nil {
		err = unavailable("seal: commit", cerr)
	}
	if err != nil {
		return 0, err
	}
	return len(rows), nil
}

// sealing is one unsealed row as a round reads it.
type sealing struct {
	handle int64
	e      storage.JournalEntry
}

func scanSealing(r scanner) (sealing, error) {
	var sl sealing
	var resolves, revises int64
	e, err := scanJournalWith(r, []any{&sl.handle}, []any{&resolves, &revises})
	if err != nil {
		return sealing{}, err
	}
	// The translated values replace the stored ones.
	e.ResolvesSeq, e.RevisesSeq = resolves, revises
	sl.e = e
	return sl, nil
}

// chainRows numbers rows after head, in order, translates the handles
// they name that belong to this round, and links and hashes them. A
// handle that names no entry sealed before or in this round is refused:
// by commit_order's causality it cannot happen, and sealing it would
// chain an entry that names nothing.
func chainRows(rows []sealing, head storage.ChainHead) (handles, seqs, resolves, revises []int64, prevs, hashes []string, _ storage.ChainHead, _ error) {
	seqOf := make(map[int64]int64, len(rows))
	resolve := func(v int64, what string, e *storage.JournalEntry) (int64, error) {
		if !storage.IsHandle(v) {
			return v, nil
		}
		s, ok := seqOf[v]
		if !ok {
			return 0, fmt.Errorf("postgres: seal: entry %d (handle) names %s %d, an entry not sealed before it", e.Seq, what, v)
		}
		return s, nil
	}
	for i := range rows {
		r := &rows[i]
		e := &r.e
		seq := head.Seq + 1
		var err error
		if e.ResolvesSeq, err = resolve(e.ResolvesSeq, "resolves_seq", e); err != nil {
			return nil, nil, nil, nil, nil, nil, head, err
		}
		if e.RevisesSeq, err = resolve(e.RevisesSeq, "revises_seq", e); err != nil {
			return nil, nil, nil, nil, nil, nil, head, err
		}
		seqOf[r.handle] = seq
		e.Seq = seq
		e.PrevHash = head.Hash
		e.Hash = storage.EntryHash(e, e.PrevHash)
		head = storage.ChainHead{Seq: e.Seq, Hash: e.Hash}
		handles, seqs = append(handles, r.handle), append(seqs, e.Seq)
		resolves, revises = append(resolves, e.ResolvesSeq), append(revises, e.RevisesSeq)
		prevs, hashes = append(prevs, e.PrevHash), append(hashes, e.Hash)
	}
	return handles, seqs, resolves, revises, prevs, hashes, head, nil
}

// Unsealed implements storage.Sealer, on the read pool: the partial
// index journal_unsealed holds only these rows.
func (s *Store) Unsealed(ctx context.Context, key *storage.AggregateKey) (int64, error) {
	if s.closed.Load() {
		return 0, errClosed
	}
	var n int64
	var err error
	if key == nil {
		err = s.reader.QueryRow(ctx, `SELECT COUNT(*) FROM journal WHERE seq < 0`).Scan(&n)
	} else if validKey(*key) {
		err = s.reader.QueryRow(ctx, `SELECT COUNT(*) FROM journal
			WHERE provider = $1 AND kind = $2 AND aggregate_id = $3 AND seq < 0`,
			key.Provider, key.Kind, key.ID).Scan(&n)
	}
	return n, classify("unsealed", err)
}

// busyPause is how long RunSealer waits before trying again when another
// replica's round holds the head: a round takes two round trips and a
// WAL flush.
const busyPause = 2 * time.Millisecond

// busyTries bounds the tries without waiting (about a second's worth).
const busyTries = 500

// SealerConfig tunes RunSealer.
type SealerConfig struct {
	// Interval is the longest a committed entry waits when no commit of
	// this store wakes the sealer: entries another process committed and
	// did not seal (it stopped) are sealed within it. Default 200 ms.
	Interval time.Duration
	// OnSealed, if set, is called after every Seal that sealed entries
	// (the in-process notifier: Watch reads sealed entries only).
	OnSealed func(n int)
	// OnError, if set, is told of a Seal that failed; the loop goes on.
	OnError func(error)
}

// RunSealer seals until ctx ends: after every commit of this store that
// appended (at once, and again while commits keep coming, each round
// taking what accumulated), and every Interval, whoever committed. Every
// replica runs one. A round that finds the head locked by another
// replica's round does not queue on the lock (a backend and a
// connection waiting, and lock waits that are no writer's): it tries
// again a moment later, when that round has committed and what it did
// not see is left. It returns ctx's error.
func (s *Store) RunSealer(ctx context.Context, cfg SealerConfig) error {
	if cfg.Interval <= 0 {
		cfg.Interval = 200 * time.Millisecond
	}
	t := time.NewTicker(cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.committed:
		case <-t.C:
		}
		n, err := s.seal(ctx, tryLockHead)
		for tries := 1; errors.Is(err, errSealerBusy) && ctx.Err() == nil; tries++ {
			lock := tryLockHead
			if tries == busyTries {
				// Busy this long is not another round: queue on the lock,
				// which also tells a missing head row from a held one.
				lock = lockHead
			}
			t := time.NewTimer(busyPause)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
			var more int
			more, err = s.seal(ctx, lock)
			n += more
		}
		if n > 0 && cfg.OnSealed != nil {
			cfg.OnSealed(n)
		}
		if err != nil && ctx.Err() == nil && cfg.OnError != nil {
			cfg.OnError(err)
		}
	}
}
