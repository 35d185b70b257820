package engine

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/providers"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
)

// honourTable has a void that ends the payment: since Rules 12 one of
// part of the capture is rejected (amount), while the rules before took
// its amount off and voided the payment.
func honourTable() sm.Table {
	return sm.Table{
		Provider: "acme", Kind: sm.KindPayment,
		Transitions: []sm.Transition{
			{Event: "AUTH", From: []sm.State{sm.StateNew}, To: sm.Authorized, Effect: sm.Authorize},
			{Event: "CAPTURE", From: []sm.State{sm.Authorized}, To: sm.Captured, Effect: sm.Capture},
			{Event: "REVERSED", From: []sm.State{sm.Captured}, To: sm.Voided, Effect: sm.VoidCapture},
			{Event: "CLOSE", From: []sm.State{sm.Voided}, To: sm.Closed},
		},
	}
}

// olderRelease is a store on b as a release with older rules left it: o1 and
// o2 authorized and captured for 1000 by the engine, then each reversed
// for 400 by an applied entry those rules decided (voided, 600 still
// captured) and the row they wrote, fabricated through the storage layer
// since today's rules cannot write it, recording the machine version
// versions gives the payment. Then o1 and o2 are closed through the
// engine. It returns the registry and each reversal's sequence.
func olderRelease(t *testing.T, b auditBackend, versions map[string]string) (storage.Store, *sm.Registry, map[string]int64) {
	t.Helper()
	store, _ := b.open(t)
	reg := writeOlderRelease(t, store, versions)
	// What was committed is in the journal (PostgreSQL seals after commit,
	// numbering the entries only then).
	require.NoError(t, storage.SealAll(t.Context(), store))
	seqs := map[string]int64{}
	for id := range versions {
		key := storage.AggregateKey{Provider: "acme", Kind: string(sm.KindPayment), ID: id}
		entries, err := store.Journal(t.Context(), &key, 0, 100)
		require.NoError(t, err)
		for _, e := range entries {
			if e.Event == "REVERSED" {
				seqs[id] = e.Seq
			}
		}
		require.Positive(t, seqs[id])
	}
	return store, reg, seqs
}

// writeOlderRelease is olderRelease on store.
func writeOlderRelease(t *testing.T, store storage.Store, versions map[string]string) *sm.Registry {
	t.Helper()
	ctx := t.Context()
	reg, err := sm.NewRegistry(honourTable())
	require.NoError(t, err)
	submit := func(eng *Engine, id, name string, amount int64) {
		t.Helper()
		ev := providers.Event{Provider: "acme", Kind: sm.KindPayment, AggregateID: id, Name: name, DedupeKey: id + "/" + name,
			Amount: amount, HasAmount: amount > 0, Currency: "EUR"}
		_, err := eng.Submit(ctx, Delivery{Provider: "acme", BodySHA256: ev.DedupeKey, Events: []providers.Event{ev}})
		require.NoError(t, err)
	}
	eng, stop := runEngine(t, store, reg)
	for id := range versions {
		submit(eng, id, "AUTH", 1000)
		submit(eng, id, "CAPTURE", 1000)
	}
	stop()
	for id, version := range versions {
		appendOlderReversal(t, store, id, version)
	}
	eng, stop = runEngine(t, store, reg)
	defer stop()
	for id := range versions {
		submit(eng, id, "CLOSE", 0)
	}
	return reg
}

// appendOlderReversal appends the applied REVERSED of 400 of o's capture
// of 1000 as the older rules decided it, with its receipt and the row they
// wrote.
func appendOlderReversal(t *testing.T, store storage.Store, id, version string) {
	t.Helper()
	ctx := t.Context()
	key := storage.AggregateKey{Provider: "acme", Kind: string(sm.KindPayment), ID: id}
	at := time.Now().UTC().Truncate(time.Microsecond)
	require.NoError(t, store.Update(ctx, func(tx storage.Tx) error {
		agg, err := tx.LockAggregate(ctx, key)
		if err != nil {
			return err
		}
		agg.State, agg.ProviderStatus, agg.Captured = string(sm.Voided), "REVERSED", 600
		agg.Version++
		agg.UpdatedAt = at
		p := newPayload(providers.Event{Name: "REVERSED", Amount: 400, HasAmount: true, Currency: "EUR"})
		e := &storage.JournalEntry{Key: key, Event: "REVERSED", Verdict: string(sm.VerdictApplied),
			StateBefore: string(sm.Captured), StateAfter: string(sm.Voided), VersionAfter: agg.Version,
			DedupeKey: id + "/REVERSED", BodySHA256: id + "/REVERSED", Payload: p.encode(), ReceivedAt: at,
			Actor: ActorWebhook, MachineVersion: version}
		if err := tx.Append(ctx, e); err != nil {
			return err
		}
		if err := tx.PutReceipt(ctx, "acme", e.DedupeKey, storage.Receipt{Seq: e.Seq, BodySHA256: e.BodySHA256}); err != nil {
			return err
		}
		return tx.PutAggregate(ctx, agg)
	}))
}

// TestReplayHonoursWhatOlderRulesApplied: an applied entry an older
// machine version decided stands where today's rules reject it: the
// replay follows the journal (voided, 600 captured, as those rules left
// the row) and goes on past it, reporting it as honoured, not as a
// mismatch; Verify and the audit are clean, StateAt rebuilds the
// aggregate, and a row changed behind the journal's back is repaired to
// it.
func TestReplayHonoursWhatOlderRulesApplied(t *testing.T) {
	t.Parallel()
	for _, b := range auditBackends() {
		t.Run(b.name, func(t *testing.T) { t.Parallel(); replayHonours(t, b) })
	}
}

