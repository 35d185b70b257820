package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// readOnlyView bind-mounts dir read-only at a new directory and returns
// it: the read-only snapshot or mount an operator runs rebuild or backup
// on. Mounting needs privileges a test run may lack.
func readOnlyView(t *testing.T, dir string) string {
	t.Helper()
	view := t.TempDir()
	if err := syscall.Mount(dir, view, "", syscall.MS_BIND, ""); err != nil {
		if errors.Is(err, syscall.EPERM) {
			t.Skipf("a read-only bind mount needs privileges this run lacks: %v", err)
		}
		require.NoError(t, err)
	}
	t.Cleanup(func() { require.NoError(t, syscall.Unmount(view, 0)) })
	require.NoError(t, syscall.Mount("", view, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY, ""))
	return view
}

// A WAL database in a directory SQLite cannot create its -wal and -shm
// in fails to open for reading too; the error says so and what to do,
// not only SQLite's "unable to open database file: no such file or
// directory", which names a file that is there.
func TestReadOnlyDirectoryIsNamed(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(context.Background(), filepath.Join(dir, "paystate.db"))
	require.NoError(t, err)
	require.NoError(t, s.Close())
	view := readOnlyView(t, dir)
	path := filepath.Join(view, "paystate.db")
	ctx := context.Background()

	_, err = SchemaVersion(ctx, path)
	requireReadOnlyDir(t, err, view)
	_, err = OpenReadOnly(ctx, path)
	requireReadOnlyDir(t, err, view)
	err = Backup(ctx, path, filepath.Join(t.TempDir(), "copy.db"))
	requireReadOnlyDir(t, err, view)
	_, err = Open(ctx, path)
	requireReadOnlyDir(t, err, view)
}

func requireReadOnlyDir(t *testing.T, err error, dir string) {
	t.Helper()
	require.Error(t, err)
	require.ErrorContains(t, err, dir+" cannot be written")
	require.ErrorContains(t, err, "-shm")
	require.ErrorContains(t, err, "a writable copy")
}
