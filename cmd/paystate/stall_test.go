package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/config"
	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/postgres"
)

// stallProxy forwards TCP connections from loopback to target. Stalled,
// it keeps every connection open and forwards nothing, in either
// direction: a database that stopped answering without closing anything.
type stallProxy struct {
	lis    net.Listener
	target string

	mu      sync.Mutex
	resumed chan struct{} // nil while forwarding; closed when a stall ends
	conns   []net.Conn
}

func newStallProxy(t *testing.T, target string) *stallProxy {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &stallProxy{lis: lis, target: target}
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *stallProxy) addr() string { return p.lis.Addr().String() }

func (p *stallProxy) accept() {
	for {
		c, err := p.lis.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		go p.pipe(u, c)
		go p.pipe(c, u)
	}
}

// pipe copies src to dst, holding every chunk while the proxy is stalled.
func (p *stallProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			wait := p.resumed
			p.mu.Unlock()
			if wait != nil {
				<-wait
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *stallProxy) stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.resumed == nil {
		p.resumed = make(chan struct{})
	}
}

func (p *stallProxy) resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.resumed != nil {
		close(p.resumed)
		p.resumed = nil
	}
}

func (p *stallProxy) close() {
	p.resume()
	p.lis.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

// loggedServer runs runServer with its log kept, for tests of how it
// stops; stop ends it and returns how long that took.
type loggedServer struct {
	*server
	log      *syncBuffer
	grpcAddr string
}

func startLogged(t *testing.T, cfg config.Config, dev *config.DevCredentials) *loggedServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{t: t, cfg: cfg, dev: dev, stop: cancel, done: make(chan error, 1)}
	logs := &syncBuffer{}
	var grpcAddr string
	addrs := make(chan [2]string, 1)
	log := slog.New(slog.NewTextHandler(logs, nil))
	go func() { s.done <- runServer(ctx, cfg, nil, log, func(h, g string) { addrs <- [2]string{h, g} }) }()
	select {
	case a := <-addrs:
		s.http = "http://" + a[0]
		grpcAddr = a[1]
	case err := <-s.done:
		t.Fatalf("server did not start: %v", err)
	}
	t.Cleanup(func() {
		if s.stop != nil {
			s.stop()
			<-s.done
		}
	})
	return &loggedServer{server: s, log: logs, grpcAddr: grpcAddr}
}

// stopWithin stops the server and requires it to have returned within
// bound.
func (s *loggedServer) stopWithin(t *testing.T, bound time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	s.stop()
	s.stop = nil
	select {
	case err := <-s.done:
		require.NoError(t, err)
	case <-time.After(bound):
		t.Fatalf("the server did not stop within %s; log:\n%s", bound, s.log.String())
	}
	return time.Since(start)
}

// get is a GET with a client-side bound, so that a server that does not
// answer fails the test instead of hanging it.
func get(t *testing.T, url string, patience time.Duration) (int, string, time.Duration) {
	t.Helper()
	start := time.Now()
	client := &http.Client{Timeout: patience}
	resp, err := client.Get(url)
	require.NoError(t, err, "no answer within %s", patience)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), time.Since(start)
}

