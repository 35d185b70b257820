package postgres

// Unsealed appends. A write transaction never takes the chain head's
// lock: Append gives each entry a handle, a unique negative number, and
// inserts it with seq = handle and no hashes; the sealer (seal.go) later
// gives committed entries their sequence and hashes, in commit_order.
// Receipts and held events keep the handle they were written with, and
// readers translate it (reader.go). That a transaction decides on what
// every earlier writer of the same aggregate committed, the aggregate's
// advisory lock provides (lockKeys).

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/paystate/paystate/storage"
)

// handleBlock is how many handles one nextval('journal_handles') gives
// out: the sequence's INCREMENT BY (migration 0007).
const handleBlock = 1024

// handles is a store's current block of handles, shared by its
// transactions, and the next block, fetched ahead in a transaction's
// first pipeline (send) once half the current one is spent, so that
// Append almost never costs a round trip. Handles a rollback or a restart
// leaves unused are simply never seen: they need be unique, not
// gap-free.
type handles struct {
	mu        sync.Mutex
	next, end int64
	spare     int64 // the next block's start; 0 when none was fetched
}

// take returns the next handle, or false when both blocks are spent.
func (h *handles) take() (int64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.next >= h.end {
		if h.spare == 0 {
			return 0, false
		}
		h.next, h.end, h.spare = h.spare, h.spare+handleBlock, 0
	}
	v := h.next
	h.next++
	return -v, true
}

// wantSpare: the current block is half spent and no next one is fetched.
func (h *handles) wantSpare() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.spare == 0 && h.end-h.next < handleBlock/2
}

// addSpare keeps start (a value of nextval) as the next block, unless
// another transaction fetched one first.
func (h *handles) addSpare(start int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.spare == 0 && start > 0 {
		h.spare = start
	}
}

// handle returns a handle for the transaction's next Append: from the
// store's blocks or, when both are spent (appends faster than the
// transactions' first pipelines fetch blocks), from a block read in a
// round trip of its own, which also sends the pending writes. nextval is
// not transactional: a block is never given out twice.
func (t *tx) handle(ctx context.Context) (int64, error) {
	for {
		if h, ok := t.store.handles.take(); ok {
			return h, nil
		}
		var start int64
		err := t.send(ctx, statement{nextHandles, nil, func(res pgx.BatchResults) error {
			return t.classify("append: handles", res.QueryRow().Scan(&start))
		}})
		if err != nil {
			return 0, err
		}
		if start <= 0 {
			return 0, fmt.Errorf("postgres: append: journal_handles gave %d", start)
		}
		t.store.handles.addSpare(start)
	}
}

// nextHandles fetches a block of handles.
const nextHandles = `SELECT nextval('journal_handles')`

// insertEntry is Append's INSERT. commit_order takes its default, a
// nextval evaluated as the row is inserted: after every lock the
// transaction took before, so after the commit of every transaction
// whose writes it read.
const insertEntry = `INSERT INTO journal (` + journalColumns + `, handle)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $1)`

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
