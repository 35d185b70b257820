package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/paystate/paystate/storage"
	schema "github.com/paystate/paystate/storage/internal/migrations"
)

// The schema is a numbered list of SQL files, 0001_init.sql, 0002_... ; a
// file, once released, is never edited: a change is a new file.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// migrations returns the embedded migrations in order.
func migrations() ([]schema.Migration, error) {
	return schema.Load(migrationFS, "migrations", "sqlite")
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
    applied_at INTEGER NOT NULL
)`

// migrate applies every pending migration in one write transaction. It
// fails with ErrSchemaTooNew, changing nothing, when the database was
// migrated by a newer binary.
func migrate(ctx context.Context, db *sql.DB) (applied []int, err error) {
	ms, err := migrations()
	if err != nil {
		return nil, err
	}
	latest := ms[len(ms)-1].Version

	tx, err := db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: concurrent Opens queue
	if err != nil {
		return nil, unavailable("begin migration", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if _, err := tx.ExecContext(ctx, createMigrationsTable); err != nil {
		return nil, classify("create schema_migrations", err)
	}
	var current int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return nil, classify("read schema version", err)
	}
	if current > latest {
		return nil, fmt.Errorf("sqlite: database is at schema version %d, this binary knows up to %d: %w",
			current, latest, storage.ErrSchemaTooNew)
	}
	now := time.Now().UnixMicro()
	for _, m := range ms {
		if m.Version <= current {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return nil, classify("apply migration "+m.Name, err)
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			m.Version, m.Name, now); err != nil {
			return nil, classify("record migration "+m.Name, err)
		}
		applied = append(applied, m.Version)
	}
	if err := tx.Commit(); err != nil {
		return nil, unavailable("commit migration", err)
	}
	return applied, nil
}

// rewriteBatchRows is how many journal rows rewriteOldRows rewrites per
// transaction (a variable for tests).
var rewriteBatchRows int64 = 10_000

// rewriteOldRows rewrites every journal row of layout 0 in the current
// layout (0008_layout_rewrite.sql, body.go): the same entry, so the same
// hash, in fewer bytes. Each batch of rows is a transaction of its own
// that also records how far it got, so the WAL stays small and an
// interrupted rewrite goes on at the next Open. Readers read either
// layout meanwhile. The space it frees inside the file is reused by later
// rows; VACUUM gives it back to the file system.
func rewriteOldRows(ctx context.Context, db *sql.DB) error {
	for {
		done, err := rewriteBatch(ctx, db)
		if err != nil {
			return fmt.Errorf("sqlite: rewrite old journal rows: %w", err)
		}
		if done {
			return nil
		}
	}
}

func rewriteBatch(ctx context.Context, db *sql.DB) (done bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, unavailable("begin", err)
	}
	defer func() {
		if err != nil || done {
			_ = tx.Rollback()
		}
	}()
	var next, upto int64
	err = tx.QueryRowContext(ctx, `SELECT next_seq, upto FROM layout_rewrite WHERE id = 1`).Scan(&next, &upto)
	if errors.Is(err, sql.ErrNoRows) {
		return true, nil
	}
	if err != nil {
		return false, classify("read layout_rewrite", err)
	}
	end := min(next+rewriteBatchRows, upto+1)
	if err := rewriteRows(ctx, tx, next, end); err != nil {
		return false, classify("rewrite journal rows", err)
	}
	if end > upto {
		_, err = tx.ExecContext(ctx, `DELETE FROM layout_rewrite`)
	} else {
		_, err = tx.ExecContext(ctx, `UPDATE layout_rewrite SET next_seq = ?`, end)
	}
	if err != nil {
		return false, classify("record layout_rewrite", err)
	}
	if err := tx.Commit(); err != nil {
		return false, unavailable("commit", err)
	}
	return false, nil
}

// rewriteRows rewrites the rows of layout 0 with from <= seq < to.
func rewriteRows(ctx context.Context, tx *sql.Tx, from, to int64) error {
	type old struct {
		seq                         int64
		dedupe, bodySHA, prev, hash string
		body, payload               []byte
	}
	rows, err := tx.QueryContext(ctx, `SELECT seq, dedupe_key, body_sha256, redacted_body, payload, prev_hash, hash
		FROM journal WHERE seq >= ? AND seq < ? AND layout = 0 ORDER BY seq`, from, to)
	if err != nil {
		return err
	}
	var page []old
	for rows.Next() {
		var o old
		if err := rows.Scan(&o.seq, hashText{&o.dedupe}, hashText{&o.bodySHA}, &o.body, &o.payload,
			hashText{&o.prev}, hashText{&o.hash}); err != nil {
			rows.Close()
			return err
		}
		page = append(page, o)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	if len(page) == 0 {
		return nil
	}
	update, err := tx.PrepareContext(ctx, `UPDATE journal SET dedupe_key = ?, body_sha256 = ?,
		redacted_body = ?, payload = ?, prev_hash = ?, hash = ?, layout = ? WHERE seq = ?`)
	if err != nil {
		return err
	}
	defer update.Close()
	for _, o := range page {
		if _, err := update.ExecContext(ctx, hashValue(o.dedupe), hashValue(o.bodySHA), encodeBody(o.body),
			encodePayload(o.payload), hashValue(o.prev), hashValue(o.hash), JournalLayout, o.seq); err != nil {
			return err
		}
	}
	return nil
}

// Migrate brings the database at path up to LatestSchemaVersion, creating
// the file if needed, and returns the versions it applied (none when the
// schema was already current). It is what Open does first; it exists on
// its own for a `paystate migrate` command.
func Migrate(ctx context.Context, path string) (applied []int, err error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	db, err := openWriter(path, defaultBusyTimeout)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, db.Close()) }()
	if applied, err = migrate(ctx, db); err != nil {
		return applied, err
	}
	return applied, rewriteOldRows(ctx, db)
}

// SchemaVersion returns the schema version of the database at path (0 for
// a database never migrated) without changing it. A missing file is an
// error wrapping fs.ErrNotExist rather than a new, empty database.
func SchemaVersion(ctx context.Context, path string) (version int, err error) {
	if err := checkPath(path); err != nil {
		return 0, err
	}
	if _, err := os.Stat(path); err != nil {
		return 0, fmt.Errorf("sqlite: %w", err)
	}
	db, err := openReader(path, 1, defaultBusyTimeout)
	if err != nil {
		return 0, err
	}
	defer func() { err = errors.Join(err, db.Close()) }()
	version, err = schemaVersion(ctx, db)
	return version, explainReadOnlyDir(path, err)
}

// SchemaVersion returns the schema version of the open database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	return schemaVersion(ctx, s.reader)
}

func schemaVersion(ctx context.Context, db *sql.DB) (int, error) {
	var n int
	err := db.QueryRowContext(ctx,
		`SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n)
	if err != nil || n == 0 {
		return 0, classify("read schema version", err)
	}
	var v int
	err = db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	return v, classify("read schema version", err)
}

// MigrationStatus lists every migration this binary knows, applied or
// pending, and any the database recorded that it does not, without
// changing (or creating) the database at path: a missing file has every
// migration pending.
func MigrationStatus(ctx context.Context, path string) (_ []storage.MigrationStatus, err error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	ms, err := migrations()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return schema.Status(ms, nil), nil
	}
	db, err := openReader(path, 1, defaultBusyTimeout)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, db.Close()) }()
	var n int
	if err := db.QueryRowContext(ctx,
		`SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n); err != nil {
		return nil, classify("read migrations", err)
	}
	if n == 0 {
		return schema.Status(ms, nil), nil
	}
	rows, err := db.QueryContext(ctx, `SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		return nil, classify("read migrations", err)
	}
	defer rows.Close()
	var recorded []schema.Recorded
	for rows.Next() {
		var r schema.Recorded
		if err := rows.Scan(&r.Version, &r.Name, &r.AppliedAt); err != nil {
			return nil, classify("read migrations", err)
		}
		recorded = append(recorded, r)
	}
	if err := rows.Err(); err != nil {
		return nil, classify("read migrations", err)
	}
	return schema.Status(ms, recorded), nil
}
