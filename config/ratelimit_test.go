package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAPIRateLimit(t *testing.T) {
	noEnv := func(string) string { return "" }
	c, err := Parse(nil, "", noEnv)
	require.NoError(t, err)
	require.Equal(t, RateLimit{PerSecond: 500, Burst: 1000}, c.APIRateLimit, "defaults")

	c, err = Parse([]byte("api_rate_limit: {per_second: 20, burst: 40}\n"), "f.yaml", noEnv)
	require.NoError(t, err)
	require.Equal(t, RateLimit{PerSecond: 20, Burst: 40}, c.APIRateLimit)

	env := map[string]string{"PAYSTATE_API_RATE_PER_SECOND": "0.5", "PAYSTATE_API_RATE_BURST": "3"}
	c, err = Parse([]byte("api_rate_limit: {per_second: 20, burst: 40}\n"), "f.yaml", func(k string) string { return env[k] })
	require.NoError(t, err)
	require.Equal(t, RateLimit{PerSecond: 0.5, Burst: 3}, c.APIRateLimit, "the environment wins")

	c, err = Parse([]byte("api_rate_limit: {per_second: 0}\n"), "f.yaml", noEnv)
	require.NoError(t, err, "0 turns limiting off")
	require.Zero(t, c.APIRateLimit.PerSecond)

	for name, tc := range map[string]struct {
		file string
		env  map[string]string
	}{
		"negative rate":  {file: "api_rate_limit: {per_second: -1}\n"},
		"zero burst":     {file: "api_rate_limit: {per_second: 10, burst: 0}\n"},
		"unknown key":    {file: "api_rate_limit: {rps: 10}\n"},
		"env not number": {env: map[string]string{"PAYSTATE_API_RATE_PER_SECOND": "fast"}},
		"env burst":      {env: map[string]string{"PAYSTATE_API_RATE_BURST": "1.5"}},
	} {
		_, err := Parse([]byte(tc.file), "f.yaml", func(k string) string { return tc.env[k] })
		require.Error(t, err, name)
	}
}