func replayHonours(t *testing.T, b auditBackend) {
	ctx := t.Context()
	store, reg, seqs := olderRelease(t, b, map[string]string{"o1": "0123456789ab", "o2": ""})
	current := reg.Machine("acme", sm.KindPayment).Version()

	aggs, bad, err := Replay(ctx, store, reg)
	require.NoError(t, err)
	require.Empty(t, bad)
	honoured := aggs.Honoured()
	require.Len(t, honoured, 2)
	require.Less(t, honoured[0].Seq, honoured[1].Seq, "in journal order")
	recorded := map[string]string{"o1": "0123456789ab", "o2": "not recorded"}
	for _, h := range honoured {
		require.Equal(t, seqs[h.Key.ID], h.Seq)
		require.Equal(t, "decided under older rules (machine version "+recorded[h.Key.ID]+", now "+current+"): journal says captured → voided, "+
			"today's rules say rejected (amount: voiding 400 of captured 1000: a void to voided takes every capture back); the journal's verdict stands", h.Detail)
	}
	for _, id := range []string{"o1", "o2"} {
		key := storage.AggregateKey{Provider: "acme", Kind: string(sm.KindPayment), ID: id}
		stored, err := store.Aggregate(ctx, key)
		require.NoError(t, err)
		got, ok := aggs.Get(key)
		require.True(t, ok)
		require.Empty(t, diff(stored, got), "the replay rebuilds the row the older rules wrote, and the close after it")
		require.Equal(t, string(sm.Closed), got.State)
		require.Equal(t, int64(600), got.Captured)

		at, ok, err := StateAt(ctx, store, reg, key, time.Now().Add(time.Hour))
		require.NoError(t, err)
		require.True(t, ok)
		require.Empty(t, diff(stored, at))
	}

	all, err := Verify(ctx, store, reg)
	require.NoError(t, err)
	require.Empty(t, all)
	rep := audit(t, store, reg)
	require.True(t, rep.OK(), "%v", rep.Problems)
	require.Zero(t, rep.Unreplayable)
	require.Len(t, rep.Honoured, 2)
	require.Equal(t, fmt.Sprintf("journal %d: acme/payment/%s %s", honoured[0].Seq, honoured[0].Key.ID, honoured[0].Detail), rep.Honoured[0].String())

	// A row changed behind the journal's back is rewritten to what the
	// journal, honoured, says.
	changeStored(t, store, "o1")
	rep = audit(t, store, reg)
	require.Len(t, rep.Problems, 1)
	n, err := Repair(ctx, store, rep)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.True(t, audit(t, store, reg).OK())
}

// TestReplayRedecidesWhatTheCurrentVersionApplied: the same entry stamped
// with the machine version that runs today is re-decided exactly: today's
// rules could not have applied it, so it is a mismatch, as a tampered
// entry is, and StateAt fails for its aggregate.
func TestReplayRedecidesWhatTheCurrentVersionApplied(t *testing.T) {
	t.Parallel()
	for _, b := range auditBackends() {
		t.Run(b.name, func(t *testing.T) { t.Parallel(); replayRedecides(t, b) })
	}
}

func replayRedecides(t *testing.T, b auditBackend) {
	ctx := t.Context()
	reg, err := sm.NewRegistry(honourTable())
	require.NoError(t, err)
	current := reg.Machine("acme", sm.KindPayment).Version()
	store, _, seqs := olderRelease(t, b, map[string]string{"o1": "0123456789ab", "o2": current})

	aggs, bad, err := Replay(ctx, store, reg)
	require.NoError(t, err)
	require.Len(t, aggs.Honoured(), 1)
	require.Equal(t, "o1", aggs.Honoured()[0].Key.ID)
	require.NotEmpty(t, bad)
	require.Equal(t, seqs["o2"], bad[0].Seq, "the first disagreement is the entry itself")
	require.Equal(t, "journal says captured → voided, machine now says rejected (amount: voiding 400 of captured 1000: a void to voided takes every capture back)", bad[0].Detail)

	all, err := Verify(ctx, store, reg)
	require.NoError(t, err)
	require.NotEmpty(t, all)
	require.Equal(t, bad[0], all[0])
	rep := audit(t, store, reg)
	require.False(t, rep.OK())
	require.Equal(t, len(bad), rep.Unreplayable)
	_, err = Repair(ctx, store, rep)
	require.ErrorIs(t, err, ErrUnreplayable)

	_, _, err = StateAt(ctx, store, reg, storage.AggregateKey{Provider: "acme", Kind: string(sm.KindPayment), ID: "o2"}, time.Now().Add(time.Hour))
	require.ErrorContains(t, err, "no longer replays")
}

// TestDeriveFactsRebuildsWhatOlderRulesApplied: the derivation at an
// upgrade replays as Verify does, so an aggregate with an honoured entry
// is rebuilt, not left as one the replay cannot rebuild: the facts the
// migration left to derive are written into its row too.
func TestDeriveFactsRebuildsWhatOlderRulesApplied(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store, db, exec := factsStore(t)
	reg := writeOlderRelease(t, store, map[string]string{"o1": "0123456789ab"})
	exec(`UPDATE aggregates SET amount_known = 0 WHERE id = 'o1'`)
	exec(`INSERT INTO amount_facts_pending (id) VALUES (1)`)

	p, err := DeriveFacts(ctx, store, reg, nil)
	require.NoError(t, err)
	require.NotNil(t, p)
	require.Equal(t, 1, p.Rewritten)
	var known bool
	require.NoError(t, db.QueryRowContext(ctx, `SELECT amount_known FROM aggregates WHERE id = 'o1'`).Scan(&known))
	require.True(t, known)
	bad, err := Verify(ctx, store, reg)
	require.NoError(t, err)
	require.Empty(t, bad)
}
