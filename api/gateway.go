package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	pb "github.com/paystate/paystate/proto/paystate/v1"
)

// gateway serves REST. Unary routes call the services in-process, through
// the same interceptors (recovery, request id, metrics, authentication,
// rate limit) and message size limits as gRPC calls: a loopback
// connection costs about three times as much per call. The gateway cannot
// serve server-streaming routes in-process, so each REST watch is a gRPC
// stream over a loopback connection of its own, whose server applies the
// interceptors (the per-token stream cap among them).
func (s *Server) gateway(ctx context.Context, grpcAddr string) (http.Handler, error) {
	creds := insecure.NewCredentials()
	if s.opts.TLS != nil {
		// The loopback call trusts exactly the certificate it serves.
		pool := x509.NewCertPool()
		for _, c := range s.opts.TLS.Certificates {
			if leaf, err := x509.ParseCertificate(c.Certificate[0]); err == nil {
				pool.AddCert(leaf)
			}
		}
		host, _, _ := net.SplitHostPort(grpcAddr)
		creds = credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: loopbackName(s.opts.TLS, host), MinVersion: tls.VersionTLS12})
	}
	mux := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, stableJSON{gatewayJSON, protojsonAddsSpaces}),
		runtime.WithIncomingHeaderMatcher(gatewayHeaderIn),
		runtime.WithMetadata(gatewayMetadata),
		runtime.WithOutgoingHeaderMatcher(gatewayHeaderOut),
		runtime.WithMiddlewares(watchWriter),
		runtime.WithForwardResponseOption(openWatch),
		// A path parameter is one segment, unescaped whole, so an id that
		// holds a "/" is asked for as %2F. (UnescapingModeAllCharacters
		// would split the path at %2F too, before matching a route; the
		// legacy default unescapes the path first, and does the same.)
		runtime.WithUnescapingMode(runtime.UnescapingModeAllExceptReserved),
		runtime.WithRoutingErrorHandler(routingError),
	)
	in := s.inProcess
	for _, err := range []error{
		pb.RegisterOrderServiceHandlerServer(ctx, mux, inProcessOrders{inProcess: in}),
		pb.RegisterAuditServiceHandlerServer(ctx, mux, inProcessAudit{inProcess: in}),
		pb.RegisterAggregateServiceHandlerServer(ctx, mux, inProcessAggregates{inProcess: in}),
		pb.RegisterMachineServiceHandlerServer(ctx, mux, inProcessMachines{inProcess: in}),
		pb.RegisterCallerServiceHandlerServer(ctx, mux, inProcessCallers{inProcess: in}),
		pb.RegisterWatchServiceHandlerClient(ctx, mux, loopbackWatch{target: grpcAddr, creds: creds, tracing: s.opts.TracerProvider}),
	} {
		if err != nil {
			return nil, fmt.Errorf("api: gateway: %w", err)
		}
	}
	return mux, nil
}

// gatewayJSON is the gateway's own default marshaler.
var gatewayJSON = &runtime.HTTPBodyMarshaler{Marshaler: &runtime.JSONPb{
	MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: true},
	UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: true},
}}

// protojsonAddsSpaces is whether protojson, in this binary, writes ", "
// between fields. It does in about half of all builds, chosen from a hash
// of the executable so that nobody depends on its layout.
var protojsonAddsSpaces = func() bool {
	b, err := protojson.Marshal(&pb.ChainHead{Sequence: 1, Hash: "h"})
	return err == nil && bytes.Contains(b, []byte(", "))
}()

// stableJSON is the gateway's JSON marshaler with one difference: what REST
// answers is laid out alike by every build, compact, as the README shows
// it, so that a build does not change what curl prints or what a client
// compared. Only a binary whose protojson adds spaces pays for taking them
// out (json.Compact: insignificant whitespace only, strings untouched).
// Streams, errors and request bodies go through it as before.
type stableJSON struct {
	runtime.Marshaler
	spaced bool
}

