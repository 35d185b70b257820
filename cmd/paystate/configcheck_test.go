package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/config"
)

// TestConfigCheckOpensWhatServeOpens: config check reads the files a
// configuration names and parses their keys and certificates, so each
// file serve would refuse is a problem at its line; and a file it finds
// valid — TLS, a Magnius key file, a card-id key file — is one serve
// starts with.
func TestConfigCheckOpensWhatServeOpens(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert, key, _ := certValidUntil(t, dir, "", time.Now().Add(time.Hour))
	otherCert, _, _ := certValidUntil(t, dir, "other-", time.Now().Add(time.Hour))
	expiredCert, expiredKey, _ := certValidUntil(t, dir, "expired-", time.Now().Add(-time.Hour))
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	pub, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	require.NoError(t, err)
	magniusKey := filepath.Join(dir, "magnius.pem")
	require.NoError(t, os.WriteFile(magniusKey, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600))
	notAKey := filepath.Join(dir, "not-a-key.pem")
	require.NoError(t, os.WriteFile(notAKey, []byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"), 0o600))
	cardKey := filepath.Join(dir, "card-id.key")
	require.NoError(t, os.WriteFile(cardKey, []byte(strings.Repeat("ab", 32)+"\n"), 0o600))
	shortKey := filepath.Join(dir, "short.key")
	require.NoError(t, os.WriteFile(shortKey, []byte("abc\n"), 0o600))
	aFile := filepath.Join(dir, "a-file")
	require.NoError(t, os.WriteFile(aFile, nil, 0o600))
	missing := filepath.Join(dir, "missing.pem")

	base := func(extra string) string {
		return fmt.Sprintf("http_addr: 127.0.0.1:0\ngrpc_addr: 127.0.0.1:0\ndata_dir: %s\napi_tokens: [{name: ops, role: admin, token: t}]\n%s",
			filepath.Join(dir, "data"), extra)
	}
	cases := []struct {
		name, extra string
		want        string // the one problem, as printed: line:col: key: message
	}{
		{"missing certificate", fmt.Sprintf("tls:\n  cert_file: %s\n  key_file: %s\n", missing, key),
			":6:3: tls.cert_file: open " + missing + ": no such file or directory"},
		{"missing key", fmt.Sprintf("tls:\n  cert_file: %s\n  key_file: %s\n", cert, missing),
			":7:3: tls.key_file: open " + missing},
		{"certificate of another key", fmt.Sprintf("tls:\n  cert_file: %s\n  key_file: %s\n", otherCert, key),
			":6:3: tls.cert_file: cert_file and key_file do not make a certificate and its key: tls: private key does not match public key"},
		{"expired certificate", fmt.Sprintf("tls:\n  cert_file: %s\n  key_file: %s\n", expiredCert, expiredKey),
			":6:3: tls.cert_file: the certificate expired on"},
		{"missing Magnius key file", fmt.Sprintf("providers:\n  magnius:\n    public_key_files: [%s]\n", missing),
			":7:5: providers.magnius.public_key_files: public_key_files[0]: open " + missing},
		{"Magnius key file without a key", fmt.Sprintf("providers:\n  magnius:\n    public_key_files: [%s, %s]\n", magniusKey, notAKey),
			":7:5: providers.magnius.public_key_files: public_key_files[1] " + notAKey + ": magnius: PublicKeysPEM[0]"},
		{"short card-id key", "card_id_key_file: " + shortKey + "\n",
			":5:1: card_id_key_file: " + shortKey + " holds 3 bytes; want at least 32"},
		{"missing card-id key", "card_id_key_file: " + missing + "\n",
			":5:1: card_id_key_file: open " + missing},
		{"PostgreSQL without a card-id key", "store: postgres://db.example:5432/paystate\n",
			": (not in the file): card_id_key_file: must be set on PostgreSQL"},
		{"PostgreSQL URL that does not parse", "store: postgres://db.example:notaport/paystate\ncard_id_key_file: " + cardKey + "\n",
			":5:1: store: not a PostgreSQL URL paystate can use"},
		{"schema name too long", "store: postgres://db.example/paystate\nstore_schema: " + strings.Repeat("s", 64) + "\ncard_id_key_file: " + cardKey + "\n",
			":6:1: store_schema: schema name"},
		{"address without a port", "http_addr: localhost\n",
			":5:1: http_addr: \"localhost\" is not host:port"},
		{"data_dir is a file", "data_dir: " + aFile + "\n",
			":5:1: data_dir: " + aFile + " is a file, not a directory"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			file := base(tc.extra)
			if strings.HasPrefix(tc.extra, "http_addr:") || strings.HasPrefix(tc.extra, "data_dir:") {
				// The later key of the two wins in YAML; drop the first.
				key, _, _ := strings.Cut(tc.extra, ":")
				file = strings.Replace(file, key+": ", "# "+key+": ", 1)
			}
			path := writeFile(t, "paystate.yaml", file)
			var stdout, stderr bytes.Buffer
			err := configCheck(path, true, nil, &stdout, &stderr)
			require.ErrorContains(t, err, "has 1 problem(s)", stderr.String())
			require.True(t, strings.HasPrefix(stderr.String(), path+tc.want), "got %q\nwant %q", stderr.String(), path+tc.want)
			require.Empty(t, stdout.String())
		})
	}

	// Everything named exists and holds what it should: valid, and serve
	// starts with it (over TLS).
	valid := writeFile(t, "valid.yaml", base(fmt.Sprintf(
		"tls: {cert_file: %s, key_file: %s}\ncard_id_key_file: %s\nproviders:\n  magnius: {public_key_files: [%s]}\n", cert, key, cardKey, magniusKey)))
	var stdout, stderr bytes.Buffer
	require.NoError(t, configCheck(valid, true, nil, &stdout, &stderr), stderr.String())
	require.Contains(t, stdout.String(), "is valid")
	cfg, err := config.Load(valid, func(string) string { return "" })
	require.NoError(t, err)
	ctx := t.Context()
	started := make(chan struct{})
	done := make(chan error, 1)
	srvCtx, stop := context.WithCancel(ctx)
	go func() {
		done <- runServer(srvCtx, cfg, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), func(string, string) { close(started) })
	}()
	select {
	case <-started:
		stop()
		require.NoError(t, <-done)
	case err := <-done:
		t.Fatalf("config check found the file valid, but serve did not start: %v", err)
	}
}

