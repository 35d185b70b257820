package engine

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/providers"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/sqlite"
)

func replayTable(captureTo sm.State) sm.Table {
	return sm.Table{
		Provider: "acme",
		Kind:     sm.KindPayment,
		Transitions: []sm.Transition{
			{Event: "AUTH", From: []sm.State{sm.StateNew}, To: sm.Authorized, Effect: sm.Authorize},
			{Event: "CAPTURE", From: []sm.State{sm.Authorized}, To: captureTo, Effect: sm.Capture},
			{Event: "REFUND", From: []sm.State{sm.Captured, sm.PartiallyRefunded}, To: sm.PartiallyRefunded, Effect: sm.Refund},
			{Event: "VOID", From: []sm.State{sm.Authorized}, To: sm.Voided},
		},
		RecordOnly: []string{"NOTE"},
	}
}

// replayJournal writes a journal of many aggregates through the engine:
// applied, duplicate, rejected, record-only and deferred-then-resolved
// entries, interleaved across aggregates.
func replayJournal(t *testing.T) (storage.Store, *sm.Registry) {
	t.Helper()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "replay.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	reg, err := sm.NewRegistry(replayTable(sm.Captured))
	require.NoError(t, err)
	eng := New(store, reg, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); eng.Run(ctx) }()
	defer func() { cancel(); <-done }()

	const orders = 60
	send := func(i int, name string, amount int64) {
		id := fmt.Sprintf("o%d", i)
		ev := providers.Event{Provider: "acme", Kind: sm.KindPayment, AggregateID: id, Name: name, DedupeKey: id + "/" + name,
			Amount: amount, HasAmount: amount > 0, Currency: "EUR", MerchantReference: "ref-" + id,
			OccurredAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
		_, err := eng.Submit(t.Context(), Delivery{Provider: "acme", BodySHA256: ev.DedupeKey, Events: []providers.Event{ev}})
		require.NoError(t, err)
	}
	for i := range orders {
		if i%7 == 0 {
			send(i, "CAPTURE", 0) // early: deferred, resolved by the AUTH
		}
		send(i, "AUTH", 1000)
	}
	for i := range orders {
		send(i, "NOTE", 0)
		switch {
		case i%5 == 0:
			send(i, "VOID", 0)
		case i%7 != 0:
			send(i, "CAPTURE", 600)
			send(i, "CAPTURE", 600) // duplicate
		}
		send(i, "REFUND", 100) // rejected after a void
	}
	return store, reg
}

// shapes spread a replay of the small test journal over several workers
// and readers, with pages small enough that each reader reads many.
var shapes = []replayShape{{2, 2, 7}, {3, 2, 1000}, {8, 3, 1}, {2, 1, 50}}

