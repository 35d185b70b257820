package api

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
)

// grpcMetrics are the gRPC server metrics of go-grpc-middleware's
// Prometheus provider (grpc_server_started_total, _handled_total,
// _msg_received_total, _msg_sent_total and the handling-time histogram):
// the same series, names, labels, help and counting rules, pre-initialised
// for every registered method as its InitializeMetrics does
// (TestGRPCMetricsMatchTheProvider holds them to the provider). What
// differs is the cost of a call: the provider looks each of a unary call's
// five series up by its label values (hashing them, checking them, and
// allocating a reporter), about 4 % of the CPU of a GetOrder answered from
// the view cache; here each registered method's series are looked up once,
// and a call only adds to them.
type grpcMetrics struct {
	started, handled, received, sent *prometheus.CounterVec
	handling                         *prometheus.HistogramVec

	mu sync.Mutex // serialises initialize's writers
	// methods holds the series of each registered method, by full method
	// name; replaced whole (never modified) by initialize.
	methods atomic.Pointer[map[string]*methodMetrics]
}

// methodMetrics are one method's series. Those of a method initialize
// did not see are nil, and looked up by label values when counted (only
// the series a call counts then exist, as with the provider).
type methodMetrics struct {
	m                       *grpcMetrics
	typ, service, method    string
	started, received, sent prometheus.Counter
	handling                prometheus.Observer
	// handled is indexed by code (codes.OK to codes.Unauthenticated, the
	// codes the provider initialises).
	handled [codes.Unauthenticated + 1]prometheus.Counter
}

// The type label's values.
const (
	grpcUnary        = "unary"
	grpcClientStream = "client_stream"
	grpcServerStream = "server_stream"
	grpcBidiStream   = "bidi_stream"
)

func newGRPCMetrics(buckets []float64) *grpcMetrics {
	labels := []string{"grpc_type", "grpc_service", "grpc_method"}
	m := &grpcMetrics{
		started: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_started_total",
			Help: "Total number of RPCs started on the server.",
		}, labels),
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_handled_total",
			Help: "Total number of RPCs completed on the server, regardless of success or failure.",
		}, append(labels[:3:3], "grpc_code")),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_msg_received_total",
			Help: "Total number of RPC stream messages received on the server.",
		}, labels),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_msg_sent_total",
			Help: "Total number of gRPC stream messages sent by the server.",
		}, labels),
		handling: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "grpc_server_handling_seconds",
			Help:    "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.",
			Buckets: buckets,
		}, labels),
	}
	m.methods.Store(&map[string]*methodMetrics{})
	return m
}

// Describe implements prometheus.Collector.
func (m *grpcMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.started.Describe(ch)
	m.handled.Describe(ch)
	m.received.Describe(ch)
	m.sent.Describe(ch)
	m.handling.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *grpcMetrics) Collect(ch chan<- prometheus.Metric) {
	m.started.Collect(ch)
	m.handled.Collect(ch)
	m.received.Collect(ch)
	m.sent.Collect(ch)
	m.handling.Collect(ch)
}

// initialize creates every series of every method registered on server,
// at zero, and keeps each method's series for its calls.
func (m *grpcMetrics) initialize(server reflection.ServiceInfoProvider) {
	m.mu.Lock()
	defer m.mu.Unlock()
	methods := map[string]*methodMetrics{}
	for k, v := range *m.methods.Load() {
		methods[k] = v
	}
	for service, info := range server.GetServiceInfo() {
		for _, mi := range info.Methods {
			methods["/"+service+"/"+mi.Name] = m.series(methodType(mi.IsClientStream, mi.IsServerStream), service, mi.Name)
		}
	}
	m.methods.Store(&methods)
}

// series looks up every series of a method.
func (m *grpcMetrics) series(typ, service, method string) *methodMetrics {
	mm := &methodMetrics{m: m, typ: typ, service: service, method: method,
		started:  m.started.WithLabelValues(typ, service, method),
		received: m.received.WithLabelValues(typ, service, method),
		sent:     m.sent.WithLabelValues(typ, service, method),
		handling: m.handling.WithLabelValues(typ, service, method),
	}
	for c := range mm.handled {
		mm.handled[c] = m.handled.WithLabelValues(typ, service, method, codes.Code(c).String())
	}
	return mm
}

// of returns the series of a call of fullMethod of type typ: those kept
// by initialize, or for a method it did not see, none yet.
func (m *grpcMetrics) of(fullMethod, typ string) *methodMetrics {
	if mm, ok := (*m.methods.Load())[fullMethod]; ok && mm.typ == typ {
		return mm
	}
	service, method := "unknown", "unknown"
	if s, me, ok := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/"); ok {
		service, method = s, me
	}
	return &methodMetrics{m: m, typ: typ, service: service, method: method}
}

// add adds one to c, or when it is nil to the series of vec for this
// method.
func (mm *methodMetrics) add(c prometheus.Counter, vec *prometheus.CounterVec) {
	if c == nil {
		c = vec.WithLabelValues(mm.typ, mm.service, mm.method)
	}
	c.Inc()
}

// done counts a call that ended with err, started at start.
func (mm *methodMetrics) done(err error, start time.Time) {
	code := codeOf(err)
	var c prometheus.Counter
	if int(code) < len(mm.handled) {
		c = mm.handled[code]
	}
	if c == nil {
		c = mm.m.handled.WithLabelValues(mm.typ, mm.service, mm.method, code.String())
	}
	c.Inc()
	h := mm.handling
	if h == nil {
		h = mm.m.handling.WithLabelValues(mm.typ, mm.service, mm.method)
	}
	h.Observe(time.Since(start).Seconds())
}

// codeOf is the code the provider labels a call that ended with err with:
// its status, or for a context error what the gRPC server answers.
func codeOf(err error) codes.Code {
	s, ok := status.FromError(err)
	if !ok {
		s = status.FromContextError(err)
	}
	return s.Code()
}

func methodType(clientStream, serverStream bool) string {
	switch {
	case !clientStream && !serverStream:
		return grpcUnary
	case clientStream && !serverStream:
		return grpcClientStream
	case !clientStream && serverStream:
		return grpcServerStream
	}
	return grpcBidiStream
}

// unary counts unary calls: started and received when the call begins,
// sent when it answered without an error, handled (by code) and its time
// when it ends.
func (m *grpcMetrics) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	mm := m.of(info.FullMethod, grpcUnary)
	start := time.Now()
	mm.add(mm.started, m.started)
	mm.add(mm.received, m.received)
	resp, err := next(ctx, req)
	if err == nil {
		mm.add(mm.sent, m.sent)
	}
	mm.done(err, start)
	return resp, err
}

// stream counts streams: started when it begins, each message received
// and sent without an error, handled and its time when it ends.
func (m *grpcMetrics) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) error {
	mm := m.of(info.FullMethod, methodType(info.IsClientStream, info.IsServerStream))
	start := time.Now()
	mm.add(mm.started, m.started)
	err := next(srv, &countedStream{ServerStream: ss, mm: mm})
	mm.done(err, start)
	return err
}

type countedStream struct {
	grpc.ServerStream
	mm *methodMetrics
}

func (s *countedStream) SendMsg(msg any) error {
	err := s.ServerStream.SendMsg(msg)
	if err == nil {
		s.mm.add(s.mm.sent, s.mm.m.sent)
	}
	return err
}

func (s *countedStream) RecvMsg(msg any) error {
	err := s.ServerStream.RecvMsg(msg)
	if err == nil {
		s.mm.add(s.mm.received, s.mm.m.received)
	}
	return err
}