func (m stableJSON) Marshal(v any) ([]byte, error) {
	b, err := m.Marshaler.Marshal(v)
	if err != nil || !m.spaced {
		return b, err
	}
	var out bytes.Buffer
	out.Grow(len(b))
	if json.Compact(&out, b) != nil {
		return b, nil // not JSON (an HttpBody's raw data): as it is
	}
	return out.Bytes(), nil
}

// Delimiter separates the messages of a REST stream (the watch route).
func (m stableJSON) Delimiter() []byte { return []byte("\n") }

// loopbackWatch is the WatchServiceClient behind the REST watch route.
// Each call dials a connection of its own, closed when the call ends. One
// shared connection would be a resource every principal's REST watches
// queue for: an HTTP/2 connection carries at most the server's
// MaxConcurrentStreams, and streams beyond it wait, so one token holding
// that many idle watches blocked every other token's. With a connection
// per stream, what one token holds is bounded by its stream cap alone.
type loopbackWatch struct {
	target string
	creds  credentials.TransportCredentials
	// tracing, if set, carries the REST request's trace into the call.
	tracing trace.TracerProvider
}

func (l loopbackWatch) Watch(ctx context.Context, in *pb.WatchRequest, opts ...grpc.CallOption) (grpc.ServerStreamingClient[pb.WatchResponse], error) {
	dial := []grpc.DialOption{grpc.WithTransportCredentials(l.creds)}
	if l.tracing != nil {
		dial = append(dial, grpc.WithStatsHandler(grpcClientTracing(l.tracing)))
	}
	conn, err := grpc.NewClient(l.target, dial...)
	if err != nil {
		return nil, fmt.Errorf("api: gateway: %w", err)
	}
	stream, err := pb.NewWatchServiceClient(conn).Watch(ctx, in, opts...)
	if err != nil {
		conn.Close()
		return nil, err
	}
	// The gateway's ctx ends when the HTTP request does.
	context.AfterFunc(ctx, func() { conn.Close() })
	return stream, nil
}

// loopbackName is the name the gateway verifies the served certificate
// against: the certificate's own first DNS name when it has one, so that a
// certificate for paystate.example.com still works when the gateway dials
// 127.0.0.1.
func loopbackName(cfg *tls.Config, host string) string {
	for _, c := range cfg.Certificates {
		if leaf, err := x509.ParseCertificate(c.Certificate[0]); err == nil && len(leaf.DNSNames) > 0 {
			return leaf.DNSNames[0]
		}
	}
	return host
}

// inProcess is what an in-process REST call needs to be treated as the
// gRPC server treats a call: the services and the server's interceptors.
type inProcess struct {
	orders       *Orders
	audit        *Audit
	aggregates   *Aggregates
	machines     *Machines
	callers      Callers
	interceptors []grpc.UnaryServerInterceptor
}

// unary calls h as the gRPC server would call method: a request over the
// receive limit is refused before any interceptor runs, the interceptors
// run in order around h, and a reply over the send limit is refused after
// them.
func unary[Req, Resp proto.Message](ctx context.Context, in inProcess, method string, srv any, h func(context.Context, Req) (Resp, error), req Req) (Resp, error) {
	var none Resp
	if n := proto.Size(req); n > maxRecvMsg {
		return none, status.Errorf(codes.ResourceExhausted, "grpc: received message larger than max (%d vs. %d)", n, maxRecvMsg)
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: method}
	next := func(ctx context.Context, req any) (any, error) { return h(ctx, req.(Req)) }
	for i := len(in.interceptors) - 1; i >= 0; i-- {
		interceptor, inner := in.interceptors[i], next
		next = func(ctx context.Context, req any) (any, error) { return interceptor(ctx, req, info, inner) }
	}
	out, err := next(ctx, req)
	if err != nil {
		return none, err
	}
	resp, ok := out.(Resp)
	if !ok {
		return none, status.Error(codes.Internal, "internal error")
	}
	if n := proto.Size(resp); n > maxSendMsg {
		return none, status.Errorf(codes.ResourceExhausted, "grpc: trying to send message larger than max (%d vs. %d)", n, maxSendMsg)
	}
	return resp, nil
}

// The in-process services embed the Unsafe interfaces, not the
// Unimplemented types: an RPC added to a service fails to compile here
// until it is routed through unary, rather than being served unchecked.