func TestReplayPartitionedMatchesOneWorker(t *testing.T) {
	t.Parallel()
	store, reg := replayJournal(t)
	ctx := t.Context()

	aggs, bad, err := replay(ctx, store, reg, replayShape{1, 1, 1000})
	require.NoError(t, err)
	require.Empty(t, bad)
	require.Equal(t, 60, aggs.Len())
	for _, shape := range shapes {
		got, gotBad, err := replay(ctx, store, reg, shape)
		require.NoError(t, err)
		require.Empty(t, gotBad)
		require.Equal(t, asMap(aggs), asMap(got), "%+v", shape)
		require.Equal(t, aggs.Len(), got.Len())
		for k, v := range aggs.All() {
			w, ok := got.Get(k)
			require.True(t, ok, "%v in a replay of %d workers", k, shape.workers)
			require.Equal(t, v, w)
		}
		_, ok := got.Get(storage.AggregateKey{Provider: "acme", Kind: "payment", ID: "absent"})
		require.False(t, ok)
	}
	for _, size := range []int{1, 7, 1000} {
		diffs, _, _, err := compareAll(ctx, store, aggs, size, false)
		require.NoError(t, err)
		require.Empty(t, diffs, "pages of %d", size)
	}
	changeStored(t, store, "o7", "o31", "o12")
	for _, size := range []int{1, 7, 1000} {
		diffs, _, _, err := compareAll(ctx, store, aggs, size, false)
		require.NoError(t, err)
		require.Equal(t, []string{"o12", "o31", "o7"}, idsOf(diffs), "ordered by key, pages of %d", size)
		for _, d := range diffs {
			require.Contains(t, d.Detail, "stored {")
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, _, _, err = compareAll(cancelled, store, aggs, 7, false)
	require.ErrorIs(t, err, context.Canceled, "a cancelled compare is an error, not a list of missing aggregates")

	// Machines that now send CAPTURE elsewhere disagree with the journal
	// at every capture. An older version decided those: the journal's
	// verdicts stand, and every shape lists them, in journal order, and
	// rebuilds what the journal says.
	changed, err := sm.NewRegistry(replayTable(sm.PartiallyCaptured))
	require.NoError(t, err)
	one, bad, err := replay(ctx, store, changed, replayShape{1, 1, 1000})
	require.NoError(t, err)
	require.Empty(t, bad)
	want := one.Honoured()
	require.NotEmpty(t, want)
	require.IsIncreasing(t, seqsOf(want))
	require.Equal(t, asMap(aggs), asMap(one))
	for _, shape := range shapes {
		got, bad, err := replay(ctx, store, changed, shape)
		require.NoError(t, err)
		require.Empty(t, bad)
		require.Equal(t, want, got.Honoured(), "%+v", shape)
		require.Equal(t, asMap(one), asMap(got), "%+v", shape)
	}

	// The same disagreement in an entry the current version decided is
	// a mismatch: that version cannot have decided otherwise.
	_, err = appendAppliedAs(ctx, store, storage.AggregateKey{Provider: "acme", Kind: "payment", ID: "o1"},
		changed.Machine("acme", sm.KindPayment).Version(), authPayload())
	require.NoError(t, err)
	for _, shape := range shapes {
		_, bad, err := replay(ctx, store, changed, shape)
		require.NoError(t, err)
		require.Len(t, bad, 1, "%+v", shape)
		require.Equal(t, "o1", bad[0].Key.ID)
	}
}

// appendingReader appends an entry for a new aggregate on its first
// journal read, as live traffic would during a replay.
type appendingReader struct {
	storage.Store
	id   string
	once sync.Once
}

func (r *appendingReader) ReplayJournal(ctx context.Context, key *storage.AggregateKey, after int64, limit int) ([]storage.JournalEntry, error) {
	var err error
	r.once.Do(func() {
		_, err = appendApplied(ctx, r.Store, storage.AggregateKey{Provider: "acme", Kind: "payment", ID: r.id}, authPayload())
	})
	if err != nil {
		return nil, err
	}
	return r.Store.ReplayJournal(ctx, key, after, limit)
}

func TestReplayReadsEntriesAppendedWhileItRuns(t *testing.T) {
	t.Parallel()
	store, reg := replayJournal(t)
	for i, shape := range shapes {
		late := fmt.Sprintf("late-%d", i)
		aggs, bad, err := replay(t.Context(), &appendingReader{Store: store, id: late}, reg, shape)
		require.NoError(t, err)
		require.Empty(t, bad)
		_, ok := aggs.Get(storage.AggregateKey{Provider: "acme", Kind: "payment", ID: late})
		require.True(t, ok)
		head, err := store.Head(t.Context())
		require.NoError(t, err)
		require.Equal(t, 61+i, aggs.Len())
		all, _, err := replay(t.Context(), store, reg, replayShape{1, 1, 1000})
		require.NoError(t, err)
		require.Equal(t, asMap(all), asMap(aggs), "%+v, head %d", shape, head.Seq)
	}
}

func authPayload() []byte {
	return newPayload(providers.Event{Name: "AUTH", Amount: 5, HasAmount: true, Currency: "EUR"}).encode()
}

// appendApplied appends applied AUTH entries for key, one per payload,
// without storing the aggregate, and returns their sequences.
func appendApplied(ctx context.Context, store storage.Store, key storage.AggregateKey, payloads ...[]byte) ([]int64, error) {
	return appendAppliedAs(ctx, store, key, "", payloads...)
}

// appendAppliedAs is appendApplied with the entries decided by the
// machine version version.
func appendAppliedAs(ctx context.Context, store storage.Store, key storage.AggregateKey, version string, payloads ...[]byte) ([]int64, error) {
	var seqs []int64
	err := store.Update(ctx, func(tx storage.Tx) error {
		seqs = seqs[:0]
		for _, p := range payloads {
			e := &storage.JournalEntry{Key: key, Event: "AUTH", Verdict: string(sm.VerdictApplied), StateBefore: "new",
				StateAfter: "authorized", VersionAfter: 1, DedupeKey: fmt.Sprintf("direct-%d", time.Now().UnixNano()), BodySHA256: "x",
				Payload: p, ReceivedAt: time.Unix(1, 0), Actor: ActorEngine, MachineVersion: version}
			if err := tx.Append(ctx, e); err != nil {
				return err
			}
			seqs = append(seqs, e.Seq)
		}
		return nil
	})
	return seqs, err
}

// changeStored moves the stored version of each payment on by one,
// behind the journal's back.
func changeStored(t *testing.T, store storage.Store, ids ...string) {
	t.Helper()
	require.NoError(t, store.Update(t.Context(), func(tx storage.Tx) error {
		for _, id := range ids {
			a, err := tx.LockAggregate(t.Context(), storage.AggregateKey{Provider: "acme", Kind: "payment", ID: id})
			if err != nil {
				return err
			}
			a.Version++
			if err := tx.PutAggregate(t.Context(), a); err != nil {
				return err
			}
		}
		return nil
	}))
}

func idsOf(ms []Mismatch) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Key.ID)
	}
	return out
}

