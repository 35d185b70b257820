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

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/paystate/paystate/buildinfo"
	"github.com/paystate/paystate/engine"
	"github.com/paystate/paystate/engine/enginetest"
	"github.com/paystate/paystate/internal/telemetry"
	pb "github.com/paystate/paystate/proto/paystate/v1"
	"github.com/paystate/paystate/providers"
	"github.com/paystate/paystate/providers/ngenius"
	"github.com/paystate/paystate/redact"
	"github.com/paystate/paystate/reqid"
)

const (
	obsToken       = "obs-admin-token"
	obsHeader      = "X-Webhook-Token"
	obsSecret      = "webhook-secret-value-7f3a"
	obsWrongSecret = "wrong-secret-value-c41d"
	// In the body, never in a log line.
	bodyMarker = "leak-check@example.invalid"
	cardNumber = "4111111111111111"
)

// logBuffer collects JSON log lines from concurrent writers.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.buf.String() }

// lines returns the records whose msg is msg.
func (b *logBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &rec), l)
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

type clockT struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clockT) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clockT) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// obs is a whole api.Server on loopback, over a real engine and store,
// with its logs captured.
type obs struct {
	h       *enginetest.Harness
	eng     *engine.Engine
	clock   *clockT
	logs    *logBuffer
	http    string
	conn    *grpc.ClientConn
	orders  pb.OrderServiceClient
	watch   pb.WatchServiceClient
	metrics *Metrics
}

func obsSetup(t *testing.T) *obs {
	t.Helper()
	return obsSetupTraced(t, nil)
}

// obsSetupTraced is obsSetup with tracing through tp (nil: off), and the
// server's logger built as serve builds it.
func obsSetupTraced(t *testing.T, tp trace.TracerProvider) *obs {
	t.Helper()
	p := ngenius.New(ngenius.Config{HeaderName: obsHeader, HeaderValues: []string{obsSecret}})
	o := &obs{h: enginetest.New(t, p), clock: &clockT{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}, logs: &logBuffer{}, metrics: NewMetrics()}
	notifier := engine.NewNotifier()
	o.eng = engine.New(o.h.Store, o.h.Machines, engine.Config{
		DeferWindow: time.Hour, SweepEvery: time.Hour, Now: o.clock.Now, Observer: o.metrics, Notifier: notifier, IDKey: obsIDKey,
		TracerProvider: tp,
	})
	engCtx, stopEngine := context.WithCancel(context.Background())
	engDone := make(chan struct{})
	go func() { defer close(engDone); o.eng.Run(engCtx) }()

	var lh slog.Handler = slog.NewJSONHandler(o.logs, &slog.HandlerOptions{Level: slog.LevelDebug})
	if tp != nil {
		lh = reqid.Handler(redact.LogHandler(telemetry.LogHandler(lh)))
	}
	log := slog.New(lh)
	srv := NewServer(Options{
		Store: o.h.Store, Machines: o.h.Machines, Engine: o.eng,
		Providers: map[string]providers.Provider{ngenius.Name: p},
		Tokens:    []Token{{Name: "ops", Role: "admin", SHA256: HashToken(obsToken)}},
		Subscribe: notifier.Subscribe, Subscribers: notifier.Subscribers,
		Metrics: o.metrics, Log: log,
		Build: buildinfo.Info{Version: "v9.9.9", Revision: "abc123", GoVersion: "go9.9"}, IDKey: obsIDKey,
		TracerProvider: tp,
	})
	grpcLis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	httpLis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, grpcLis, httpLis) }()
	o.http = "http://" + httpLis.Addr().String()
	o.conn, err = grpc.NewClient(grpcLis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	o.orders, o.watch = pb.NewOrderServiceClient(o.conn), pb.NewWatchServiceClient(o.conn)
	t.Cleanup(func() {
		o.conn.Close()
		cancel()
		require.NoError(t, <-served)
		stopEngine()
		<-engDone
	})
	return o
}

// webhookBody is the documented sample as event, with a customer e-mail
// and a card number that must never reach a log line.
func webhookBody(event, orderID string) []byte {
	return []byte(`{"event":"` + event + `","order":{"reference":"ORD-1","id":"` + orderID + `",` +
		`"amount":{"currencyCode":"AED","value":10000},"customer":{"email":"` + bodyMarker + `"},"pan":"` + cardNumber + `"},` +
		`"transaction":{"id":"txn789","state":"` + event + `","date":"2024-12-01T13:22:45Z"},"timestamp":"2024-12-01T13:22:45Z"}`)
}

