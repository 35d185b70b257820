package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func noEnv(string) string { return "" }

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

const full = `
http_addr: 0.0.0.0:8080
grpc_addr: 0.0.0.0:9090
data_dir: /var/lib/paystate
defer_window: 48h
max_body_bytes: 131072
api_tokens:
  - {name: orders, role: reader, sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08}
  - {name: ops, role: admin, token: s3cret}
providers:
  ngenius: {header_name: X-Webhook-Token, header_values: [a, b]}
  magnius: {public_key_files: [/etc/paystate/magnius-live.pem]}
  payengine: {secrets: [x, y], tolerance: 120s, default_currency: USD}
  inyo: {basic: [{user: u, password: p}], bearer: [t1], currency: EUR}
  generic: {secrets: [g], algorithm: sha512, encoding: base64}
`

func TestParseFullFile(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte(full), "full.yaml", noEnv)
	require.NoError(t, err)
	require.Equal(t, "0.0.0.0:8080", c.HTTPAddr)
	require.Equal(t, 48*time.Hour, c.DeferWindow.Duration)
	require.Len(t, c.APITokens, 2)
	require.Equal(t, []string{"a", "b"}, c.Providers.NGenius.HeaderValues)
	require.Equal(t, 120*time.Second, c.Providers.PayEngine.Tolerance.Duration)
	require.Equal(t, "EUR", c.Providers.Inyo.Currency)
	require.Equal(t, "sha512", c.Providers.Generic.Algorithm)
	require.False(t, c.Dev)
}

func TestEnvironmentOverridesFile(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte(full), "full.yaml", envOf(map[string]string{
		"PAYSTATE_HTTP_ADDR":                     "127.0.0.1:1",
		"PAYSTATE_DEFER_WINDOW":                  "1h",
		"PAYSTATE_NGENIUS_HEADER_VALUES":         "c, d",
		"PAYSTATE_PAYENGINE_SECRETS":             "z",
		"PAYSTATE_INYO_BASIC":                    "a:b,c:d",
		"PAYSTATE_API_TOKENS":                    "fraud:f1",
		"PAYSTATE_NGENIUS_ALLOW_UNAUTHENTICATED": "true",
		"PAYSTATE_MAGNIUS_PUBLIC_KEYS":           "-----BEGIN PUBLIC KEY-----\nAA\n-----END PUBLIC KEY-----\n",
	}))
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:1", c.HTTPAddr)
	require.Equal(t, time.Hour, c.DeferWindow.Duration)
	require.Equal(t, []string{"c", "d"}, c.Providers.NGenius.HeaderValues)
	require.Equal(t, []string{"z"}, c.Providers.PayEngine.Secrets)
	require.Equal(t, []BasicCredential{{"a", "b"}, {"c", "d"}}, c.Providers.Inyo.Basic)
	require.Equal(t, RoleFraud, c.APITokens[len(c.APITokens)-1].Role)
	require.True(t, c.Providers.NGenius.AllowUnauthenticated)
	require.Len(t, c.Providers.Magnius.PublicKeys, 1)
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, file, want string }{
		{"unknown key with its line", "http_addr: x\nhttp_adress: y\n", "line 2"},
		{"bad duration", "defer_window: soon\n", "not a duration"},
		{"bad role", "api_tokens: [{name: a, role: root, token: t}]\n", "role \"root\""},
		{"token and hash", "api_tokens: [{name: a, role: admin, token: t, sha256: x}]\n", "exactly one"},
		{"short hash", "api_tokens: [{name: a, role: admin, sha256: abc}]\n", "64 hex"},
		{"values without name", "providers: {ngenius: {header_values: [a]}}\n", "without header_name"},
		{"bad algorithm", "providers: {generic: {algorithm: md5}}\n", "md5"},
		{"tiny body cap", "max_body_bytes: 10\n", "max_body_bytes"},
		{"inyo basic without password", "providers: {inyo: {basic: [{user: u}]}}\n", "inyo.basic[0]"},
		{"not yaml", "{{{", "config"},
		{"schema without PostgreSQL", "store_schema: tenant1\n", "needs a postgres:// store"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tc.file), "f.yaml", noEnv)
			require.ErrorContains(t, err, tc.want)
		})
	}
	_, err := Parse(nil, "", envOf(map[string]string{"PAYSTATE_INYO_BASIC": "nocolon"}))
	require.ErrorContains(t, err, "user:password")
	_, err = Parse(nil, "", envOf(map[string]string{"PAYSTATE_STORE_SCHEMA": "tenant1"}))
	require.ErrorContains(t, err, "needs a postgres:// store", "PAYSTATE_STORE_SCHEMA without a PostgreSQL store")
}

func TestDevelopmentCredentialsArePersistentAndComplete(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := Defaults()
	c.DataDir = dir
	creds, err := FillDev(&c)
	require.NoError(t, err)
	require.True(t, c.Dev)
	require.Equal(t, RoleAdmin, c.APITokens[0].Role)
	require.Equal(t, []string{creds.PayEngineSecret}, c.Providers.PayEngine.Secrets)
	require.Contains(t, c.Providers.Magnius.PublicKeys[0], "BEGIN PUBLIC KEY")
	info, err := os.Stat(filepath.Join(dir, DevFile))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	c2 := Defaults()
	c2.DataDir = dir
	creds2, err := FillDev(&c2)
	require.NoError(t, err)
	require.Equal(t, creds, creds2, "a restart keeps the same credentials")

	// Configured credentials are never replaced.
	c3 := Defaults()
	c3.DataDir = t.TempDir()
	c3.APITokens = []APIToken{{Name: "x", Role: RoleReader, Token: "mine"}}
	_, err = FillDev(&c3)
	require.NoError(t, err)
	require.Equal(t, "mine", c3.APITokens[0].Token)
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(full))
	f.Add([]byte("http_addr: x\n"))
	f.Add([]byte("api_tokens: [{name: a, role: admin, token: t}]"))
	f.Add([]byte("providers: {generic: {algorithm: md5}}"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := Parse(raw, "fuzz.yaml", noEnv)
		if err == nil {
			// Whatever parses must also validate: Parse never returns an
			// invalid configuration without an error.
			require.NoError(t, c.Validate())
		}
	})
}
