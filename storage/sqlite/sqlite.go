package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/paystate/paystate/storage"
)

var _ storage.Store = (*Store)(nil)

// pragmas are set by the driver on every connection it opens, writer and
// readers alike:
//   - WAL: readers see the last commit while the writer works;
//   - synchronous=FULL: the WAL is fsynced at every commit, so a commit
//     that returned survives power loss (NORMAL could lose the last ones);
//   - busy_timeout: wait up to 5 s (WithBusyTimeout) for another
//     process's lock;
//   - txlock=immediate: BEGIN IMMEDIATE takes the write lock up front, so a
//     transaction never fails half-way when it first writes;
//   - foreign_keys: enforced should the schema ever declare one.
const pragmas = "_journal_mode=WAL&_synchronous=FULL&_txlock=immediate&_foreign_keys=1"

const (
	defaultReadConns   = 4
	defaultMaxAttempts = 5
	defaultBackoff     = 10 * time.Millisecond
	defaultBusyTimeout = 5 * time.Second
)

// Store is a paystate database in one SQLite file. It is safe for
// concurrent use.
type Store struct {
	writer *sql.DB // one connection; used only by Update, Checkpoint
	// shared are ingest's statements, prepared on the writer once.
	shared map[string]*sql.Stmt
	reader *sql.DB // query_only pool; used by every Reader method but AggregateView
	views  *views  // AggregateView's own query_only connections
	cfg    config
	// onRetry, when set (by tests), is called before each retry.
	onRetry func(err error)
}

type config struct {
	readConns   int
	maxAttempts int
	backoff     time.Duration
	busyTimeout time.Duration
}

// Option configures Open.
type Option func(*config)

// WithReadConns sets the size of the read pool, and the number of
// AggregateView's own connections (default 4 each).
func WithReadConns(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.readConns = n
		}
	}
}

// WithRetry sets how many times Update tries a transaction that SQLite
// reports busy or locked (default 5) and the first pause between tries
// (default 10 ms, doubling). Each try itself waits up to the 5 s busy
// timeout for the lock.
func WithRetry(attempts int, backoff time.Duration) Option {
	return func(c *config) {
		if attempts > 0 {
			c.maxAttempts = attempts
		}
		if backoff > 0 {
			c.backoff = backoff
		}
	}
}

// WithBusyTimeout sets how long a statement waits for a lock another
// connection holds (SQLite's busy_timeout; default 5 s) before it fails
// busy. A context's deadline cannot cut that wait short, so a caller that
// bounds store calls (the engine's commit deadline) should set it no
// longer than its bound.
func WithBusyTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.busyTimeout = d
		}
	}
}

// Open opens the database file at path (a file path, not a URI; not
// ":memory:", which two pools cannot share), creating it if needed, and
// brings its schema up to date. It fails with an error wrapping
// storage.ErrSchemaTooNew when the file was migrated by a newer paystate.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	s, err := open(ctx, path, opts...)
	return s, explainReadOnlyDir(path, err)
}

func open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	cfg := config{readConns: defaultReadConns, maxAttempts: defaultMaxAttempts, backoff: defaultBackoff, busyTimeout: defaultBusyTimeout}
	for _, o := range opts {
		o(&cfg)
	}
	keepFreedPages()
	if err := restrictFiles(path); err != nil {
		return nil, err
	}
	writer, err := openWriter(path, cfg.busyTimeout)
	if err != nil {
		return nil, err
	}
	if _, err := migrate(ctx, writer); err != nil {
		return nil, errors.Join(err, writer.Close())
	}
	if err := rewriteOldRows(ctx, writer); err != nil {
		return nil, errors.Join(err, writer.Close())
	}
	shared, err := prepareShared(ctx, writer)
	if err != nil {
		return nil, errors.Join(err, writer.Close())
	}
	reader, err := openReader(path, cfg.readConns, cfg.busyTimeout)
	if err != nil {
		return nil, errors.Join(err, writer.Close())
	}
	if err := reader.PingContext(ctx); err != nil {
		return nil, errors.Join(classify("open reader", err), reader.Close(), writer.Close())
	}
	views := newViews(dsn(path, cfg.busyTimeout, "_query_only=1&_mutex=no&_stmt_cache_size=4"), cfg.readConns)
	return &Store{writer: writer, shared: shared, reader: reader, views: views, cfg: cfg}, nil
}

func checkPath(path string) error {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return fmt.Errorf("sqlite: %q: want the path of a database file", path)
	}
	return nil
}

// dsn is a file: URI for path with the pragmas, the busy timeout (and
// extra) as parameters. The path is escaped so that '?', '#' and '%' in it
// stay part of the name.
func dsn(path string, busy time.Duration, extra string) string {
	s := "file:" + escapePath(path) + "?" + pragmas + fmt.Sprintf("&_busy_timeout=%d", max(1, busy.Milliseconds()))
	if extra != "" {
		s += "&" + extra
	}
	return s
}

