package api

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/paystate/paystate/api/openapi"
	"github.com/paystate/paystate/buildinfo"
	"github.com/paystate/paystate/console"
	pb "github.com/paystate/paystate/proto/paystate/v1"
	"github.com/paystate/paystate/providers"
	"github.com/paystate/paystate/redact"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
)

// Options wire a Server.
type Options struct {
	Store     storage.Store
	Machines  *sm.Registry
	Engine    Submitter
	Providers map[string]providers.Provider
	Tokens    []Token
	// Subscribe, if set, wakes watch streams after local commits.
	Subscribe func() (<-chan struct{}, func())
	MaxBody   int64
	Log       *slog.Logger
	// TLS, when set, is served on both listeners; the gateway's loopback
	// connection trusts the same certificate.
	TLS *tls.Config
	// Metrics are served on /metrics and fed by the webhook handler and
	// the gRPC interceptors; nil means a fresh NewMetrics.
	Metrics *Metrics
	// Subscribers, if set, counts live watch subscriptions (a gauge).
	Subscribers func() int
	// Build is served on /version; the zero value means buildinfo.Get().
	Build buildinfo.Info
	// RateLimit bounds each API token's calls (ResourceExhausted beyond
	// it); the zero value limits nothing.
	RateLimit RateLimit
	// MaxStreams bounds the streams (gRPC and REST watches) one API token
	// may hold open at once (ResourceExhausted beyond it): 0 means
	// DefaultMaxStreams, a negative value no cap.
	MaxStreams int
	// WatchPoll is how often a watch reads the journal when no commit was
	// announced (default one second): the gap-closing fallback to
	// Subscribe.
	WatchPoll time.Duration
	// IDKey is the engine's (engine.Config.IDKey): an identifier asked
	// for is masked the way it was when stored, so that an order whose id
	// holds a card number is found by the id the provider sent.
	IDKey redact.IDKey
	// CheckpointKeyID is the id of the key the server signs checkpoints
	// with; VerifyJournal reports stored checkpoints signed by another.
	CheckpointKeyID string
	// Ready, if set, says whether the engine can commit (engine.Ready):
	// /readyz is 503 while it fails.
	Ready func(context.Context) error
	// ShutdownTimeout bounds Serve's shutdown, from the moment its ctx
	// ends; 0 means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// TracerProvider, if set, traces HTTP requests, gRPC calls and
	// webhooks' verification and parsing (see trace.go); nil: no spans,
	// and nothing installed that would cost a request anything.
	TracerProvider trace.TracerProvider
}

// Server is paystate's two listeners: gRPC, and HTTP for webhooks, the
// REST gateway, health, the OpenAPI document and the web console.
type Server struct {
	opts    Options
	grpc    *grpc.Server
	health  *health.Server
	log     *slog.Logger
	metrics *Metrics
	// inProcess serves the REST gateway's unary routes.
	inProcess inProcess
	// stopping is closed when shutdown begins: watch streams end, and
	// /readyz says so.
	stopping chan struct{}
	// writeTimeout is the HTTP server's (tests shorten it).
	writeTimeout time.Duration
	ready        *readiness
}

// Limits that bound what one client can make the server hold.
const (
	maxRecvMsg           = 1 << 20
	maxSendMsg           = 4 << 20
	maxConcurrentStreams = 256
	// writeTimeout bounds writing one HTTP answer; a streamed answer gets
	// it for each write instead (see movingDeadline).
	writeTimeout = 30 * time.Second
)

// DefaultShutdownTimeout is Options.ShutdownTimeout's default.
const DefaultShutdownTimeout = 20 * time.Second

// streamWorkers serve gRPC calls on goroutines that live on, so that a call
// does not grow a fresh goroutine's stack again (the stack copies were a
// third of GetOrder's CPU). Calls beyond them, or while Watch streams hold
// them, get a goroutine each, as without workers.
const streamWorkers = 64

