package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// brokenFile has one mistake of each sort, on known lines.
const brokenFile = `http_addr: 0.0.0.0:8080
grpc_adress: 0.0.0.0:9090
defer_window: soon
api_tokens:
  - name: ops
    role: root
    token: s3cret-admin
  - name: orders
    role: reader
    sha256: abc
providers:
  ngenius:
    header_values: [a]
  generic:
    secrets: [g]
    algorithm: md5
reconcile:
  interval: 10ms
`

func TestCheckExplainsEveryProblemWithItsLine(t *testing.T) {
	t.Parallel()
	_, problems := Check([]byte(brokenFile), noEnv)
	got := map[string]Problem{}
	for _, p := range problems {
		got[p.Path] = p
	}
	want := []struct {
		path string
		line int
		msg  string
	}{
		{"grpc_adress", 2, `unknown key "grpc_adress"`},
		{"defer_window", 3, "not a duration"},
		{"api_tokens[0].role", 6, `role "root"`},
		{"api_tokens[1].sha256", 10, "64 hex"},
		{"providers.ngenius.header_values", 13, "without header_name"},
		{"providers.generic.algorithm", 16, "md5"},
		{"reconcile.interval", 18, "at least 1s"},
	}
	for _, w := range want {
		p, ok := got[w.path]
		require.True(t, ok, "no problem reported at %s; got %v", w.path, problems)
		require.Equal(t, w.line, p.Line, "%s", p)
		require.Contains(t, p.Msg, w.msg)
	}
	require.Len(t, problems, len(want), "%v", problems)
	for i := 1; i < len(problems); i++ {
		require.LessOrEqual(t, problems[i-1].Line, problems[i].Line, "sorted by line")
	}
	require.Equal(t, `line 2: grpc_adress: unknown key "grpc_adress" (see README, Configuration, for every key)`, problems[0].String())
}

func TestCheckOtherFiles(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, file string
		env        map[string]string
		want       string // one problem, rendered
	}{
		{"not yaml", "http_addr: [\n", nil, "line 1: did not find expected node content"},
		{"tab indentation", "providers:\n\tngenius: {}\n", nil, "line 2: found character that cannot start any token"},
		{"no api tokens", "http_addr: 127.0.0.1:1\n", nil, "(not in the file): api_tokens: no API token is configured"},
		{"wrong type", "api_tokens: [{name: a, role: admin, token: t}]\nmax_body_bytes: lots\n", nil, "line 2: max_body_bytes: !!str `lots` into int64"},
		{"unknown nested key", "api_tokens: [{name: a, role: admin, token: t}]\nproviders:\n  ngenius:\n    header_nmae: X\n",
			nil, `line 4: providers.ngenius.header_nmae: unknown key "header_nmae"`},
		{"half the N-Genius API credentials", "api_tokens: [{name: a, role: admin, token: t}]\nproviders:\n  ngenius:\n    api_key: k\n",
			nil, "line 3: providers.ngenius.outlet_ref: must be set"},
		{"plain http to a remote API", "api_tokens: [{name: a, role: admin, token: t}]\nproviders:\n  ngenius: {api_key: k, outlet_ref: o, api_base_url: 'http://api.example.com'}\n",
			nil, "line 3: providers.ngenius.api_base_url: \"http://api.example.com\" must use https"},
		{"an empty N-Genius header value", "api_tokens: [{name: a, role: admin, token: t}]\nproviders:\n  ngenius:\n    header_name: X-T\n    header_values: [\"\"]\n",
			nil, "line 5: providers.ngenius.header_values: header_values value 1 is empty: it can never match"},
		{"environment", "api_tokens: [{name: a, role: admin, token: t}]\n", map[string]string{"PAYSTATE_RECONCILE_MIN_AGE": "later"},
			"(not in the file): PAYSTATE_RECONCILE_MIN_AGE: \"later\" is not a duration like 90s or 24h"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, problems := Check([]byte(tc.file), envOf(tc.env))
			var rendered []string
			for _, p := range problems {
				rendered = append(rendered, p.String())
			}
			require.NotEmpty(t, problems)
			require.True(t, strings.HasPrefix(rendered[0], tc.want), "got %q, want prefix %q", rendered, tc.want)
		})
	}
}

