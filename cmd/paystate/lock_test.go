package main

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/config"
	"github.com/paystate/paystate/storage/postgres"
	"github.com/paystate/paystate/storage/sqlite"
)

// TestStoreLockRefusesASecondWriter: a second server on one data directory
// refuses to start and says who holds it; rebuild --fix refuses while the
// server runs unless forced, and runs once the server has stopped.
func TestStoreLockRefusesASecondWriter(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	s.webhook(t, sample(t, "AUTHORISED"))

	// Were it to start, it would serve until cancelled: fail then.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	err := runServer(ctx, s.cfg, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), func(string, string) {
		t.Error("a second server started on the same data directory")
		cancel()
	})
	require.ErrorIs(t, err, errStoreInUse)
	require.ErrorContains(t, err, "pid ")
	require.ErrorContains(t, err, "paystate serve")
	require.ErrorContains(t, err, "its own --data-dir")

	var out bytes.Buffer
	stdout = &out
	t.Cleanup(func() { stdout = os.Stdout })
	env := func(k string) string { return map[string]string{"PAYSTATE_DATA_DIR": dir}[k] }
	require.NoError(t, run(t.Context(), []string{"rebuild"}, env), "checking is harmless under a server")
	err = run(t.Context(), []string{"rebuild", "--fix"}, env)
	require.ErrorIs(t, err, errStoreInUse)
	require.ErrorContains(t, err, "--force")
	require.NoError(t, run(t.Context(), []string{"rebuild", "--fix", "--force"}, env), out.String())

	s.shutdown()
	require.NoError(t, run(t.Context(), []string{"rebuild", "--fix"}, env), "the lock goes with the server")
	startServer(t, dir).shutdown()
}

// TestUpgradeRefusedUnderAServer: a store due an upgrade with a server of
// the version before running on it (its lock held, as that server holds
// it) is not migrated by migrate, nor by a command that opens it: each
// refuses, says to stop the server first, and leaves the schema as it
// was. Once the server stopped, migrate applies the upgrade.
func TestUpgradeRefusedUnderAServer(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			cfg := config.Defaults()
			cfg.DataDir = t.TempDir()
			vars := map[string]string{"PAYSTATE_DATA_DIR": cfg.DataDir}
			env := func(k string) string { return vars[k] }
			latest := sqlite.LatestSchemaVersion()
			version := func() int {
				v, err := sqlite.SchemaVersion(ctx, sqlitePath(cfg))
				require.NoError(t, err)
				return v
			}
			downgrade := func() {
				db, err := sql.Open("sqlite3", sqlitePath(cfg))
				require.NoError(t, err)
				defer db.Close()
				_, err = db.ExecContext(ctx, `DROP TABLE amount_facts_pending; DELETE FROM schema_migrations WHERE version >= 13`)
				require.NoError(t, err)
			}
			older := func() func() {
				release, err := lockStore(cfg, "serve")
				require.NoError(t, err)
				return release
			}
			refused := func(err error) {
				require.ErrorIs(t, err, errUpgradeUnderServer)
				require.ErrorContains(t, err, "paystate serve")
				require.ErrorContains(t, err, "stop the server running the older version, then run this one")
			}
			if backend == "postgres" {
				cfg.Store, cfg.StoreSchema = testSchema(t, "upgrade_refused", "the PostgreSQL upgrade guard")
				vars["PAYSTATE_STORE"], vars["PAYSTATE_STORE_SCHEMA"] = cfg.Store, cfg.StoreSchema
				latest = postgres.LatestSchemaVersion()
				version = func() int {
					v, err := postgres.SchemaVersion(ctx, cfg.Store, pgOptions(cfg)...)
					require.NoError(t, err)
					return v
				}
				downgrade = func() {
					conn, err := pgx.Connect(ctx, cfg.Store)
					require.NoError(t, err)
					defer conn.Close(ctx)
					_, err = conn.Exec(ctx, `SET search_path TO `+cfg.StoreSchema+`;
						DROP TABLE amount_facts_pending; DELETE FROM schema_migrations WHERE version >= 11`)
					require.NoError(t, err)
				}
				older = func() func() {
					release, err := postgres.Lock(ctx, cfg.Store, false, pgOptions(cfg)...)
					require.NoError(t, err)
					return release
				}
				refused = func(err error) {
					require.ErrorIs(t, err, postgres.ErrUpgradeBlocked)
					require.ErrorContains(t, err, "1 other session (a paystate server) holds its lock")
					require.ErrorContains(t, err, "stop the replicas running the older version, then start this one")
				}
			}
			require.NoError(t, run(ctx, []string{"migrate"}, env))
			downgrade()
			downgraded := version()
			require.Less(t, downgraded, latest)
			stop := older()
			refused(run(ctx, []string{"migrate"}, env))
			require.Equal(t, downgraded, version(), "nothing migrated")
			if backend == "sqlite" { // PostgreSQL waits for the server first: once is enough
				refused(run(ctx, []string{"rebuild"}, env))
				require.Equal(t, downgraded, version(), "nothing migrated")
			}
			stop()
			require.NoError(t, run(ctx, []string{"migrate"}, env))
			require.Equal(t, latest, version())
		})
	}
}
