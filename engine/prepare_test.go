package engine_test

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/engine"
	"github.com/paystate/paystate/providers"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
)

// encodingSpy is a store that hides its Encoder, as a cache wrapping it
// does, and records what its transactions append; its encoder counts the
// encodings made while a transaction runs, on the writer.
type encodingSpy struct {
	storage.Store
	enc      storage.Encoder
	inUpdate atomic.Bool
	onWriter atomic.Int64
	mu       sync.Mutex
	appended []storage.JournalEntry
}

func (s *encodingSpy) EncodeBody(b []byte) *storage.Encoded {
	s.count()
	return s.enc.EncodeBody(b)
}

func (s *encodingSpy) EncodePayload(p []byte) *storage.Encoded {
	s.count()
	return s.enc.EncodePayload(p)
}

func (s *encodingSpy) count() {
	if s.inUpdate.Load() {
		s.onWriter.Add(1)
	}
}

func (s *encodingSpy) Update(ctx context.Context, fn func(storage.Tx) error) error {
	s.inUpdate.Store(true)
	defer s.inUpdate.Store(false)
	return s.Store.Update(ctx, func(tx storage.Tx) error { return fn(appendSpy{tx, s}) })
}

// hidden is a store with only the methods of storage.Store.
type hidden struct{ storage.Store }

type appendSpy struct {
	storage.Tx
	s *encodingSpy
}

func (a appendSpy) Append(ctx context.Context, e *storage.JournalEntry) error {
	a.s.mu.Lock()
	a.s.appended = append(a.s.appended, *e)
	a.s.mu.Unlock()
	return a.Tx.Append(ctx, e)
}

// TestSubmitEncodesOffTheWriter: a delivery's body and payload reach
// Append already encoded by the store's Encoder, made by Submit before
// the batch (none on the writer), each exactly the value of its entry; a
// held event released later is encoded by the store, from the held row.
// The chain and every derived table verify.
func TestSubmitEncodesOffTheWriter(t *testing.T) {
	t.Parallel()
	b := setup(t)
	enc, ok := b.store.(storage.Encoder)
	require.True(t, ok, "the SQLite store has an Encoder")
	spy := &encodingSpy{Store: b.store, enc: enc}
	// As serve hands the engine a store wrapped in a cache, and the
	// store's encoder beside it.
	eng := engine.New(hidden{spy}, b.reg, engine.Config{Encoder: spy})
	run(t, eng)
	send := func(name string) engine.Outcome {
		out, err := eng.Submit(t.Context(), engine.Delivery{Provider: "acme", BodySHA256: name, RedactedBody: []byte("body " + name),
			Events: []providers.Event{{Provider: "acme", Kind: sm.KindPayment, AggregateID: "o1", Name: name, DedupeKey: name,
				Amount: 10, HasAmount: true, Currency: "EUR"}}})
		require.NoError(t, err)
		require.Len(t, out, 1)
		return out[0]
	}
	held := send("CAPTURE")
	require.Equal(t, sm.VerdictDeferred, held.Verdict)
	auth := send("AUTH")
	require.Equal(t, sm.VerdictApplied, auth.Verdict)
	require.Len(t, auth.Resolved, 1)
	require.Zero(t, spy.onWriter.Load(), "encodings made on the writer")

	spy.mu.Lock()
	defer spy.mu.Unlock()
	require.Len(t, spy.appended, 3)
	for _, e := range spy.appended {
		if e.Actor == engine.ActorEngine { // the released capture: from the held row
			require.Nil(t, e.EncodedBody)
			require.Nil(t, e.EncodedPayload)
			continue
		}
		require.NotNil(t, e.EncodedBody, "entry %s", e.Event)
		require.NotNil(t, e.EncodedPayload, "entry %s", e.Event)
		require.True(t, bytes.Equal(e.RedactedBody, e.EncodedBody.Of), "entry %s", e.Event)
		require.True(t, bytes.Equal(e.Payload, e.EncodedPayload.Of), "entry %s", e.Event)
		require.NotEmpty(t, e.Payload)
	}
	b.verify(t)
}
