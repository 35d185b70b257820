// Package postgres is the shared-database paystate backend: storage.Store
// on PostgreSQL through github.com/jackc/pgx/v5 (pgxpool). It exists so
// that several paystate processes — replicas behind one load balancer —
// can decide webhooks against one database without ever applying an event
// twice or breaking the journal's chain.
//
// # One writer at a time, through the chain head
//
// Update begins a READ COMMITTED transaction whose first statement locks
// the one row of chain_head, sent in one round trip with the
// transaction's first other statement (usually the batch's lookup):
//
//	SELECT seq, hash FROM chain_head WHERE id = 1 FOR UPDATE
//
// Every write transaction of every process does the same, so write
// transactions run one at a time across the whole deployment, in the
// order they got the lock. That single choice gives three guarantees:
//
//   - The journal's global order is gap-free and every Append extends the
//     chain from the true head: seq and prev_hash are head + 1 and head's
//     hash, read under the lock, not a sequence (which leaves gaps on
//     rollback) or a MAX(seq) two replicas could both read.
//   - A dedupe receipt committed by one replica is visible to the next
//     transaction before it decides. Under READ COMMITTED each statement
//     sees what was committed before it began, and every statement after
//     the lock began after the previous writer committed; so "no receipt
//     yet, apply the event" cannot happen in two replicas for one event.
//     (The receipts primary key would still refuse the second insert, but
//     only after both had decided; the lock means the race never starts.)
//   - Writers cannot deadlock one another on aggregate rows, whatever
//     order they lock them in, because they never run together.
//
// The cost is that writes do not run in parallel, across processes as
// within one: the lock is held from the first statement to COMMIT, so
// write throughput is bounded by one transaction's round trips plus its
// WAL flush (synchronous_commit on), and adding replicas adds no write
// capacity — only availability and read capacity. The engine's group
// commit amortizes it: it puts every webhook waiting in a process into
// one Update, so a busy replica pays one lock, one head update and one
// flush for a whole batch. SERIALIZABLE isolation would allow parallel
// writers but would abort most of them anyway — every Append touches the
// head — and turn contention into retries.
//
// LockAggregate still takes a row lock (SELECT ... FOR UPDATE), as the
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
// and every round trip of a write transaction is taken under the chain
// head lock, so it delays every other writer of every replica. Writes
// whose answer nothing waits for — Append, PutAggregate, PutReceipt,
// Defer — are held back and sent in one pipeline (a pgx batch) ahead of
// the next statement that does wait (a read, Undefer) or before COMMIT,
// with the chain head update. Such a write that fails is reported by the
// call that sent it, or by Update, and aborts the transaction as any
// failed statement does; a duplicate receipt, which the engine's lookup
// rules out under the lock, is one. Lookup reads a whole batch's
// receipts, aggregates and held markers in one round trip, with the head
// lock. BEGIN rides in the transaction's first pipeline and COMMIT in its
// last, after the writes (Update manages the transaction on the
// connection itself; pgx.Tx spends a round trip on each). A batch of
// ingested events thus costs two round trips, however many events it
// holds (deferred events resolved cost one more each, for Undefer), and
// the lock is held from the first pipeline to the end of COMMIT: the
// engine deciding the batch, one round trip and the WAL flush.
//
// # Schema, search_path and migrations
//
// WithSchema puts the tables in a schema of their own: every pooled
// connection runs SET search_path when it connects (pgxpool's
// AfterConnect), so the SQL never names a schema and one database can
// hold several paystate deployments — or, as in the tests, a fresh schema
// per test. The schema is the numbered SQL files under migrations/,
// embedded in the binary and applied by Open (or Migrate) in one
// transaction under pg_advisory_xact_lock, recorded in schema_migrations;
// processes started together take turns and all but the first find
// nothing to do. A database migrated by a newer paystate is refused with
// storage.ErrSchemaTooNew. The database must use the UTF8 encoding.
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
