package telemetry

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/paystate/paystate/config"
	"github.com/paystate/paystate/internal/telemetry/otlptest"
)

// collector is an OTLP receiver for both protocols.
type collector struct {
	*otlptest.Receiver
}

// exportOne sends one span through New's provider for cfg and flushes it.
func exportOne(t *testing.T, cfg config.Tracing) {
	t.Helper()
	cfg.SampleRatio, cfg.ServiceName = 1, "paystate-test"
	p, err := New(t.Context(), cfg, "v1.2.3", nil)
	require.NoError(t, err)
	_, span := p.Tracer().Tracer("t").Start(t.Context(), "GET /v1/providers/ngenius/orders/"+pan)
	span.End()
	require.NoError(t, p.Shutdown(t.Context()))
}

func (c *collector) check(t *testing.T) {
	t.Helper()
	spans := c.Spans()
	require.Len(t, spans, 1)
	require.NotContains(t, spans[0].GetName(), pan, "masked on the wire")
	require.True(t, strings.HasPrefix(spans[0].GetName(), "GET /v1/providers/ngenius/orders/411111"))
	require.Contains(t, c.Resource(), "service.name=paystate-test")
	require.Contains(t, c.Resource(), "service.version=v1.2.3")
}

// Spans reach an OTLP/gRPC receiver, masked, with the headers the
// environment gives.
func TestExportOverOTLPgRPC(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%20tok-1, x-tenant = a")
	c := &collector{otlptest.Start(t)}
	exportOne(t, config.Tracing{OTLPEndpoint: c.Addr, Protocol: "grpc", Insecure: true})
	c.check(t)
	require.Equal(t, []string{"Bearer tok-1"}, c.Authorization())
}

// Spans reach an OTLP/HTTP receiver at the path the endpoint names.
func TestExportOverOTLPHTTP(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "authorization=Bearer%20tok-2")
	c := &collector{&otlptest.Receiver{}}
	var path, auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path, auth = r.URL.Path, r.Header.Get("Authorization")
		body, err := io.ReadAll(r.Body)
		var req coltracepb.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(body, &req)
		}
		if err != nil {
			t.Error(err)
		}
		_, _ = c.Export(r.Context(), &req)
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Write(out)
	}))
	t.Cleanup(srv.Close)
	exportOne(t, config.Tracing{OTLPEndpoint: srv.URL + "/otlp/v1/traces", Protocol: "http"})
	c.check(t)
	require.Equal(t, "/otlp/v1/traces", path)
	require.Equal(t, "Bearer tok-2", auth)
}

// A collector that refuses the export is an error the SDK reports.
func TestExportRefusedIsAnError(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusForbidden)
	}))
	t.Cleanup(srv.Close)
	target, err := config.Tracing{OTLPEndpoint: srv.URL, Protocol: "http"}.Target()
	require.NoError(t, err)
	err = newHTTPClient(target, nil).UploadTraces(t.Context(), []*tracepb.ResourceSpans{{}})
	require.ErrorContains(t, err, "403")
}

func TestHeadersFromEnv(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"OTEL_EXPORTER_OTLP_HEADERS":        "A=1,b=x%2Cy,,broken,c=%zz",
		"OTEL_EXPORTER_OTLP_TRACES_HEADERS": "a=2",
	}
	h, err := headersFromEnv(func(k string) string { return env[k] })
	require.Equal(t, map[string]string{"a": "2", "b": "x,y"}, h)
	require.ErrorContains(t, err, "entry 4 is not key=value")
	require.ErrorContains(t, err, "entry 5 is not key=value")
	require.NotContains(t, err.Error(), "%zz", "never the value")
	h, err = headersFromEnv(func(string) string { return "" })
	require.NoError(t, err)
	require.Nil(t, h)
}
