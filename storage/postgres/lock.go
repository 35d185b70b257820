package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/paystate/paystate/storage"
)

// ErrLocked is returned by Lock when another session holds the store's
// lock in a mode that conflicts with the one asked for.
var ErrLocked = errors.New("the store is locked by another paystate process")

// ErrUpgradeBlocked is what Open and Migrate fail with when the store has
// an upgrade to apply (migrations, or facts a migration left to derive)
// and other sessions keep holding the store's lock: the servers of the
// version before, whose code would go on writing under the new schema.
// Nothing was changed.
var ErrUpgradeBlocked = errors.New("the store has an upgrade to apply while other paystate processes use it")

// storeLockClass is the first key of the session-level advisory lock on a
// schema's store ("pslk"); the second is the schema's hash, as for
// migrations. It is distinct from migrateLockClass so that a running
// server does not stop a replica of the same version from opening the
// store (which takes the migration lock) at start.
const storeLockClass int32 = 0x70736c6b

// defaultUpgradeWait is how long Open, with an upgrade to apply, waits for
// other processes to let go of the store's lock: a replica that is
// stopping lets go within it.
const defaultUpgradeWait = 10 * time.Second

// upgradePoll is how often Open tries the store's lock while it waits.
const upgradePoll = 100 * time.Millisecond

const (
	lockNone = iota
	lockShared
	lockExclusive
)

// WithStoreLock makes Open hold the store's lock until Close: shared for
// a server (any number of replicas share it), exclusive for a tool that
// rewrites state behind the engine (rebuild --fix), which excludes every
// server. Open fails with ErrLocked, without waiting, when the lock is
// held in a conflicting mode. Without it Open holds the lock only while
// it applies an upgrade.
func WithStoreLock(exclusive bool) Option {
	return func(c *config) {
		c.storeLock = lockShared
		if exclusive {
			c.storeLock = lockExclusive
		}
	}
}

// WithUpgradeWait bounds how long Open and Migrate, finding an upgrade to
// apply, wait for other sessions to let go of the store's lock before they
// fail with ErrUpgradeBlocked (default 10 s).
func WithUpgradeWait(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.upgradeWait = d
		}
	}
}

// WithAfterMigrate has Open run fn on the store it opened, after the
// migrations, still holding what it held to apply them: the store's lock
// alone when there was an upgrade to apply, and the migration lock, on
// which any other process's Open of the schema waits meanwhile (so that
// it finds the upgrade done). paystate derives there what a migration
// left to the journal (engine.DeriveFacts). Open fails with fn's error.
func WithAfterMigrate(fn func(context.Context, *Store) error) Option {
	return func(c *config) { c.afterMigrate = fn }
}

// WithWaitNotice has Open call fn once when it finds another process
// opening the schema (perhaps applying an upgrade) and waits for it.
func WithWaitNotice(fn func()) Option {
	return func(c *config) { c.waitNotice = fn }
}

// lockSession is a connection of its own on which a process holds the
// store's lock and, while it opens the store, the migration lock.
// Session-level advisory locks are the session's: held across
// transactions, released by unlocking or by the session's end (a process
// that dies lets go).
type lockSession struct {
	conn   *pgx.Conn
	cfg    config
	key    int32
	shared bool // the store lock, shared
	alone  bool // the store lock, exclusive
}

func openLockSession(ctx context.Context, dsn string, cfg config) (*lockSession, error) {
	pc, err := poolConfig(dsn, cfg, false)
	if err != nil {
		return nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, pc.ConnConfig)
	if err != nil {
		return nil, classify("connect for the store lock", err)
	}
	l := &lockSession{conn: conn, cfg: cfg, key: migrateLockKey(cfg.schema)}
	// The session waits for another process's migration, and runs one,
	// unbounded by the webhooks' timeouts (migrate sets them again for
	// its transaction).
	setup := `SET statement_timeout = 0; SET lock_timeout = 0`
	if cfg.schema != "" {
		setup += `; SET search_path TO ` + pgx.Identifier{cfg.schema}.Sanitize()
	}
	if _, err := conn.Exec(ctx, setup); err != nil {
		l.close()
		return nil, classify("prepare the store lock's session", err)
	}
	return l, nil
}

