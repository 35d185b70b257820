package main

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"

	"github.com/paystate/paystate/reqid"
)

// serve's log lines carry the trace of the request they were logged in,
// as it is, and its request id once.
func TestServeLogLinesCarryTheTrace(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log, err := newLogger(&buf, "json", "info")
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
