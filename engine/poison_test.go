package engine_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/engine"
	"github.com/paystate/paystate/providers"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/faulty"
)

var errRefused = errors.New("value refused by the database")

// TestOneBadDeliveryFailsAlone puts a delivery the store refuses, and one
// whose write panics, in one batch with eight good ones (MaxBatch is the
// batch's size and MaxDelay long: the batch forms by itself, no clock
// decides). The good ones are committed; each bad one alone is answered
// with an UnprocessableError that says what is wrong and is recorded as
// rejected; the committer survives the panic and takes more work.
func TestOneBadDeliveryFailsAlone(t *testing.T) {
	t.Parallel()
	b := setup(t)
	store := faulty.New(b.store, faulty.Config{Refuse: func(e *storage.JournalEntry) error {
		switch e.DedupeKey {
		case "refused":
			return errRefused
		case "boom":
			panic("boom while writing")
		}
		return nil
	}})
	const good = 8
	obs := &recordingObserver{}
	eng := engine.New(store, b.reg, engine.Config{MaxBatch: good + 2, MaxDelay: time.Hour, SweepEvery: time.Hour, Observer: obs})
	run(t, eng)

	submit := func(id, key string) ([]engine.Outcome, error) {
		return eng.Submit(t.Context(), engine.Delivery{Provider: "acme", BodySHA256: "body-" + key, RedactedBody: []byte("{}"),
			Events: []providers.Event{{Provider: "acme", Kind: sm.KindPayment, AggregateID: id, Name: "AUTH", DedupeKey: key}}})
	}
	type answer struct {
		out []engine.Outcome
		err error
	}
	// batch submits keys at once: they make one batch.
	batch := func(keys []string) map[string]answer {
		answers := map[string]answer{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, k := range keys {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := submit("o-"+k, k)
				mu.Lock()
				answers[k] = answer{out, err}
				mu.Unlock()
			}()
		}
		wg.Wait()
		return answers
	}
	keys := []string{"refused", "boom"}
	for i := range good {
		keys = append(keys, fmt.Sprintf("good-%d", i))
	}
	answers := batch(keys)

	sizes, _, _ := obs.snapshot()
	require.Equal(t, good+2, sizes[0], "all ten made one batch")
	require.Equal(t, 1, sizes[1], "then each went alone")
	require.Error(t, obs.seen[0].Err, "the batch failed")
	require.NotZero(t, store.Counts().Refused)
	for _, k := range keys[2:] {
		require.NoError(t, answers[k].err, k)
		require.Equal(t, sm.VerdictApplied, answers[k].out[0].Verdict, k)
		require.Equal(t, "authorized", b.state(t, "o-"+k).State)
	}
	for k, cause := range map[string]string{"refused": errRefused.Error(), "boom": "panic: boom while writing"} {
		var ue *engine.UnprocessableError
		require.ErrorAs(t, answers[k].err, &ue, k)
		require.False(t, errors.Is(ue, storage.ErrUnavailable), "%s: a retry would fail the same way", k)
		require.Contains(t, ue.Error(), cause)
		require.Equal(t, k == "boom", ue.Stack() != nil, "%s: the stack of a panic, for the log", k)
		require.Len(t, ue.Recorded, 1, "%s is recorded", k)
		require.Equal(t, sm.VerdictRejected, ue.Recorded[0].Verdict)
		require.Contains(t, ue.Recorded[0].Reason, "malformed: not processed: "+cause)
		es, err := b.store.Journal(t.Context(), nil, ue.Recorded[0].Seq-1, 1)
		require.NoError(t, err)
		require.Equal(t, "body-"+k, es[0].BodySHA256, "the record keeps what the provider sent")
		_, err = b.store.Aggregate(t.Context(), storage.AggregateKey{Provider: "acme", Kind: "payment", ID: "o-" + k})
		require.ErrorIs(t, err, storage.ErrNotFound, "nothing of %s was applied", k)
	}

	// The committer is still there.
	var after []string
	for i := range good + 2 {
		after = append(after, fmt.Sprintf("after-%d", i))
	}
	for k, a := range batch(after) {
		require.NoError(t, a.err, k)
		require.Equal(t, sm.VerdictApplied, a.out[0].Verdict, k)
	}
	b.verify(t)
}
