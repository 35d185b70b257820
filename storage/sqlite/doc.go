// Package sqlite is the single-file paystate backend: storage.Store on
// SQLite through github.com/mattn/go-sqlite3 (cgo).
//
// # Durability
//
// Every connection runs in WAL mode with synchronous=FULL. In WAL mode a
// commit appends the transaction's pages to the write-ahead log; with FULL
// the log is fsynced before COMMIT returns. So when Update returns nil the
// transaction is on disk and survives a crash of the process, the OS or
// the power, provided the disk honours fsync (a disk or virtual machine
// that acknowledges writes it has only cached can lose them, and no
// database can help that). synchronous=NORMAL, the usual WAL choice, would
// be faster and still never corrupt the file, but could drop the last
// commits on power loss: a webhook already answered 200 would be lost,
// and the provider would not send it again.
//
// # One writer, separate readers
//
// SQLite allows one writer at a time per database file. The store has one
// writer connection (a *sql.DB capped at one connection), used only by
// Update, so writers in this process queue in Go instead of spinning on
// the file lock. Transactions begin with BEGIN IMMEDIATE, which takes the
// write lock up front: a transaction that has begun will not fail later
// with SQLITE_BUSY when it first writes, and LockAggregate needs no row
// lock because the whole database is held. The 5 s busy timeout covers
// another process (a `paystate migrate`, a backup) holding the lock; past
// it Update retries a few times with a growing pause, then reports
// storage.ErrUnavailable. A batch's journal rows, receipts and aggregates
// are written by multi-row statements run on the writer's driver
// connection itself (sql.Conn.Raw), not through database/sql (pending.go).
//
// Reads use a second pool of query_only connections. Under WAL a reader
// sees the last committed state and neither waits for the writer nor
// holds it up, so the API and the reconciler keep answering while events
// are being applied. AggregateView (GetOrder when the view cache does not
// hold the order) has query_only connections of its own, read through the
// driver rather than database/sql and bounded without a timer per read
// (point.go). SQLite empties a read connection's page cache at its first
// read after a commit; so that the pages it frees are not given back to
// the kernel and faulted in again by the next reads, Open raises glibc
// malloc's trim threshold for the process to 16 MiB (malloc.go).
//
// # Schema
//
// The schema is the numbered SQL files under migrations/, embedded in the
// binary and applied by Open (or Migrate) in one transaction, recorded in
// schema_migrations. A database migrated by a newer paystate is refused
// with storage.ErrSchemaTooNew rather than written with an older idea of
// its tables. Times are INTEGER unix microseconds in UTC (0 for the zero
// time), the precision storage.EntryHash covers, so entries read back hash
// exactly as they were written. chain_head holds the last journal entry's
// seq and hash and moves in the same transaction as every Append, so rows
// cut from the end of the journal no longer match the head and
// storage.VerifyChain reports it.
//
// Journal rows keep their hashes as 32 bytes and their bodies compressed
// with a fixed dictionary (migration 0007, body.go): what they read back
// as, and so what they hash to, is unchanged. Bodies in the file are
// therefore not plain text; read them through the store. The store is a
// storage.Encoder: the engine compresses a delivery's body and payloads
// on the submitting goroutine, before the batch, and Append writes those
// bytes, so that the single writer does not compress.
package sqlite
