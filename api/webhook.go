package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/paystate/paystate/engine"
	"github.com/paystate/paystate/internal/telemetry"
	"github.com/paystate/paystate/providers"
	"github.com/paystate/paystate/redact"
	"github.com/paystate/paystate/storage"
)

// DefaultMaxBody caps a webhook body. Provider payloads are a few KiB.
const DefaultMaxBody = 64 << 10

// Submitter is the engine as the webhook handler uses it.
type Submitter interface {
	Submit(ctx context.Context, d engine.Delivery) ([]engine.Outcome, error)
}

// Webhooks receives provider webhooks on POST /webhooks/{provider}.
type Webhooks struct {
	Providers map[string]providers.Provider
	Engine    Submitter
	// MaxBody caps the body in bytes; 0 means DefaultMaxBody.
	MaxBody int64
	Log     *slog.Logger
	Now     func() time.Time
	// Metrics, if set, counts every answer.
	Metrics *Metrics
	// Tracer, if set, traces verification and parsing (webhook.verify,
	// webhook.parse); nil: no spans.
	Tracer trace.Tracer
}

// webhookReply is the JSON body of every webhook answer.
type webhookReply struct {
	Results []webhookResult `json:"results,omitempty"`
	Error   string          `json:"error,omitempty"`
}

type webhookResult struct {
	// Seq is the entry's place in the journal; 0 on PostgreSQL, where an
	// acknowledged entry is durable but its place is assigned when it is
	// sealed (docs/postgres-sealer.md), typically milliseconds later.
	Seq        int64           `json:"seq"`
	Kind       string          `json:"kind,omitempty"`
	ID         string          `json:"id,omitempty"`
	Event      string          `json:"event,omitempty"`
	Verdict    string          `json:"verdict"`
	Reason     string          `json:"reason,omitempty"`
	StateAfter string          `json:"state,omitempty"`
	Version    int64           `json:"version,omitempty"`
	Resolved   []webhookResult `json:"resolved,omitempty"`
}

// ServeHTTP answers 2xx only after the delivery's events and verdicts are
// durably committed: 200 for every verdict (a retry cannot change a
// duplicate or a rejection), 400 for a malformed body (recorded), 401 for a
// failed authentication (nothing stored), 404 for an unknown provider, 413
// for an oversized body, 415 for a Content-Type that is not JSON (see
// jsonContentType), 500 for a delivery that fails on its own (a retry
// fails the same way; recorded when the store takes it), 503 when the
// store is unavailable or the server stopping (retry).
func (h *Webhooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	name := r.PathValue("provider")
	r, id := requestID(w, r)
	// Every line is logged with the request's context, so that it carries
	// the trace (telemetry.LogHandler).
	ctx := r.Context()
	if h.Tracer != nil {
		trace.SpanFromContext(ctx).SetAttributes(telemetry.AttrRequestID.String(id))
	}
	a := &answer{ResponseWriter: w}
	w = a
	defer func() { h.observe(name, a, time.Since(start)) }()
	log := webhookLog{h.logger(), name, id}
	p, ok := h.Providers[name]
	if !ok {
		writeReply(w, http.StatusNotFound, webhookReply{Error: "unknown provider"})
		return
	}
	if ct := r.Header.Get("Content-Type"); !jsonContentType(ct) {
		log.at(ctx, slog.LevelWarn, "webhook refused: not JSON", slog.String("content_type", redact.Truncate(ct, 100)))
		writeReply(w, http.StatusUnsupportedMediaType, webhookReply{Error: "content type must be JSON (application/json)"})
		return
	}
	limit := h.MaxBody
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	// The writer underneath, so that an oversized body also closes the
	// connection.
	body, err := io.ReadAll(http.MaxBytesReader(a.ResponseWriter, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			log.at(ctx, slog.LevelWarn, "webhook body too large", slog.Int64("limit", limit))
			writeReply(w, http.StatusRequestEntityTooLarge, webhookReply{Error: "body too large"})
			return
		}
		writeReply(w, http.StatusBadRequest, webhookReply{Error: "could not read body"})
		return
	}
	if err := h.authenticate(ctx, p, name, r.Header, body); err != nil {
		// The error text never carries secrets; the body is not kept: it
		// is not trusted.
		log.at(ctx, slog.LevelWarn, "webhook rejected: not authenticated", slog.Any("err", err), slog.String("remote", r.RemoteAddr))
		writeReply(w, http.StatusUnauthorized, webhookReply{Error: "not authenticated"})
		return
	}
	sum := sha256.Sum256(body)
	d := engine.Delivery{
		Provider:     name,
		BodySHA256:   hex.EncodeToString(sum[:]),
		RedactedBody: redact.Body(body),
	}
	d.Events, d.Malformed = h.parse(ctx, p, name, body)
	outcomes, err := h.Engine.Submit(ctx, d)
	var unprocessable *engine.UnprocessableError
	switch {
	case errors.As(err, &unprocessable):
		// A retry fails the same way: say what is wrong, and what was
		// recorded of it, rather than "retry".
		log.at(ctx, slog.LevelError, "webhook cannot be processed", slog.Any("err", err), slog.String("stack", string(unprocessable.Stack())),
			slog.Duration("latency", time.Since(start)))
		a.outcomes = unprocessable.Recorded
		writeReply(w, http.StatusInternalServerError, webhookReply{Results: results(unprocessable.Recorded), Error: unprocessable.Error()})
		return
	case errors.Is(err, storage.ErrCorrupt):
		// Not "retry": the provider will, but only an operator can help.
		log.at(ctx, slog.LevelError, "webhook not committed: database corrupted; an operator must repair or restore it", slog.Any("err", err),
			slog.Duration("latency", time.Since(start)))
		writeReply(w, http.StatusInternalServerError, webhookReply{Error: "storage corrupted"})
		return
	case err != nil:
		// Nothing of the delivery was committed. A retry helps only when
		// the store was unavailable, the server is stopping, or the caller
		// left; anything else is a fault of the server's, not a reason to
		// have the provider retry in a loop.
		log.at(ctx, slog.LevelError, "webhook not committed", slog.Any("err", err), slog.Duration("latency", time.Since(start)))
		if reason, retry := retryable(err); retry {
			w.Header().Set("Retry-After", "1")
			writeReply(w, http.StatusServiceUnavailable, webhookReply{Error: reason})
		} else {
			writeReply(w, http.StatusInternalServerError, webhookReply{Error: "not committed: internal error"})
		}
		return
	}
	status := http.StatusOK
	if len(outcomes) == 1 && outcomes[0].Malformed != "" {
		status, d.Malformed = http.StatusBadRequest, outcomes[0].Malformed
	}
	a.outcomes = outcomes
	rep := webhookReply{Results: results(outcomes)}
	if status == http.StatusBadRequest {
		rep.Error = d.Malformed
	}
	for _, o := range outcomes {
		log.at(ctx, slog.LevelInfo, "webhook", slog.String("kind", o.Key.Kind), slog.String("aggregate", o.Key.ID),
			slog.String("event", o.Event), slog.String("verdict", string(o.Verdict)), slog.String("reason", o.Reason),
			slog.Int64("seq", o.Seq), slog.Int("resolved", len(o.Resolved)), slog.Int("status", status),
			slog.Duration("latency", time.Since(start)))
	}
	writeReply(w, status, rep)
}

