package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/paystate/paystate/storage"
)

var _ storage.Store = (*Store)(nil)

const (
	defaultReadConns   = 4
	defaultWriteConns  = 2
	defaultMaxAttempts = 5
	defaultBackoff     = 10 * time.Millisecond
	rollbackTimeout    = 5 * time.Second
	maxIdentifierLen   = 63 // NAMEDATALEN - 1 in a stock build
)

// Store is a paystate database in one PostgreSQL schema. Several Stores,
// in one process or many, may share the schema. It is safe for concurrent
// use.
type Store struct {
	writer *pgxpool.Pool // used only by Update
	reader *pgxpool.Pool // read-only sessions; used by every Reader method
	cfg    config
	closed atomic.Bool
	// onRetry, when set (by tests), is called before each retry.
	onRetry func(err error)
	// onTx, when set (by tests), is told how many round trips each write
	// transaction took, BEGIN and COMMIT included.
	onTx func(trips int)
	// handles is the block Append takes handles from (chain.go).
	handles handles
	// committed is signalled when a transaction that appended commits:
	// it wakes RunSealer.
	committed chan struct{}
	// sealing lets one Seal of this store run at a time (seal.go).
	sealing sync.Mutex
	// lock is the session holding the store's lock (WithStoreLock), or
	// nil.
	lock *lockSession
}

type config struct {
	schema      string
	readConns   int32
	writeConns  int32
	maxAttempts int
	backoff     time.Duration
	lockTimeout time.Duration
	timeout     time.Duration
	// Open's locks (lock.go).
	storeLock    int
	upgradeWait  time.Duration
	afterMigrate func(context.Context, *Store) error
	waitNotice   func()
}

func newConfig(opts []Option) config {
	cfg := config{readConns: defaultReadConns, writeConns: defaultWriteConns,
		maxAttempts: defaultMaxAttempts, backoff: defaultBackoff}
	for _, o := range opts {
		o(&cfg)
	}
	return cfg
}

// Option configures Open, Migrate and SchemaVersion.
type Option func(*config)

// WithSchema keeps paystate's tables in the named schema: every pooled
// connection sets its search_path to it (and only it) when it connects.
// Migrate creates the schema if it does not exist. Without WithSchema the
// tables live in the first schema of the server's search_path.
func WithSchema(name string) Option {
	return func(c *config) { c.schema = name }
}

// WithReadConns caps the read pool (default 4).
func WithReadConns(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.readConns = int32(n)
		}
	}
}

// WithWriteConns caps the write pool (default 2; the pool holds one more,
// for the sealer). Write transactions of different aggregates decide and
// commit in parallel; a second connection lets the next transaction
// decide while the current one commits.
func WithWriteConns(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.writeConns = int32(n)
		}
	}
}

// WithRetry sets how many times Update tries a transaction that
// PostgreSQL aborts with a serialization failure, a deadlock or a lock
// timeout (default 5), and the first pause between tries (default 10 ms,
// doubling, with jitter).
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

// WithLockTimeout bounds how long a write transaction waits for a lock
// (PostgreSQL's lock_timeout): a row's, an aggregate's advisory lock, the
// chain head's in a seal round or Touch; a wait that runs
// out is retried like a deadlock. The default, 0, waits as long as ctx
// allows.
func WithLockTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.lockTimeout = d
		}
	}
}

