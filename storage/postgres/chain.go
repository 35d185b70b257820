package postgres

// Chaining at commit. A write transaction decides without the chain
// head's lock: Append gives each entry a provisional handle instead of its
// sequence, and the commit, holding the head's row lock only from then to
// the end of COMMIT, numbers and hashes the entries, inserts them, and
// puts their sequences where the handles stood (receipts, held events,
// ResolvesSeq). No handle outlives its transaction: nothing another
// session can read ever carries one. What the lock no longer covers —
// that a transaction decides on what every earlier writer of the same
// aggregate committed — the aggregate's advisory lock does.

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/paystate/paystate/storage"
)

// lockHead locks the chain head, in the commit's first pipeline, after
// the transaction's other writes.
const lockHead = `SELECT seq, hash FROM chain_head WHERE id = 1 FOR UPDATE`

// A handle is handleBase + PID<<handleBits + n: n counts the
// transaction's appends, and the server process (backend PID) of its
// connection is unique among the transactions in flight. Handles sort
// after every sequence (below 2^62), and in append order, so that reads
// inside the transaction that order held events by seq put its own
// last, as their sequences will.
const (
	handleBits = 24
	handleBase = storage.ProvisionalSeq
)

// chainState is what Append gave out in one transaction.
type chainState struct {
	next    int64
	entries []pendingEntry
	// receipts and deferred name the rows written with a handle.
	receipts []receiptHandle
	deferred []int64
}

type pendingEntry struct {
	e      storage.JournalEntry
	caller *storage.JournalEntry
}

type receiptHandle struct {
	provider, key string
	handle        int64
}

// isHandle: sequences are below handleBase.
func isHandle(v int64) bool { return v >= handleBase }

// handle returns the next provisional handle of the transaction.
func (c *chainState) handle(pid uint32) (int64, error) {
	if c.next+1 >= 1<<handleBits {
		return 0, fmt.Errorf("postgres: append: more than %d entries in one transaction", 1<<handleBits-1)
	}
	c.next++
	return handleBase + int64(pid)<<handleBits + c.next, nil
}

func (c *chainState) appended(e storage.JournalEntry, caller *storage.JournalEntry) {
	c.entries = append(c.entries, pendingEntry{e, caller})
}

func (c *chainState) receiptNames(provider, key string, seq int64) {
	if isHandle(seq) {
		c.receipts = append(c.receipts, receiptHandle{provider, key, seq})
	}
}

func (c *chainState) deferredNames(seq int64) {
	if isHandle(seq) {
		c.deferred = append(c.deferred, seq)
	}
}

// number gives the entries their sequences after head, and links and
// hashes them; it returns the sequence of every handle and the new head.
func (c *chainState) number(head storage.ChainHead) (map[int64]int64, storage.ChainHead, error) {
	seqOf := make(map[int64]int64, len(c.entries))
	for i := range c.entries {
		seqOf[c.entries[i].e.Seq] = head.Seq + int64(i) + 1
	}
	resolve := func(v int64) (int64, error) {
		if !isHandle(v) {
			return v, nil
		}
		s, ok := seqOf[v]
		if !ok {
			return 0, fmt.Errorf("postgres: commit: %d is no entry of this transaction", v)
		}
		return s, nil
	}
	for i := range c.entries {
		e := &c.entries[i].e
		var err error
		e.Seq = seqOf[e.Seq]
		if e.ResolvesSeq, err = resolve(e.ResolvesSeq); err != nil {
			return nil, head, err
		}
		if e.RevisesSeq, err = resolve(e.RevisesSeq); err != nil {
			return nil, head, err
		}
		e.PrevHash = head.Hash
		e.Hash = storage.EntryHash(e, e.PrevHash)
		head = storage.ChainHead{Seq: e.Seq, Hash: e.Hash}
	}
	for _, r := range c.receipts {
		if _, err := resolve(r.handle); err != nil {
			return nil, head, err
		}
	}
	for _, d := range c.deferred {
		if _, err := resolve(d); err != nil {
			return nil, head, err
		}
	}
	return seqOf, head, nil
}

// settle tells the callers of Append where their entries landed, once
// the transaction committed.
func (c *chainState) settle() {
	for _, p := range c.entries {
		p.caller.Seq, p.caller.PrevHash, p.caller.Hash = p.e.Seq, p.e.PrevHash, p.e.Hash
		p.caller.ResolvesSeq, p.caller.RevisesSeq = p.e.ResolvesSeq, p.e.RevisesSeq
	}
}

