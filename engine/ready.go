package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/paystate/paystate/storage"
)

// probeEvery is how often Ready may write to the store to learn whether
// it can commit again.
const probeEvery = time.Second

// health is what the last transactions said about the store.
type health struct {
	mu sync.Mutex
	// failed is the last transaction's failure, nil once one commits.
	failed error
	// failures counts failures, so that a probe that began before one
	// cannot clear it.
	failures uint64
	// probed is when the last probe began; probeErr what Ready says
	// until the next.
	probed   time.Time
	probeErr error
	// corrupt is the first failure that found the database damaged.
	// Nothing clears it: a commit that passes (a probe, another
	// delivery) proves only that its own pages are sound, and no retry
	// repairs the others; an operator repairs or restores, then restarts.
	corrupt error
}

// storeFault reports whether err is the store failing, rather than one
// delivery (a statement refused for its own data).
func storeFault(err error) bool {
	return errors.Is(err, storage.ErrUnavailable) || errors.Is(err, storage.ErrCorrupt)
}

// record notes a transaction's result and returns err.
func (h *health) record(err error) error {
	if err != nil && !storeFault(err) {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil {
		h.failed = nil
		return nil
	}
	if h.corrupt == nil && errors.Is(err, storage.ErrCorrupt) {
		h.corrupt = fmt.Errorf("a commit found the database corrupted (not ready until a restart): %w", err)
	}
	h.failed = fmt.Errorf("the last commit failed: %w", err)
	h.probeErr = h.failed
	h.failures++
	return err
}

// Ready reports whether the engine can commit. After a transaction
// failed it says no — however the store answers reads — until one
// commits again: a node whose webhooks all get 503 (a full disk, a lost
// database) must leave the load balancer's pool. So that it can come
// back with no webhook to try, Ready itself then commits a transaction
// that writes and changes nothing (storage.Tx.Touch), at most once per
// second; between probes it repeats the last answer. A commit that found
// the database corrupted makes it say no until the process restarts.
func (e *Engine) Ready(ctx context.Context) error {
	h := &e.health
	h.mu.Lock()
	if h.corrupt != nil {
		err := h.corrupt
		h.mu.Unlock()
		return err
	}
	if h.failed == nil {
		h.mu.Unlock()
		return nil
	}
	if time.Since(h.probed) < probeEvery {
		err := h.probeErr
		h.mu.Unlock()
		return err
	}
	h.probed = time.Now()
	before := h.failures
	h.mu.Unlock()

	ctx, late, cancel := storage.Bound(ctx, e.cfg.CommitTimeout)
	defer cancel()
	err := late(e.store.Update(ctx, func(tx storage.Tx) error { return tx.Touch(ctx) }))
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case err != nil:
		h.probeErr = fmt.Errorf("the last commit failed, and so did a probe: %w", err)
	case h.failures == before:
		h.failed, h.probeErr = nil, nil
	}
	return h.probeErr
}