func TestCheckValidFileAndRedaction(t *testing.T) {
	t.Parallel()
	file := full + `
reconcile: {interval: 1m, min_age: 30m}
`
	file = strings.Replace(file, "ngenius: {header_name: X-Webhook-Token, header_values: [a, b]}",
		"ngenius: {header_name: X-Webhook-Token, header_values: [hv-current, hv-previous], api_key: ng-api-key-1, outlet_ref: outlet-1, api_base_url: 'https://api-gateway.example.com'}", 1)
	c, problems := Check([]byte(file), envOf(map[string]string{"PAYSTATE_GENERIC_SECRETS": "generic-from-env"}))
	require.Empty(t, problems)
	require.True(t, c.ReconcileEnabled())
	require.Equal(t, []string{"generic-from-env"}, c.Providers.Generic.Secrets, "the environment is applied")

	out, err := Redacted(c)
	require.NoError(t, err)
	text := string(out)
	for _, secret := range []string{"s3cret", "hv-current", "hv-previous", "ng-api-key-1", "generic-from-env", "x, y", "password: p", "- t1"} {
		require.NotContains(t, text, secret)
	}
	for _, shown := range []string{"outlet_ref: outlet-1", "header_name: X-Webhook-Token", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		"interval: 1m0s", "defer_window: 48h0m0s", "token: <redacted>", "api_key: <redacted>", "/etc/paystate/magnius-live.pem"} {
		require.Contains(t, text, shown)
	}
	// What is printed reads back as the same configuration, secrets aside.
	again, err := Parse(out, "redacted", noEnv)
	require.NoError(t, err)
	require.Equal(t, c.Reconcile, again.Reconcile)
	require.Equal(t, c.DeferWindow, again.DeferWindow)
}

func TestRedactedHidesURLPasswords(t *testing.T) {
	t.Parallel()
	c := Defaults()
	c.Providers.NGenius.APIBaseURL = "https://user:hunter2@api.example.com"
	out, err := Redacted(c)
	require.NoError(t, err)
	require.NotContains(t, string(out), "hunter2")
	require.Contains(t, string(out), "user:redacted@api.example.com")
}

// TestCheckValidatesTheCheckpointKey: config check reads the checkpoint
// key file the server would sign with, and says on which line a file that
// is missing or holds no Ed25519 key is named; a development data dir
// gets a key of its own, private to its owner.
func TestCheckValidatesTheCheckpointKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	require.NoError(t, os.WriteFile(junk, []byte("not a key\n"), 0o600))
	for name, path := range map[string]string{"missing": filepath.Join(dir, "absent.pem"), "junk": junk} {
		file := "api_tokens: [{name: a, role: admin, token: t}]\ncheckpoint_interval: 5m\ncheckpoint_key_file: " + path + "\n"
		_, problems := Check([]byte(file), noEnv)
		require.Len(t, problems, 1, name)
		require.Equal(t, "checkpoint_key_file", problems[0].Path, name)
		require.Equal(t, 3, problems[0].Line, name)
	}

	c := Defaults()
	c.DataDir = t.TempDir()
	_, err := FillDev(&c)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(c.DataDir, DevCheckpointKeyFile), c.CheckpointKeyFile)
	info, err := os.Stat(c.CheckpointKeyFile)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	file := "api_tokens: [{name: a, role: admin, token: t}]\ncheckpoint_key_file: " + c.CheckpointKeyFile + "\n"
	_, problems := Check([]byte(file), noEnv)
	require.Empty(t, problems)
}