// chainAppends is the commit's first step when the transaction appended
// (or touched the head): one pipeline sends the pending writes and, last,
// locks the head; then the entries are numbered and hashed, and their
// inserts, the handles' replacement, the head's move and the NOTIFY are
// queued for the pipeline that ends with COMMIT. The lock is thus held
// for one round trip, the hashing and COMMIT's WAL flush.
func (t *tx) chainAppends(ctx context.Context, channel string) error {
	if !t.moved {
		return nil
	}
	err := t.send(ctx, statement{lockHead, nil, func(res pgx.BatchResults) error {
		err := res.QueryRow().Scan(&t.head.Seq, &t.head.Hash)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			err = fmt.Errorf("postgres: commit: the chain_head row is missing (the database was changed behind paystate's back): %w",
				storage.ErrUnavailable)
		case err != nil:
			err = unavailable("commit: lock chain head", err)
		default:
			t.locked = true
			return nil
		}
		if t.failed == nil {
			t.failed = err
		}
		return err
	}})
	if err != nil {
		return err
	}
	seqOf, head, err := t.chain.number(t.head)
	if err != nil {
		return err
	}
	for _, p := range t.chain.entries {
		n := &p.e
		if err := t.queue(fmt.Sprintf("append entry %d", n.Seq), `INSERT INTO journal (`+journalColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)`,
			n.Seq, n.Key.Provider, n.Key.Kind, n.Key.ID, n.Event, n.Verdict, n.Reason,
			n.StateBefore, n.StateAfter, n.VersionAfter, n.DedupeKey, n.BodySHA256, n.RedactedBody,
			n.Payload, toMicros(n.ReceivedAt), toMicros(n.OccurredAt), n.ResolvesSeq, skippedArg(n.Skipped),
			n.Actor, n.MachineVersion, n.RevisesSeq, n.PrevHash, n.Hash); err != nil {
			return err
		}
	}
	if len(t.chain.receipts) > 0 {
		var ps, ks []string
		var ss []int64
		for _, r := range t.chain.receipts {
			ps, ks, ss = append(ps, r.provider), append(ks, r.key), append(ss, seqOf[r.handle])
		}
		if err := t.queue("commit: receipts' sequences", `UPDATE receipts r SET seq = m.seq
			FROM unnest($1::text[], $2::text[], $3::bigint[]) AS m(provider, dedupe_key, seq)
			WHERE r.provider = m.provider COLLATE "C" AND r.dedupe_key = m.dedupe_key COLLATE "C"`, ps, ks, ss); err != nil {
			return err
		}
	}
	if len(t.chain.deferred) > 0 {
		var hs, ss []int64
		for _, h := range t.chain.deferred {
			hs, ss = append(hs, h), append(ss, seqOf[h])
		}
		if err := t.queue("commit: held events' sequences", `UPDATE deferred d SET seq = m.seq
			FROM unnest($1::bigint[], $2::bigint[]) AS m(handle, seq) WHERE d.seq = m.handle`, hs, ss); err != nil {
			return err
		}
	}
	if err := t.queue("commit: move chain head", `UPDATE chain_head SET seq = $1, hash = $2 WHERE id = 1`,
		head.Seq, head.Hash); err != nil {
		return err
	}
	// Delivered to every Listen on the schema when, and only if, the
	// transaction commits.
	return t.queue("commit: announce", `SELECT pg_notify($1, '')`, channel)
}

// aggregateLock is the advisory lock key of an aggregate: the FNV-64a of
// (schema, provider, kind, id), in PostgreSQL's one-bigint advisory lock
// space (distinct from the two-int4 one of the migration and store
// locks). Advisory locks are the database's, so the schema is in it:
// deployments in two schemas of one database do not wait for each other.
// Two keys that collide merely wait for each other.
func aggregateLock(schema string, k storage.AggregateKey) int64 {
	h := fnv.New64a()
	for _, s := range []string{schema, k.Provider, k.Kind, k.ID} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return int64(h.Sum64())
}

// AggregateLock is the advisory lock key the store's writers take for
// key while they decide, as pg_locks shows it: locktype advisory, classid
// its high 32 bits, objid its low 32, objsubid 1. Writers take a batch's
// keys in ascending order of it. For finding who waits for whom.
func (s *Store) AggregateLock(key storage.AggregateKey) int64 {
	return aggregateLock(s.cfg.schema, key)
}

// lockKeys queues, ahead of whatever is sent next, the transaction-scoped
// advisory locks of the keys this transaction does not hold yet, in key
// order: writers of one aggregate — whether or not its row exists yet,
// and whatever they read of it (its row, its held events, its receipts)
// — are serialized by it, writers of others are not. Taken in a
// statement of its own, so that every later statement (a fresh snapshot
// under READ COMMITTED) sees what the previous holder committed. Locks
// taken in two transactions in different orders may deadlock; PostgreSQL
// aborts one (40P01) and Update runs it again.
func (t *tx) lockKeys(keys ...storage.AggregateKey) {
	var ls []int64
	for _, k := range keys {
		if !validKey(k) {
			continue
		}
		l := aggregateLock(t.schema, k)
		if t.held == nil {
			t.held = map[int64]bool{}
		}
		if !t.held[l] {
			t.held[l] = true
			ls = append(ls, l)
		}
	}
	if len(ls) == 0 {
		return
	}
	slices.Sort(ls)
	// Queued, not sent: it rides ahead of the next statement. A failed
	// transaction fails it at once, and that is reported there.
	_ = t.queue("lock aggregates", `SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k`, ls)
}