// try takes an advisory lock of class on the schema without waiting.
func (l *lockSession) try(ctx context.Context, fn string, class int32) (bool, error) {
	var got bool
	err := l.conn.QueryRow(ctx, `SELECT `+fn+`($1, $2)`, class, l.key).Scan(&got)
	return got, classify("take the store lock", err)
}

// close lets go of every lock of the session and ends it. Unlocked
// before closing: closing the session also releases the locks, but only
// once the server has ended the backend, after Close returns, so a tool
// started right after a server stopped could still be told the store is
// locked. Bounded: a database that stopped answering must not hold the
// process that is letting go of it (the server releases the locks when
// it notices).
func (l *lockSession) close() {
	ctx, cancel := context.WithTimeout(context.Background(), cmp.Or(l.cfg.timeout, rollbackTimeout))
	defer cancel()
	_, _ = l.conn.Exec(ctx, `SELECT pg_advisory_unlock_all()`)
	l.conn.Close(ctx)
}

// Lock takes the store's advisory lock on a connection of its own and
// holds it until release is called (or the connection is lost, when
// PostgreSQL drops it). Shared holders are the servers, any number of
// them; an exclusive holder is a tool that rewrites state behind the
// engine (rebuild --fix), and it excludes every server. Lock does not
// wait: it fails with ErrLocked when the lock is held in a conflicting
// mode. Only WithSchema among the options matters to it. (Open
// WithStoreLock takes the same lock, applying an upgrade first if there
// is one.)
func Lock(ctx context.Context, dsn string, exclusive bool, opts ...Option) (release func(), err error) {
	l, err := openLockSession(ctx, dsn, newConfig(opts))
	if err != nil {
		return nil, err
	}
	if err := l.take(ctx, exclusive); err != nil {
		l.close()
		return nil, err
	}
	return l.close, nil
}

// take takes the store lock, shared or exclusive, without waiting.
func (l *lockSession) take(ctx context.Context, exclusive bool) error {
	fn := "pg_try_advisory_lock_shared"
	if exclusive {
		fn = "pg_try_advisory_lock"
	}
	got, err := l.try(ctx, fn, storeLockClass)
	if err != nil {
		return err
	}
	if !got {
		return fmt.Errorf("postgres: schema %q: %w", lockedSchema(l.cfg.schema), ErrLocked)
	}
	if exclusive {
		l.alone = true
	} else {
		l.shared = true
	}
	return nil
}

// startOpen is the first step of Open and Migrate, on a session of their
// own. It waits for the migration lock (another process opening the
// schema may be applying an upgrade: it then finds none), reads whether
// an upgrade is due, and takes the store lock: alone when there is one,
// waiting up to the configured time for the other holders (servers of
// the version before) to let go, else as the caller asked (WithStoreLock).
// The caller migrates, runs WithAfterMigrate, and then calls settle.
func startOpen(ctx context.Context, dsn string, cfg config) (_ *lockSession, err error) {
	l, err := openLockSession(ctx, dsn, cfg)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			l.close()
		}
	}()
	got, err := l.try(ctx, "pg_try_advisory_lock", migrateLockClass)
	if err != nil {
		return nil, err
	}
	if !got {
		if cfg.waitNotice != nil {
			cfg.waitNotice()
		}
		if _, err := l.conn.Exec(ctx, `SELECT pg_advisory_lock($1, $2)`, migrateLockClass, l.key); err != nil {
			return nil, classify("wait for the migration lock", err)
		}
	}
	upgrade, err := l.upgradeDue(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case upgrade != "":
		return l, l.takeAlone(ctx, upgrade)
	case cfg.storeLock != lockNone:
		return l, l.take(ctx, cfg.storeLock == lockExclusive)
	}
	return l, nil
}

