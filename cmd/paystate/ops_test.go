package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/paystate/paystate/config"
	pb "github.com/paystate/paystate/proto/paystate/v1"
	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/sqlite"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

func TestConfigCheckCommand(t *testing.T) {
	t.Parallel()
	noEnv := func(string) string { return "" }

	broken := writeFile(t, "broken.yaml", `http_addr: 127.0.0.1:8080
api_tokens:
  - {name: ops, role: root, token: admin-secret-1}
providers:
  ngenius:
    header_name: X-Webhook-Token
    header_values: [hv-secret-1]
    api_key: ng-key-secret
  generic: {algorithm: md5}
defer_window: forever
`)
	var stdout, stderr bytes.Buffer
	err := configCheck(broken, false, noEnv, &stdout, &stderr)
	require.ErrorContains(t, err, "has 5 problem(s)")
	require.Empty(t, stdout.String(), "nothing is printed as effective when it is not")
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	require.Equal(t, []string{
		broken + `:3:17: api_tokens[0].role: role "root" is not reader, auditor, fraud or admin`,
		broken + ":5:3: providers.ngenius.outlet_ref: must be set: the status API needs api_key, outlet_ref and api_base_url together",
		broken + ":5:3: providers.ngenius.api_base_url: must be set: the status API needs api_key, outlet_ref and api_base_url together",
		broken + `:9:13: providers.generic.algorithm: "md5": want sha256, sha512 or sha1`,
		broken + `:10:1: defer_window: "forever" is not a duration like 90s or 24h`,
	}, lines)
	for _, secret := range []string{"admin-secret-1", "hv-secret-1", "ng-key-secret"} {
		require.NotContains(t, stderr.String(), secret, "no secret in the explanation either")
	}

	valid := writeFile(t, "valid.yaml", `api_tokens:
  - {name: ops, role: admin, token: admin-secret-1}
providers:
  ngenius: {header_name: X-Webhook-Token, header_values: [hv-secret-1], api_key: ng-key-secret, outlet_ref: outlet-1, api_base_url: "https://api-gateway.example.com"}
reconcile: {interval: 2m}
`)
	stdout.Reset()
	stderr.Reset()
	require.NoError(t, configCheck(valid, false, noEnv, &stdout, &stderr))
	out := stdout.String()
	require.Contains(t, out, "is valid. Reconciler: on (N-Genius).")
	require.Contains(t, out, "interval: 2m0s")
	require.Contains(t, out, "min_age: 15m0s", "defaults are shown")
	for _, secret := range []string{"admin-secret-1", "hv-secret-1", "ng-key-secret"} {
		require.NotContains(t, out, secret)
	}
	require.Contains(t, out, "token: <redacted>")
	var back config.Config
	require.NoError(t, yaml.Unmarshal([]byte(out), &back), "the output is YAML")

	// The environment is applied unless --no-env.
	env := func(k string) string { return map[string]string{"PAYSTATE_RECONCILE_MIN_AGE": "soon"}[k] }
	stderr.Reset()
	require.Error(t, configCheck(valid, false, env, &stdout, &stderr))
	require.Contains(t, stderr.String(), "PAYSTATE_RECONCILE_MIN_AGE")
	stdout.Reset()
	require.NoError(t, configCheck(valid, true, env, &stdout, io.Discard))

	// Usage mistakes.
	require.Error(t, run(t.Context(), []string{"config", "nosuch"}, noEnv))
	require.Error(t, run(t.Context(), []string{"config", "check"}, noEnv))
	require.ErrorContains(t, configCheck(filepath.Join(t.TempDir(), "missing.yaml"), false, noEnv, io.Discard, io.Discard), "no such file")
}

func TestLoggerFormatsAndLevels(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log, err := newLogger(&buf, "auto", "info")
	require.NoError(t, err)
	log.Debug("hidden")
	log.Info("shown", "k", "v")
	require.JSONEq(t, `{"level":"INFO","msg":"shown","k":"v"}`, dropTime(t, buf.String()), "auto is JSON when not a terminal")

	buf.Reset()
	log, err = newLogger(&buf, "text", "debug")
	require.NoError(t, err)
	log.Debug("shown")
	require.Contains(t, buf.String(), "level=DEBUG msg=shown")

	_, err = newLogger(&buf, "xml", "info")
	require.ErrorContains(t, err, "--log-format")
	_, err = newLogger(&buf, "json", "loud")
	require.ErrorContains(t, err, "--log-level")
	require.False(t, isTerminal(&buf))
}

func dropTime(t *testing.T, line string) string {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(line), &m))
	delete(m, "time")
	out, _ := json.Marshal(m)
	return string(out)
}

