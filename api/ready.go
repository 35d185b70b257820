package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/paystate/paystate/storage"
)

// readyBudget is how long /readyz waits for its checks before it says
// not ready: load balancers' probes give up after a second or two, and a
// probe that hangs tells them nothing.
const readyBudget = 800 * time.Millisecond

// notReady is why /readyz says 503: a reason for the body (no error text
// of the store's, which may name hosts) and the error for the log.
type notReady struct {
	reason string
	err    error
}

func (n *notReady) Error() string { return n.reason + ": " + n.err.Error() }
func (n *notReady) Unwrap() error { return n.err }

var errDraining = &notReady{reason: "draining", err: errors.New("the server is shutting down")}

// readiness answers /readyz. At most one check runs at a time, however
// often the load balancers ask, so that a store that stops answering
// cannot pile up goroutines waiting on it; a caller that finds one
// running waits for it, and no caller waits longer than readyBudget.
type readiness struct {
	store storage.Reader
	// commits, if set, says whether the engine can commit (engine.Ready).
	commits  func(context.Context) error
	draining <-chan struct{}
	log      *slog.Logger

	mu       sync.Mutex
	inflight chan struct{} // closed when the running check ends
	result   error
	was      error // the last answer, for logging changes only
}

func (r *readiness) check(ctx context.Context) error {
	select {
	case <-r.draining:
		return errDraining
	default:
	}
	r.mu.Lock()
	done := r.inflight
	if done == nil {
		done = make(chan struct{})
		r.inflight = done
		go r.run(done)
	}
	r.mu.Unlock()
	t := time.NewTimer(readyBudget)
	defer t.Stop()
	select {
	case <-done:
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.result
	case <-t.C:
		return &notReady{reason: "the store does not answer", err: errors.New("no answer within " + readyBudget.String())}
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *readiness) run(done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), readyBudget)
	defer cancel()
	err := r.probe(ctx)
	r.mu.Lock()
	r.result, r.inflight = err, nil
	changed := (err == nil) != (r.was == nil)
	r.was = err
	r.mu.Unlock()
	close(done)
	switch {
	case changed && err != nil:
		r.log.Warn("not ready", "err", err)
	case changed:
		r.log.Info("ready again")
	}
}

func (r *readiness) probe(ctx context.Context) error {
	reason := func(why string, err error) error {
		if errors.Is(err, storage.ErrCorrupt) {
			why = "the database is corrupted"
		}
		return &notReady{reason: why, err: err}
	}
	if _, err := r.store.Head(ctx); err != nil {
		return reason("the store does not answer", err)
	}
	if r.commits != nil {
		if err := r.commits(ctx); err != nil {
			return reason("the last commits failed", err)
		}
	}
	return nil
}

// ServeHTTP is GET /readyz: 200 "ready", or 503 with the reason.
func (r *readiness) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	err := r.check(req.Context())
	if err == nil {
		w.Write([]byte("ready\n"))
		return
	}
	why := "not ready"
	var n *notReady
	if errors.As(err, &n) {
		why += ": " + n.reason
	}
	http.Error(w, why, http.StatusServiceUnavailable)
}