type inProcessOrders struct {
	pb.UnsafeOrderServiceServer
	inProcess
}

var _ pb.OrderServiceServer = inProcessOrders{}

func (in inProcessOrders) GetOrder(ctx context.Context, req *pb.GetOrderRequest) (*pb.Order, error) {
	return unary(ctx, in.inProcess, pb.OrderService_GetOrder_FullMethodName, in.orders, in.orders.GetOrder, req)
}

func (in inProcessOrders) LookupOrders(ctx context.Context, req *pb.LookupOrdersRequest) (*pb.LookupOrdersResponse, error) {
	return unary(ctx, in.inProcess, pb.OrderService_LookupOrders_FullMethodName, in.orders, in.orders.LookupOrders, req)
}

func (in inProcessOrders) ListOrders(ctx context.Context, req *pb.ListOrdersRequest) (*pb.ListOrdersResponse, error) {
	return unary(ctx, in.inProcess, pb.OrderService_ListOrders_FullMethodName, in.orders, in.orders.ListOrders, req)
}

func (in inProcessOrders) BatchGetOrders(ctx context.Context, req *pb.BatchGetOrdersRequest) (*pb.BatchGetOrdersResponse, error) {
	return unary(ctx, in.inProcess, pb.OrderService_BatchGetOrders_FullMethodName, in.orders, in.orders.BatchGetOrders, req)
}

type inProcessAudit struct {
	pb.UnsafeAuditServiceServer
	inProcess
}

var _ pb.AuditServiceServer = inProcessAudit{}

func (in inProcessAudit) ListOrderEvents(ctx context.Context, req *pb.ListOrderEventsRequest) (*pb.ListOrderEventsResponse, error) {
	return unary(ctx, in.inProcess, pb.AuditService_ListOrderEvents_FullMethodName, in.audit, in.audit.ListOrderEvents, req)
}

func (in inProcessAudit) ListJournal(ctx context.Context, req *pb.ListJournalRequest) (*pb.ListJournalResponse, error) {
	return unary(ctx, in.inProcess, pb.AuditService_ListJournal_FullMethodName, in.audit, in.audit.ListJournal, req)
}

func (in inProcessAudit) GetEvent(ctx context.Context, req *pb.GetEventRequest) (*pb.JournalEntry, error) {
	return unary(ctx, in.inProcess, pb.AuditService_GetEvent_FullMethodName, in.audit, in.audit.GetEvent, req)
}

func (in inProcessAudit) GetChainHead(ctx context.Context, req *pb.GetChainHeadRequest) (*pb.ChainHead, error) {
	return unary(ctx, in.inProcess, pb.AuditService_GetChainHead_FullMethodName, in.audit, in.audit.GetChainHead, req)
}

func (in inProcessAudit) VerifyJournal(ctx context.Context, req *pb.VerifyJournalRequest) (*pb.VerifyJournalResponse, error) {
	return unary(ctx, in.inProcess, pb.AuditService_VerifyJournal_FullMethodName, in.audit, in.audit.VerifyJournal, req)
}

type inProcessAggregates struct {
	pb.UnsafeAggregateServiceServer
	inProcess
}

var _ pb.AggregateServiceServer = inProcessAggregates{}

func (in inProcessAggregates) ListAggregates(ctx context.Context, req *pb.ListAggregatesRequest) (*pb.ListAggregatesResponse, error) {
	return unary(ctx, in.inProcess, pb.AggregateService_ListAggregates_FullMethodName, in.aggregates, in.aggregates.ListAggregates, req)
}

func (in inProcessAggregates) GetAggregate(ctx context.Context, req *pb.GetAggregateRequest) (*pb.Aggregate, error) {
	return unary(ctx, in.inProcess, pb.AggregateService_GetAggregate_FullMethodName, in.aggregates, in.aggregates.GetAggregate, req)
}

func (in inProcessAggregates) ListAggregateEvents(ctx context.Context, req *pb.ListAggregateEventsRequest) (*pb.ListAggregateEventsResponse, error) {
	return unary(ctx, in.inProcess, pb.AggregateService_ListAggregateEvents_FullMethodName, in.aggregates, in.aggregates.ListAggregateEvents, req)
}