// upgradeDue names the upgrade the schema is due ("" for none): pending
// migrations, or the facts a migration left to derive. A schema newer
// than this binary is ErrSchemaTooNew.
func (l *lockSession) upgradeDue(ctx context.Context) (string, error) {
	current, err := schemaVersion(ctx, l.conn)
	if err != nil {
		return "", err
	}
	latest := LatestSchemaVersion()
	switch {
	case current > latest:
		return "", tooNew(current, latest)
	case current < latest:
		return fmt.Sprintf("migrations to apply (schema version %d, this binary's %d)", current, latest), nil
	}
	var pending bool
	if err := l.conn.QueryRow(ctx, `SELECT to_regclass('amount_facts_pending') IS NOT NULL`).Scan(&pending); err != nil {
		return "", classify("look up amount_facts_pending", err)
	}
	if pending {
		if err := l.conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM amount_facts_pending)`).Scan(&pending); err != nil {
			return "", classify("read amount_facts_pending", err)
		}
	}
	if pending {
		return "amount facts a migration left to derive from the journal", nil
	}
	return "", nil
}

// takeAlone takes the store lock exclusively for an upgrade, trying
// until the configured wait runs out; then it fails with
// ErrUpgradeBlocked, naming how many sessions hold the lock.
func (l *lockSession) takeAlone(ctx context.Context, upgrade string) error {
	deadline := time.Now().Add(cmp.Or(l.cfg.upgradeWait, defaultUpgradeWait))
	for {
		got, err := l.try(ctx, "pg_try_advisory_lock", storeLockClass)
		if err != nil {
			return err
		}
		if got {
			l.alone = true
			return nil
		}
		if time.Now().After(deadline) {
			return l.blocked(ctx, upgrade)
		}
		t := time.NewTimer(upgradePoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("postgres: wait to apply the upgrade alone: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// blocked is ErrUpgradeBlocked with who holds the store lock, as pg_locks
// tells it (every session's locks are visible to every login).
func (l *lockSession) blocked(ctx context.Context, upgrade string) error {
	var shared, alone int
	err := l.conn.QueryRow(ctx, `SELECT count(DISTINCT pid) FILTER (WHERE mode = 'ShareLock'),
			count(DISTINCT pid) FILTER (WHERE mode = 'ExclusiveLock')
		FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
			AND classid = $1::bigint::oid AND objid = $2::bigint::oid AND objsubid = 2`,
		int64(uint32(storeLockClass)), int64(uint32(l.key))).Scan(&shared, &alone)
	who := "other sessions hold its lock"
	if err == nil {
		switch {
		case alone > 0:
			who = "a tool rewriting state (paystate rebuild --fix) holds its lock"
		case shared == 1:
			who = "1 other session (a paystate server) holds its lock"
		default:
			who = fmt.Sprintf("%d other sessions (paystate servers) hold its lock", shared)
		}
	}
	return fmt.Errorf("postgres: schema %q: this paystate has %s, and %s: %w: stop the replicas running the older version, then start this one (nothing was changed)",
		lockedSchema(l.cfg.schema), upgrade, who, ErrUpgradeBlocked)
}

// settle ends the opening: the store lock is left as the caller asked
// (shared: taken in this session before the exclusive one is let go, so
// nothing else gets in between), and the migration lock let go. Without
// WithStoreLock the session ends, and settle returns nil.
func (l *lockSession) settle(ctx context.Context) (*lockSession, error) {
	if l.cfg.storeLock == lockNone {
		l.close()
		return nil, nil
	}
	if l.cfg.storeLock == lockShared && l.alone {
		if err := l.take(ctx, false); err != nil {
			return nil, err
		}
		if _, err := l.conn.Exec(ctx, `SELECT pg_advisory_unlock($1, $2)`, storeLockClass, l.key); err != nil {
			return nil, classify("let go of the store lock", err)
		}
		l.alone = false
	}
	if _, err := l.conn.Exec(ctx, `SELECT pg_advisory_unlock($1, $2)`, migrateLockClass, l.key); err != nil {
		return nil, classify("let go of the migration lock", err)
	}
	return l, nil
}

func tooNew(current, latest int) error {
	return fmt.Errorf("postgres: database is at schema version %d, this binary knows up to %d: %w",
		current, latest, storage.ErrSchemaTooNew)
}

func lockedSchema(s string) string {
	if s == "" {
		return "(search_path)"
	}
	return s
}
