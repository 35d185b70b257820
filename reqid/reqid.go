package reqid

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"

	"github.com/paystate/paystate/redact"
)

// Header is the HTTP header, and Metadata the gRPC metadata key, that carry
// a request id in and out.
const (
	Header   = "X-Request-Id"
	Metadata = "x-request-id"
)

// MaxLen bounds an accepted id.
const MaxLen = 128

type ctxKey struct{}

// With returns ctx carrying id.
func With(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// From returns the request id carried by ctx, or "".
func From(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// New returns a fresh random id: 16 bytes, hex.
func New() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b[:])
}

// Valid reports whether a presented id may be used as it is: 1 to MaxLen
// characters of letters, digits and - _ . : / + = (what UUIDs, trace ids and
// the common load balancers' ids are made of) and * (what masking puts in
// an id that held a card number, so that the masked id passes on as it is
// from the REST gateway to gRPC).
func Valid(id string) bool {
	if id == "" || len(id) > MaxLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '_', c == '.', c == ':', c == '/', c == '+', c == '=', c == '*':
		default:
			return false
		}
	}
	return true
}

// Accept returns presented when it is Valid, otherwise a New id. A valid
// id that holds a card number comes back masked (redact.Text), as it would
// be in any other field, so that it is never echoed, logged or journaled.
func Accept(presented string) string {
	if Valid(presented) {
		return redact.Text(presented)
	}
	return New()
}

// Handler wraps a slog.Handler so that every record logged with a context
// that carries a request id gets a request_id attribute, unless the
// record (or the logger, With) already has one: a line logged with both
// the id and the context names it once.
func Handler(h slog.Handler) slog.Handler { return handler{Handler: h} }

type handler struct {
	slog.Handler
	has     bool // WithAttrs added a request_id to the line
	grouped bool // WithGroup: what is added since is the group's
}

// attr is the key of the request id attribute.
const attr = "request_id"

func (h handler) Handle(ctx context.Context, r slog.Record) error {
	if h.has {
		return h.Handler.Handle(ctx, r)
	}
	if id := From(ctx); id != "" && (h.grouped || !hasAttr(r)) {
		r = r.Clone()
		r.AddAttrs(slog.String(attr, id))
	}
	return h.Handler.Handle(ctx, r)
}

func hasAttr(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == attr
		return !found
	})
	return found
}

func (h handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	has := h.has
	for _, a := range attrs {
		has = has || (a.Key == attr && !h.grouped)
	}
	return handler{Handler: h.Handler.WithAttrs(attrs), has: has, grouped: h.grouped}
}

// WithGroup: attributes added after it are the group's, so a request_id
// among them is not the line's.
func (h handler) WithGroup(name string) slog.Handler {
	return handler{Handler: h.Handler.WithGroup(name), has: h.has, grouped: true}
}
