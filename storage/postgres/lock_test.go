package postgres

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestStoreLock: servers share the lock; a tool that rewrites state needs
// it alone, and gets it once every server has let go. Another schema's
// lock is another lock.
func TestStoreLock(t *testing.T) {
	t.Parallel()
	dsn, schema := newSchema(t)
	ctx := t.Context()
	in := WithSchema(schema)

	serveA, err := Lock(ctx, dsn, false, in)
	require.NoError(t, err)
	serveB, err := Lock(ctx, dsn, false, in)
	require.NoError(t, err, "replicas share the store")

	_, err = Lock(ctx, dsn, true, in)
	require.ErrorIs(t, err, ErrLocked, "rebuild --fix must not run under a server")

	_, other := newSchema(t)
	elsewhere, err := Lock(ctx, dsn, true, WithSchema(other))
	require.NoError(t, err, "another schema is another store")
	elsewhere()

	serveA()
	_, err = Lock(ctx, dsn, true, in)
	require.ErrorIs(t, err, ErrLocked, "one server is still running")
	serveB()

	fix, err := Lock(ctx, dsn, true, in)
	require.NoError(t, err)
	_, err = Lock(ctx, dsn, false, in)
	require.ErrorIs(t, err, ErrLocked, "a server does not start under rebuild --fix")
	fix()
	again, err := Lock(ctx, dsn, false, in)
	require.NoError(t, err)
	again()
}

// TestMigrationStatus: a schema never migrated has every migration
// pending; after Migrate each is applied, with its time.
func TestMigrationStatus(t *testing.T) {
	t.Parallel()
	dsn, schema := newSchema(t)
	in := WithSchema(schema)
	ms, err := MigrationStatus(t.Context(), dsn, in)
	require.NoError(t, err)
	require.Len(t, ms, LatestSchemaVersion())
	for _, m := range ms {
		require.True(t, m.AppliedAt.IsZero(), "%+v", m)
	}
	_, err = Migrate(t.Context(), dsn, in)
	require.NoError(t, err)
	ms, err = MigrationStatus(t.Context(), dsn, in)
	require.NoError(t, err)
	require.Len(t, ms, LatestSchemaVersion())
	for i, m := range ms {
		require.Equal(t, i+1, m.Version)
		require.False(t, m.AppliedAt.IsZero(), "%+v", m)
		require.False(t, m.Unknown)
	}
}