// syncBuffer is a log sink for a running server; waitFor waits on its
// writes.
type syncBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{} // signalled (without blocking) on every write
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.wrote == nil {
		b.wrote = make(chan struct{}, 1)
	}
	select {
	case b.wrote <- struct{}{}:
	default:
	}
	return b.buf.Write(p)
}
func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.buf.String() }

// waitFor waits until the buffer holds s, or fails after patience.
func (b *syncBuffer) waitFor(t *testing.T, s string, patience time.Duration) {
	t.Helper()
	b.mu.Lock()
	if b.wrote == nil {
		b.wrote = make(chan struct{}, 1)
	}
	wrote := b.wrote
	b.mu.Unlock()
	deadline := time.After(patience)
	for !strings.Contains(b.String(), s) {
		select {
		case <-wrote:
		case <-deadline:
			t.Fatalf("%q not written within %s; got:\n%s", s, patience, b.String())
		}
	}
}

// running is runServer on loopback ports with cfg, logging JSON into logs.
type running struct {
	http, grpc string
	logs       *syncBuffer
	stop       func()
}

func runWith(t *testing.T, cfg config.Config) *running {
	t.Helper()
	cfg.HTTPAddr, cfg.GRPCAddr = "127.0.0.1:0", "127.0.0.1:0"
	r := &running{logs: &syncBuffer{}}
	log, err := newLogger(r.logs, "json", "debug")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	addrs := make(chan [2]string, 1)
	go func() { done <- runServer(ctx, cfg, nil, log, func(h, g string) { addrs <- [2]string{h, g} }) }()
	select {
	case a := <-addrs:
		r.http, r.grpc = "http://"+a[0], a[1]
	case err := <-done:
		t.Fatalf("server did not start: %v", err)
	}
	stopped := false
	r.stop = func() {
		if !stopped {
			stopped = true
			cancel()
			require.NoError(t, <-done)
		}
	}
	t.Cleanup(r.stop)
	return r
}

func httpGet(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	return body
}

func TestBuildInfoAtStartAndOnHTTP(t *testing.T) {
	t.Parallel()
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	_, err := config.FillDev(&cfg)
	require.NoError(t, err)
	r := runWith(t, cfg)

	var info map[string]any
	require.NoError(t, json.Unmarshal(httpGet(t, r.http+"/version"), &info))
	require.Equal(t, runtime.Version(), info["go_version"])
	require.NotEmpty(t, info["version"])

	var start map[string]any
	for _, l := range strings.Split(r.logs.String(), "\n") {
		if strings.Contains(l, `"msg":"paystate starting"`) {
			require.NoError(t, json.Unmarshal([]byte(l), &start))
		}
	}
	require.NotNil(t, start, "a start line is logged")
	require.Equal(t, info["version"], start["version"])
	require.Equal(t, runtime.Version(), start["go_version"])
	require.Contains(t, start, "revision")
	require.Equal(t, false, start["reconcile"])
	require.Equal(t, false, start["tls"])
	require.Equal(t, "off", start["tracing"])
	require.NotContains(t, start, "schema", "SQLite has none")

	// The engine and the watch notifier feed the served metrics.
	metrics := string(httpGet(t, r.http+"/metrics"))
	require.Contains(t, metrics, "paystate_watch_subscribers 0")
	require.Contains(t, metrics, "paystate_journal_length 0")
	require.NotContains(t, metrics, "paystate_reconcile_checks_total", "no reconciler without credentials")
}

