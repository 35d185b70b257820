package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/paystate/paystate/config"
	"github.com/paystate/paystate/redact"
)

const pan = "4111111111111111"

func TestExportedSpansAreMasked(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tp := Synchronous(exp, 1)
	tr := tp.Tracer("test")

	_, clean := tr.Start(t.Context(), "GET /v1/providers/{provider}/orders/{id}")
	clean.SetAttributes(attribute.String("url.path", "/v1/providers/ngenius/orders/abc"), attribute.Int("n", 1))
	clean.End()

	_, dirty := tr.Start(t.Context(), "order "+pan)
	dirty.SetAttributes(
		attribute.String("url.path", "/v1/providers/ngenius/orders/"+pan),
		attribute.StringSlice("ids", []string{"a", "4111 1111 1111 1111"}),
		attribute.String("card_cvv", "123"),
		attribute.Int("n", 2),
	)
	dirty.AddEvent("saw "+pan, trace.WithAttributes(attribute.String("pan", pan)))
	dirty.SetStatus(codes.Error, "failed for "+pan)
	dirty.End()

	spans := exp.GetSpans()
	require.Len(t, spans, 2)
	require.Equal(t, "GET /v1/providers/{provider}/orders/{id}", spans[0].Name)
	require.ElementsMatch(t, []attribute.KeyValue{attribute.String("url.path", "/v1/providers/ngenius/orders/abc"), attribute.Int("n", 1)}, spans[0].Attributes)

	d := spans[1]
	masked := redact.Text(pan)
	require.NotEqual(t, pan, masked)
	require.Equal(t, "order "+masked, d.Name)
	require.ElementsMatch(t, []attribute.KeyValue{
		attribute.String("url.path", "/v1/providers/ngenius/orders/"+masked),
		attribute.StringSlice("ids", []string{"a", redact.Text("4111 1111 1111 1111")}),
		attribute.Int("n", 2),
	}, d.Attributes, "text masked, card_cvv dropped")
	require.Equal(t, "saw "+masked, d.Events[0].Name)
	require.Equal(t, []attribute.KeyValue{attribute.String("pan", masked)}, d.Events[0].Attributes)
	require.Equal(t, "failed for "+masked, d.Status.Description)
}

func TestSamplerKeepsBatchesOfKeptWebhooksAndFollowsTheCaller(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tr := Synchronous(exp, 0).Tracer("test") // keep nothing that starts here
	ctx := t.Context()

	_, root := tr.Start(ctx, "root")
	require.False(t, root.SpanContext().IsSampled(), "ratio 0 keeps no new trace")
	root.End()

	sampled := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled, Remote: true})
	_, child := tr.Start(trace.ContextWithRemoteSpanContext(ctx, sampled), "child")
	require.True(t, child.SpanContext().IsSampled(), "a sampled traceparent is followed")
	require.Equal(t, sampled.TraceID(), child.SpanContext().TraceID())
	child.End()

	_, batch := tr.Start(ctx, "batch", trace.WithNewRoot(), trace.WithLinks(trace.Link{SpanContext: sampled}))
	require.True(t, batch.SpanContext().IsSampled(), "linked to a kept span: kept")
	batch.End()

	unsampled := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{2}, SpanID: trace.SpanID{2}})
	_, other := tr.Start(ctx, "batch", trace.WithNewRoot(), trace.WithLinks(trace.Link{SpanContext: unsampled}))
	require.False(t, other.SpanContext().IsSampled())
	other.End()
	require.Len(t, exp.GetSpans(), 2)
}

func TestLogHandlerAddsTheTraceIDs(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(redact.LogHandler(LogHandler(slog.NewJSONHandler(&buf, nil))))
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0x41, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11}, SpanID: trace.SpanID{0xab}, TraceFlags: trace.FlagsSampled,
	})
	log.InfoContext(trace.ContextWithSpanContext(context.Background(), sc), "traced")
	log.InfoContext(context.Background(), "untraced")
	dec := json.NewDecoder(&buf)
	var traced, untraced map[string]any
	require.NoError(t, dec.Decode(&traced))
	require.NoError(t, dec.Decode(&untraced))
	require.Equal(t, sc.TraceID().String(), traced["trace_id"], "beneath the masking: the id as it is")
	require.Equal(t, sc.SpanID().String(), traced["span_id"])
	require.NotContains(t, untraced, "trace_id")
}

func TestNewIsNilWhenOff(t *testing.T) {
	t.Parallel()
	p, err := New(t.Context(), config.Tracing{Protocol: "grpc", SampleRatio: 1, ServiceName: "paystate"}, "v0", nil)
	require.NoError(t, err)
	require.Nil(t, p)
	require.Nil(t, p.Tracer())
	require.NoError(t, p.Shutdown(t.Context()))
}

// New dials nothing: a collector that is not there does not stop a start.
func TestNewConnectsToNothing(t *testing.T) {
	t.Parallel()
	for _, proto := range []string{"grpc", "http"} {
		p, err := New(t.Context(), config.Tracing{OTLPEndpoint: "127.0.0.1:1", Protocol: proto, Insecure: true, SampleRatio: 1, ServiceName: "paystate"}, "v0", nil)
		require.NoError(t, err, proto)
		require.NotNil(t, p.Tracer())
		_, span := p.Tracer().Tracer("t").Start(t.Context(), "s")
		span.End()
		// Nothing listens there: the export fails (reported to the SDK's
		// error handler), which is no concern of this test.
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		_ = p.Shutdown(ctx)
		cancel()
	}
}

// A provider API call is a client span beneath its caller's, and the
// provider is sent no traceparent.
func TestHTTPClientTracesButDoesNotPropagate(t *testing.T) {
	t.Parallel()
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Clone() }))
	t.Cleanup(srv.Close)
	exp := tracetest.NewInMemoryExporter()
	tp := Synchronous(exp, 1)
	ctx, parent := tp.Tracer("t").Start(t.Context(), "reconcile.check")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/orders/"+pan, nil)
	require.NoError(t, err)
	resp, err := HTTPClient(tp, time.Second).Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	parent.End()
	require.Empty(t, got.Get("traceparent"))
	spans := exp.GetSpans()
	require.Len(t, spans, 2)
	require.Equal(t, trace.SpanKindClient, spans[0].SpanKind)
	require.Equal(t, parent.SpanContext().SpanID(), spans[0].Parent.SpanID())
	for _, a := range spans[0].Attributes {
		require.NotContains(t, a.Value.Emit(), pan, "the URL is masked")
	}
}

// A batch of the largest size keeps a link to each of its requests.
func TestSpansKeepALinkPerRequestOfTheLargestBatch(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	links := make([]trace.Link, MaxLinks)
	for i := range links {
		links[i].SpanContext = trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1, byte(i >> 8), byte(i)}, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled})
	}
	_, span := Synchronous(exp, 1).Tracer("t").Start(t.Context(), "engine.batch", trace.WithNewRoot(), trace.WithLinks(links...))
	span.End()
	require.Len(t, exp.GetSpans()[0].Links, MaxLinks)
	require.Zero(t, exp.GetSpans()[0].DroppedLinks)
}