// authenticate is p.Authenticate, in a webhook.verify span when traced.
func (h *Webhooks) authenticate(ctx context.Context, p providers.Provider, name string, header http.Header, body []byte) error {
	if h.Tracer == nil {
		return p.Authenticate(header, body, h.now())
	}
	_, span := h.Tracer.Start(ctx, spanVerify, trace.WithAttributes(telemetry.AttrProvider.String(name)))
	defer span.End()
	err := p.Authenticate(header, body, h.now())
	if err != nil {
		// Not a fault of the server's: the span says why, not "error".
		span.SetAttributes(attribute.Bool("paystate.authenticated", false))
	}
	return err
}

// parse is p.Parse, in a webhook.parse span when traced: the events, or
// why the body is malformed (masked).
func (h *Webhooks) parse(ctx context.Context, p providers.Provider, name string, body []byte) ([]providers.Event, string) {
	var span trace.Span
	if h.Tracer != nil {
		_, span = h.Tracer.Start(ctx, spanParse, trace.WithAttributes(telemetry.AttrProvider.String(name)))
		defer span.End()
	}
	events, err := p.Parse(body)
	if err != nil {
		if span != nil {
			span.SetAttributes(telemetry.AttrMalformed.Bool(true))
		}
		return nil, redact.Text(err.Error())
	}
	if span != nil {
		span.SetAttributes(telemetry.AttrEvents.Int(len(events)))
	}
	return events, ""
}

// retryable says whether a delivery Submit did not commit may succeed when
// the provider retries it, and why it was not committed.
func retryable(err error) (string, bool) {
	switch {
	case errors.Is(err, storage.ErrUnavailable):
		return "storage unavailable, retry", true
	case errors.Is(err, engine.ErrClosed):
		return "server stopping, retry", true
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "not committed in time, retry", true
	}
	return "", false
}

func results(outcomes []engine.Outcome) []webhookResult {
	var out []webhookResult
	for _, o := range outcomes {
		out = append(out, webhookResult{
			Seq: o.Seq, Kind: o.Key.Kind, ID: o.Key.ID, Event: o.Event, Verdict: string(o.Verdict),
			Reason: o.Reason, StateAfter: o.StateAfter, Version: o.Version, Resolved: results(o.Resolved),
		})
	}
	return out
}

func writeReply(w http.ResponseWriter, status int, rep webhookReply) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(rep)
}

func (h *Webhooks) logger() *slog.Logger { return orDefault(h.Log) }

// webhookLog writes one webhook's lines, each with its provider and
// request id first, as Logger.With would put them, but without With's
// cost on every webhook (a handler cloned and both attributes masked and
// formatted) for the one line most webhooks log; and through LogAttrs, so
// that no attribute is boxed into an interface and unpacked again.
type webhookLog struct {
	log          *slog.Logger
	provider, id string
}

func (l webhookLog) at(ctx context.Context, level slog.Level, msg string, attrs ...slog.Attr) {
	if !l.log.Enabled(ctx, level) {
		return
	}
	all := make([]slog.Attr, 0, 2+len(attrs))
	all = append(append(all, slog.String("provider", l.provider), slog.String("request_id", l.id)), attrs...)
	l.log.LogAttrs(ctx, level, msg, all...)
}

func (h *Webhooks) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}
