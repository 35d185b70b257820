package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/paystate/paystate/engine"
	"github.com/paystate/paystate/engine/enginetest"
	pb "github.com/paystate/paystate/proto/paystate/v1"
	"github.com/paystate/paystate/providers"
	"github.com/paystate/paystate/providers/generic"
	"github.com/paystate/paystate/providers/ngenius"
)

const (
	hardHeader = "X-Webhook-Token"
	hardSecret = "hardening-secret-5d1e"
	hardAdmin  = "hardening-admin-token"
	hardOther  = "hardening-reader-token"
)

var hardQuiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// recordingEngine stands in for the engine: it records deliveries and
// answers "applied" for each event.
type recordingEngine struct {
	mu         sync.Mutex
	deliveries []engine.Delivery
}

func (e *recordingEngine) Submit(_ context.Context, d engine.Delivery) ([]engine.Outcome, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.deliveries = append(e.deliveries, d)
	out := make([]engine.Outcome, len(d.Events))
	for i := range out {
		out[i] = engine.Outcome{Seq: int64(len(e.deliveries)), Verdict: "applied"}
	}
	return out, nil
}

func (e *recordingEngine) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.deliveries)
}

func hardNGenius() *ngenius.Provider {
	return ngenius.New(ngenius.Config{HeaderName: hardHeader, HeaderValues: []string{hardSecret}})
}

func hardBody(event string) []byte {
	return []byte(`{"event":"` + event + `","order":{"reference":"ORD-1","id":"o-1","amount":{"currencyCode":"AED","value":10000}},` +
		`"transaction":{"id":"t-1","state":"` + event + `"},"timestamp":"2024-12-01T13:22:45Z"}`)
}

// hardServer is a whole Server on loopback over a real engine and store.
type hardServer struct {
	http string
	conn *grpc.ClientConn
}

func hardSetup(t *testing.T, opts Options) *hardServer {
	t.Helper()
	p := hardNGenius()
	h := enginetest.New(t, p)
	opts.Store, opts.Machines, opts.Engine = h.Store, h.Machines, h.Engine
	opts.Providers = map[string]providers.Provider{ngenius.Name: p}
	opts.Log = hardQuiet
	opts.Tokens = []Token{{Name: "ops", Role: "admin", SHA256: HashToken(hardAdmin)}, {Name: "other", Role: "admin", SHA256: HashToken(hardOther)}}
	return serveLoopback(t, opts)
}

// serveLoopback runs a Server for opts on loopback until the test ends.
func serveLoopback(t *testing.T, opts Options) *hardServer {
	t.Helper()
	srv := NewServer(opts)
	grpcLis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	httpLis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, grpcLis, httpLis) }()
	conn, err := grpc.NewClient(grpcLis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() {
		conn.Close()
		cancel()
		require.NoError(t, <-served)
	})
	return &hardServer{http: "http://" + httpLis.Addr().String(), conn: conn}
}

