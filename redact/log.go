package redact

import (
	"context"
	"fmt"
	"log/slog"
)

// LogHandler wraps h so that every record passes through the same masking
// as everything else paystate writes: the message and every attribute
// value that is text (strings, errors, fmt.Stringers, lists of strings) go
// through Text, numbers and any other value whose text holds a card number
// are logged as that text masked, and an attribute whose key is
// SensitiveKey is dropped.
// Attributes added with WithAttrs are masked once, when added.
func LogHandler(h slog.Handler) slog.Handler { return logHandler{h} }

type logHandler struct{ next slog.Handler }

func (l logHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return l.next.Enabled(ctx, level)
}

func (l logHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, Text(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if a, ok := maskAttr(a); ok {
			out.AddAttrs(a)
		}
		return true
	})
	return l.next.Handle(ctx, out)
}

func (l logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	masked := make([]slog.Attr, 0, len(attrs))
	for _, a := range attrs {
		if a, ok := maskAttr(a); ok {
			masked = append(masked, a)
		}
	}
	return logHandler{l.next.WithAttrs(masked)}
}

func (l logHandler) WithGroup(name string) slog.Handler {
	return logHandler{l.next.WithGroup(name)}
}

// maskAttr masks one attribute; ok is false when it must be dropped.
func maskAttr(a slog.Attr) (slog.Attr, bool) {
	if SensitiveKey(a.Key) {
		return a, false
	}
	a.Key = Text(a.Key)
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		a.Value = slog.StringValue(Text(v.String()))
	case slog.KindGroup:
		var group []slog.Attr
		for _, g := range v.Group() {
			if g, ok := maskAttr(g); ok {
				group = append(group, g)
			}
		}
		a.Value = slog.GroupValue(group...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			a.Value = slog.StringValue(Text(x.Error()))
		case fmt.Stringer:
			a.Value = slog.StringValue(Text(x.String()))
		case []string:
			masked := make([]string, len(x))
			for i, s := range x {
				masked[i] = Text(s)
			}
			a.Value = slog.AnyValue(masked)
		case []byte:
			a.Value = slog.StringValue(Text(string(x)))
		default:
			// Anything else (a slice, a map, a struct) keeps its form
			// unless its text holds a card number; then it is logged as
			// its masked text.
			if s := fmt.Sprint(x); Text(s) != s {
				a.Value = slog.StringValue(Text(s))
			} else {
				a.Value = v
			}
		}
	case slog.KindInt64, slog.KindUint64, slog.KindFloat64:
		// An int64 or uint64 can hold a 16-digit PAN.
		if s := v.String(); Text(s) != s {
			a.Value = slog.StringValue(Text(s))
		} else {
			a.Value = v
		}
	default:
		a.Value = v
	}
	return a, true
}
