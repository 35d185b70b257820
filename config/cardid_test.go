package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCardIDKey(t *testing.T) {
	t.Parallel()
	c := Defaults()
	c.DataDir = filepath.Join(t.TempDir(), "data")
	key, err := c.CardIDKey()
	require.NoError(t, err)
	require.Len(t, key, 64)
	info, err := os.Stat(filepath.Join(c.DataDir, CardIDKeyFile))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	again, err := c.CardIDKey()
	require.NoError(t, err)
	require.Equal(t, key, again, "generated once, then kept")

	// PostgreSQL: every replica needs the same key, so it must be given.
	c.Store = "postgres://u@h/db"
	_, err = c.CardIDKey()
	require.ErrorContains(t, err, "card_id_key_file")
	c.Dev = true
	_, err = c.CardIDKey()
	require.NoError(t, err, "development mode keeps its key in the data dir")

	c.CardIDKeyFile = filepath.Join(t.TempDir(), "short")
	require.NoError(t, os.WriteFile(c.CardIDKeyFile, []byte("too short\n"), 0o600))
	_, err = c.CardIDKey()
	require.ErrorContains(t, err, "at least 32")
	require.NoError(t, os.WriteFile(c.CardIDKeyFile, []byte(strings.Repeat("k", 40)+"\n"), 0o600))
	key, err = c.CardIDKey()
	require.NoError(t, err)
	require.Equal(t, strings.Repeat("k", 40), string(key))

	parsed, err := Parse(nil, "", func(k string) string {
		return map[string]string{"PAYSTATE_CARD_ID_KEY_FILE": "/etc/paystate/card-id.key"}[k]
	})
	require.NoError(t, err)
	require.Equal(t, "/etc/paystate/card-id.key", parsed.CardIDKeyFile)
}
