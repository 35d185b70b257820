package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/paystate/paystate/engine"
	"github.com/paystate/paystate/reqid"
)

// withRequestID gives every HTTP request a request id: the X-Request-Id it
// came with when that is acceptable (reqid.Accept: valid, and masked when
// it holds a card number), a new one otherwise. The id is echoed in the
// response and carried in the context, from which the REST gateway passes
// it on to gRPC (gatewayMetadata). The request passed on keeps the
// X-Request-Id it came with only when that is the id; one that was not
// accepted as sent is replaced in a copy of the headers.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, _ = requestID(w, r)
		next.ServeHTTP(w, r)
	})
}

// requestID returns r carrying its request id, and the id. A request that
// already carries one (withRequestID ran) is returned as it is.
func requestID(w http.ResponseWriter, r *http.Request) (*http.Request, string) {
	if id := reqid.From(r.Context()); id != "" {
		return r, id
	}
	presented := r.Header.Get(reqid.Header)
	id := reqid.Accept(presented)
	w.Header().Set(reqid.Header, id)
	r = r.WithContext(reqid.With(r.Context(), id))
	if presented != "" && presented != id {
		// What was sent is not what is used (invalid, or holding a card
		// number): the request passed on carries the id instead, in a
		// copy of the headers (the incoming request is never modified).
		r.Header = r.Header.Clone()
		r.Header.Set(reqid.Header, id)
	}
	return r, id
}

// incomingRequestID takes x-request-id from the call's metadata (or makes
// one), puts it in the context and sends it back as a response header.
func incomingRequestID(ctx context.Context) (context.Context, string) {
	var presented string
	if v := metadata.ValueFromIncomingContext(ctx, reqid.Metadata); len(v) > 0 {
		presented = v[0]
	}
	id := reqid.Accept(presented)
	return reqid.With(ctx, id), id
}

// requestIDUnary gives each call a request id and logs one line for it.
func requestIDUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		start := time.Now()
		ctx, id := incomingRequestID(ctx)
		_ = grpc.SetHeader(ctx, metadata.MD{reqid.Metadata: {id}}) // the key is lower-case already, as Pairs would make it
		resp, err := next(ctx, req)
		logRPC(ctx, log, info.FullMethod, id, start, err)
		return resp, err
	}
}

// requestIDStream is requestIDUnary for streams; the line is logged when
// the stream ends.
func requestIDStream(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) error {
		start := time.Now()
		ctx, id := incomingRequestID(ss.Context())
		_ = ss.SetHeader(metadata.Pairs(reqid.Metadata, id))
		err := next(srv, &ctxStream{ServerStream: ss, ctx: ctx})
		logRPC(ctx, log, info.FullMethod, id, start, err)
		return err
	}
}

type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *ctxStream) Context() context.Context { return s.ctx }

// logRPC writes the one line of a call: method, code, latency, request id
// (and, from ctx, the trace: telemetry.LogHandler). Health checks and
// reflection (polled by load balancers) log at debug; server-side
// failures at warn.
func logRPC(ctx context.Context, log *slog.Logger, method, id string, start time.Time, err error) {
	code := status.Code(err)
	level := slog.LevelInfo
	switch {
	case public(method):
		level = slog.LevelDebug
	case code == codes.Internal, code == codes.Unknown, code == codes.DataLoss, code == codes.Unavailable:
		level = slog.LevelWarn
	}
	if !log.Enabled(ctx, level) {
		return
	}
	// LogAttrs: no attribute boxed into an interface and unpacked again.
	if !trace.SpanContextFromContext(ctx).IsValid() {
		// No trace to name (tracing off): the handlers need not search
		// the call's context, which names nothing the line lacks.
		ctx = context.Background()
	}
	log.LogAttrs(ctx, level, "rpc", slog.String("method", method), slog.String("code", code.String()),
		slog.Duration("latency", time.Since(start)), slog.String("request_id", id))
}

// answer records what a webhook was answered, for its metrics.
type answer struct {
	http.ResponseWriter
	code     int
	outcomes []engine.Outcome
}

func (a *answer) WriteHeader(code int) {
	if a.code == 0 {
		a.code = code
	}
	a.ResponseWriter.WriteHeader(code)
}

func (a *answer) Write(b []byte) (int, error) {
	if a.code == 0 {
		a.code = http.StatusOK
	}
	return a.ResponseWriter.Write(b)
}

// observe counts the webhook once it has been answered.
func (h *Webhooks) observe(provider string, a *answer, took time.Duration) {
	if _, ok := h.Providers[provider]; !ok {
		provider = "unknown" // never a label value chosen by the caller
	}
	h.Metrics.webhook(provider, a.code, a.outcomes, took)
}

// gatewayHeaderIn passes the gateway's default headers on to gRPC, but
// not X-Request-Id as the client sent it: gatewayMetadata passes the id
// withRequestID accepted. (Setting the accepted id in the header instead
// cost a copy of every REST request's and webhook's headers.)
func gatewayHeaderIn(key string) (string, bool) {
	if http.CanonicalHeaderKey(key) == reqid.Header {
		return "", false
	}
	return runtime.DefaultHeaderMatcher(key)
}

// gatewayMetadata passes a REST request's request id (withRequestID put it
// in the context) on to gRPC as x-request-id metadata.
func gatewayMetadata(ctx context.Context, _ *http.Request) metadata.MD {
	if id := reqid.From(ctx); id != "" {
		return metadata.MD{reqid.Metadata: {id}}
	}
	return nil
}

// gatewayHeaderOut keeps the gRPC x-request-id response header from being
// repeated as Grpc-Metadata-X-Request-Id: the HTTP middleware already
// answers X-Request-Id. The watch's own cue (watchOpenKey) is the
// gateway's, not its client's.
func gatewayHeaderOut(key string) (string, bool) {
	if key == reqid.Metadata || key == watchOpenKey {
		return "", false
	}
	return runtime.MetadataHeaderPrefix + key, true
}
