package keyfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// A missing file is created private with its content; an existing one is
// left as it is, without making new content.
func TestCreateOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "key")
	require.NoError(t, CreateOnce(path, func() ([]byte, error) { return []byte("first"), nil }))
	info, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	require.NoError(t, CreateOnce(path, func() ([]byte, error) { return nil, errors.New("must not be called") }))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "first", string(got))
}
