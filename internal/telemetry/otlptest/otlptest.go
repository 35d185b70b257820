// Package otlptest is an OTLP/gRPC receiver for tests: what paystate
// exports, as a collector would receive it.
package otlptest

import (
	"context"
	"net"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// Receiver keeps every span exported to it.
type Receiver struct {
	coltracepb.UnimplementedTraceServiceServer
	// Addr is where it listens (plaintext OTLP/gRPC).
	Addr string

	mu    sync.Mutex
	spans []*tracepb.Span
	attrs []string
	auth  []string
}

// Start serves a Receiver on loopback until t ends.
func Start(t testing.TB) *Receiver {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &Receiver{Addr: lis.Addr().String()}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, r)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return r
}

// Export is the OTLP trace service.
func (r *Receiver) Export(ctx context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.auth = append(r.auth, metadata.ValueFromIncomingContext(ctx, "authorization")...)
	for _, rs := range req.GetResourceSpans() {
		for _, a := range rs.GetResource().GetAttributes() {
			r.attrs = append(r.attrs, a.GetKey()+"="+a.GetValue().GetStringValue())
		}
		for _, ss := range rs.GetScopeSpans() {
			r.spans = append(r.spans, ss.GetSpans()...)
		}
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// Spans returns the spans received so far.
func (r *Receiver) Spans() []*tracepb.Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*tracepb.Span(nil), r.spans...)
}

// Resource returns the resource attributes received, as key=value.
func (r *Receiver) Resource() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.attrs...)
}

// Authorization returns the authorization metadata of every export.
func (r *Receiver) Authorization() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.auth...)
}
