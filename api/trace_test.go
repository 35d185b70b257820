package api

import (
	"bufio"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/metadata"

	"github.com/paystate/paystate/internal/telemetry"
	pb "github.com/paystate/paystate/proto/paystate/v1"
)

// A traced server keeps no trace of its own (ratio 0), so whatever is
// recorded is there because the caller's traceparent said "sampled".
func traced(t *testing.T) (*obs, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	return obsSetupTraced(t, telemetry.Synchronous(exp, 0)), exp
}

// traceparent returns a sampled W3C traceparent and its ids.
func traceparent(n byte) (string, trace.TraceID, trace.SpanID) {
	tid := trace.TraceID{0xa1, n, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	sid := trace.SpanID{0xb2, n, 3, 4, 5, 6, 7, 8}
	return fmt.Sprintf("00-%s-%s-01", tid, sid), tid, sid
}

// spansOf waits for the span named name (the server ends its span after
// the client has its answer) and returns every span by name.
func spansOf(t *testing.T, exp *tracetest.InMemoryExporter, name string) map[string][]tracetest.SpanStub {
	t.Helper()
	byName := map[string][]tracetest.SpanStub{}
	require.Eventually(t, func() bool {
		byName = map[string][]tracetest.SpanStub{}
		for _, s := range exp.GetSpans() {
			byName[s.Name] = append(byName[s.Name], s)
		}
		return len(byName[name]) > 0
	}, time.Minute, 5*time.Millisecond, "no %s span", name)
	return byName
}

func one(t *testing.T, byName map[string][]tracetest.SpanStub, name string) tracetest.SpanStub {
	t.Helper()
	require.Len(t, byName[name], 1, "%s spans", name)
	return byName[name][0]
}

func attr(s tracetest.SpanStub, key string) (attribute.Value, bool) {
	for _, a := range s.Attributes {
		if string(a.Key) == key {
			return a.Value, true
		}
	}
	return attribute.Value{}, false
}

// One webhook, from its HTTP request through parsing to the engine's
// batch and commit, in the trace its traceparent names; its log line
// carries the trace.
func TestWebhookTrace(t *testing.T) {
	t.Parallel()
	o, exp := traced(t)
	tp, tid, parent := traceparent(1)
	resp := o.post(t, "/webhooks/ngenius", webhookBody("AUTHORISED", "o1"),
		map[string]string{obsHeader: obsSecret, "X-Request-Id": "req-traced", "traceparent": tp})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	spans := spansOf(t, exp, "POST /webhooks/{provider}")

	server := one(t, spans, "POST /webhooks/{provider}")
	require.Equal(t, trace.SpanKindServer, server.SpanKind)
	require.Equal(t, tid, server.SpanContext.TraceID(), "the traceparent's trace")
	require.Equal(t, parent, server.Parent.SpanID(), "a child of the caller's span")
	code, _ := attr(server, "http.response.status_code")
	require.Equal(t, int64(200), code.AsInt64())
	rid, _ := attr(server, "paystate.request_id")
	require.Equal(t, "req-traced", rid.AsString())

	for _, name := range []string{"webhook.verify", "webhook.parse", "engine.submit"} {
		s := one(t, spans, name)
		require.Equal(t, server.SpanContext.SpanID(), s.Parent.SpanID(), "%s is the request's child", name)
		require.Equal(t, tid, s.SpanContext.TraceID())
		p, _ := attr(s, "paystate.provider")
		require.Equal(t, "ngenius", p.AsString(), name)
	}
	events, _ := attr(one(t, spans, "webhook.parse"), "paystate.events")
	require.Equal(t, int64(1), events.AsInt64())

	submit := one(t, spans, "engine.submit")
	verdicts, _ := attr(submit, "paystate.verdicts")
	require.Equal(t, []string{"applied"}, verdicts.AsStringSlice())
	batch := one(t, spans, "engine.batch")
	require.NotEqual(t, tid, batch.SpanContext.TraceID(), "a batch is a trace of its own")
	require.Len(t, batch.Links, 1)
	require.Equal(t, submit.SpanContext, batch.Links[0].SpanContext, "linked to the webhook's submit span")
	require.Len(t, submit.Links, 1)
	require.Equal(t, batch.SpanContext, submit.Links[0].SpanContext, "and back")
	commit := one(t, spans, "engine.commit")
	require.Equal(t, batch.SpanContext.SpanID(), commit.Parent.SpanID())
	require.Equal(t, batch.SpanContext.SpanID(), one(t, spans, "engine.decide").Parent.SpanID())

	lines := o.logs.lines(t, "webhook")
	require.Len(t, lines, 1)
	require.Equal(t, tid.String(), lines[0]["trace_id"])
	require.Equal(t, server.SpanContext.SpanID().String(), lines[0]["span_id"])
	require.Equal(t, "req-traced", lines[0]["request_id"])
	require.Equal(t, 1, strings.Count(o.logs.String(), `"request_id"`), "named once")

	// No span carries what the provider sent, a secret or a header.
	for _, s := range exp.GetSpans() {
		for _, a := range s.Attributes {
			v := a.Value.Emit()
			for _, secret := range []string{obsSecret, bodyMarker, cardNumber, "ORD-1", "X-Webhook-Token"} {
				require.NotContains(t, v, secret, "%s %s", s.Name, a.Key)
			}
		}
	}
}

// A webhook whose caller does not sample it leaves no span at all: not
// its own, not its batch's.
func TestUnsampledWebhookLeavesNoSpans(t *testing.T) {
	t.Parallel()
	o, exp := traced(t)
	unsampled := fmt.Sprintf("00-%s-%s-00", trace.TraceID{1, 2}, trace.SpanID{3})
	require.Equal(t, http.StatusOK, o.post(t, "/webhooks/ngenius", webhookBody("AUTHORISED", "o1"),
		map[string]string{obsHeader: obsSecret, "traceparent": unsampled}).StatusCode)
	require.Equal(t, http.StatusOK, o.webhook(t, "CAPTURED", "o1", "").StatusCode)
	// A sampled webhook after them is the barrier: once its server span
	// (which ends just after its answer) is recorded, the spans of the
	// requests answered before it would have been too, had they been
	// recorded. Only the sampled trace's spans may be there.
	tp, tid, _ := traceparent(9)
	require.Equal(t, http.StatusOK, o.post(t, "/webhooks/ngenius", webhookBody("CAPTURED", "o2"),
		map[string]string{obsHeader: obsSecret, "traceparent": tp}).StatusCode)
	spansOf(t, exp, "POST /webhooks/{provider}")
	// An engine batch is a trace of its own, linked to the submissions it
	// carried: it may be there when it carried the sampled one.
	allowed := map[trace.TraceID]bool{tid: true}
	for _, s := range exp.GetSpans() {
		for _, l := range s.Links {
			if l.SpanContext.TraceID() == tid {
				allowed[s.SpanContext.TraceID()] = true
			}
		}
	}
	for _, s := range exp.GetSpans() {
		require.True(t, allowed[s.SpanContext.TraceID()], "span %s of an unsampled request", s.Name)
	}
	lines := o.logs.lines(t, "webhook")
	require.Len(t, lines, 3)
	require.Equal(t, trace.TraceID{1, 2}.String(), lines[0]["trace_id"], "the caller's trace id is logged all the same")
}

// GetOrder over gRPC and over REST, each in the trace its caller named.
func TestGetOrderTrace(t *testing.T) {
	t.Parallel()
	o, exp := traced(t)
	require.Equal(t, http.StatusOK, o.webhook(t, "AUTHORISED", "o1", "").StatusCode)

	tp, tid, parent := traceparent(2)
	ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+obsToken, "traceparent", tp)
	_, err := o.orders.GetOrder(ctx, &pb.GetOrderRequest{Provider: "ngenius", OrderId: "o1"})
	require.NoError(t, err)
	spans := spansOf(t, exp, "paystate.v1.OrderService/GetOrder")
	rpc := one(t, spans, "paystate.v1.OrderService/GetOrder")
	require.Equal(t, trace.SpanKindServer, rpc.SpanKind)
	require.Equal(t, tid, rpc.SpanContext.TraceID())
	require.Equal(t, parent, rpc.Parent.SpanID())
	method, _ := attr(rpc, "rpc.method")
	require.Equal(t, "paystate.v1.OrderService/GetOrder", method.AsString())
	var rpcLine map[string]any
	for _, l := range o.logs.lines(t, "rpc") {
		if l["trace_id"] == tid.String() {
			rpcLine = l
		}
	}
	require.NotNil(t, rpcLine, "the call's log line carries its trace")
	require.Equal(t, rpc.SpanContext.SpanID().String(), rpcLine["span_id"])

	exp.Reset()
	tp, tid, parent = traceparent(3)
	resp, body := o.get(t, "/v1/providers/ngenius/orders/o1", map[string]string{"Authorization": "Bearer " + obsToken, "traceparent": tp})
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	spans = spansOf(t, exp, "GET /v1/providers/{provider}/orders/{order_id}")
	server := one(t, spans, "GET /v1/providers/{provider}/orders/{order_id}")
	serverRoute, _ := attr(server, "http.route")
	require.Equal(t, "/v1/providers/{provider}/orders/{order_id}", serverRoute.AsString())
	require.Equal(t, tid, server.SpanContext.TraceID())
	require.Equal(t, parent, server.Parent.SpanID())
	inner := one(t, spans, "paystate.v1.OrderService/GetOrder")
	require.Equal(t, trace.SpanKindInternal, inner.SpanKind)
	require.Equal(t, server.SpanContext.SpanID(), inner.Parent.SpanID())
	method, _ = attr(inner, "rpc.method")
	require.Equal(t, "paystate.v1.OrderService/GetOrder", method.AsString())
	route, _ := attr(inner, "http.route")
	require.Equal(t, "/v1/providers/{provider}/orders/{order_id}", route.AsString())
}