// deploy/paystate.yaml, the file deploy/paystate.service installs, is
// valid with the secrets the unit's environment file gives it, and says
// what is missing without them.
func TestDeployedConfigIsValid(t *testing.T) {
	t.Parallel()
	file := filepath.Join("..", "..", "deploy", "paystate.yaml")
	unit, err := os.ReadFile(filepath.Join("..", "..", "deploy", "paystate.service"))
	require.NoError(t, err)
	require.Contains(t, string(unit), "install -m 0644 deploy/paystate.yaml /etc/paystate/paystate.yaml")
	env := func(k string) string {
		return map[string]string{"PAYSTATE_API_TOKENS": "admin:" + strings.Repeat("a", 32), "PAYSTATE_NGENIUS_HEADER_VALUES": "v",
			"PAYSTATE_DATA_DIR": t.TempDir()}[k]
	}
	var out bytes.Buffer
	require.NoError(t, runTo(t, &out, env, "config", "check", file))
	require.Contains(t, out.String(), "is valid")
	require.Contains(t, out.String(), "X-Webhook-Token")
	err = runTo(t, io.Discard, noEnv, "config", "check", file)
	require.ErrorContains(t, err, "2 problem(s)")
}

// The effective configuration config check prints carries the defaults
// the engine and the providers apply to what the file leaves unset, and
// what the file sets, as they will use it.
func TestConfigCheckPrintsTheDefaultsApplied(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, extra string) string {
		f := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(f, []byte(fmt.Sprintf("data_dir: %s\napi_tokens: [{name: ops, role: admin, token: t}]\n%s",
			filepath.Join(dir, "data"), extra)), 0o600))
		return f
	}
	check := func(file string) string {
		var out bytes.Buffer
		require.NoError(t, runTo(t, &out, noEnv, "config", "check", file))
		return out.String()
	}
	out := check(write("unset.yaml", ""))
	for _, want := range []string{"\nbatch_max_events: 256\n", "\n    tolerance: 5m0s\n", "\n    default_currency: USD\n",
		"\n    currency: USD\n", "\n    algorithm: sha256\n", "\n    encoding: hex\n"} {
		require.Contains(t, out, want)
	}
	out = check(write("set.yaml", "batch_max_events: 32\nproviders:\n  payengine: {tolerance: 30s, default_currency: eur}\n"+
		"  inyo: {currency: aed}\n  generic: {algorithm: sha512, encoding: base64}\n"))
	for _, want := range []string{"\nbatch_max_events: 32\n", "\n    tolerance: 30s\n", "\n    default_currency: EUR\n",
		"\n    currency: AED\n", "\n    algorithm: sha512\n", "\n    encoding: base64\n"} {
		require.Contains(t, out, want)
	}
}
