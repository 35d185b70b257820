package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLimits(t *testing.T) {
	noEnv := func(string) string { return "" }
	c, err := Parse(nil, "", noEnv)
	require.NoError(t, err)
	require.Equal(t, DefaultAPIMaxStreams, c.APIMaxStreams, "default")

	c, err = Parse([]byte("api_max_streams: 4\n"), "f.yaml", noEnv)
	require.NoError(t, err)
	require.Equal(t, 4, c.APIMaxStreams)
	env := map[string]string{"PAYSTATE_API_MAX_STREAMS": "0"}
	c, err = Parse([]byte("api_max_streams: 4\n"), "f.yaml", func(k string) string { return env[k] })
	require.NoError(t, err)
	require.Zero(t, c.APIMaxStreams, "the environment wins; 0 is no cap")

	for name, tc := range map[string]struct {
		file string
		env  map[string]string
	}{
		"negative streams": {file: "api_max_streams: -1\n"},
		"env streams":      {env: map[string]string{"PAYSTATE_API_MAX_STREAMS": "many"}},
	} {
		_, err := Parse([]byte(tc.file), "f.yaml", func(k string) string { return tc.env[k] })
		require.Error(t, err, name)
	}
}
