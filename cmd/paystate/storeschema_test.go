package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// The PostgreSQL schema comes from --store-schema, else
// PAYSTATE_STORE_SCHEMA, else the config file, on serve and on the
// commands that open the store themselves; a schema for SQLite is refused.
func TestStoreSchemaFlagWinsOverEnvAndFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "paystate.yaml")
	require.NoError(t, os.WriteFile(file, []byte("store: postgres://paystate@127.0.0.1:5432/paystate\nstore_schema: from_file\n"), 0o600))
	fromEnv := func(k string) string { return map[string]string{"PAYSTATE_STORE_SCHEMA": "from_env"}[k] }

	for _, c := range []struct {
		env  func(string) string
		flag string
		want string
	}{
		{noEnv, "", "from_file"},
		{fromEnv, "", "from_env"},
		{fromEnv, "from_flag", "from_flag"},
		{noEnv, "from_flag", "from_flag"},
	} {
		cfg, err := serveConfig(serveOptions{config: file, storeFlags: storeFlags{storeSchema: c.flag}}, c.env)
		require.NoError(t, err)
		require.Equal(t, c.want, cfg.StoreSchema, "serve, flag %q", c.flag)
		cfg, err = (&adminOptions{config: file, storeFlags: storeFlags{storeSchema: c.flag}, env: c.env}).load()
		require.NoError(t, err)
		require.Equal(t, c.want, cfg.StoreSchema, "admin commands, flag %q", c.flag)
	}

	// Through the command line: the flag exists on each command that opens
	// the store, and a schema without PostgreSQL is an error, not ignored.
	env := func(k string) string { return map[string]string{"PAYSTATE_DATA_DIR": t.TempDir()}[k] }
	for _, args := range [][]string{
		{"serve"}, {"migrate"}, {"migrate", "status"}, {"rebuild"}, {"checkpoint", "sign"}, {"checkpoint", "prove", "1"},
	} {
		err := run(t.Context(), append(args, "--store-schema", "tenant_a"), env)
		require.ErrorContains(t, err, "--store-schema is the PostgreSQL schema: it needs a postgres:// --store", "%v", args)
	}
}

// migrate --store-schema migrates that schema, and migrate status and
// rebuild read it, the flag winning over PAYSTATE_STORE_SCHEMA.
func TestMigrateStoreSchemaOnPostgres(t *testing.T) {
	dsn, schema := testSchema(t, "cli_flag", "the --store-schema test")
	_, other := testSchema(t, "cli_env", "the --store-schema test")
	env := func(k string) string {
		return map[string]string{"PAYSTATE_STORE": dsn, "PAYSTATE_STORE_SCHEMA": other, "PAYSTATE_DATA_DIR": t.TempDir()}[k]
	}
	var out bytes.Buffer
	require.NoError(t, runTo(t, &out, env, "migrate", "--store-schema", schema))
	require.Contains(t, out.String(), "schema version")

	states := func(args ...string) map[string]int {
		t.Helper()
		out.Reset()
		require.NoError(t, runTo(t, &out, env, append([]string{"migrate", "status", "-o", "json"}, args...)...))
		var rows []struct{ State string }
		require.NoError(t, json.Unmarshal(out.Bytes(), &rows), out.String())
		n := map[string]int{}
		for _, r := range rows {
			n[r.State]++
		}
		return n
	}
	migrated := states("--store-schema", schema)
	require.Positive(t, migrated["applied"])
	require.Equal(t, map[string]int{"applied": migrated["applied"]}, migrated)
	require.Equal(t, map[string]int{"pending": migrated["applied"]}, states(), "without the flag, PAYSTATE_STORE_SCHEMA's schema, never migrated")

	out.Reset()
	require.NoError(t, runTo(t, &out, env, "rebuild", "--store-schema", schema))
}
