package main

import (
	"bytes"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/storage/sqlite"
)

// TestMigrateCreatesTheDataDirAndReportsStatus: migrate works on a data
// directory that does not exist yet, creating it as serve would, and
// migrate status lists every migration, pending then applied, without
// creating anything itself.
func TestMigrateCreatesTheDataDirAndReportsStatus(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "not", "yet")
	var out bytes.Buffer
	stdout = &out
	t.Cleanup(func() { stdout = os.Stdout })
	env := func(k string) string { return map[string]string{"PAYSTATE_DATA_DIR": dir}[k] }
	latest := sqlite.LatestSchemaVersion()

	require.NoError(t, run(t.Context(), []string{"migrate", "status"}, env))
	require.Regexp(t, `^VERSION +NAME +STATE +APPLIED\n`, out.String())
	require.Len(t, regexp.MustCompile(`(?m)^\d+ +0\d{3}_\S+\.sql +pending +-$`).FindAllString(out.String(), -1), latest, out.String())
	require.Contains(t, out.String(), fmt.Sprintf("%d pending: run \"paystate migrate\"", latest))
	require.NoDirExists(t, dir, "status changes nothing")

	out.Reset()
	require.NoError(t, run(t.Context(), []string{"migrate"}, env))
	require.Contains(t, out.String(), fmt.Sprintf("schema version %d", latest))
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), fi.Mode().Perm(), "private, as serve makes it")

	out.Reset()
	require.NoError(t, run(t.Context(), []string{"migrate", "--data-dir", dir, "status"}, env))
	applied := regexp.MustCompile(`(?m)^\d+ +0\d{3}_\S+\.sql +applied +\d{4}-\d\d-\d\dT\S+$`).FindAllString(out.String(), -1)
	require.Len(t, applied, latest, out.String())
	require.True(t, strings.HasSuffix(out.String(), "up to date\n"), out.String())

	// A database a newer paystate migrated says so.
	db, err := sql.Open("sqlite3", filepath.Join(dir, "paystate.db"))
	require.NoError(t, err)
	_, err = db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'from_the_future.sql', 0)`, latest+1)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	out.Reset()
	require.NoError(t, run(t.Context(), []string{"migrate", "status"}, env))
	require.Regexp(t, fmt.Sprintf(`\n%d +from_the_future\.sql +unknown +1970-01-01T00:00:00Z\n`, latest+1), out.String())
	require.Contains(t, out.String(), "the database is newer than this binary")

	require.ErrorContains(t, run(t.Context(), []string{"migrate", "stauts"}, env), `unexpected "stauts"`)
	// Asking for help is not a failure.
	require.NoError(t, run(t.Context(), []string{"migrate", "-h"}, env))
	require.NoError(t, run(t.Context(), []string{"rebuild", "--help"}, env))
}