// TestStalledPostgres puts a TCP proxy between paystate and PostgreSQL
// and stalls it: connections stay open, no byte moves. A webhook must be
// answered 503 within the store deadline, /readyz must say not ready
// within about a second, and a stop must complete. Then, with the stall
// over: the webhook answered 503 is either not in the journal (a resend
// applies it) or, if the commit went through before its answer was lost,
// a resend is a duplicate; never applied twice.
func TestStalledPostgres(t *testing.T) {
	dsn, schema := testSchema(t, "stall", "the stall test")
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	proxy := newStallProxy(t, u.Host)
	proxied := *u
	proxied.Host = proxy.addr()

	// Short, for the stalled webhook's sake, yet long enough for the
	// commit before the stall on a loaded machine.
	const storeTimeout = 2 * time.Second
	// Bounds for "answers instead of hanging", not speed: the stall never
	// ends by itself, so only the deadlines can answer at all, and a
	// loaded machine may delay that answer by seconds.
	const answers = 15 * storeTimeout
	cfg := config.Defaults()
	cfg.HTTPAddr, cfg.GRPCAddr, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", t.TempDir()
	cfg.Store, cfg.StoreSchema = proxied.String(), schema
	cfg.StoreTimeout.Duration, cfg.ShutdownTimeout.Duration = storeTimeout, 10*storeTimeout
	dev, err := config.FillDev(&cfg)
	require.NoError(t, err)
	s := startLogged(t, cfg, dev)

	code, _ := s.webhook(t, ngeniusOrder("stall", "AUTHORISED", 1))
	require.Equal(t, http.StatusOK, code)
	code, _, _ = get(t, s.http+"/readyz", time.Minute)
	require.Equal(t, http.StatusOK, code)

	proxy.stall()
	start := time.Now()
	resp := postWithin(t, s.server, ngeniusOrder("stall", "CAPTURED", 2), time.Minute)
	took := time.Since(start)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Equal(t, "1", resp.Header.Get("Retry-After"))
	require.Less(t, took, answers, "the webhook was answered, but only after %s", took)

	code, body, took := get(t, s.http+"/readyz", time.Minute)
	require.Equal(t, http.StatusServiceUnavailable, code, body)
	require.Less(t, took, answers, "readyz answered, but only after %s", took)
	t.Logf("stalled: webhook 503 in %s, readyz 503 (%q) in %s", time.Since(start)-took, strings.TrimSpace(body), took)

	stopped := s.stopWithin(t, cfg.ShutdownTimeout.Duration+answers)
	require.Contains(t, s.log.String(), "draining")
	t.Logf("stopped in %s with the store stalled", stopped)

	// The stall ends. What was acknowledged is there; what got 503 is
	// applied once by its resend.
	proxy.resume()
	store, err := postgres.Open(t.Context(), dsn, postgres.WithSchema(schema))
	require.NoError(t, err)
	defer store.Close()
	// The server may have stopped between the commit and its seal: what
	// it acknowledged is durable and unsealed, and the next sealer (here,
	// as the next replica's would) chains it.
	_, err = store.Seal(t.Context())
	require.NoError(t, err)
	journaled := map[string]bool{}
	entries, err := store.Journal(t.Context(), nil, 0, 100)
	require.NoError(t, err)
	for _, e := range entries {
		journaled[e.Event] = true
	}
	require.True(t, journaled["AUTHORISED"], "the acknowledged webhook is journaled")
	direct := cfg
	direct.Store = dsn
	again := startServerWith(t, direct, dev)
	code, reply := again.webhook(t, ngeniusOrder("stall", "CAPTURED", 2))
	require.Equal(t, http.StatusOK, code)
	want := "applied"
	if journaled["CAPTURED"] {
		want = "duplicate"
	}
	require.Equal(t, want, verdictOf(t, reply), "the 503'd webhook was journaled: %v", journaled["CAPTURED"])
	a, err := store.Aggregate(t.Context(), storage.AggregateKey{Provider: "ngenius", Kind: "payment", ID: "stall"})
	require.NoError(t, err)
	require.Equal(t, "captured", a.State)
}

// postWithin posts a signed N-Genius webhook and fails if no answer
// comes within patience.
func postWithin(t *testing.T, s *server, body []byte, patience time.Duration) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.http+"/webhooks/ngenius", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(s.dev.NGeniusHeaderName, s.dev.NGeniusHeaderValue)
	resp, err := (&http.Client{Timeout: patience}).Do(req)
	require.NoError(t, err, "no answer within %s", patience)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// TestShutdownEndsWatchesCleanly stops a server while a `paystate watch`
// and a REST watch are open: the stop logs that it drains, both streams
// end at once as planned (a last heartbeat with the cursor, then
// UNAVAILABLE marked as the server's own end: the CLI exits 0), and the
// server is gone well within its bound.
func TestShutdownEndsWatchesCleanly(t *testing.T) {
	cfg := config.Defaults()
	cfg.HTTPAddr, cfg.GRPCAddr, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", t.TempDir()
	dev, err := config.FillDev(&cfg)
	require.NoError(t, err)
	s := startLogged(t, cfg, dev)

	out := &syncBuffer{}
	stdout = out
	t.Cleanup(func() { stdout = os.Stdout })
	env := func(k string) string {
		return map[string]string{"PAYSTATE_GRPC_ADDR": s.grpcAddr, "PAYSTATE_TOKEN": dev.APIToken}[k]
	}
	// The entry is there first: both watches start with it (a REST
	// watch's response headers come with its first message).
	code, _ := s.webhook(t, ngeniusOrder("drain", "AUTHORISED", 1))
	require.Equal(t, http.StatusOK, code)
	watched := make(chan error, 1)
	go func() { watched <- run(context.Background(), []string{"watch"}, env) }()

	req, err := http.NewRequest(http.MethodGet, s.http+"/v1/journal:watch", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+dev.APIToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	rest := bufio.NewReader(resp.Body)

	out.waitFor(t, "ngenius/drain", time.Minute)
	line, err := rest.ReadString('\n')
	require.NoError(t, err)
	require.Contains(t, line, `"drain"`)

	took := s.stopWithin(t, cfg.ShutdownTimeout.Duration)
	select {
	case err := <-watched:
		require.NoError(t, err, "paystate watch exits 0 when the server drains")
	case <-time.After(time.Minute):
		t.Fatal("paystate watch did not end")
	}
	tail, err := io.ReadAll(rest)
	require.NoError(t, err, "the REST stream ends, not cut")
	require.Contains(t, string(tail), `"heartbeat":true`, "a last heartbeat carries the cursor")
	require.Contains(t, string(tail), `"code":14`, "then UNAVAILABLE: resume elsewhere")
	require.Contains(t, s.log.String(), "draining")
	t.Logf("stopped in %s with two watches open", took)
}
