package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
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
