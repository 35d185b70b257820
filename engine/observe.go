package engine

import (
	"context"
	"time"

	"github.com/paystate/paystate/reqid"
)

// Observer is told what the engine does, for metrics. Its methods are
// called from the committer goroutine and must return quickly.
type Observer interface {
	// Committed reports one batch transaction.
	Committed(b Batch)
	// Expired reports deferred events rejected because their window
	// passed, once they are committed.
	Expired(n int)
}

// Batch is one batch transaction as an Observer sees it.
type Batch struct {
	// Size is how many submissions (deliveries and sweeps) it held.
	Size int
	// Took is the whole transaction: deciding, writing and committing.
	Took time.Duration
	// Committing is the part of Took after the engine's last statement:
	// the store making the batch durable (SQLite: the batch's journal,
	// receipt and aggregate rows, which it writes together at the end, then
	// the WAL, its flush and any automatic checkpoint; PostgreSQL: the
	// pipelined writes and COMMIT). With Took it tells a writer waiting on the disk from
	// one busy deciding and writing. Zero when the batch failed before it.
	Committing time.Duration
	// CPU is the writer thread's own CPU time for the transaction, user
	// and system (deciding, the statements, the store's commit; not the
	// disk's flush, which the thread waits for), from the thread's CPU
	// clock. Zero where that clock cannot be read (outside Linux).
	CPU time.Duration
	// Err is nil when the batch is durable.
	Err error
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
func (e *Engine) observe(batch []*request, results [][]Outcome, took, committing, cpu time.Duration, err error) {
	o := e.cfg.Observer
	if o == nil {
		return
	}
	o.Committed(Batch{Size: len(batch), Took: took, Committing: committing, CPU: cpu, Err: err})
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
