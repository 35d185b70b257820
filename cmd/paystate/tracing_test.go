package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/metadata"

	"github.com/paystate/paystate/config"
	"github.com/paystate/paystate/internal/telemetry/otlptest"
	pb "github.com/paystate/paystate/proto/paystate/v1"
	"github.com/paystate/paystate/reqid"
)

// serve's log lines carry the trace of the request they were logged in,
// as it is, and its request id once.
func TestServeLogLinesCarryTheTrace(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log, err := newTracedLogger(&buf, "json", "info", true)
	require.NoError(t, err)
	// A trace id whose digits pass for a card number must not be masked.
	tid := trace.TraceID{0x41, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0xa0}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: trace.SpanID{0xab}, TraceFlags: trace.FlagsSampled})
	ctx := reqid.With(trace.ContextWithSpanContext(context.Background(), sc), "req-1")
	log.InfoContext(ctx, "webhook", "request_id", "req-1")
	var line map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &line))
	require.Equal(t, tid.String(), line["trace_id"])
	require.Equal(t, sc.SpanID().String(), line["span_id"])
	require.Equal(t, 1, bytes.Count(buf.Bytes(), []byte(`"request_id"`)))
}

// serve with a tracing block exports a webhook's spans and a GetOrder's
// to the collector, in the traces their callers named, and flushes them
// at the stop.
func TestServeExportsSpans(t *testing.T) {
	t.Parallel()
	collector := otlptest.Start(t)
	cfg := config.Defaults()
	cfg.HTTPAddr, cfg.GRPCAddr, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", t.TempDir()
	dev, err := config.FillDev(&cfg)
	require.NoError(t, err)
	cfg.Tracing.OTLPEndpoint, cfg.Tracing.Insecure, cfg.Tracing.SampleRatio = collector.Addr, true, 0
	s := startServerWith(t, cfg, dev)

	webhookTrace := trace.TraceID{0xc1, 1}
	code, _ := s.post(t, sample(t, "AUTHORISED"), map[string]string{
		s.dev.NGeniusHeaderName: s.dev.NGeniusHeaderValue,
		"traceparent":           fmt.Sprintf("00-%s-%s-01", webhookTrace, trace.SpanID{1}),
	}, "/webhooks/ngenius")
	require.Equal(t, http.StatusOK, code)
	rpcTrace := trace.TraceID{0xc1, 2}
	ctx := metadata.AppendToOutgoingContext(s.authed(t.Context()), "traceparent", fmt.Sprintf("00-%s-%s-01", rpcTrace, trace.SpanID{2}))
	_, err = s.orders.GetOrder(ctx, &pb.GetOrderRequest{Provider: "ngenius", OrderId: "abc123xyz"})
	require.NoError(t, err)
	// Unsampled (ratio 0, no traceparent): nothing.
	_, err = s.orders.GetOrder(s.authed(t.Context()), &pb.GetOrderRequest{Provider: "ngenius", OrderId: "abc123xyz"})
	require.NoError(t, err)
	s.shutdown()

	byTrace := map[string][]string{}
	for _, sp := range collector.Spans() {
		id := hex.EncodeToString(sp.GetTraceId())
		byTrace[id] = append(byTrace[id], sp.GetName())
	}
	require.ElementsMatch(t, []string{"POST /webhooks/{provider}", "webhook.verify", "webhook.parse", "engine.submit"}, byTrace[webhookTrace.String()])
	require.Equal(t, []string{"paystate.v1.OrderService/GetOrder"}, byTrace[rpcTrace.String()])
	delete(byTrace, webhookTrace.String())
	delete(byTrace, rpcTrace.String())
	require.Len(t, byTrace, 1, "and the batch's trace, nothing else: %v", byTrace)
	for _, names := range byTrace {
		require.ElementsMatch(t, []string{"engine.batch", "engine.decide", "engine.commit"}, names)
	}
	require.Contains(t, collector.Resource(), "service.name=paystate")
}