// WithTimeout bounds, on the server, every statement (statement_timeout,
// both pools) and how long a write transaction may sit idle between two
// statements (idle_in_transaction_session_timeout): a paystate whose
// connection stalled mid-transaction then cannot hold its aggregates'
// locks, or a seal round the chain head's and every replica's sealing
// with it, for longer than d. The
// callers bound the same calls with context deadlines (the engine, and
// storage.WithTimeout); this is the server's side of it, for a client
// that can no longer say so. Migrations are exempt. It also bounds
// connecting (connect_timeout, unless the DSN asks for less). The
// default, 0, leaves all three to the server's configuration and the DSN.
func WithTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// Open connects to the database named by dsn (a postgres:// URL or a
// key=value string, as pgx parses it) and brings the schema up to date.
// It fails with an error wrapping storage.ErrSchemaTooNew when the schema
// was migrated by a newer paystate, and wrapping storage.ErrUnavailable
// when the server cannot be reached.
//
// An upgrade (migrations to apply, or facts a migration left to derive:
// WithAfterMigrate) is applied only with the store's lock held alone:
// the servers of the version before hold it shared, and their code must
// not go on writing under the new schema. Open waits for them up to
// WithUpgradeWait, then fails with ErrUpgradeBlocked, having changed
// nothing. With nothing to apply it takes the lock only as
// WithStoreLock asks, so replicas of one version start alongside each
// other. Processes opening the schema at once take turns (the migration
// lock): the first applies the upgrade, the next find it done.
func Open(ctx context.Context, dsn string, opts ...Option) (_ *Store, err error) {
	cfg := newConfig(opts)
	l, err := startOpen(ctx, dsn, cfg)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			l.close()
		}
	}()
	if _, err := migrate(ctx, l.conn, cfg.schema); err != nil {
		return nil, err
	}
	writer, err := newPool(ctx, dsn, cfg, false)
	if err != nil {
		return nil, err
	}
	reader, err := newPool(ctx, dsn, cfg, true)
	if err != nil {
		writer.Close()
		return nil, err
	}
	if err := reader.Ping(ctx); err != nil {
		reader.Close()
		writer.Close()
		return nil, classify("open reader", err)
	}
	s := &Store{writer: writer, reader: reader, cfg: cfg, committed: make(chan struct{}, 1)}
	if cfg.afterMigrate != nil {
		if err := cfg.afterMigrate(ctx, s); err != nil {
			s.Close()
			return nil, err
		}
	}
	if s.lock, err = l.settle(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// poolConfig parses dsn and prepares every connection the pool opens: the
// search_path of the schema and, for the read pool, read-only sessions.
func poolConfig(dsn string, cfg config, readOnly bool) (*pgxpool.Config, error) {
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse DSN: %w", err)
	}
	if cfg.schema != "" {
		// A name too long: PostgreSQL would silently truncate it, and find
		// it under no name.
		if err := CheckSchema(cfg.schema); err != nil {
			return nil, fmt.Errorf("postgres: %w", err)
		}
	}
	// One more than the writers: the sealer's (seal.go).
	pc.MaxConns = cfg.writeConns + 1
	if readOnly {
		pc.MaxConns = cfg.readConns
		// A reader that tried to write would be refused by the server.
		pc.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	} else {
		if cfg.lockTimeout > 0 {
			pc.ConnConfig.RuntimeParams["lock_timeout"] = millis(cfg.lockTimeout)
		}
		if cfg.timeout > 0 {
			pc.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = millis(cfg.timeout)
		}
	}
	if cfg.timeout > 0 {
		pc.ConnConfig.RuntimeParams["statement_timeout"] = millis(cfg.timeout)
		// The pool goes on connecting after the caller gave up (pgxpool
		// keeps the connection for the next caller), and Close waits for
		// it: against a server that accepted the TCP connection and went
		// silent, only a connect timeout ends that wait.
		if ct := pc.ConnConfig.ConnectTimeout; ct == 0 || ct > cfg.timeout {
			pc.ConnConfig.ConnectTimeout = cfg.timeout
		}
	}
	if cfg.schema != "" {
		setPath := "SET search_path TO " + pgx.Identifier{cfg.schema}.Sanitize()
		pc.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
			_, err := c.Exec(ctx, setPath)
			return err
		}
	}
	return pc, nil
}

// millis is d as a PostgreSQL duration setting, at least 1 ms (0 would
// turn the setting off).
func millis(d time.Duration) string { return fmt.Sprintf("%dms", max(1, d.Milliseconds())) }