func (s *hardServer) do(t *testing.T, method, path string, body []byte, header http.Header) int {
	t.Helper()
	req, err := http.NewRequest(method, s.http+path, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// adminJSON sends an admin-authorised REST call, requires 200 and
// decodes the answer.
func (s *hardServer) adminJSON(t *testing.T, method, path, body string) map[string]any {
	t.Helper()
	req, err := http.NewRequest(method, s.http+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+hardAdmin)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return out
}

func TestWebhookContentType(t *testing.T) {
	for _, tc := range []struct {
		contentType string
		want        int
	}{
		{"", http.StatusOK}, // not promised by the providers' documents: see jsonContentType
		{"application/json", http.StatusOK},
		{"application/json; charset=utf-8", http.StatusOK},
		{"Application/JSON;charset=UTF-8", http.StatusOK},
		{"text/json", http.StatusOK},
		{"application/vnd.ngenius.webhook+json", http.StatusOK},
		{"application/problem+json; charset=utf-8", http.StatusOK},
		{"text/plain", http.StatusUnsupportedMediaType},
		{"application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
		{"multipart/form-data; boundary=x", http.StatusUnsupportedMediaType},
		{"application/xml", http.StatusUnsupportedMediaType},
		{"application/jsonp", http.StatusUnsupportedMediaType},
		{"application/+json", http.StatusUnsupportedMediaType},
		{"*/*+json", http.StatusUnsupportedMediaType},
		{"*/*", http.StatusUnsupportedMediaType},
		{"json", http.StatusUnsupportedMediaType},
		{"application/json; charset", http.StatusUnsupportedMediaType}, // unparsable
	} {
		t.Run(tc.contentType, func(t *testing.T) {
			eng := &recordingEngine{}
			h := &Webhooks{Providers: map[string]providers.Provider{ngenius.Name: hardNGenius()}, Engine: eng, Log: hardQuiet}
			mux := http.NewServeMux()
			mux.Handle("POST /webhooks/{provider}", h)
			req := httptest.NewRequest(http.MethodPost, "/webhooks/ngenius", bytes.NewReader(hardBody("AUTHORISED")))
			req.Header.Set(hardHeader, hardSecret)
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			require.Equal(t, tc.want, rec.Code, rec.Body.String())
			if tc.want != http.StatusOK {
				require.Zero(t, eng.count(), "a refused webhook reached the engine")
			}
		})
	}
}

// The provider is the one the URL names, never one the body claims, and a
// body signed for one provider is not accepted on another's route.
func TestWebhookProviderChosenByURLOnly(t *testing.T) {
	const genericSecret = "generic-secret-2b7c"
	eng := &recordingEngine{}
	h := &Webhooks{Engine: eng, Log: hardQuiet, Providers: map[string]providers.Provider{
		ngenius.Name: hardNGenius(),
		generic.Name: generic.New(generic.Config{Secrets: []string{genericSecret}}),
	}}
	mux := http.NewServeMux()
	mux.Handle("POST /webhooks/{provider}", h)
	post := func(path string, body []byte, header http.Header) int {
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header = header
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec.Code
	}
	claims := []byte(strings.Replace(string(hardBody("AUTHORISED")), `{"event"`, `{"provider":"generic","event"`, 1))
	require.Equal(t, http.StatusOK, post("/webhooks/ngenius", claims, http.Header{hardHeader: {hardSecret}}))
	require.Equal(t, ngenius.Name, eng.deliveries[0].Provider)

	genericBody := []byte(`{"id":"evt_1","type":"payment.completed","created":"2025-03-15T08:00:00Z","data":{"object":{"id":"pay_1","amount":100,"currency":"USD"}}}`)
	sig, err := generic.Sign(genericSecret, genericBody, "", "")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, post("/webhooks/generic", genericBody, http.Header{"X-Signature": {sig}}))
	require.Equal(t, http.StatusUnauthorized, post("/webhooks/ngenius", genericBody, http.Header{"X-Signature": {sig}}))
	require.Equal(t, http.StatusNotFound, post("/webhooks/payengine", genericBody, http.Header{"X-Signature": {sig}}))
	require.Equal(t, http.StatusNotFound, post("/webhooks/", genericBody, http.Header{"X-Signature": {sig}}))
	require.Equal(t, 2, eng.count())
}

// TestServerLimits proves the caps of the real HTTP server: the webhook
// body cap (413, configurable), the header cap (431), POST only on
// webhook routes (405), unknown provider (404).
func TestServerLimits(t *testing.T) {
	s := hardSetup(t, Options{MaxBody: 2048})
	auth := http.Header{hardHeader: {hardSecret}, "Content-Type": {"application/json"}}

	body := hardBody("AUTHORISED")
	padded := func(n int) []byte { // valid JSON of exactly n bytes
		return append(bytes.Clone(body[:len(body)-1]), append(bytes.Repeat([]byte(" "), n-len(body)), '}')...)
	}
	require.Equal(t, http.StatusOK, s.do(t, http.MethodPost, "/webhooks/ngenius", padded(2048), auth))
	require.Equal(t, http.StatusRequestEntityTooLarge, s.do(t, http.MethodPost, "/webhooks/ngenius", padded(2049), auth))
	require.Equal(t, http.StatusRequestEntityTooLarge, s.do(t, http.MethodPost, "/webhooks/ngenius", padded(1<<20), auth))

	// Headers: 16 KiB pass, 64 KiB do not (the cap is 32 KiB; net/http
	// allows 4 KiB of slack on top).
	big := func(n int) http.Header {
		h := auth.Clone()
		h.Set("X-Padding", strings.Repeat("a", n))
		return h
	}
	require.Equal(t, http.StatusOK, s.do(t, http.MethodPost, "/webhooks/ngenius", body, big(16<<10)))
	require.Equal(t, http.StatusRequestHeaderFieldsTooLarge, s.do(t, http.MethodPost, "/webhooks/ngenius", body, big(64<<10)))

	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		require.Equal(t, http.StatusMethodNotAllowed, s.do(t, m, "/webhooks/ngenius", body, auth), m)
	}
	require.Equal(t, http.StatusNotFound, s.do(t, http.MethodPost, "/webhooks/nosuch", body, auth))
	require.Equal(t, http.StatusUnsupportedMediaType, s.do(t, http.MethodPost, "/webhooks/ngenius", body,
		http.Header{hardHeader: {hardSecret}, "Content-Type": {"text/plain"}}))
}

// TestRateLimitPerToken: each token has its own bucket; beyond it calls
// are ResourceExhausted over gRPC and 429 over REST; health checks are not
// limited.
func TestRateLimitPerToken(t *testing.T) {
	s := hardSetup(t, Options{RateLimit: RateLimit{PerSecond: 0.001, Burst: 3}})
	audit := pb.NewAuditServiceClient(s.conn)
	as := func(tok string) context.Context {
		return metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+tok)
	}
	for i := range 3 {
		_, err := audit.GetChainHead(as(hardAdmin), &pb.GetChainHeadRequest{})
		require.NoError(t, err, "call %d", i+1)
	}
	_, err := audit.GetChainHead(as(hardAdmin), &pb.GetChainHeadRequest{})
	require.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)

	// REST passes the same interceptors: the same bucket is empty.
	code := s.do(t, http.MethodGet, "/v1/journal/head", nil, http.Header{"Authorization": {"Bearer " + hardAdmin}})
	require.Equal(t, http.StatusTooManyRequests, code)

	// Another token is another principal, with a full bucket.
	_, err = audit.GetChainHead(as(hardOther), &pb.GetChainHeadRequest{})
	require.NoError(t, err)
	// Refused calls never reach the limiter: a wrong token is
	// Unauthenticated, not ResourceExhausted.
	_, err = audit.GetChainHead(as("nope"), &pb.GetChainHeadRequest{})
	require.Equal(t, codes.Unauthenticated, status.Code(err))
	for range 10 {
		_, err := healthpb.NewHealthClient(s.conn).Check(t.Context(), &healthpb.HealthCheckRequest{})
		require.NoError(t, err)
	}
	// Streams count when they open.
	watch := pb.NewWatchServiceClient(s.conn)
	stream, err := watch.Watch(as(hardAdmin), &pb.WatchRequest{})
	require.NoError(t, err)
	_, err = stream.Recv()
	require.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
}

func TestRateLimitOffByDefault(t *testing.T) {
	l := newRateLimiter(RateLimit{})
	ctx := withPrincipal(context.Background(), Principal{Name: "ops", Role: "admin"})
	for range 10_000 {
		require.NoError(t, l.allow(ctx))
	}
	// One call a second: at 1 000 a second the bucket refilled whenever
	// the test was descheduled for a millisecond between its two calls.
	l = newRateLimiter(RateLimit{PerSecond: 1, Burst: 1})
	require.NoError(t, l.allow(ctx))
	require.Equal(t, codes.ResourceExhausted, status.Code(l.allow(ctx)))
	// The bucket refills at PerSecond.
	require.Eventually(t, func() bool { return l.allow(ctx) == nil }, 10*time.Second, time.Millisecond)
}