var pathEscaper = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")

func escapePath(path string) string { return pathEscaper.Replace(path) }

// ReadOnlyURI is a read-only SQLite URI for the database file at path, for
// a connection of a caller's own (the bench reads a store through with
// one). It sets none of the store's pragmas.
func ReadOnlyURI(path string) string { return "file:" + escapePath(path) + "?mode=ro" }

func openWriter(path string, busy time.Duration) (*sql.DB, error) {
	// _mutex=no opens the connection without its own mutex
	// (SQLITE_OPEN_NOMUTEX): SQLite then does not lock and unlock it
	// around every call, some 4 % of the writer's instructions. That is
	// safe because the connection is never used by two threads at once:
	// database/sql hands a connection to one user at a time and makes
	// every driver call on it under its own lock (closing a statement
	// while the connection is busy is put off until it is free); the
	// driver's only call from elsewhere, sqlite3_interrupt on a cancelled
	// context, is safe from any thread; and its finalizers close only
	// what nothing references any more. SQLite's global mutexes (memory,
	// page cache) stay.
	//
	// _stmt_cache_size: the driver keeps the statements run on the
	// connection itself (not prepared through database/sql), the batch
	// writes' (tx.write: 4 statements in 7 sizes) among them, instead of
	// compiling them again for each call; they are finalized when the
	// connection closes.
	db, err := sql.Open("sqlite3", dsn(path, busy, "_mutex=no&_stmt_cache_size=48"))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open writer: %w", err)
	}
	// SQLite has one writer; a second connection would only queue on the
	// file lock instead of in the pool. Keep the one connection open so the
	// WAL and its index stay in place between transactions.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	return db, nil
}

func openReader(path string, conns int, busy time.Duration) (*sql.DB, error) {
	// The driver recompiles every statement on every call unless it keeps
	// them: compiling was two thirds of GetOrder's CPU.
	db, err := sql.Open("sqlite3", dsn(path, busy, "_query_only=1&_stmt_cache_size=16"))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open reader: %w", err)
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	return db, nil
}

// Close closes both pools.
func (s *Store) Close() error {
	return errors.Join(s.views.close(), s.reader.Close(), s.writer.Close())
}

// sharedQueries are the statements every ingested event or batch runs.
func sharedQueries() []string {
	// The multi-row writes are not among them: they run on the driver's
	// connection (tx.write), whose statement cache keeps them.
	qs := []string{readHead, writeHead}
	// Up to the engine's default batch; preparing the longest lookups
	// would add to every Open more than it saves.
	for n := 1; n <= 256; n *= 2 {
		qs = append(qs, receiptLookups[n], aggregateLookups[n])
	}
	return qs
}

// prepareShared prepares sharedQueries on the writer. It must run before
// any transaction: the writer's one connection is busy during one, and
// preparing on the pool would wait for it forever. Should database/sql
// replace the connection, a transaction borrowing a statement prepares it
// on the new one.
func prepareShared(ctx context.Context, db *sql.DB) (map[string]*sql.Stmt, error) {
	shared := map[string]*sql.Stmt{}
	for _, q := range sharedQueries() {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			return nil, classify("prepare", err)
		}
		shared[q] = st
	}
	return shared, nil
}

// checkpointWait bounds how long Checkpoint waits for readers of an
// older snapshot. A TRUNCATE checkpoint holds the writer while it waits
// (SQLite blocks new writers), so every commit waits with it. API reads
// take milliseconds; a reader that keeps one snapshot for the whole copy
// of the database (paystate backup) would hold every webhook's commit for
// the writer's busy timeout, past the engine's commit deadline (503).
// Given up, the WAL is truncated at the next checkpoint.
const checkpointWait = 100 * time.Millisecond

// Checkpoint copies the WAL into the database file and truncates the WAL
// to zero bytes. SQLite checkpoints on its own as the WAL grows; this is
// for an operator (before a file-level backup, say) or a quiet moment. It
// waits at most checkpointWait for readers (ErrUnavailable after that).
func (s *Store) Checkpoint(ctx context.Context) error {
	conn, err := s.writer.Conn(ctx)
	if err != nil {
		return unavailable("checkpoint", err)
	}
	defer conn.Close()
	if err := setBusyTimeout(ctx, conn, min(checkpointWait, s.cfg.busyTimeout)); err != nil {
		return err
	}
	var busy, logFrames, checkpointed int
	err = conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &checkpointed)
	// The writer's own timeout back, whatever the checkpoint did: its
	// transactions wait that long for another process's lock.
	if rerr := setBusyTimeout(context.WithoutCancel(ctx), conn, s.cfg.busyTimeout); rerr != nil {
		// Not reused with the short one: database/sql opens a new
		// connection from the DSN, which sets the right one.
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		return errors.Join(classify("checkpoint", err), rerr)
	}
	if err != nil {
		return classify("checkpoint", err)
	}
	if busy != 0 {
		return fmt.Errorf("sqlite: checkpoint blocked by a reader or writer: %w", storage.ErrUnavailable)
	}
	return nil
}