// A traced REST watch: its HTTP span, the loopback gRPC call the gateway
// makes for it and that call's server span are one trace; and the
// tracing wrapper keeps the watch's per-write deadline working.
func TestRESTWatchTrace(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	base, stop := serveShortWritesTraced(t, 200*time.Millisecond, nil, telemetry.Synchronous(exp, 0))
	tp, tid, parent := traceparent(4)
	req, err := http.NewRequest(http.MethodGet, base+"/v1/journal:watch?heartbeatSeconds=1", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+hardAdmin)
	req.Header.Set("traceparent", tp)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	lines := bufio.NewScanner(resp.Body)
	for i := range 3 {
		require.True(t, lines.Scan(), "heartbeat %d past the write timeout: %v", i, lines.Err())
	}
	require.NoError(t, stop())

	spans := spansOf(t, exp, "GET /v1/journal:watch")
	server := one(t, spans, "GET /v1/journal:watch")
	require.Equal(t, tid, server.SpanContext.TraceID())
	require.Equal(t, parent, server.Parent.SpanID())
	var client, grpcServer tracetest.SpanStub
	for _, s := range spans["paystate.v1.WatchService/Watch"] {
		switch s.SpanKind {
		case trace.SpanKindClient:
			client = s
		case trace.SpanKindServer:
			grpcServer = s
		}
	}
	require.Equal(t, server.SpanContext.SpanID(), client.Parent.SpanID(), "the gateway's loopback call")
	require.Equal(t, client.SpanContext.SpanID(), grpcServer.Parent.SpanID(), "served in the same trace")
	require.Equal(t, tid, grpcServer.SpanContext.TraceID())
}
