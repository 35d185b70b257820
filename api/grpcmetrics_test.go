package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/paystate/paystate/proto/paystate/v1"
)

// fakeStream is a server stream whose messages succeed until failAfter
// of them were sent or received.
type fakeStream struct {
	grpc.ServerStream
	ctx       context.Context
	n         int
	failAfter int
}

func (s *fakeStream) Context() context.Context { return s.ctx }

func (s *fakeStream) step() error {
	s.n++
	if s.n > s.failAfter {
		return io.EOF
	}
	return nil
}

func (s *fakeStream) SendMsg(any) error { return s.step() }
func (s *fakeStream) RecvMsg(any) error { return s.step() }

// TestGRPCMetricsMatchTheProvider runs the same calls through
// go-grpc-middleware's Prometheus provider, as the server used it, and
// through grpcMetrics, and requires the same series with the same
// values: names, help, types, labels, counts, and the histogram's
// buckets and sample counts (not their sums, which are times).
func TestGRPCMetricsMatchTheProvider(t *testing.T) {
	t.Parallel()
	srv := grpc.NewServer()
	pb.RegisterOrderServiceServer(srv, &benchNoop{})
	pb.RegisterWatchServiceServer(srv, pb.UnimplementedWatchServiceServer{})

	provider := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(grpcprom.WithHistogramBuckets(latencyBuckets)))
	provider.InitializeMetrics(srv)
	ours := newGRPCMetrics(latencyBuckets)
	ours.initialize(srv)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	errs := []error{
		nil,
		status.Error(codes.NotFound, "no such order"),
		status.Error(codes.Unauthenticated, "missing bearer token"),
		status.Error(codes.Code(42), "a code beyond the known ones"),
		fmt.Errorf("wrapped: %w", status.Error(codes.Unavailable, "busy")),
		errors.New("not a status"),
		context.Canceled,
		context.DeadlineExceeded,
	}
	methods := []string{"/paystate.v1.OrderService/GetOrder", "/paystate.v1.OrderService/LookupOrders", "/not.Registered/Method", "malformed"}
	run := func(unary grpc.UnaryServerInterceptor, stream grpc.StreamServerInterceptor) {
		for _, method := range methods {
			for _, err := range errs {
				_, _ = unary(ctx, &pb.GetOrderRequest{}, &grpc.UnaryServerInfo{FullMethod: method}, func(context.Context, any) (any, error) {
					return &pb.Order{}, err
				})
			}
		}
		for i, err := range errs {
			info := &grpc.StreamServerInfo{FullMethod: "/paystate.v1.WatchService/Watch", IsServerStream: true}
			if i%3 == 1 {
				info = &grpc.StreamServerInfo{FullMethod: "/not.Registered/Bidi", IsClientStream: true, IsServerStream: true}
			}
			_ = stream(nil, &fakeStream{ctx: ctx, failAfter: i}, info, func(_ any, ss grpc.ServerStream) error {
				for range 3 {
					_ = ss.RecvMsg(nil)
					_ = ss.SendMsg(nil)
				}
				return err
			})
		}
	}
	run(provider.UnaryServerInterceptor(), provider.StreamServerInterceptor())
	run(ours.unary, ours.stream)

	want, got := gatherSeries(t, provider), gatherSeries(t, ours)
	require.NotEmpty(t, want)
	require.Equal(t, want, got)
}

// gatherSeries renders every series c collects as one line each, sorted,
// histograms without their sums.
func gatherSeries(t *testing.T, c prometheus.Collector) []string {
	t.Helper()
	reg := prometheus.NewRegistry()
	require.NoError(t, reg.Register(c))
	fams, err := reg.Gather()
	require.NoError(t, err)
	var out []string
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			line := fmt.Sprintf("%s %s %q {%s}", f.GetName(), f.GetType(), f.GetHelp(), strings.Join(labels, ","))
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				line += fmt.Sprintf(" %v", m.GetCounter().GetValue())
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				line += fmt.Sprintf(" count=%d", h.GetSampleCount())
				for _, b := range h.GetBucket() {
					line += fmt.Sprintf(" le=%v", b.GetUpperBound())
				}
			default:
				line += " unexpected type"
			}
			out = append(out, line)
		}
	}
	sort.Strings(out)
	return out
}
