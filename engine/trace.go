package engine

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/paystate/paystate/internal/telemetry"
	"github.com/paystate/paystate/redact"
)

// tracerName is the instrumentation scope of the engine's spans.
const tracerName = "github.com/paystate/paystate/engine"

// Span names.
const (
	spanSubmit = "engine.submit"
	spanBatch  = "engine.batch"
	spanDecide = "engine.decide"
	spanCommit = "engine.commit"
)

// How a webhook's work shows in traces. The writer gathers many
// submissions into one transaction, so a batch belongs to no single
// request's trace: each Submit has an engine.submit span in its caller's
// trace, covering the wait for the commit, and each transaction is an
// engine.batch trace of its own, linked to the submit span of every
// request it carries (and linked back from each, once answered). The
// batch's children split its time as the commit metrics do:
// engine.decide from the transaction's start to its last statement
// (prefetch, deciding and writing every event; retries included), and
// engine.commit from there to the end, what making the batch durable took.
//
// A batch none of whose requests is traced and sampled (a sweep, a
// reconciliation without a trace) starts no span at all.

// requestTrace is what a traced request carries: its engine.submit span,
// and the engine.batch span of the transaction that answered it, set by
// the committer. A pointer, so that an untraced request is no larger.
type requestTrace struct {
	span, batch trace.SpanContext
}

// tracedSubmit is Submit's exchange inside an engine.submit span.
func (e *Engine) tracedSubmit(ctx context.Context, r *request) ([]Outcome, error) {
	ctx, span := e.tracer.Start(ctx, spanSubmit, trace.WithAttributes(
		telemetry.AttrProvider.String(r.d.Provider),
		telemetry.AttrEvents.Int(len(r.d.Events)),
	))
	defer span.End()
	if r.d.Malformed != "" {
		span.SetAttributes(telemetry.AttrMalformed.Bool(true))
	}
	r.tr = &requestTrace{span: span.SpanContext()}
	rep := e.exchange(ctx, r)
	if rep.tr != nil && rep.tr.batch.IsValid() {
		span.AddLink(trace.Link{SpanContext: rep.tr.batch})
	}
	if rep.err != nil {
		span.SetStatus(codes.Error, redact.Text(rep.err.Error()))
		return nil, rep.err
	}
	verdicts := make([]string, len(rep.outcomes))
	for i, o := range rep.outcomes {
		verdicts[i] = string(o.Verdict)
	}
	span.SetAttributes(telemetry.AttrOutcomes.Int(len(rep.outcomes)), telemetry.AttrVerdicts.StringSlice(verdicts))
	return rep.outcomes, nil
}

// startBatch starts batch's engine.batch span, linked to its requests'
// submit spans, and records it on each; span is nil when no request is
// traced and sampled.
func (e *Engine) startBatch(ctx context.Context, batch []*request) (context.Context, trace.Span) {
	if e.tracer == nil {
		return ctx, nil
	}
	var links []trace.Link
	kept := false
	for _, r := range batch {
		if r.tr != nil && r.tr.span.IsValid() {
			links = append(links, trace.Link{SpanContext: r.tr.span})
			kept = kept || r.tr.span.IsSampled()
		}
	}
	if !kept {
		return ctx, nil
	}
	ctx, span := e.tracer.Start(ctx, spanBatch, trace.WithNewRoot(), trace.WithLinks(links...),
		trace.WithAttributes(telemetry.AttrBatchDeliveries.Int(len(batch))))
	for _, r := range batch {
		if r.tr != nil {
			r.tr.batch = span.SpanContext()
		}
	}
	return ctx, span
}

// endBatch ends a batch span begun at start, whose last statement
// returned at decided (zero if none did) and which ended at end with err.
func (e *Engine) endBatch(ctx context.Context, span trace.Span, start, decided, end time.Time, err error) {
	status := func(s trace.Span) {
		if err != nil {
			s.SetStatus(codes.Error, redact.Text(err.Error()))
		}
	}
	if !decided.IsZero() {
		_, d := e.tracer.Start(ctx, spanDecide, trace.WithTimestamp(start))
		d.End(trace.WithTimestamp(decided))
		_, c := e.tracer.Start(ctx, spanCommit, trace.WithTimestamp(decided))
		status(c)
		c.End(trace.WithTimestamp(end))
	}
	status(span)
	span.SetAttributes(telemetry.AttrBatchCommitted.Bool(err == nil))
	span.End(trace.WithTimestamp(end))
}
