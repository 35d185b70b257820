package telemetry

import (
	"context"
	"slices"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/paystate/paystate/redact"
)

// Masking wraps exp so that every span it exports has passed through the
// card-data masking paystate applies to everything it writes: span names,
// status descriptions, and the text of span and event attributes
// (redact.Text); an attribute whose key names sensitive authentication
// data (redact.SensitiveKey) is dropped. paystate's own spans carry no
// body, header or secret, but the instrumentation libraries record what a
// request looks like (url.path holds an order id, which may hold a card
// number), and an exporter is one more place text leaves the process.
func Masking(exp sdktrace.SpanExporter) sdktrace.SpanExporter { return masking{exp} }

type masking struct{ sdktrace.SpanExporter }

func (m masking) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	var out []sdktrace.ReadOnlySpan // a copy, once a span changes
	for i, s := range spans {
		if ms, changed := maskSpan(s); changed {
			if out == nil {
				out = slices.Clone(spans)
			}
			out[i] = ms
		}
	}
	if out == nil {
		out = spans
	}
	return m.SpanExporter.ExportSpans(ctx, out)
}

// maskedSpan is a span with its text masked.
type maskedSpan struct {
	sdktrace.ReadOnlySpan
	name   string
	attrs  []attribute.KeyValue
	events []sdktrace.Event
	status sdktrace.Status
}

func (s maskedSpan) Name() string                     { return s.name }
func (s maskedSpan) Attributes() []attribute.KeyValue { return s.attrs }
func (s maskedSpan) Events() []sdktrace.Event         { return s.events }
func (s maskedSpan) Status() sdktrace.Status          { return s.status }

// maskSpan returns s masked, and whether masking changed anything (s
// itself when it did not).
func maskSpan(s sdktrace.ReadOnlySpan) (sdktrace.ReadOnlySpan, bool) {
	m := maskedSpan{ReadOnlySpan: s, name: redact.Text(s.Name()), status: s.Status()}
	m.status.Description = redact.Text(m.status.Description)
	changed := m.name != s.Name() || m.status.Description != s.Status().Description
	var c bool
	m.attrs, c = maskAttrs(s.Attributes())
	changed = changed || c
	m.events = s.Events()
	copied := false
	for i, e := range m.events {
		name := redact.Text(e.Name)
		attrs, c := maskAttrs(e.Attributes)
		if !c && name == e.Name {
			continue
		}
		if !copied {
			m.events, copied = slices.Clone(m.events), true
		}
		m.events[i].Name, m.events[i].Attributes = name, attrs
		changed = true
	}
	if !changed {
		return s, false
	}
	return m, true
}

// maskAttrs returns attrs masked, and whether anything changed (attrs
// itself when nothing did).
func maskAttrs(attrs []attribute.KeyValue) ([]attribute.KeyValue, bool) {
	var out []attribute.KeyValue // a copy, once an attribute changes
	for i, a := range attrs {
		masked, keep, changed := maskAttr(a)
		if !changed {
			if out != nil {
				out = append(out, a)
			}
			continue
		}
		if out == nil {
			out = append(make([]attribute.KeyValue, 0, len(attrs)), attrs[:i]...)
		}
		if keep {
			out = append(out, masked)
		}
	}
	if out == nil {
		return attrs, false
	}
	return out, true
}

// maskAttr masks a; keep is false when it must be dropped.
func maskAttr(a attribute.KeyValue) (out attribute.KeyValue, keep, changed bool) {
	if redact.SensitiveKey(string(a.Key)) {
		return a, false, true
	}
	switch a.Value.Type() {
	case attribute.STRING:
		if s := a.Value.AsString(); redact.Text(s) != s {
			return a.Key.String(redact.Text(s)), true, true
		}
	case attribute.STRINGSLICE:
		vs := a.Value.AsStringSlice()
		changed := false
		for i, s := range vs {
			if m := redact.Text(s); m != s {
				vs[i], changed = m, true
			}
		}
		if changed {
			return a.Key.StringSlice(vs), true, true
		}
	}
	return a, true, false
}
