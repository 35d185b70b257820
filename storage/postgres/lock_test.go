package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

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

// downgradedSchema is a new schema migrated, then taken back to before
// 0011 (downgrade): a store the version before left, due an upgrade.
func downgradedSchema(t *testing.T) (dsn, schema string) {
	t.Helper()
	dsn, schema = newSchema(t)
	_, err := Migrate(t.Context(), dsn, WithSchema(schema))
	require.NoError(t, err)
	downgrade(t, dsn, schema)
	return dsn, schema
}

// downgrade takes a migrated schema back to before 0011 (0012 only marks
// the store again, and its mark goes with the table; a later migration
// must be undone here too), as a store the version before left it.
func downgrade(t *testing.T, dsn, schema string) {
	t.Helper()
	_, err := rawConn(t, dsn, schema).Exec(t.Context(),
		`DROP TABLE amount_facts_pending; DELETE FROM schema_migrations WHERE version >= 11`)
	require.NoError(t, err)
	v, err := SchemaVersion(t.Context(), dsn, WithSchema(schema))
	require.NoError(t, err)
	require.Equal(t, 10, v)
}

// TestUpgradeRefusedUnderOlderReplicas: servers of the version before
// hold the store's lock shared; a binary with migrations to apply
// refuses, saying how many hold it and what to do, and changes nothing,
// whether it opens as a server, as a tool or to migrate. Once they let
// go it migrates, and replicas of its own version start alongside it.
func TestUpgradeRefusedUnderOlderReplicas(t *testing.T) {
	t.Parallel()
	dsn, schema := downgradedSchema(t)
	ctx := t.Context()
	in := WithSchema(schema)

	olderA, err := Lock(ctx, dsn, false, in)
	require.NoError(t, err)
	olderB, err := Lock(ctx, dsn, false, in)
	require.NoError(t, err)
	brief := WithUpgradeWait(time.Millisecond)
	for _, open := range []func() error{
		func() error { _, err := Open(ctx, dsn, in, brief, WithStoreLock(false)); return err },
		func() error { _, err := Open(ctx, dsn, in, brief); return err },
		func() error { _, err := Migrate(ctx, dsn, in, brief); return err },
	} {
		err := open()
		require.ErrorIs(t, err, ErrUpgradeBlocked)
		require.ErrorContains(t, err, fmt.Sprintf("migrations to apply (schema version 10, this binary's %d)", LatestSchemaVersion()))
		require.ErrorContains(t, err, "2 other sessions (paystate servers) hold its lock")
		require.ErrorContains(t, err, "stop the replicas running the older version, then start this one")
		v, err := SchemaVersion(ctx, dsn, in)
		require.NoError(t, err)
		require.Equal(t, 10, v, "nothing migrated")
	}
	olderA()
	_, err = Open(ctx, dsn, in, brief)
	require.ErrorContains(t, err, "1 other session (a paystate server) holds its lock")

	fix, err := Lock(ctx, dsn, true, in)
	require.Error(t, err, "the older replica still holds it")
	require.Nil(t, fix)
	olderB()
	// A tool rewriting state (rebuild --fix) holding it alone is named.
	fix, err = Lock(ctx, dsn, true, in)
	require.NoError(t, err)
	_, err = Open(ctx, dsn, in, brief)
	require.ErrorIs(t, err, ErrUpgradeBlocked)
	require.ErrorContains(t, err, "a tool rewriting state (paystate rebuild --fix) holds its lock")
	fix()

	s, err := Open(ctx, dsn, in, brief, WithStoreLock(false))
	require.NoError(t, err, "every older replica stopped")
	v, err := s.SchemaVersion(ctx)
	require.NoError(t, err)
	require.Equal(t, LatestSchemaVersion(), v)
	same, err := Open(ctx, dsn, in, brief, WithStoreLock(false))
	require.NoError(t, err, "nothing to migrate: a replica of the same version starts alongside")
	_, err = Lock(ctx, dsn, true, in)
	require.ErrorIs(t, err, ErrLocked, "each replica holds the store lock shared")
	require.NoError(t, s.Close())
	require.NoError(t, same.Close())
	fix, err = Lock(ctx, dsn, true, in)
	require.NoError(t, err, "closing lets go")
	fix()
}