// NewServer builds the gRPC server; Serve starts both listeners.
func NewServer(opts Options) *Server {
	log := orDefault(opts.Log)
	auth := NewAuthenticator(opts.Tokens)
	limiter := newRateLimiter(opts.RateLimit)
	maxStreams := opts.MaxStreams
	if maxStreams == 0 {
		maxStreams = DefaultMaxStreams
	}
	streams := newStreamCap(maxStreams)
	metrics := opts.Metrics
	if metrics == nil {
		metrics = NewMetrics()
	}
	s := &Server{opts: opts, log: log, health: health.NewServer(), metrics: metrics, stopping: make(chan struct{}), writeTimeout: writeTimeout}
	s.ready = &readiness{store: opts.Store, commits: opts.Ready, draining: s.stopping, log: log}
	serverOpts := []grpc.ServerOption{}
	if opts.TLS != nil {
		serverOpts = append(serverOpts, grpc.Creds(credentials.NewTLS(opts.TLS)))
	}
	if opts.TracerProvider != nil {
		serverOpts = append(serverOpts, grpc.StatsHandler(grpcTracing(opts.TracerProvider)))
	}
	// Recovery first, for a panic in the interceptors themselves; then the
	// request id (and the call's log line); metrics before authentication,
	// so that refused calls count; then recovery again, so that a handler
	// that panicked is answered Internal before the log line and the
	// metrics see it, and is logged and counted like any failed call. The
	// REST gateway's in-process routes run the same list.
	unary := []grpc.UnaryServerInterceptor{recoverUnary(log), requestIDUnary(log), metrics.grpc.unary, recoverUnary(log), auth.Unary, limiter.Unary}
	s.grpc = grpc.NewServer(append(serverOpts,
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(recoverStream(log), requestIDStream(log), metrics.grpc.stream, recoverStream(log), auth.Stream, limiter.Stream, streams.Stream),
		grpc.MaxRecvMsgSize(maxRecvMsg),
		grpc.MaxSendMsgSize(maxSendMsg),
		grpc.MaxConcurrentStreams(maxConcurrentStreams),
		grpc.NumStreamWorkers(streamWorkers),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: 15 * time.Minute, Time: 2 * time.Minute, Timeout: 20 * time.Second}),
	)...)
	s.inProcess = inProcess{
		orders:       &Orders{Store: opts.Store, Machines: opts.Machines, Log: log, IDKey: opts.IDKey},
		audit:        &Audit{Store: opts.Store, Machines: opts.Machines, CheckpointKeyID: opts.CheckpointKeyID, Log: log, IDKey: opts.IDKey},
		aggregates:   &Aggregates{Store: opts.Store, Machines: opts.Machines, Log: log, IDKey: opts.IDKey},
		machines:     &Machines{Registry: opts.Machines, Engine: reevaluator(opts.Engine), Log: log},
		callers:      Callers{},
		interceptors: unary,
	}
	if opts.TracerProvider != nil {
		s.inProcess.interceptors = append([]grpc.UnaryServerInterceptor{inProcessTracing(opts.TracerProvider)}, unary...)
	}
	pb.RegisterOrderServiceServer(s.grpc, s.inProcess.orders)
	pb.RegisterAuditServiceServer(s.grpc, s.inProcess.audit)
	pb.RegisterAggregateServiceServer(s.grpc, s.inProcess.aggregates)
	pb.RegisterMachineServiceServer(s.grpc, s.inProcess.machines)
	pb.RegisterCallerServiceServer(s.grpc, s.inProcess.callers)
	pb.RegisterWatchServiceServer(s.grpc, &Watch{Store: opts.Store, Machines: opts.Machines, Subscribe: opts.Subscribe, Poll: opts.WatchPoll, Log: log, Stopping: s.stopping})
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	metrics.grpc.initialize(s.grpc)
	metrics.observeStore(opts.Store, log)
	if opts.Subscribers != nil {
		metrics.observeSubscribers(opts.Subscribers)
	}
	// NOT_SERVING until Serve has checked the store.
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	return s
}

