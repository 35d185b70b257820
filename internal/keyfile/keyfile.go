// Package keyfile creates the private key files paystate generates for
// itself (the card-id key, the checkpoint signing key) the one safe way:
// mode 0600 in a 0700 directory, never over an existing file, and with the
// first of two processes racing to create it winning.
package keyfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// CreateOnce writes what content returns to path unless path exists. The
// content is made only when the file is missing; a file another process
// created meanwhile is kept and nil is returned.
func CreateOnce(path string, content func() ([]byte, error)) error {
	if _, err := os.Stat(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	b, err := content()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil // another process made it first: use theirs
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