func newPool(ctx context.Context, dsn string, cfg config, readOnly bool) (*pgxpool.Pool, error) {
	pc, err := poolConfig(dsn, cfg, readOnly)
	if err != nil {
		return nil, err
	}
	// No connection is made here; the first use connects.
	p, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, classify("open pool", err)
	}
	return p, nil
}

// Close closes both pools, waiting for connections in use to be returned.
// Every call on a closed Store fails with storage.ErrUnavailable.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.reader.Close()
	s.writer.Close()
	if s.lock != nil {
		s.lock.close()
	}
	return nil
}

var errClosed = fmt.Errorf("postgres: store is closed: %w", storage.ErrUnavailable)

// Update runs fn in one READ COMMITTED transaction and commits it,
// chaining what fn appended (see the package documentation). A
// transaction PostgreSQL aborts with a serialization failure, a deadlock
// or a lock timeout (at an aggregate's lock, or inside fn), or whose receipt another transaction inserted first, is rolled
// back and run again, up to the configured number of attempts, so fn may
// run more than once.
func (s *Store) Update(ctx context.Context, fn func(tx storage.Tx) error) error {
	backoff := s.cfg.backoff
	for attempt := 1; ; attempt++ {
		err := s.updateOnce(ctx, fn)
		if err == nil || !retryable(err) || attempt >= s.cfg.maxAttempts {
			return err
		}
		if s.onRetry != nil {
			s.onRetry(err)
		}
		// Jitter, so that replicas that collided do not collide again.
		pause := backoff/2 + rand.N(backoff)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		backoff *= 2
	}
}

