// Package enginetest runs a provider end to end without HTTP: its real
// Authenticate-free Parse, the engine and a temporary SQLite store, so that
// each provider's tests can state sequences of documented payloads and the
// verdicts they must get.
package enginetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/engine"
	"github.com/paystate/paystate/providers"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/sqlite"
)

// Harness is a running engine for one provider.
type Harness struct {
	t        *testing.T
	Provider providers.Provider
	Store    storage.Store
	Engine   *engine.Engine
	Machines *sm.Registry
	path     string
	stop     func()
}

// New starts an engine over a fresh store for p.
func New(t *testing.T, p providers.Provider) *Harness {
	t.Helper()
	reg, err := sm.NewRegistry(p.Tables()...)
	require.NoError(t, err)
	h := &Harness{t: t, Provider: p, Machines: reg, path: filepath.Join(t.TempDir(), "paystate.db")}
	h.start()
	t.Cleanup(h.Close)
	return h
}

func (h *Harness) start() {
	store, err := sqlite.Open(context.Background(), h.path)
	require.NoError(h.t, err)
	h.Store = store
	h.Engine = engine.New(store, h.Machines, engine.Config{SweepEvery: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.Engine.Run(ctx) }()
	h.stop = func() { cancel(); <-done; require.NoError(h.t, store.Close()) }
}

// Close stops the engine and closes the store.
func (h *Harness) Close() {
	if h.stop != nil {
		h.stop()
		h.stop = nil
	}
}

// Restart closes and reopens the store and the engine on the same file.
func (h *Harness) Restart() {
	h.Close()
	h.start()
}

// Deliver parses body with the provider and submits it; parse errors fail
// the test.
func (h *Harness) Deliver(body []byte) []engine.Outcome {
	h.t.Helper()
	events, err := h.Provider.Parse(body)
	require.NoError(h.t, err)
	sum := sha256.Sum256(body)
	out, err := h.Engine.Submit(h.t.Context(), engine.Delivery{
		Provider: h.Provider.Name(), BodySHA256: hex.EncodeToString(sum[:]), RedactedBody: body, Events: events,
	})
	require.NoError(h.t, err)
	return out
}

// Post is Deliver as the webhook handler does it: a body the provider
// finds malformed is recorded as such (the handler then answers 400)
// instead of failing the test.
func (h *Harness) Post(body []byte) []engine.Outcome {
	h.t.Helper()
	sum := sha256.Sum256(body)
	d := engine.Delivery{Provider: h.Provider.Name(), BodySHA256: hex.EncodeToString(sum[:]), RedactedBody: body}
	events, err := h.Provider.Parse(body)
	switch {
	case errors.Is(err, providers.ErrMalformed):
		d.Malformed = err.Error()
	case err != nil:
		h.t.Fatalf("parse: %v", err)
	default:
		d.Events = events
	}
	out, err := h.Engine.Submit(h.t.Context(), d)
	require.NoError(h.t, err)
	return out
}

// DeliverOne delivers body and returns the single outcome it must produce.
func (h *Harness) DeliverOne(body []byte) engine.Outcome {
	h.t.Helper()
	out := h.Deliver(body)
	require.Len(h.t, out, 1)
	return out[0]
}

// Aggregate returns the stored aggregate, failing the test if absent.
func (h *Harness) Aggregate(kind sm.Kind, id string) storage.Aggregate {
	h.t.Helper()
	a, err := h.Store.Aggregate(h.t.Context(), storage.AggregateKey{Provider: h.Provider.Name(), Kind: string(kind), ID: id})
	require.NoError(h.t, err)
	return a
}

// Verify checks that the hash chain verifies and that every table
// derived from the journal (receipts, held events, aggregates) agrees
// with it (engine.Audit).
func (h *Harness) Verify() {
	h.t.Helper()
	require.NoError(h.t, h.Check())
}

// Check is Verify returning the problem instead of failing the test.
func (h *Harness) Check() error {
	rep, err := engine.Audit(context.Background(), h.Store, h.Machines, engine.AuditConfig{})
	if err != nil {
		return err
	}
	if !rep.Chain.OK {
		return fmt.Errorf("chain does not verify: %s", rep.Chain.Problem)
	}
	if len(rep.Problems) > 0 {
		return fmt.Errorf("stored tables differ from the journal: %v", rep.Problems)
	}
	return nil
}