func seqsOf(ms []Mismatch) []int64 {
	var out []int64
	for _, m := range ms {
		out = append(out, m.Seq)
	}
	return out
}

// TestReplayReportsUnreadablePayloadAndCompareMissing: an applied entry
// whose payload no longer decodes is a mismatch, and an aggregate the
// replay builds but the store does not hold is reported by Compare.
func TestReplayReportsUnreadablePayloadAndCompareMissing(t *testing.T) {
	t.Parallel()
	store, reg := replayJournal(t)
	ctx := t.Context()
	key := storage.AggregateKey{Provider: "acme", Kind: "payment", ID: "never-stored"}
	seqs, err := appendApplied(ctx, store, key, authPayload(), []byte(`{"name":`))
	require.NoError(t, err)
	aggs, bad, err := Replay(ctx, store, reg)
	require.NoError(t, err)
	require.Len(t, bad, 1)
	require.Equal(t, seqs[1], bad[0].Seq)
	require.Contains(t, bad[0].Detail, "payload unreadable")

	changeStored(t, store, "o2", "o10")
	diffs, _, _, err := compareAll(ctx, store, aggs, 7, false)
	require.NoError(t, err)
	require.Equal(t, []string{"never-stored", "o10", "o2"}, idsOf(diffs), "ordered by key")
	require.Contains(t, diffs[0].Detail, "stored aggregate:")
	require.Contains(t, diffs[0].Detail, storage.ErrNotFound.Error())

	all, err := Verify(ctx, store, reg)
	require.NoError(t, err)
	require.Equal(t, append(bad, diffs...), all)
}

// cancellingReader cancels the replay's context once it has read a page.
type cancellingReader struct {
	storage.Store
	cancel context.CancelFunc
}

func (r *cancellingReader) ReplayJournal(ctx context.Context, key *storage.AggregateKey, after int64, limit int) ([]storage.JournalEntry, error) {
	defer r.cancel()
	return r.Store.ReplayJournal(ctx, key, after, limit)
}

func TestReplayStopsWhenCancelled(t *testing.T) {
	t.Parallel()
	store, reg := replayJournal(t)
	for _, shape := range shapes {
		ctx, cancel := context.WithCancel(t.Context())
		_, _, err := replay(ctx, &cancellingReader{Store: store, cancel: cancel}, reg, shape)
		require.ErrorIs(t, err, context.Canceled, "%+v", shape)
	}
}

func TestStateAt(t *testing.T) {
	t.Parallel()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "state-at.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	reg, err := sm.NewRegistry(replayTable(sm.Captured))
	require.NoError(t, err)
	t0 := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	now := t0
	eng := New(store, reg, Config{Now: func() time.Time { return now }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); eng.Run(ctx) }()
	defer func() { cancel(); <-done }()
	key := storage.AggregateKey{Provider: "acme", Kind: "payment", ID: "p"}
	for i, name := range []string{"AUTH", "NOTE", "CAPTURE"} {
		now = t0.Add(time.Duration(i) * time.Minute) // Submit returns after the commit: no race
		ev := providers.Event{Provider: "acme", Kind: sm.KindPayment, AggregateID: "p", Name: name, DedupeKey: name,
			Amount: 700, HasAmount: true, Currency: "EUR"}
		_, err := eng.Submit(t.Context(), Delivery{Provider: "acme", BodySHA256: name, Events: []providers.Event{ev}})
		require.NoError(t, err)
	}

	_, ok, err := StateAt(t.Context(), store, reg, key, t0.Add(-time.Second))
	require.NoError(t, err)
	require.False(t, ok, "nothing applied yet")
	agg, ok, err := StateAt(t.Context(), store, reg, key, t0.Add(90*time.Second))
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, string(sm.Authorized), agg.State)
	require.Equal(t, int64(1), agg.Version)
	agg, ok, err = StateAt(t.Context(), store, reg, key, t0.Add(time.Hour))
	require.NoError(t, err)
	require.True(t, ok)
	stored, err := store.Aggregate(t.Context(), key)
	require.NoError(t, err)
	require.Empty(t, diff(stored, agg))
	require.Equal(t, string(sm.Captured), agg.State)
}

// asMap is every aggregate of a in one map, for comparing replays.
func asMap(a *Aggregates) map[storage.AggregateKey]storage.Aggregate {
	return maps.Collect(a.All())
}
