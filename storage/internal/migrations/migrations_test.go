package migrations

import (
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

func TestLoad(t *testing.T) {
	t.Parallel()
	ok := fstest.MapFS{
		"m/0002_b.sql": {Data: []byte("B")}, "m/0001_a.sql": {Data: []byte("A")}, "m/README": {Data: []byte("x")},
	}
	ms, err := Load(ok, "m", "test")
	require.NoError(t, err)
	require.Equal(t, []Migration{{1, "0001_a.sql", "A"}, {2, "0002_b.sql", "B"}}, ms)
	require.Equal(t, 2, Latest(ms))
	require.Zero(t, Latest(nil))

	for name, fsys := range map[string]fstest.MapFS{
		"gap":       {"m/0001_a.sql": {}, "m/0003_c.sql": {}},
		"duplicate": {"m/0001_a.sql": {}, "m/0001_b.sql": {}},
		"no number": {"m/init.sql": {}},
		"zero":      {"m/0000_a.sql": {}},
	} {
		_, err := Load(fsys, "m", "test")
		require.Error(t, err, name)
	}
}
