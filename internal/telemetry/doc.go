// Package telemetry sets up paystate's OpenTelemetry tracing: the tracer
// provider that exports spans over OTLP (config.Tracing), the sampler that
// keeps an engine batch whenever a webhook it carries is kept, the W3C
// tracecontext propagator every server edge honours, a log handler that
// puts the current trace_id and span_id on log lines, and an exporter
// wrapper that passes every span's text through the card-data masking.
//
// With tracing off there is no provider at all: the API and the engine
// take a nil trace.TracerProvider as "no spans", so the hot paths pay one
// nil check, not a no-op tracer's context allocations.
package telemetry