func (s *Store) updateOnce(ctx context.Context, fn func(tx storage.Tx) error) error {
	if s.closed.Load() {
		return errClosed
	}
	conn, err := s.writer.Acquire(ctx)
	if err != nil {
		return unavailable("begin", err)
	}
	// A connection released inside a transaction (a rollback that failed)
	// is closed by the pool, not reused.
	defer conn.Release()
	// BEGIN is sent in one round trip with fn's first statement, and
	// COMMIT with the last writes. fn decides holding only the advisory
	// locks of the aggregates it reads (lockKeys); its entries are
	// inserted unsealed, and the chain head is not locked (seal.go).
	t := &tx{conn: conn.Conn(), store: s, schema: s.cfg.schema}
	committed := false
	defer func() {
		if t.begun && !committed { // also when fn panics
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
			defer cancel()
			if _, err := t.conn.Exec(rctx, "ROLLBACK"); err != nil {
				_ = t.conn.Close(rctx)
			}
		}
	}()

	// Plan every statement of the transaction for its parameters. A
	// cached generic plan is made once per connection from the statistics
	// of that moment: made while the tables were small (a new database),
	// the batch lookups joined by hashing a sequential scan of receipts
	// and aggregates, kept that plan as the tables grew, and took 0.9 ms
	// per call at 20 000 receipts (pg_stat_statements), growing with the
	// table until autovacuum's next ANALYZE. A custom plan costs a little
	// planning and follows the table's size. Sent with the first
	// statement, in the same round trip.
	if err := t.queue("begin: plan per call", `SET LOCAL plan_cache_mode = force_custom_plan`); err != nil {
		return err
	}
	if err := fn(t); err != nil {
		return err
	}
	if t.failed != nil {
		// PostgreSQL aborts a transaction at its first failed statement;
		// COMMIT would only roll it back.
		return fmt.Errorf("postgres: a statement failed and fn went on: transaction rolled back: %w", t.failed)
	}
	// Whether a COMMIT whose answer was lost took effect cannot be known
	// here; the dedupe receipt makes the caller's retry safe.
	committed, err = t.commit(ctx)
	if s.onTx != nil {
		s.onTx(t.trips)
	}
	if committed && len(t.appended) > 0 {
		select {
		case s.committed <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
	return err
}

// SQLSTATE codes, from PostgreSQL's errcodes.txt, decided by code, never
// by message text.
const (
	codeSerializationFailure  = "40001"
	codeDeadlockDetected      = "40P01"
	codeLockNotAvailable      = "55P03"
	codeUniqueViolation       = "23505"
	codeReadOnlyTransaction   = "25006"
	codeInsufficientPrivilege = "42501"
	codeAdminShutdown         = "57P01"
	codeCrashShutdown         = "57P02"
	codeCannotConnectNow      = "57P03"
	codeQueryCanceled         = "57014" // statement_timeout, or a cancel request
	codeIdleInTxTimeout       = "25P03" // idle_in_transaction_session_timeout
	codeDataCorrupted         = "XX001"
	codeIndexCorrupted        = "XX002"
	classConnection           = "08" // connection exception
	classResources            = "53" // insufficient resources: disk full, out of memory, too many connections
	classSystem               = "58" // system error: I/O
)

// retryableCode: PostgreSQL aborted the transaction because of another
// transaction; running it again may succeed.
func retryableCode(code string) bool {
	switch code {
	case codeSerializationFailure, codeDeadlockDetected, codeLockNotAvailable:
		return true
	}
	return false
}

// unavailableCode: the database cannot serve the request now; a later try
// may succeed.
func unavailableCode(code string) bool {
	if retryableCode(code) {
		return true
	}
	switch code {
	case codeAdminShutdown, codeCrashShutdown, codeCannotConnectNow, codeQueryCanceled, codeIdleInTxTimeout,
		codeReadOnlyTransaction: // a standby, say after a failover
		return true
	}
	switch {
	case strings.HasPrefix(code, classConnection),
		strings.HasPrefix(code, classResources),
		strings.HasPrefix(code, classSystem):
		return true
	}
	return false
}

// readOnly reports whether err is the server refusing writes on this
// connection: a read-only transaction (or a standby), or a
// login without the privilege.
func readOnly(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == codeReadOnlyTransaction || pe.Code == codeInsufficientPrivilege)
}

// corruptCode: the server found its data or an index damaged.
func corruptCode(code string) bool { return code == codeDataCorrupted || code == codeIndexCorrupted }

// retryable reports whether err carries a SQLSTATE for which Update runs
// the transaction again: those of retryableCode, and a duplicate receipt,
// which another replica may have inserted between this transaction's
// lookup and its insert (an event with no aggregate, whose lock would
// have serialized them, delivered to both at once): run again, the
// lookup finds the receipt.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (retryableCode(pe.Code) ||
		pe.Code == codeUniqueViolation && pe.ConstraintName == "receipts_pkey")
}

// connectionLost reports whether err is a failure to reach the server or a
// connection that broke, rather than an answer from it.
func connectionLost(err error) bool {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false // the caller's own deadline, not the database's fault
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed)
}

// unavailable wraps a failure to begin or commit: ErrUnavailable, unless
// the server reported corruption.
func unavailable(op string, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && corruptCode(pe.Code) {
		return fmt.Errorf("postgres: %s: %w: %w", op, storage.ErrCorrupt, err)
	}
	return fmt.Errorf("postgres: %s: %w: %w", op, storage.ErrUnavailable, err)
}

// classify wraps a statement's error for callers: no rows is ErrNotFound;
// SQLSTATEs that mean the database cannot be used right now, and broken
// connections, are ErrUnavailable; anything else (a constraint, a bug) is
// returned wrapped but unclassified.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: %s: %w: %w", op, storage.ErrNotFound, err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		if corruptCode(pe.Code) {
			return fmt.Errorf("postgres: %s: %w: %w", op, storage.ErrCorrupt, err)
		}
		if unavailableCode(pe.Code) {
			return fmt.Errorf("postgres: %s: %w: %w", op, storage.ErrUnavailable, err)
		}
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	if connectionLost(err) {
		return fmt.Errorf("postgres: %s: %w: %w", op, storage.ErrUnavailable, err)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}
