package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLimits(t *testing.T) {
	noEnv := func(string) string { return "" }
	c, err := Parse(nil, "", noEnv)
	require.NoError(t, err)
	require.Equal(t, DefaultAPIMaxStreams, c.APIMaxStreams, "default")
	require.Equal(t, 5*time.Second, c.StoreTimeout.Duration, "default")
	require.Equal(t, 20*time.Second, c.ShutdownTimeout.Duration, "default")

	c, err = Parse([]byte("store_timeout: 2s\nshutdown_timeout: 9s\n"), "f.yaml", noEnv)
	require.NoError(t, err)
	require.Equal(t, 2*time.Second, c.StoreTimeout.Duration)
	require.Equal(t, 9*time.Second, c.ShutdownTimeout.Duration)
	env := map[string]string{"PAYSTATE_STORE_TIMEOUT": "750ms", "PAYSTATE_SHUTDOWN_TIMEOUT": "1s"}
	c, err = Parse([]byte("store_timeout: 2s\n"), "f.yaml", func(k string) string { return env[k] })
	require.NoError(t, err)
	require.Equal(t, 750*time.Millisecond, c.StoreTimeout.Duration, "the environment wins")
	require.Equal(t, time.Second, c.ShutdownTimeout.Duration)

	c, err = Parse([]byte("api_max_streams: 4\n"), "f.yaml", noEnv)
	require.NoError(t, err)
	require.Equal(t, 4, c.APIMaxStreams)
	env = map[string]string{"PAYSTATE_API_MAX_STREAMS": "0"}
	c, err = Parse([]byte("api_max_streams: 4\n"), "f.yaml", func(k string) string { return env[k] })
	require.NoError(t, err)
	require.Zero(t, c.APIMaxStreams, "the environment wins; 0 is no cap")

	require.Equal(t, DefaultReadCacheViews, Defaults().ReadCacheViews, "default")
	c, err = Parse([]byte("read_cache_views: 10\n"), "f.yaml", noEnv)
	require.NoError(t, err)
	require.Equal(t, 10, c.ReadCacheViews)
	env = map[string]string{"PAYSTATE_READ_CACHE_VIEWS": "0"}
	c, err = Parse([]byte("read_cache_views: 10\n"), "f.yaml", func(k string) string { return env[k] })
	require.NoError(t, err)
	require.Zero(t, c.ReadCacheViews, "the environment wins; 0 is no cache")

	for name, tc := range map[string]struct {
		file string
		env  map[string]string
	}{
		"negative streams": {file: "api_max_streams: -1\n"},
		"env streams":      {env: map[string]string{"PAYSTATE_API_MAX_STREAMS": "many"}},
		"negative views":   {file: "read_cache_views: -1\n"},
		"env views":        {env: map[string]string{"PAYSTATE_READ_CACHE_VIEWS": "lots"}},
		"store timeout 0":  {file: "store_timeout: 0s\n"},
		"store timeout 1h": {file: "store_timeout: 1h\n"},
		"shutdown < store": {file: "store_timeout: 10s\nshutdown_timeout: 5s\n"},
		"env timeout":      {env: map[string]string{"PAYSTATE_STORE_TIMEOUT": "soon"}},
	} {
		_, err := Parse([]byte(tc.file), "f.yaml", func(k string) string { return tc.env[k] })
		require.Error(t, err, name)
	}
}
