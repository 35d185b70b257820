package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// ErrLocked is returned by Lock when another session holds the store's
// lock in a mode that conflicts with the one asked for.
var ErrLocked = errors.New("the store is locked by another paystate process")

// storeLockClass is the first key of the session-level advisory lock on a
// schema's store ("pslk"); the second is the schema's hash, as for
// migrations. It is distinct from migrateLockClass so that a running
// server does not stop a replica from migrating at start.
const storeLockClass int32 = 0x70736c6b

// Lock takes the store's advisory lock on a connection of its own and
// holds it until release is called (or the connection is lost, when
// PostgreSQL drops it). Shared holders are the servers, any number of
// them; an exclusive holder is a tool that rewrites state behind the
// engine (rebuild --fix), and it excludes every server. Lock does not
// wait: it fails with ErrLocked when the lock is held in a conflicting
// mode. Only WithSchema among the options matters to it.
func Lock(ctx context.Context, dsn string, exclusive bool, opts ...Option) (release func(), err error) {
	cfg := newConfig(opts)
	pc, err := poolConfig(dsn, cfg, false)
	if err != nil {
		return nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, pc.ConnConfig)
	if err != nil {
		return nil, classify("connect for the store lock", err)
	}
	fn := "pg_try_advisory_lock_shared"
	if exclusive {
		fn = "pg_try_advisory_lock"
	}
	var got bool
	if err := conn.QueryRow(ctx, `SELECT `+fn+`($1, $2)`, storeLockClass, migrateLockKey(cfg.schema)).Scan(&got); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, classify("take the store lock", err)
	}
	if !got {
		conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("postgres: schema %q: %w", lockedSchema(cfg.schema), ErrLocked)
	}
	// Unlock before closing: closing the session also releases the lock,
	// but only once the server has ended the backend, after Close returns,
	// so a tool started right after a server stopped could still be told
	// the store is locked.
	unlock := "pg_advisory_unlock_shared"
	if exclusive {
		unlock = "pg_advisory_unlock"
	}
	return func() {
		// Bounded: a database that stopped answering must not hold the
		// process that is letting go of it (closing the session releases
		// the lock anyway, once the server notices).
		ctx, cancel := context.WithTimeout(context.Background(), cmp.Or(cfg.timeout, rollbackTimeout))
		defer cancel()
		_, _ = conn.Exec(ctx, `SELECT `+unlock+`($1, $2)`, storeLockClass, migrateLockKey(cfg.schema))
		conn.Close(ctx)
	}, nil
}

func lockedSchema(s string) string {
	if s == "" {
		return "(search_path)"
	}
	return s
}
