package api

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/paystate/paystate/engine"
	"github.com/paystate/paystate/internal/telemetry"
	pb "github.com/paystate/paystate/proto/paystate/v1"
	"github.com/paystate/paystate/providers"
	"github.com/paystate/paystate/providers/ngenius"
	"github.com/paystate/paystate/redact"
	"github.com/paystate/paystate/reqid"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage/sqlite"
)

// BenchmarkTracingGetOrder measures what tracing costs GetOrder, over
// gRPC (loopback, client included) and as the REST gateway's in-process
// call: off (no provider: what every server without a tracing block
// pays), and on with every call sampled into an exporter that drops the
// spans. The logger is serve's (JSON, masking, request and trace ids).
//
//	go test -run XXX -bench TracingGetOrder -benchmem ./api/
func BenchmarkTracingGetOrder(b *testing.B) {
	for _, mode := range []struct {
		name string
		tp   trace.TracerProvider
	}{
		{"off", nil},
		{"on", telemetry.Synchronous(tracetest.NewNoopExporter(), 1)},
	} {
		b.Run(mode.name, func(b *testing.B) {
			srv, addr := benchServer(b, mode.tp)
			conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+obsToken)
			req := &pb.GetOrderRequest{Provider: ngenius.Name, OrderId: "o1"}
			b.Run("grpc", func(b *testing.B) {
				client := pb.NewOrderServiceClient(conn)
				b.ReportAllocs()
				for b.Loop() {
					if _, err := client.GetOrder(ctx, req); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("inprocess", func(b *testing.B) {
				in := inProcessOrders{inProcess: srv.inProcess}
				md := metadata.Pairs("authorization", "Bearer "+obsToken)
				b.ReportAllocs()
				for b.Loop() {
					if _, err := in.GetOrder(metadata.NewIncomingContext(context.Background(), md), req); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// benchServer serves one N-Genius order over gRPC until b ends.
func benchServer(b *testing.B, tp trace.TracerProvider) (*Server, string) {
	b.Helper()
	p := ngenius.New(ngenius.Config{HeaderName: obsHeader, HeaderValues: []string{obsSecret}})
	store, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "paystate.db"))
	if err != nil {
		b.Fatal(err)
	}
	machines, err := sm.NewRegistry(p.Tables()...)
	if err != nil {
		b.Fatal(err)
	}
	eng := engine.New(store, machines, engine.Config{SweepEvery: time.Hour, TracerProvider: tp})
	ctx, cancel := context.WithCancel(context.Background())
	engDone := make(chan struct{})
	go func() { defer close(engDone); eng.Run(ctx) }()
	events, err := p.Parse(webhookBody("AUTHORISED", "o1"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := eng.Submit(ctx, engine.Delivery{Provider: ngenius.Name, BodySHA256: "x", RedactedBody: []byte("{}"), Events: events}); err != nil {
		b.Fatal(err)
	}
	log := slog.New(reqid.Handler(redact.LogHandler(telemetry.LogHandler(slog.NewJSONHandler(io.Discard, nil)))))
	srv := NewServer(Options{
		Store: store, Machines: machines, Engine: eng, Providers: map[string]providers.Provider{ngenius.Name: p},
		Tokens: []Token{{Name: "ops", Role: "admin", SHA256: HashToken(obsToken)}}, Log: log,
		RateLimit: RateLimit{}, TracerProvider: tp,
	})
	grpcLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	httpLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, grpcLis, httpLis) }()
	b.Cleanup(func() {
		cancel()
		<-served
		<-engDone
		store.Close()
	})
	return srv, grpcLis.Addr().String()
}
