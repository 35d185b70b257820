package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/mattn/go-sqlite3"
)

// fileMode is the mode of the database files: the journal holds what
// providers sent, so only paystate's user may read it.
const fileMode = 0o600

// restrictFiles creates the database file at path with fileMode before
// SQLite opens it, and takes group and other permissions away from an
// existing one and from its -wal and -shm. SQLite creates -wal and -shm
// with the permissions of the database file, so they follow.
func restrictFiles(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, fileMode)
	if err == nil {
		return f.Close()
	}
	if !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("sqlite: create %s: %w", path, err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		info, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("sqlite: %w", err)
		}
		if info.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, info.Mode().Perm()&^0o077); err != nil {
				return fmt.Errorf("sqlite: %w", err)
			}
		}
	}
	return nil
}

// explainReadOnlyDir adds the cause SQLite's error leaves out when it
// cannot open the database at path because its directory cannot be
// written: a WAL database needs its -wal and -shm beside it even to be
// read, and SQLite reports that as "unable to open database file: no
// such file or directory" of a file that is there. Whether the directory
// can be written is tried only after such a failure.
func explainReadOnlyDir(path string, err error) error {
	var se sqlite3.Error
	if err == nil || !errors.As(err, &se) || (se.Code != sqlite3.ErrCantOpen && se.Code != sqlite3.ErrReadonly) {
		return err
	}
	dir := filepath.Dir(path)
	probe, perr := os.CreateTemp(dir, ".paystate-write-probe-*")
	if perr == nil {
		probe.Close()
		os.Remove(probe.Name())
		return err
	}
	base := filepath.Base(path)
	return fmt.Errorf("%w (the directory %s cannot be written: %v; SQLite creates %s-wal and %s-shm beside a WAL database even to read it: "+
		"run the command on a writable copy of the data directory, or give it write access to this one)", err, dir, errors.Unwrap(perr), base, base)
}