// Serve runs until ctx ends, then shuts down gracefully within
// ShutdownTimeout: it logs that it is draining, ends every watch stream
// (a last heartbeat with the cursor, then Unavailable marked as a
// planned end), the HTTP
// server stops accepting and finishes in-flight webhooks (each bounded by
// the engine's commit deadline), then gRPC drains; whatever is left when
// the bound runs out is cut. The caller stops the engine after Serve
// returns.
func (s *Server) Serve(ctx context.Context, grpcLis, httpLis net.Listener) error {
	if _, err := s.opts.Store.Head(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // stopped before it began: nothing to serve, nothing failed
		}
		return fmt.Errorf("api: store not ready: %w", err)
	}
	gw, err := s.gateway(ctx, grpcLis.Addr().String())
	if err != nil {
		return err
	}
	httpSrv := &http.Server{
		Handler:           s.routes(gw),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      s.writeTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 2)
	go func() { errc <- s.grpc.Serve(grpcLis) }()
	if s.opts.TLS != nil {
		httpTLS := s.opts.TLS.Clone()
		httpTLS.NextProtos = []string{"http/1.1"}
		httpSrv.TLSConfig = httpTLS
		httpLis = tls.NewListener(httpLis, httpTLS)
	}
	go func() { errc <- httpSrv.Serve(httpLis) }()
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.log.Info("serving", "grpc", grpcLis.Addr().String(), "http", httpLis.Addr().String())

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	bound := s.opts.ShutdownTimeout
	if bound <= 0 {
		bound = DefaultShutdownTimeout
	}
	start := time.Now()
	s.log.Info("draining: ending watch streams, answering webhooks in flight", "bound", bound.String())
	close(s.stopping)
	s.health.Shutdown()
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), bound)
	defer cancel()
	if err := httpSrv.Shutdown(shutdown); err != nil {
		s.log.Warn("http shutdown cut short", "err", err)
		_ = httpSrv.Close()
	}
	stopped := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-shutdown.Done():
		s.log.Warn("grpc shutdown cut short", "bound", bound.String())
		s.grpc.Stop()
	}
	s.log.Info("drained", "took", time.Since(start).Round(time.Millisecond).String())
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) && !errors.Is(serveErr, grpc.ErrServerStopped) {
		return serveErr
	}
	return nil
}

func (s *Server) routes(gw http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /webhooks/{provider}", &Webhooks{
		Providers: s.opts.Providers,
		Engine:    s.opts.Engine,
		MaxBody:   s.opts.MaxBody,
		Log:       s.log,
		Metrics:   s.metrics,
		Tracer:    s.tracer(),
	})
	mux.Handle("/v1/", gw)
	// The REST watch is one answer that lasts as long as its client wants,
	// and a whole VerifyJournal replays the journal before it answers (a
	// few minutes on a store of millions): their writes, not their
	// answers, get the write timeout.
	long := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gw.ServeHTTP(movingDeadline{ResponseWriter: w, rc: http.NewResponseController(w), d: s.writeTimeout}, r)
	})
	mux.Handle("GET /v1/journal:watch", long)
	mux.Handle("POST /v1/journal:verify", long)
	// The web console: static files only, a client of the routes above.
	mux.Handle(console.Prefix, console.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /readyz", s.ready)
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openapi.JSON)
	})
	mux.Handle("GET /metrics", s.metrics.handler(s.log))
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		info := s.opts.Build
		if info == (buildinfo.Info{}) {
			info = buildinfo.Get()
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(info)
	})
	if s.opts.TracerProvider != nil {
		return withRequestID(httpTracing(s.opts.TracerProvider, mux))
	}
	return withRequestID(mux)
}

// tracer is the API's own tracer, nil when tracing is off.
func (s *Server) tracer() trace.Tracer {
	if s.opts.TracerProvider == nil {
		return nil
	}
	return s.opts.TracerProvider.Tracer(tracerName)
}

// movingDeadline gives each write of an answer the server's write
// timeout, instead of the whole answer: with the server's deadline a REST
// watch was cut off mid-stream every 30 seconds (a truncated chunked
// answer, an error in the client and in the log), and a verification
// that took longer than that could not answer at all, while a client that
// stops reading is still dropped within the timeout of the write it
// stalls.
type movingDeadline struct {
	http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func (m movingDeadline) Write(p []byte) (int, error) {
	_ = m.rc.SetWriteDeadline(time.Now().Add(m.d))
	return m.ResponseWriter.Write(p)
}

func (m movingDeadline) Flush() {
	_ = m.rc.SetWriteDeadline(time.Now().Add(m.d))
	_ = m.rc.Flush()
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (m movingDeadline) Unwrap() http.ResponseWriter { return m.ResponseWriter }