func setBusyTimeout(ctx context.Context, conn *sql.Conn, d time.Duration) error {
	_, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", max(1, d.Milliseconds())))
	return classify("set busy timeout", err)
}

// Update runs fn in one BEGIN IMMEDIATE transaction on the writer
// connection and commits it. A transaction SQLite reports busy or locked
// (at begin, at commit, or from inside fn) is rolled back and tried again,
// up to the configured number of attempts, so fn may run more than once.
func (s *Store) Update(ctx context.Context, fn func(tx storage.Tx) error) error {
	backoff := s.cfg.backoff
	for attempt := 1; ; attempt++ {
		err := s.updateOnce(ctx, fn)
		if err == nil || !isBusy(err) || attempt >= s.cfg.maxAttempts {
			return err
		}
		if s.onRetry != nil {
			s.onRetry(err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		backoff *= 2
	}
}

func (s *Store) updateOnce(ctx context.Context, fn func(tx storage.Tx) error) (err error) {
	// The transaction runs without ctx's cancellation (see tx.run): with
	// it, database/sql would watch ctx on a goroutine of its own for the
	// transaction and for each of its queries. BEGIN IMMEDIATE's wait for
	// the lock is bounded by the busy timeout.
	if err := ctx.Err(); err != nil {
		return unavailable("begin", err)
	}
	run := context.WithoutCancel(ctx)
	conn, err := s.writer.Conn(run)
	if err != nil {
		return unavailable("begin", err)
	}
	defer conn.Close()
	sqlTx, err := conn.BeginTx(run, nil)
	if err != nil {
		return unavailable("begin", err)
	}
	done := false
	defer func() {
		if !done { // fn panicked
			_ = sqlTx.Rollback()
		}
	}()
	t := &tx{tx: sqlTx, conn: conn, shared: s.shared, run: run}
	err = fn(t)
	if err == nil {
		err = t.flushHead(ctx)
	}
	if err != nil {
		done = true
		_ = sqlTx.Rollback()
		return err
	}
	done = true
	if err := sqlTx.Commit(); err != nil {
		return unavailable("commit", err)
	}
	return nil
}

// unavailable wraps a failure to begin or commit: ErrUnavailable, unless
// SQLite found the file damaged.
func unavailable(op string, err error) error {
	if corrupt(err) {
		return fmt.Errorf("sqlite: %s: %w: %w", op, storage.ErrCorrupt, err)
	}
	return fmt.Errorf("sqlite: %s: %w: %w", op, storage.ErrUnavailable, err)
}

// corrupt reports whether err is SQLite finding the file damaged
// (SQLITE_CORRUPT, "database disk image is malformed") or not a database
// at all (SQLITE_NOTADB): no retry will fix it.
func corrupt(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrCorrupt || se.Code == sqlite3.ErrNotADB)
}

// classify wraps a statement's error for callers: no rows is ErrNotFound;
// a damaged file is ErrCorrupt; SQLite result codes that mean the
// database cannot be used right now are ErrUnavailable; anything else (a
// constraint, a bug) is returned wrapped but unclassified. Codes, never
// message text, decide.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: %s: %w", op, storage.ErrNotFound)
	}
	if corrupt(err) {
		return fmt.Errorf("sqlite: %s: %w: %w", op, storage.ErrCorrupt, err)
	}
	var se sqlite3.Error
	if errors.As(err, &se) && unavailableCode(se.Code) {
		return fmt.Errorf("sqlite: %s: %w: %w", op, storage.ErrUnavailable, err)
	}
	if errors.Is(err, sql.ErrConnDone) || errors.Is(err, driver.ErrBadConn) {
		return fmt.Errorf("sqlite: %s: %w: %w", op, storage.ErrUnavailable, err)
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

func unavailableCode(c sqlite3.ErrNo) bool {
	switch c {
	case sqlite3.ErrBusy, sqlite3.ErrLocked, sqlite3.ErrNomem, sqlite3.ErrReadonly,
		sqlite3.ErrIoErr, sqlite3.ErrFull, sqlite3.ErrCantOpen,
		sqlite3.ErrProtocol, sqlite3.ErrPerm, sqlite3.ErrNoLFS:
		return true
	}
	return false
}

// isBusy reports whether err carries SQLITE_BUSY or SQLITE_LOCKED (any
// extended form), the codes for which a new transaction may succeed.
func isBusy(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked)
}
