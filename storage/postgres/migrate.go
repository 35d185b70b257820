package postgres

import (
	"context"
	"embed"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/paystate/paystate/storage"
	schema "github.com/paystate/paystate/storage/internal/migrations"
)

// The schema is a numbered list of SQL files, 0001_init.sql, 0002_... ; a
// file, once released, is never edited: a change is a new file. All
// pending files run in one transaction, so a file must not use statements
// PostgreSQL refuses inside one (CREATE INDEX CONCURRENTLY, say).
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// migrations returns the embedded migrations in order.
func migrations() ([]schema.Migration, error) {
	return schema.Load(migrationFS, "migrations", "postgres")
}

// LatestSchemaVersion is the newest schema version this binary knows.
func LatestSchemaVersion() int {
	ms, err := migrations()
	if err != nil {
		return 0
	}
	return schema.Latest(ms)
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at BIGINT  NOT NULL
)`

// migrateLockClass is the first key of the advisory lock migrations take
// ("pays"); the second is a hash of the schema name, so that migrations of
// different schemas in one database do not wait for each other.
const migrateLockClass int32 = 0x70617973

func migrateLockKey(schema string) int32 {
	h := fnv.New32a()
	h.Write([]byte(schema))
	return int32(h.Sum32())
}

// beginner is a pool or a connection.
type beginner interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// migrate applies every pending migration in one transaction, under a
// transaction-scoped advisory lock: paystate processes starting together
// take turns, and each one after the first finds the schema current. It
// fails with ErrSchemaTooNew, changing nothing, when the database was
// migrated by a newer binary.
func migrate(ctx context.Context, db beginner, schema string) (applied []int, err error) {
	ms, err := migrations()
	if err != nil {
		return nil, err
	}
	latest := ms[len(ms)-1].Version

	tx, err := db.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return nil, unavailable("begin migration", err)
	}
	defer func() {
		if err != nil {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
			defer cancel()
			_ = tx.Rollback(rctx)
		}
	}()
	// WithLockTimeout and WithTimeout are for webhooks, not for waiting
	// on another process's migration, or running one, which may take a
	// while.
	if _, err := tx.Exec(ctx, `SELECT set_config('lock_timeout', '0', true), set_config('statement_timeout', '0', true),
		set_config('idle_in_transaction_session_timeout', '0', true)`); err != nil {
		return nil, classify("migration lock timeout", err)
	}
	// Then, before anything is read: every statement after the lock sees
	// what a migration that held it before committed.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2)`,
		migrateLockClass, migrateLockKey(schema)); err != nil {
		return nil, classify("migration lock", err)
	}
	var encoding string
	if err := tx.QueryRow(ctx, `SELECT current_setting('server_encoding')`).Scan(&encoding); err != nil {
		return nil, classify("read server encoding", err)
	}
	if encoding != "UTF8" {
		return nil, fmt.Errorf("postgres: the database's encoding is %s; paystate needs UTF8", encoding)
	}
	if schema != "" {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`,
			schema).Scan(&exists); err != nil {
			return nil, classify("look up schema", err)
		}
		// Created only when missing: CREATE SCHEMA IF NOT EXISTS would
		// need the CREATE privilege on the database even when it exists.
		if !exists {
			if _, err := tx.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{schema}.Sanitize()); err != nil {
				return nil, classify("create schema", err)
			}
		}
	}
	// Created only when missing, too: a schema already current is then
	// opened without a write, by a read-only login or transaction (an
	// auditor's) as well.
	var tracked bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_tables
		WHERE schemaname = current_schema() AND tablename = 'schema_migrations')`).Scan(&tracked); err != nil {
		return nil, classify("look up schema_migrations", err)
	}
	if !tracked {
		if _, err := tx.Exec(ctx, createMigrationsTable); err != nil {
			return nil, classify("create schema_migrations", err)
		}
	}
	var current int
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return nil, classify("read schema version", err)
	}
	if current > latest {
		return nil, tooNew(current, latest)
	}
	now := time.Now().UnixMicro()
	for _, m := range ms {
		if m.Version <= current {
			continue
		}
		// Without arguments pgx sends the file as one simple query, which
		// may hold several statements.
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return nil, classify("apply migration "+m.Name, err)
		}
		if _, err := tx.Exec(ctx,
			`INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
			m.Version, m.Name, now); err != nil {
			return nil, classify("record migration "+m.Name, err)
		}
		applied = append(applied, m.Version)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, unavailable("commit migration", err)
	}
	return applied, nil
}

// Migrate brings the database named by dsn (in the WithSchema schema, which
// it creates if needed) up to LatestSchemaVersion and returns the versions
// it applied (none when the schema was already current). It is what Open
// does first, under the same locks (it fails with ErrUpgradeBlocked while
// other processes hold the store's lock); it exists on its own for a
// `paystate migrate` command. Only WithSchema, WithUpgradeWait and
// WithWaitNotice among the options matter to it.
func Migrate(ctx context.Context, dsn string, opts ...Option) (applied []int, err error) {
	cfg := newConfig(opts)
	cfg.storeLock = lockNone
	l, err := startOpen(ctx, dsn, cfg)
	if err != nil {
		return nil, err
	}
	defer l.close()
	return migrate(ctx, l.conn, cfg.schema)
}

// SchemaVersion returns the schema version of the database named by dsn
// (0 for a schema never migrated, or one that does not exist) without
// changing it. Only WithSchema among the options matters to it.
func SchemaVersion(ctx context.Context, dsn string, opts ...Option) (int, error) {
	cfg := newConfig(opts)
	cfg.readConns = 1
	pool, err := newPool(ctx, dsn, cfg, true)
	if err != nil {
		return 0, err
	}
	defer pool.Close()
	return schemaVersion(ctx, pool)
}

// SchemaVersion returns the schema version of the open database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	if s.closed.Load() {
		return 0, errClosed
	}
	return schemaVersion(ctx, s.reader)
}

// querier is a pool or a connection.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func schemaVersion(ctx context.Context, db querier) (int, error) {
	var table *string
	if err := db.QueryRow(ctx, `SELECT to_regclass('schema_migrations')::text`).Scan(&table); err != nil {
		return 0, classify("read schema version", err)
	}
	if table == nil {
		return 0, nil
	}
	var v int
	err := db.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	return v, classify("read schema version", err)
}

// MigrationStatus lists every migration this binary knows, applied or
// pending, and any the database recorded that it does not, without
// changing the database. Only WithSchema among the options matters to it.
func MigrationStatus(ctx context.Context, dsn string, opts ...Option) ([]storage.MigrationStatus, error) {
	ms, err := migrations()
	if err != nil {
		return nil, err
	}
	cfg := newConfig(opts)
	cfg.readConns = 1
	pool, err := newPool(ctx, dsn, cfg, true)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	var table *string
	if err := pool.QueryRow(ctx, `SELECT to_regclass('schema_migrations')::text`).Scan(&table); err != nil {
		return nil, classify("read migrations", err)
	}
	if table == nil {
		return schema.Status(ms, nil), nil
	}
	rows, err := pool.Query(ctx, `SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		return nil, classify("read migrations", err)
	}
	recorded, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (schema.Recorded, error) {
		var m schema.Recorded
		return m, r.Scan(&m.Version, &m.Name, &m.AppliedAt)
	})
	if err != nil {
		return nil, classify("read migrations", err)
	}
	return schema.Status(ms, recorded), nil
}
