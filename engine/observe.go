package engine

import (
	"context"
	"time"

	"github.com/paystate/paystate/reqid"
)

// Observer is told what the engine does, for metrics. Its methods are
// called from the committer goroutine and must return quickly.
type Observer interface {
	// Committed reports one batch transaction: how many submissions (and
	// sweeps) it held, how long the transaction took, and its error (nil
	// when the batch is durable).
	Committed(size int, took time.Duration, err error)
	// Expired reports deferred events rejected because their window
	// passed, once they are committed.
	Expired(n int)
}

// requestID is the request id a delivery is submitted under: its own, or
// the one its context carries.
func requestID(ctx context.Context, d Delivery) string {
	if d.RequestID != "" {
		return d.RequestID
	}
	return reqid.From(ctx)
}

// stamp sets the request id on outcomes and on the deferred events they
// resolved.
func stamp(outcomes []Outcome, id string) {
	for i := range outcomes {
		outcomes[i].RequestID = id
		stamp(outcomes[i].Resolved, id)
	}
}

// observe reports a committed (or failed) batch to the observer.
func (e *Engine) observe(batch []*request, results [][]Outcome, took time.Duration, err error) {
	o := e.cfg.Observer
	if o == nil {
		return
	}
	o.Committed(len(batch), took, err)
	if err != nil {
		return
	}
	expired := 0
	for i, r := range batch {
		if !r.sweep.IsZero() {
			expired += len(results[i])
		}
	}
	if expired > 0 {
		o.Expired(expired)
	}
}
