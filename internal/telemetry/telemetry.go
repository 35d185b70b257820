package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/paystate/paystate/config"
)

// Attribute keys paystate's own spans carry.
const (
	// AttrProvider is the webhook's provider (ngenius, magnius, ...).
	AttrProvider = attribute.Key("paystate.provider")
	// AttrEvents is how many events a delivery holds.
	AttrEvents = attribute.Key("paystate.events")
	// AttrOutcomes is how many journal entries a delivery's commit wrote.
	AttrOutcomes = attribute.Key("paystate.outcomes")
	// AttrVerdicts are the verdicts of a delivery's events, in order
	// (applied, deferred, duplicate, rejected, recorded).
	AttrVerdicts = attribute.Key("paystate.verdicts")
	// AttrRequestID is the request id (reqid: accepted or generated,
	// masked), on a webhook's HTTP span.
	AttrRequestID = attribute.Key("paystate.request_id")
	// AttrMalformed is set on a delivery whose body did not parse.
	AttrMalformed = attribute.Key("paystate.malformed")
	// AttrBatchDeliveries is how many requests one engine batch carried.
	AttrBatchDeliveries = attribute.Key("paystate.batch.deliveries")
	// AttrBatchCommitted says whether an engine batch committed.
	AttrBatchCommitted = attribute.Key("paystate.batch.committed")
)

// Propagator is what every edge reads traceparent with: W3C tracecontext.
func Propagator() propagation.TextMapPropagator { return propagation.TraceContext{} }

// Provider exports spans; nil when tracing is off.
type Provider struct {
	*sdktrace.TracerProvider
}

// New returns the provider for cfg, exporting over OTLP, or nil when
// tracing is off. It connects to nothing: the exporter dials on its first
// export, so a collector that is down delays no start (its errors are
// logged to log as warnings). Spans are batched and exported in the
// background; call Shutdown to flush them. Headers for the collector
// (credentials) come from OTEL_EXPORTER_OTLP_HEADERS, never the file.
func New(ctx context.Context, cfg config.Tracing, version string, log *slog.Logger) (*Provider, error) {
	if !cfg.Enabled() {
		return nil, nil
	}
	target, err := cfg.Target()
	if err != nil {
		return nil, err
	}
	headers, herr := headersFromEnv(os.Getenv)
	var client otlptrace.Client = &grpcClient{target: target, headers: headers}
	if cfg.Protocol == config.TracingHTTP {
		client = newHTTPClient(target, headers)
	}
	exp, err := otlptrace.New(ctx, client)
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	if log != nil {
		if herr != nil {
			log.Warn("tracing: collector headers", "err", herr)
		}
		// The SDK reports failed exports here; the default writes to the
		// standard logger, past the log's format and masking.
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
			log.Warn("tracing: spans not exported", "err", err)
		}))
	}
	res := resource.NewSchemaless(
		attribute.String("service.name", cfg.ServiceName),
		attribute.String("service.version", version),
	)
	return &Provider{sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(Masking(exp)),
		sdktrace.WithSampler(Sampler(cfg.SampleRatio)),
		sdktrace.WithSpanLimits(limits()),
		sdktrace.WithResource(res),
	)}, nil
}

// Tracer returns p as the API and the engine take it: nil when p is nil
// (tracing off).
func (p *Provider) Tracer() trace.TracerProvider {
	if p == nil {
		return nil
	}
	return p.TracerProvider
}

// Shutdown flushes what is batched and stops the exporter; a nil p has
// nothing to do.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p == nil {
		return nil
	}
	return p.TracerProvider.Shutdown(ctx)
}

// HTTPClient is an HTTP client whose requests are client spans beneath
// the caller's (otelhttp), each attempt bounded by timeout: for the
// provider APIs paystate calls out to. It sends no traceparent: a
// provider is a third party, with no business in paystate's trace ids.
// The library records the URL, which the masking sees on its way out,
// never headers or bodies.
func HTTPClient(tp trace.TracerProvider, timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: otelhttp.NewTransport(http.DefaultTransport,
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(propagation.NewCompositeTextMapPropagator()),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
	)}
}

// Synchronous returns a provider that hands each span to exp as it ends,
// through the same masking and sampler as New's: for tests and tools.
func Synchronous(exp sdktrace.SpanExporter, ratio float64) *sdktrace.TracerProvider {
	return sdktrace.NewTracerProvider(sdktrace.WithSyncer(Masking(exp)), sdktrace.WithSampler(Sampler(ratio)), sdktrace.WithSpanLimits(limits()))
}

// MaxLinks is how many links a span keeps: an engine.batch span links to
// every request of its batch, up to config's largest batch_max_events
// (the SDK's default keeps 128).
const MaxLinks = 10000

// limits are the SDK's span limits (OTEL_SPAN_*_LIMIT) with room for
// MaxLinks links.
func limits() sdktrace.SpanLimits {
	l := sdktrace.NewSpanLimits()
	l.LinkCountLimit = max(l.LinkCountLimit, MaxLinks)
	return l
}

// Sampler follows the caller's decision when a request carries a
// traceparent and keeps ratio of the traces that start here, except that
// a root span linked to a kept span is kept: an engine batch is a trace of
// its own, linked to the webhooks it carries, and is kept whenever one of
// them is.
func Sampler(ratio float64) sdktrace.Sampler {
	return sdktrace.ParentBased(linked{sdktrace.TraceIDRatioBased(ratio)})
}

type linked struct{ base sdktrace.Sampler }

func (l linked) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	for _, link := range p.Links {
		if link.SpanContext.IsSampled() {
			return sdktrace.SamplingResult{
				Decision:   sdktrace.RecordAndSample,
				Tracestate: trace.SpanContextFromContext(p.ParentContext).TraceState(),
			}
		}
	}
	return l.base.ShouldSample(p)
}

func (l linked) Description() string { return "LinkedOr{" + l.base.Description() + "}" }