// fakeNGeniusAPI answers the identity and order APIs for one order that
// N-Genius says is captured.
func fakeNGeniusAPI(t *testing.T, apiKey, outlet, orderID string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/identity/auth/access-token" && r.Header.Get("Authorization") == "Basic "+apiKey:
			fmt.Fprint(w, `{"access_token":"tok-1","expires_in":300}`)
		case r.Method == http.MethodGet && r.URL.Path == "/transactions/outlets/"+outlet+"/orders/"+orderID && r.Header.Get("Authorization") == "Bearer tok-1":
			fmt.Fprintf(w, `{"reference":%q,"action":"SALE","amount":{"currencyCode":"AED","value":10000},
				"_embedded":{"payment":[{"_id":"urn:payment:p1","state":"CAPTURED","amount":{"currencyCode":"AED","value":10000}}]}}`, orderID)
		default:
			http.Error(w, `{"message":"Not Authorized"}`, http.StatusUnauthorized)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestReconcilerRecoversALostWebhookEndToEnd(t *testing.T) {
	t.Parallel()
	api := fakeNGeniusAPI(t, "api-key-1", "outlet-1", "abc123xyz")
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	dev, err := config.FillDev(&cfg)
	require.NoError(t, err)
	cfg.Providers.NGenius.APIKey, cfg.Providers.NGenius.OutletRef, cfg.Providers.NGenius.APIBaseURL = "api-key-1", "outlet-1", api.URL
	// Fast for the test: look often, ask about anything at once.
	cfg.Reconcile.Interval.Duration, cfg.Reconcile.MinAge.Duration = 20*time.Millisecond, time.Nanosecond
	r := runWith(t, cfg)

	// The AUTHORISED webhook was lost; the CAPTURED one is held.
	req, err := http.NewRequest(http.MethodPost, r.http+"/webhooks/ngenius", bytes.NewReader(sample(t, "CAPTURED")))
	require.NoError(t, err)
	req.Header.Set(dev.NGeniusHeaderName, dev.NGeniusHeaderValue)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	conn, err := grpc.NewClient(r.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+dev.APIToken)
	orders := pb.NewOrderServiceClient(conn)
	require.Eventually(t, func() bool {
		o, err := orders.GetOrder(ctx, &pb.GetOrderRequest{Provider: "ngenius", OrderId: "abc123xyz"})
		return err == nil && o.GetStateName() == "captured"
	}, time.Minute, 10*time.Millisecond, "the reconciler asked N-Genius and applied the missing authorisation")
	metrics := string(httpGet(t, r.http+"/metrics"))
	require.Contains(t, metrics, `paystate_reconcile_checks_total{provider="ngenius",result="submitted"}`)
	require.Regexp(t, `paystate_engine_batch_size_count [1-9]`, metrics, "the engine reports its batches")
	require.Contains(t, metrics, `paystate_webhooks_total{code="200",provider="ngenius",verdict="deferred"} 1`)
	r.stop()

	store, err := sqlite.Open(t.Context(), filepath.Join(cfg.DataDir, "paystate.db"))
	require.NoError(t, err)
	defer store.Close()
	entries, err := store.Journal(t.Context(), &storage.AggregateKey{Provider: "ngenius", Kind: "payment", ID: "abc123xyz"}, 0, 10)
	require.NoError(t, err)
	var actors []string
	for _, e := range entries {
		actors = append(actors, e.Actor+":"+e.Event+":"+e.Verdict)
	}
	require.Equal(t, []string{"webhook:CAPTURED:deferred", "reconciler:AUTHORISED:applied", "engine:CAPTURED:applied"}, actors)
	require.Contains(t, r.logs.String(), `"msg":"reconciled"`)
	require.NotContains(t, r.logs.String(), "api-key-1", "the API key is never logged")
}

// The start line names what a new operator wants confirmed: the schema on
// PostgreSQL, TLS, and where spans go.
func TestStartLineSaysSchemaTLSAndTracing(t *testing.T) {
	cfg := config.Defaults()
	cfg.Store = "postgres://db.internal/paystate"
	cfg.TLS.CertFile, cfg.TLS.KeyFile = "tls.crt", "tls.key"
	cfg.Tracing.OTLPEndpoint = "localhost:4317"
	attrs := startAttrs(cfg, "postgres://db.internal/paystate")
	require.Equal(t, []any{"db", "postgres://db.internal/paystate", "schema", "public", "dev_mode", false, "reconcile", false,
		"tls", true, "tracing", "grpc localhost:4317"}, attrs)
	cfg.StoreSchema = "paystate"
	require.Contains(t, startAttrs(cfg, "x"), "paystate")
}

// TestServeNamesATakenPort: with the quick start's port taken by another
// program, serve fails at once, naming the address, the flag, the
// environment variable and the config key that choose another, for the
// HTTP and the gRPC port alike, and both when both are taken.
func TestServeNamesATakenPort(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	addr := taken.Addr().String()
	taken2, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken2.Close()
	addr2 := taken2.Addr().String()
	for _, c := range []struct{ args, want []string }{
		{[]string{"--http-addr", addr, "--grpc-addr", addr2},
			[]string{"http_addr " + addr + " is already in use", "grpc_addr " + addr2 + " is already in use"}},
		{[]string{"--http-addr", addr, "--grpc-addr", "127.0.0.1:0"},
			[]string{"http_addr " + addr + " is already in use", "--http-addr, PAYSTATE_HTTP_ADDR or http_addr", "client commands then take --url"}},
		{[]string{"--http-addr", "127.0.0.1:0", "--grpc-addr", addr},
			[]string{"grpc_addr " + addr + " is already in use", "--grpc-addr, PAYSTATE_GRPC_ADDR or grpc_addr", "client commands then take --addr"}},
	} {
		err := run(t.Context(), append([]string{"serve", "--data-dir", t.TempDir()}, c.args...), noEnv)
		require.Error(t, err)
		for _, w := range c.want {
			require.ErrorContains(t, err, w)
		}
		require.ErrorIs(t, err, syscall.EADDRINUSE)
	}
}
