// Package postgres is the shared-database paystate backend: storage.Store
// on PostgreSQL through github.com/jackc/pgx/v5 (pgxpool). It exists so
// that several paystate processes — replicas behind one load balancer —
// can decide webhooks against one database without ever applying an event
// twice or breaking the journal's chain.
//
// # Writers wait for each other per aggregate; a sealer makes the chain
//
// Update runs fn in a READ COMMITTED transaction. While fn decides, the
// transaction holds only transaction-scoped advisory locks, one per
// aggregate it reads or writes (pg_advisory_xact_lock of a 64-bit hash of
// the key, taken in key order in a statement of its own ahead of the
// lookup that reads the aggregate). Writers of one aggregate — whether or
// not its row exists yet, which a row lock could not cover — therefore
// run one after the other, and each statement after the lock (a fresh
// snapshot under READ COMMITTED) sees what the previous holder committed:
// its aggregate row, its held events and the receipts of its events.
// Writers of different aggregates run in parallel, on one replica's pool
// as across replicas. Two transactions that take two aggregates' locks in
// opposite orders deadlock; PostgreSQL aborts one (40P01) and Update runs
// it again. The engine avoids it where it can: a batch's deliveries, and
// an expiry sweep's held events, have their keys looked up (and locked)
// in one Lookup before anything is decided (Store.AggregateLock names a
// key's lock, as pg_locks shows it).
//
// No writer takes the chain head's lock (docs/postgres-sealer.md). Append
// gives the entry a handle — a unique negative number, from a block of
// 1024 that the store fetches from the journal_handles sequence in a
// transaction's first pipeline — and inserts it with seq = handle and no
// hashes; its commit_order column takes a nextval as the row is inserted.
// fn may use the handle wherever a sequence goes (a receipt, a held
// event, ResolvesSeq). Once Update returns nil the entry is durable and
// unsealed: everything derived from it is visible, but it has no place in
// the chain (Seq 0 in the caller's entry), and no reader asking seq >
// after (after >= 0) sees it. The store is a storage.Sealer: Seal (seal.go)
// — one round at a time across every process, since it holds the head's
// row lock,
//
//	SELECT seq, hash FROM chain_head WHERE id = 1 FOR UPDATE
//
// — reads the committed unsealed rows by commit_order, numbers them head +
// 1, head + 2, ..., rewrites a handle in ResolvesSeq or RevisesSeq into
// the sequence of the entry it names, links and hashes them
// (storage.EntryHash), moves the head and NOTIFYs, in one transaction.
// RunSealer runs it after this store's commits and on a timer. So:
//
//   - The journal's order is gap-free and every entry extends the chain
//     from the true head: seq and prev_hash come from the head read under
//     its lock, never from a sequence or a MAX(seq) two replicas could
//     both read. A round rolled back (a crash) leaves its rows unsealed
//     for the next one.
//   - An aggregate's entries are chained in the order of its versions, a
//     held event's deferral before its resolution: a transaction that
//     read another's writes inserted its rows after that one committed,
//     so its commit_order is larger and any snapshot that sees it sees the
//     other (seal.go). A row that commits late is sealed by a later round,
//     after the rows sealed before it: nothing is placed behind the head.
//   - Receipts and held events keep the handle they were written with
//     (the sealer does not rewrite rows writers may delete); readers
//     translate it to the entry's sequence through the unique partial
//     index journal_by_handle (Receipts, Deferred, ExpiredDeferred, and
//     receipts read inside a transaction), and Undefer takes either. A
//     held event expired waiting keeps its expiry entry's handle too
//     (expired_seq), translated by Deferred the same way.
//   - A dedupe receipt committed by one replica is seen by the next
//     writer of the same aggregate before it decides. Two replicas taking
//     the same event with no aggregate at once both decide; the second
//     receipt insert then fails on the primary key (23505 on
//     receipts_pkey) and Update runs the transaction again, whose lookup
//     finds the receipt.
//
// What is still serial is sealing: one short transaction per round,
// whatever the number of entries, with no engine work inside.
//
// LockAggregate also takes the row lock (SELECT ... FOR UPDATE), as the
// contract promises: it orders paystate against sessions that are not
// paystate writers (an operator's UPDATE, a migration).
//
// Reads run on a separate pool of read-only sessions, outside any write
// transaction. PostgreSQL's plain reads take no row locks, so the API and
// the reconciler never wait behind the writer and never see what it has
// not committed; and a write transaction that reads through the Store
// never waits for a pool connection held by a writer queued behind it.
//
// # Retries and errors, by SQLSTATE
//
// Errors are classified by the SQLSTATE of *pgconn.PgError, never by
// message text. Update runs fn again, with a growing, jittered pause, when
// the transaction is aborted with serialization_failure (40001),
// deadlock_detected (40P01) or lock_not_available (55P03, from
// WithLockTimeout) — at the head lock, inside fn or at commit — since
// another attempt may succeed. Out of attempts, such an error wraps
// storage.ErrUnavailable. So do a lost or refused connection, the
// connection_exception class (08), admin or crash shutdown and "cannot
// connect now" (57P01-57P03), insufficient resources (53: disk full, out
// of memory, too many connections), system errors (58) and a read-only
// (standby) server (25006). A failure to begin or commit always wraps
// storage.ErrUnavailable; a COMMIT whose answer was lost may nonetheless
// have committed, which the dedupe receipt makes harmless when the
// provider retries. An error returned by fn is returned unchanged after
// rollback; no rows is storage.ErrNotFound.
//
// PostgreSQL aborts a transaction at its first failed statement. Tx
// methods therefore check what they can before sending SQL, and Update
// refuses to commit a transaction in which a statement failed even if fn
// returned nil.
//
// # Round trips
//
// A round trip to the server costs more than the statements of one event,
// and a round trip taken under a lock delays every writer waiting for it.
// Writes whose answer nothing waits for — PutAggregate, PutReceipt, Defer,
// Append's insert — are held back and sent in one
// pipeline (a pgx batch) ahead of the next statement that does wait (a
// read, Undefer) or at commit. Such a write that fails is reported by the
// call that sent it, or by Update, and aborts the transaction as any
// failed statement does. Lookup reads a whole batch's
// receipts, aggregates and held markers in one round trip, after the
// aggregates' locks. BEGIN (with, when the store's block of handles is
// half spent, the next block's nextval) rides in the transaction's first
// pipeline and COMMIT in its last (Update manages the transaction on the
// connection itself; pgx.Tx spends a round trip on each). A batch of
// ingested events thus costs two round trips however many events it
// holds (deferred events resolved cost one more each, for Undefer): the
// lookup; the writes, the journal's inserts and COMMIT.
//
// # Schema, search_path and migrations
//
// WithSchema puts the tables in a schema of their own: every pooled
// connection runs SET search_path when it connects (pgxpool's
// AfterConnect), so the SQL never names a schema and one database can
// hold several paystate deployments — or, as in the tests, a fresh schema
// per test. The schema is the numbered SQL files under migrations/,
// embedded in the binary and applied by Open (or Migrate) in one
// transaction, recorded in schema_migrations, on a session of its own
// that holds the migration lock (session-level, so that it also covers
// WithAfterMigrate's derivation): processes started together take turns
// and all but the first find nothing to do. An upgrade is applied only
// with the store's lock held alone, so never under running servers of
// the version before (lock.go, ErrUpgradeBlocked). A database migrated
// by a newer paystate is refused with storage.ErrSchemaTooNew. The database must use the UTF8 encoding.
//
// # Times and text
//
// Times are BIGINT unix microseconds in UTC (0 for the zero time), exactly
// as in the SQLite backend: microseconds are what storage.EntryHash
// hashes, so entries read back hash exactly as they were written, and
// there is no time zone to get wrong. Bodies and payloads are BYTEA and
// keep any bytes. PostgreSQL text cannot hold a NUL byte or invalid UTF-8;
// a write carrying one in a text field fails with an error wrapping
// ErrInvalidText (not ErrUnavailable: a retry cannot fix it), before any
// SQL is sent, so the transaction stays usable; a read by such a key finds
// nothing, since nothing can have been stored under it. Text used for
// lookups and ordering is COLLATE "C": byte order, as in SQLite.
package postgres