func (o *obs) post(t *testing.T, path string, body []byte, header map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, o.http+path, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func (o *obs) webhook(t *testing.T, event, orderID, requestID string) *http.Response {
	t.Helper()
	h := map[string]string{obsHeader: obsSecret}
	if requestID != "" {
		h["X-Request-Id"] = requestID
	}
	return o.post(t, "/webhooks/ngenius", webhookBody(event, orderID), h)
}

func (o *obs) get(t *testing.T, path string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, o.http+path, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

// scrape reads /metrics and parses the text exposition.
func (o *obs) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	resp, body := o.get(t, "/metrics", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	require.NoError(t, err)
	return fams
}

// value returns the value of the series of name whose labels include
// labels: a counter's or gauge's value, a histogram's sample count. ok is
// false when there is no such series.
func value(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

func requireValue(t *testing.T, fams map[string]*dto.MetricFamily, want float64, name string, labels map[string]string) {
	t.Helper()
	got, ok := value(fams, name, labels)
	require.True(t, ok, "series %s%v is missing", name, labels)
	require.Equal(t, want, got, "%s%v", name, labels)
}

func TestMetricsAfterRealWebhooks(t *testing.T) {
	t.Parallel()
	o := obsSetup(t)
	ctx := t.Context()
	hooks := func(verdict, code string) map[string]string {
		return map[string]string{"provider": "ngenius", "verdict": verdict, "code": code}
	}

	// Early capture: held.
	require.Equal(t, http.StatusOK, o.webhook(t, "CAPTURED", "o1", "").StatusCode)
	fams := o.scrape(t)
	requireValue(t, fams, 1, "paystate_webhooks_total", hooks("deferred", "200"))
	requireValue(t, fams, 1, "paystate_deferred_pending", nil)
	requireValue(t, fams, 1, "paystate_journal_length", nil)
	requireValue(t, fams, 1, "paystate_store_up", nil)

	// Its predecessor lands and resolves it; then a redelivery, a forged
	// webhook, an unknown provider.
	require.Equal(t, http.StatusOK, o.webhook(t, "AUTHORISED", "o1", "").StatusCode)
	require.Equal(t, http.StatusOK, o.webhook(t, "AUTHORISED", "o1", "").StatusCode)
	require.Equal(t, http.StatusUnauthorized, o.post(t, "/webhooks/ngenius", webhookBody("AUTHORISED", "o1"),
		map[string]string{obsHeader: obsWrongSecret}).StatusCode)
	require.Equal(t, http.StatusNotFound, o.post(t, "/webhooks/made-up-provider", []byte("{}"), nil).StatusCode)

	// A capture for another order that never gets its predecessor: it
	// expires once the window has passed.
	require.Equal(t, http.StatusOK, o.webhook(t, "CAPTURED", "o2", "").StatusCode)
	o.clock.Add(2 * time.Hour)
	expired, err := o.eng.Sweep(ctx, o.clock.Now())
	require.NoError(t, err)
	require.Len(t, expired, 1)

	// gRPC: one call that succeeds, one refused.
	authed := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+obsToken)
	_, err = o.orders.GetOrder(authed, &pb.GetOrderRequest{Provider: "ngenius", OrderId: "o1"})
	require.NoError(t, err)
	_, err = o.orders.GetOrder(ctx, &pb.GetOrderRequest{Provider: "ngenius", OrderId: "o1"})
	require.Equal(t, codes.Unauthenticated, status.Code(err))

	// A live watch stream is a subscriber; its first message proves it
	// has subscribed.
	watchCtx, stopWatch := context.WithCancel(authed)
	defer stopWatch()
	stream, err := o.watch.Watch(watchCtx, &pb.WatchRequest{HeartbeatSeconds: 1})
	require.NoError(t, err)
	_, err = stream.Recv()
	require.NoError(t, err)

	fams = o.scrape(t)
	requireValue(t, fams, 1, "paystate_webhooks_total", hooks("applied", "200"))
	requireValue(t, fams, 1, "paystate_webhooks_total", hooks("duplicate", "200"))
	requireValue(t, fams, 2, "paystate_webhooks_total", hooks("deferred", "200"))
	requireValue(t, fams, 1, "paystate_webhooks_total", hooks("none", "401"))
	requireValue(t, fams, 1, "paystate_webhooks_total", map[string]string{"provider": "unknown", "verdict": "none", "code": "404"})
	_, leaked := value(fams, "paystate_webhooks_total", map[string]string{"provider": "made-up-provider"})
	require.False(t, leaked, "a caller's path never becomes a label value")
	requireValue(t, fams, 5, "paystate_webhook_duration_seconds", map[string]string{"provider": "ngenius"})

	// Four deliveries and one sweep were committed, each alone.
	requireValue(t, fams, 5, "paystate_engine_batch_size", nil)
	requireValue(t, fams, 5, "paystate_engine_commit_duration_seconds", nil)
	requireValue(t, fams, 5, "paystate_engine_commit_durable_seconds", nil)
	requireValue(t, fams, 0, "paystate_engine_commit_failures_total", nil)
	requireValue(t, fams, 1, "paystate_deferred_expired_total", nil)
	requireValue(t, fams, 0, "paystate_deferred_pending", nil)
	// CAPTURED, AUTHORISED + resolved CAPTURED, duplicate, CAPTURED o2,
	// its expiry.
	requireValue(t, fams, 6, "paystate_journal_length", nil)
	requireValue(t, fams, 1, "paystate_watch_subscribers", nil)

	getOrder := map[string]string{"grpc_service": "paystate.v1.OrderService", "grpc_method": "GetOrder", "grpc_type": "unary"}
	with := func(m map[string]string, k, v string) map[string]string {
		out := map[string]string{k: v}
		for a, b := range m {
			out[a] = b
		}
		return out
	}
	requireValue(t, fams, 1, "grpc_server_handled_total", with(getOrder, "grpc_code", "OK"))
	requireValue(t, fams, 1, "grpc_server_handled_total", with(getOrder, "grpc_code", "Unauthenticated"))
	requireValue(t, fams, 2, "grpc_server_handling_seconds", getOrder)
	requireValue(t, fams, 1, "grpc_server_started_total", map[string]string{"grpc_service": "paystate.v1.WatchService", "grpc_method": "Watch"})
	_, ok := value(fams, "go_goroutines", nil)
	require.True(t, ok, "runtime metrics are there too")
}

func TestWebhookLogLinesCarryWhatOperatorsNeedAndNoSecrets(t *testing.T) {
	t.Parallel()
	o := obsSetup(t)
	resp := o.webhook(t, "AUTHORISED", "o1", "req-from-lb-1")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "req-from-lb-1", resp.Header.Get("X-Request-Id"), "the id is echoed")
	require.Equal(t, http.StatusUnauthorized, o.post(t, "/webhooks/ngenius", webhookBody("CAPTURED", "o1"),
		map[string]string{obsHeader: obsWrongSecret, "X-Request-Id": "req-forged"}).StatusCode)

	lines := o.logs.lines(t, "webhook")
	require.Len(t, lines, 1, "one line per webhook event")
	l := lines[0]
	require.Equal(t, "ngenius", l["provider"])
	require.Equal(t, "o1", l["aggregate"])
	require.Equal(t, "AUTHORISED", l["event"])
	require.Equal(t, "applied", l["verdict"])
	require.Equal(t, "req-from-lb-1", l["request_id"])
	require.Contains(t, l, "latency")
	require.Equal(t, "INFO", l["level"])

	rejected := o.logs.lines(t, "webhook rejected: not authenticated")
	require.Len(t, rejected, 1)
	require.Equal(t, "req-forged", rejected[0]["request_id"])

	all := o.logs.String()
	for _, secret := range []string{obsSecret, obsWrongSecret, bodyMarker, cardNumber, obsToken, "ORD-1"} {
		require.NotContains(t, all, secret, "logs must never carry secrets, headers or bodies")
	}
}

func TestRequestIDsOverHTTPAndGRPC(t *testing.T) {
	t.Parallel()
	o := obsSetup(t)
	ctx := t.Context()

	// Absent or unacceptable: generated, and echoed.
	for _, presented := range []string{"", "has space", strings.Repeat("x", 200)} {
		resp := o.webhook(t, "AUTHORISED", "o1", presented)
		got := resp.Header.Get("X-Request-Id")
		require.Len(t, got, 32, "presented %q", presented)
		require.NotEqual(t, presented, got)
	}
	resp, _ := o.get(t, "/healthz", map[string]string{"X-Request-Id": "health-1"})
	require.Equal(t, "health-1", resp.Header.Get("X-Request-Id"), "every HTTP route answers the id")

	// gRPC: metadata in, header out, and the call's log line.
	authed := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+obsToken, "x-request-id", "grpc-req-1")
	var header metadata.MD
	_, err := o.orders.GetOrder(authed, &pb.GetOrderRequest{Provider: "ngenius", OrderId: "o1"}, grpc.Header(&header))
	require.NoError(t, err)
	require.Equal(t, []string{"grpc-req-1"}, header.Get("x-request-id"))

	header = nil
	_, err = o.orders.GetOrder(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+obsToken),
		&pb.GetOrderRequest{Provider: "ngenius", OrderId: "o1"}, grpc.Header(&header))
	require.NoError(t, err)
	require.Len(t, header.Get("x-request-id"), 1)
	require.Len(t, header.Get("x-request-id")[0], 32, "generated when absent")

	// REST: the HTTP id reaches the gRPC call behind the gateway.
	resp, body := o.get(t, "/v1/providers/ngenius/orders/o1", map[string]string{
		"Authorization": "Bearer " + obsToken, "X-Request-Id": "rest-req-1"})
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Equal(t, "rest-req-1", resp.Header.Get("X-Request-Id"))
	require.Empty(t, resp.Header.Get("Grpc-Metadata-X-Request-Id"), "answered once, not twice")

	// An id holding a card number is masked, and the masked id is the one
	// the gRPC call behind the gateway logs.
	resp, body = o.get(t, "/v1/providers/ngenius/orders/o1", map[string]string{
		"Authorization": "Bearer " + obsToken, "X-Request-Id": "rest-4111-1111-1111-1111"})
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Equal(t, "rest-4111-11**-****-1111", resp.Header.Get("X-Request-Id"))

	ids := map[string]string{}
	for _, l := range o.logs.lines(t, "rpc") {
		ids[l["request_id"].(string)] = l["code"].(string)
		require.Equal(t, "/paystate.v1.OrderService/GetOrder", l["method"])
	}
	require.Equal(t, "OK", ids["grpc-req-1"])
	require.Equal(t, "OK", ids["rest-req-1"])
	require.Equal(t, "OK", ids["rest-4111-11**-****-1111"])
	require.Len(t, ids, 4)
}