type inProcessMachines struct {
	pb.UnsafeMachineServiceServer
	inProcess
}

var _ pb.MachineServiceServer = inProcessMachines{}

func (in inProcessMachines) ListMachines(ctx context.Context, req *pb.ListMachinesRequest) (*pb.ListMachinesResponse, error) {
	return unary(ctx, in.inProcess, pb.MachineService_ListMachines_FullMethodName, in.machines, in.machines.ListMachines, req)
}

func (in inProcessMachines) Reevaluate(ctx context.Context, req *pb.ReevaluateRequest) (*pb.ReevaluateResponse, error) {
	return unary(ctx, in.inProcess, pb.MachineService_Reevaluate_FullMethodName, in.machines, in.machines.Reevaluate, req)
}

type inProcessCallers struct {
	pb.UnsafeCallerServiceServer
	inProcess
}

var _ pb.CallerServiceServer = inProcessCallers{}

func (in inProcessCallers) GetCaller(ctx context.Context, req *pb.GetCallerRequest) (*pb.Caller, error) {
	return unary(ctx, in.inProcess, pb.CallerService_GetCaller_FullMethodName, in.callers, in.callers.GetCaller, req)
}

// watchOpenKey is the header a Watch sends as soon as it has accepted its
// request, before any entry: the gateway's cue to answer its REST client.
const watchOpenKey = "paystate-watch-open"

// noRoute is the answer to a path no REST route matches. It is 404 as
// before, but it must not read like an order that does not exist: an id
// with an unescaped "/" lands here, and its order may well exist.
var noRoute = status.Error(codes.NotFound,
	"no REST route matches this method and path (the routes are in /openapi.json; a \"/\" inside an id is written %2F)")

// routingError is the gateway's routing error handler with noRoute for
// its 404.
func routingError(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, code int) {
	if code != http.StatusNotFound {
		runtime.DefaultRoutingErrorHandler(ctx, mux, m, w, r, code)
		return
	}
	runtime.HTTPError(ctx, mux, m, w, r, noRoute)
}

// watchRoute is the REST watch's path.
const watchRoute = "/v1/journal:watch"

// openWatch answers a REST watch's client with 200 and its headers as
// soon as the gRPC stream behind it is accepted. The gateway would
// otherwise write them with the stream's first message, and a watch that
// starts at the head, or whose filter matches nothing yet, sends nothing
// until its first heartbeat (15 s by default): its client could not tell
// an accepted watch from a server that does not answer. It runs once with
// no message before a stream's first (the gateway's own call), only for a
// stream whose server said it was accepted; a refused one has no such
// header and keeps its error status.
func openWatch(ctx context.Context, w http.ResponseWriter, m proto.Message) error {
	if m != nil {
		return nil
	}
	md, ok := runtime.ServerMetadataFromContext(ctx)
	if !ok || len(md.HeaderMD.Get(watchOpenKey)) == 0 {
		return nil
	}
	if _, ok := w.(*watchResponse); !ok {
		return nil
	}
	w.Header().Set("Content-Type", gatewayJSON.ContentType(nil))
	w.WriteHeader(http.StatusOK)
	return http.NewResponseController(w).Flush()
}

// watchWriter gives the REST watch a response writer that keeps the status
// openWatch wrote: an error that ends the stream later (the server
// draining, say) is written as the stream's last line, as it always was,
// and the gateway's attempt to set its status then is not an error of
// net/http's ("superfluous WriteHeader").
func watchWriter(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		if r.URL.Path != watchRoute {
			next(w, r, params)
			return
		}
		next(&watchResponse{ResponseWriter: w}, r, params)
	}
}

// watchResponse is an http.ResponseWriter whose status is written once.
type watchResponse struct {
	http.ResponseWriter
	wrote bool
}

func (w *watchResponse) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *watchResponse) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the server's writer (Flush,
// and the per-write deadlines the watch route sets).
func (w *watchResponse) Unwrap() http.ResponseWriter { return w.ResponseWriter }