// TestUpgradeOfFactsIsAlone: facts a migration left to derive are an
// upgrade too (a store migrated under running replicas by an older
// binary without this check): refused while a server holds the lock;
// then derived (WithAfterMigrate) holding it alone. A derivation that
// fails lets go of every lock, and the next open derives.
func TestUpgradeOfFactsIsAlone(t *testing.T) {
	t.Parallel()
	dsn, schema := newSchema(t)
	ctx := t.Context()
	in := WithSchema(schema)
	_, err := Migrate(ctx, dsn, in)
	require.NoError(t, err)
	_, err = rawConn(t, dsn, schema).Exec(ctx, `INSERT INTO amount_facts_pending (id) VALUES (1)`)
	require.NoError(t, err)

	older, err := Lock(ctx, dsn, false, in)
	require.NoError(t, err)
	ran := false
	derive := WithAfterMigrate(func(context.Context, *Store) error { ran = true; return nil })
	_, err = Open(ctx, dsn, in, WithUpgradeWait(time.Millisecond), WithStoreLock(false), derive)
	require.ErrorIs(t, err, ErrUpgradeBlocked)
	require.ErrorContains(t, err, "amount facts a migration left to derive")
	require.False(t, ran)
	older()

	failing := WithAfterMigrate(func(ctx context.Context, s *Store) error {
		_, err := Lock(ctx, dsn, false, in)
		require.ErrorIs(t, err, ErrLocked, "the derivation holds the store alone")
		return errors.New("interrupted")
	})
	_, err = Open(ctx, dsn, in, WithStoreLock(false), failing)
	require.ErrorContains(t, err, "interrupted")
	fix, err := Lock(ctx, dsn, true, in)
	require.NoError(t, err, "a failed open holds nothing")
	fix()

	s, err := Open(ctx, dsn, in, WithStoreLock(false), WithAfterMigrate(func(ctx context.Context, s *Store) error {
		_, err := Lock(ctx, dsn, false, in)
		require.ErrorIs(t, err, ErrLocked, "the derivation holds the store alone")
		return s.FactsDerived(ctx)
	}))
	require.NoError(t, err)
	again, err := Lock(ctx, dsn, false, in)
	require.NoError(t, err, "after the derivation the server holds the lock shared")
	again()
	require.NoError(t, s.Close())
}

// TestUpgradeByTwoAtOnce: two binaries of the new version start together
// on a store due an upgrade: the second waits for the first's whole
// opening, its derivation included, finds nothing to apply and starts
// alongside it.
func TestUpgradeByTwoAtOnce(t *testing.T) {
	t.Parallel()
	dsn, schema := downgradedSchema(t)
	ctx := t.Context()
	in := WithSchema(schema)

	inside, waiting := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		s, err := Open(ctx, dsn, in, WithStoreLock(false), WithAfterMigrate(func(context.Context, *Store) error {
			close(inside)
			<-waiting // the second is waiting for this open
			return nil
		}))
		if err == nil {
			err = s.Close()
		}
		first <- err
	}()
	<-inside
	var once sync.Once
	letFirstGo := func() { once.Do(func() { close(waiting) }) }
	second, err := Open(ctx, dsn, in, WithStoreLock(false), WithUpgradeWait(time.Millisecond), WithWaitNotice(letFirstGo))
	letFirstGo()
	require.NoError(t, err, "the second waits for the first, then has nothing to apply")
	require.NoError(t, <-first)
	require.NoError(t, second.Close())
	var n int
	require.NoError(t, rawConn(t, dsn, schema).QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE version = 11`).Scan(&n))
	require.Equal(t, 1, n)
}