func TestVersionEndpoint(t *testing.T) {
	t.Parallel()
	o := obsSetup(t)
	resp, body := o.get(t, "/version", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var got buildinfo.Info
	require.NoError(t, json.Unmarshal(body, &got))
	require.Equal(t, buildinfo.Info{Version: "v9.9.9", Revision: "abc123", GoVersion: "go9.9"}, got)
}

// The request id middleware passes a copy on: the caller's request keeps
// its headers; an id holding a card number is masked where it is echoed,
// in the context and in the header of the request passed on.
func TestRequestIDLeavesTheIncomingRequestAlone(t *testing.T) {
	t.Parallel()
	var seen, header string
	h := withRequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen, header = reqid.From(r.Context()), r.Header.Get("X-Request-Id")
	}))
	for _, presented := range []string{"", "4111-1111-1111-1111", "bad id", "client-id-1"} {
		r := httptest.NewRequest(http.MethodGet, "/v1/x", nil)
		if presented != "" {
			r.Header.Set("X-Request-Id", presented)
		}
		before := r.Header.Clone()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		require.Equal(t, before, r.Header, "incoming headers changed")
		require.NotEmpty(t, seen)
		require.Equal(t, seen, w.Header().Get("X-Request-Id"))
		require.NotContains(t, seen, "1111-1111-1111")
		if presented != "" {
			require.Equal(t, seen, header, "the header passed on is the id")
		}
		if presented == "client-id-1" {
			require.Equal(t, presented, seen, "an acceptable id is kept")
		}
	}
}

var obsIDKey = redact.NewIDKey([]byte("observability test key, 32 bytes"))

// An order whose id holds a card number is stored and served masked, and
// found by the id the provider sent, over gRPC and REST.
func TestOrderWithACardNumberForAnIDIsFoundByIt(t *testing.T) {
	t.Parallel()
	o := obsSetup(t)
	const id = "4111111111111111"
	require.Equal(t, http.StatusOK, o.webhook(t, "AUTHORISED", id, "").StatusCode)
	ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+obsToken)
	got, err := o.orders.GetOrder(ctx, &pb.GetOrderRequest{Provider: "ngenius", OrderId: id})
	require.NoError(t, err)
	require.Equal(t, obsIDKey.ID(id), got.GetProviderOrderId())
	require.NotContains(t, got.String(), id)
	resp, body := o.get(t, "/v1/providers/ngenius/orders/"+id, map[string]string{"Authorization": "Bearer " + obsToken})
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	require.NotContains(t, string(body), id)
	require.Contains(t, string(body), "411111******1111~")
	require.NotContains(t, o.logs.String(), id)
}
