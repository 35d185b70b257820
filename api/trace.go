package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc/filters"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	grpccodes "google.golang.org/grpc/codes"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/paystate/paystate/internal/telemetry"
)

// tracerName is the instrumentation scope of the API's own spans.
const tracerName = "github.com/paystate/paystate/api"

// Span names of the API's own spans; the HTTP and gRPC server spans are
// the instrumentation libraries' ("POST /webhooks/{provider}",
// "paystate.v1.OrderService/GetOrder").
const (
	spanVerify = "webhook.verify"
	spanParse  = "webhook.parse"
)

// With tracing on (Options.TracerProvider), every HTTP request but the
// polled ones (health, readiness, metrics) gets a server span (otelhttp)
// and every gRPC call but health checks one of its own (otelgrpc), each a
// child of the traceparent the request came with (W3C tracecontext).
// Neither library records headers, bodies or messages; what they do
// record (url.path among it) passes through telemetry.Masking on its way
// out. Metrics stay Prometheus's: the libraries get a no-op meter. With
// tracing off nothing is installed.

// grpcTracing is the gRPC server's stats handler.
func grpcTracing(tp trace.TracerProvider) stats.Handler {
	return otelgrpc.NewServerHandler(
		otelgrpc.WithTracerProvider(tp),
		otelgrpc.WithPropagators(telemetry.Propagator()),
		otelgrpc.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelgrpc.WithFilter(filters.Not(filters.HealthCheck())),
	)
}

// grpcClientTracing is the REST watch's loopback client's stats handler:
// the gRPC call it makes joins the HTTP request's trace.
func grpcClientTracing(tp trace.TracerProvider) stats.Handler {
	return otelgrpc.NewClientHandler(
		otelgrpc.WithTracerProvider(tp),
		otelgrpc.WithPropagators(telemetry.Propagator()),
		otelgrpc.WithMeterProvider(metricnoop.NewMeterProvider()),
	)
}

// httpTracing wraps the routes. It must wrap the ServeMux itself: the
// span is named after the route the mux matched ("POST
// /webhooks/{provider}"), which the mux writes on the request it is given.
// The REST gateway is one route of the mux ("/v1/"), so a REST request's
// span takes the gateway's route instead, which inProcessTracing learns
// and leaves in the request's gatewayRoute.
func httpTracing(tp trace.TracerProvider, mux http.Handler) http.Handler {
	h := otelhttp.NewHandler(mux, "http",
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(telemetry.Propagator()),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelhttp.WithFilter(func(r *http.Request) bool {
			switch r.URL.Path {
			case "/healthz", "/readyz", "/metrics":
				return false
			}
			return true
		}),
		otelhttp.WithSpanNameFormatter(httpSpanName),
	)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			r = r.WithContext(context.WithValue(r.Context(), gatewayRoute{}, new(string)))
		}
		h.ServeHTTP(w, r)
	})
}

// gatewayRoute keys a *string in a REST request's context: the gateway's
// route template, once an in-process call has learnt it.
type gatewayRoute struct{}

// httpSpanName is "METHOD route", as otelhttp names server spans, the
// gateway's route for a REST call; a method outside the standard ones is
// "HTTP" (a client does not choose span names).
func httpSpanName(_ string, r *http.Request) string {
	method := r.Method
	switch method {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch,
		http.MethodHead, http.MethodOptions, http.MethodConnect, http.MethodTrace:
	default:
		method = "HTTP"
	}
	route := r.Pattern
	if p, ok := r.Context().Value(gatewayRoute{}).(*string); ok && *p != "" {
		route = *p
	}
	if _, path, ok := strings.Cut(route, " "); ok {
		route = path // "POST /webhooks/{provider}": the method is said once
	}
	if route == "" {
		return method
	}
	return method + " " + route
}

// inProcessTracing is the first interceptor of the REST gateway's
// in-process calls, which no gRPC stats handler sees: a span named as
// the gRPC server span of the same call would be, beneath the HTTP span,
// with the gateway's route template.
func inProcessTracing(tp trace.TracerProvider) grpc.UnaryServerInterceptor {
	tracer := tp.Tracer(tracerName)
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		// Named and described as otelgrpc's server spans are.
		method := strings.TrimPrefix(info.FullMethod, "/")
		attrs := []attribute.KeyValue{
			attribute.String("rpc.system.name", "grpc"),
			attribute.String("rpc.method", method),
		}
		if route, ok := runtime.HTTPPathPattern(ctx); ok {
			attrs = append(attrs, attribute.String("http.route", route))
			// The HTTP server span is named and routed after it too.
			if p, ok := ctx.Value(gatewayRoute{}).(*string); ok {
				*p = route
			}
			trace.SpanFromContext(ctx).SetAttributes(attribute.String("http.route", route))
		}
		ctx, span := tracer.Start(ctx, method, trace.WithAttributes(attrs...))
		defer span.End()
		resp, err := next(ctx, req)
		code := status.Code(err)
		span.SetAttributes(attribute.String("rpc.response.status_code", code.String()))
		if err != nil && serverFault(code) {
			span.SetStatus(codes.Error, code.String())
		}
		return resp, err
	}
}

// serverFault says whether a call that ended with code failed on the
// server's side (a span in error), not the caller's.
func serverFault(code grpccodes.Code) bool {
	switch code {
	case grpccodes.Internal, grpccodes.Unknown, grpccodes.DataLoss, grpccodes.Unavailable:
		return true
	}
	return false
}
