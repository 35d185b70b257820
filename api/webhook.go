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

	"github.com/paystate/paystate/engine"
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
}

// webhookReply is the JSON body of every webhook answer.
type webhookReply struct {
	Results []webhookResult `json:"results,omitempty"`
	Error   string          `json:"error,omitempty"`
}

type webhookResult struct {
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
	a := &answer{ResponseWriter: w}
	w = a
	defer func() { h.observe(name, a, time.Since(start)) }()
	log := h.logger().With("provider", name, "request_id", id)
	p, ok := h.Providers[name]
	if !ok {
		writeReply(w, http.StatusNotFound, webhookReply{Error: "unknown provider"})
		return
	}
	if ct := r.Header.Get("Content-Type"); !jsonContentType(ct) {
		log.Warn("webhook refused: not JSON", "content_type", redact.Truncate(ct, 100))
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
			log.Warn("webhook body too large", "limit", limit)
			writeReply(w, http.StatusRequestEntityTooLarge, webhookReply{Error: "body too large"})
			return
		}
		writeReply(w, http.StatusBadRequest, webhookReply{Error: "could not read body"})
		return
	}
	if err := p.Authenticate(r.Header, body, h.now()); err != nil {
		// The error text never carries secrets; the body is not kept: it
		// is not trusted.
		log.Warn("webhook rejected: not authenticated", "err", err, "remote", r.RemoteAddr)
		writeReply(w, http.StatusUnauthorized, webhookReply{Error: "not authenticated"})
		return
	}
	sum := sha256.Sum256(body)
	d := engine.Delivery{
		Provider:     name,
		BodySHA256:   hex.EncodeToString(sum[:]),
		RedactedBody: redact.Body(body),
	}
	d.Events, err = p.Parse(body)
	if err != nil {
		d.Events, d.Malformed = nil, redact.Text(err.Error())
	}
	outcomes, err := h.Engine.Submit(r.Context(), d)
	var unprocessable *engine.UnprocessableError
	switch {
	case errors.As(err, &unprocessable):
		// A retry fails the same way: say what is wrong, and what was
		// recorded of it, rather than "retry".
		log.Error("webhook cannot be processed", "err", err, "stack", string(unprocessable.Stack()), "latency", time.Since(start))
		a.outcomes = unprocessable.Recorded
		writeReply(w, http.StatusInternalServerError, webhookReply{Results: results(unprocessable.Recorded), Error: unprocessable.Error()})
		return
	case errors.Is(err, storage.ErrCorrupt):
		// Not "retry": the provider will, but only an operator can help.
		log.Error("webhook not committed: database corrupted; an operator must repair or restore it", "err", err, "latency", time.Since(start))
		writeReply(w, http.StatusInternalServerError, webhookReply{Error: "storage corrupted"})
		return
	case err != nil:
		// Nothing of the delivery was committed. A retry helps only when
		// the store was unavailable, the server is stopping, or the caller
		// left; anything else is a fault of the server's, not a reason to
		// have the provider retry in a loop.
		log.Error("webhook not committed", "err", err, "latency", time.Since(start))
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
		log.Info("webhook", "kind", o.Key.Kind, "aggregate", o.Key.ID, "event", o.Event,
			"verdict", o.Verdict, "reason", o.Reason, "seq", o.Seq, "resolved", len(o.Resolved),
			"status", status, "latency", time.Since(start))
	}
	writeReply(w, status, rep)
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

func (h *Webhooks) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}
