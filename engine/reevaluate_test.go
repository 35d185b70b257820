package engine_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/engine"
	"github.com/paystate/paystate/providers"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/postgres"
)

// withTable restarts the engine on the same store running table instead of
// the one it ran: what deploying a corrected table does.
func (b *bundle) withTable(t *testing.T, table sm.Table) {
	t.Helper()
	b.stop(t)
	reg, err := sm.NewRegistry(table)
	require.NoError(t, err)
	b.reg = reg
	b.start(t)
}

// changed returns testTable with mutate applied to the rows of event.
func changed(event string, mutate func(*sm.Transition)) sm.Table {
	tb := testTable()
	tb.Transitions = slices.Clone(tb.Transitions)
	for i := range tb.Transitions {
		if tb.Transitions[i].Event == event {
			tr := tb.Transitions[i]
			tr.From = slices.Clone(tr.From)
			mutate(&tr)
			tb.Transitions[i] = tr
		}
	}
	return tb
}

func (b *bundle) reevaluate(t *testing.T, opt engine.ReevaluateOptions) engine.ReevaluateReport {
	t.Helper()
	rep, err := b.eng.Reevaluate(t.Context(), opt)
	require.NoError(t, err)
	return rep
}

func (b *bundle) journal(t *testing.T, id string) []storage.JournalEntry {
	t.Helper()
	key := storage.AggregateKey{Provider: "acme", Kind: "payment", ID: id}
	require.NoError(t, storage.SealAll(t.Context(), b.store)) // a re-evaluation's entries
	entries, err := b.store.Journal(t.Context(), &key, 0, 1000)
	require.NoError(t, err)
	return entries
}

// audited is verify plus the audit of every derived table: receipts and
// held events must agree with a journal that holds revisions.
func (b *bundle) audited(t *testing.T) {
	t.Helper()
	b.verify(t)
	rep, err := engine.Audit(t.Context(), b.store, b.reg, engine.AuditConfig{DeferWindow: time.Hour})
	require.NoError(t, err)
	require.True(t, rep.Chain.OK)
	require.Empty(t, rep.Problems)
	require.Zero(t, rep.Unreplayable)
}

func (b *bundle) head(t *testing.T) storage.ChainHead {
	t.Helper()
	return b.sealedHead(t)
}

// TestReevaluateAdmitsARefundAnOlderTableRejected: a refund reported after
// the order was closed was rejected as stale by a table that ended money
// movement at close. The corrected table takes refunds after close; a
// re-evaluation appends the refund as applied, pointing at the rejection,
// which stays in the journal as it was.
func TestReevaluateAdmitsARefundAnOlderTableRejected(t *testing.T) {
	t.Parallel()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testReevaluateAdmitsARefund(t, setupOn(t, open))
		})
	}
}

// backends are SQLite (nil: the bundle's default) and, when
// PAYSTATE_TEST_POSTGRES_DSN is set, PostgreSQL: each test a schema of its
// own, the same one on every start, dropped at the end.
func backends(t *testing.T) map[string]func(t *testing.T) storage.Store {
	out := map[string]func(t *testing.T) storage.Store{"sqlite": nil}
	dsn := os.Getenv("PAYSTATE_TEST_POSTGRES_DSN")
	if dsn == "" {
		return out
	}
	schema := fmt.Sprintf("reeval_%d", time.Now().UnixNano())
	t.Cleanup(func() {
		ctx := context.Background()
		if c, err := pgx.Connect(ctx, dsn); err == nil {
			_, _ = c.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
			_ = c.Close(ctx)
		}
	})
	out["postgres"] = func(t *testing.T) storage.Store {
		store, err := postgres.Open(t.Context(), dsn, postgres.WithSchema(schema))
		require.NoError(t, err)
		return store
	}
	return out
}

func testReevaluateAdmitsARefund(t *testing.T, b *bundle) {
	v1 := b.reg.Machine("acme", sm.KindPayment).Version()
	// The capture arrives first: held, then applied with the authorisation.
	require.Equal(t, sm.VerdictDeferred, b.send(t, ev{name: "CAPTURE", amount: -1}).Verdict)
	b.send(t, ev{name: "AUTH", amount: 100})
	b.send(t, ev{name: "CLOSE", amount: -1})
	rejected := b.send(t, ev{name: "REFUND", amount: 100})
	require.Equal(t, sm.VerdictRejected, rejected.Verdict)
	require.Contains(t, rejected.Reason, "stale")
	b.send(t, ev{id: "o2", name: "AUTH", amount: 5}) // another order, untouched

	rep := b.reevaluate(t, engine.ReevaluateOptions{})
	require.Empty(t, rep.Aggregates, "the same table decides the same")

	b.withTable(t, changed("REFUND", func(tr *sm.Transition) { tr.From = append(tr.From, sm.Closed) }))
	v2 := b.reg.Machine("acme", sm.KindPayment).Version()
	require.NotEqual(t, v1, v2)

	// A rejection the current table decided is not re-decided.
	require.Equal(t, sm.VerdictRejected, b.send(t, ev{id: "o2", name: "AUTH", amount: 5, key: "o2-late-auth"}).Verdict)

	dry := b.reevaluate(t, engine.ReevaluateOptions{DryRun: true})
	head := b.head(t)
	require.Equal(t, "closed", b.state(t, "o1").State, "a dry run writes nothing")
	require.Len(t, dry.Aggregates, 1)
	d := dry.Aggregates[0]
	require.Equal(t, "o1", d.Key.ID)
	require.Equal(t, "closed", d.Before.State)
	require.Equal(t, "refunded", d.After.State)
	require.Empty(t, d.Appended)
	require.Equal(t, []engine.Change{{
		Seq: rejected.Seq, Event: "REFUND",
		Was: sm.VerdictRejected, WasReason: rejected.Reason, WasVersion: v1,
		Now: sm.VerdictApplied, Version: v2,
	}}, d.Changes)

	rep = b.reevaluate(t, engine.ReevaluateOptions{})
	require.Equal(t, 1, rep.Examined, "only the aggregate with an older rejection is re-decided")
	require.Len(t, rep.Aggregates, 1)
	r := rep.Aggregates[0]
	require.Equal(t, d.Changes, r.Changes, "the dry run showed what was done")
	require.Len(t, r.Appended, 1)

	a := b.state(t, "o1")
	require.Equal(t, "refunded", a.State)
	require.Equal(t, int64(100), a.Refunded)
	require.Equal(t, int64(4), a.Version)

	entries := b.journal(t, "o1")
	require.Len(t, entries, 6, "nothing rewritten, one entry appended")
	orig, rev := entries[4], entries[5]
	require.Equal(t, rejected.Seq, orig.Seq)
	require.Equal(t, string(sm.VerdictRejected), orig.Verdict, "the original rejection stays")
	require.Equal(t, v1, orig.MachineVersion)
	require.Equal(t, head.Seq+1, rev.Seq, "appended at the head")
	require.Equal(t, string(sm.VerdictApplied), rev.Verdict)
	require.Equal(t, orig.Seq, rev.RevisesSeq)
	require.Zero(t, rev.ResolvesSeq)
	require.Equal(t, v2, rev.MachineVersion)
	require.Equal(t, engine.ActorReevaluation, rev.Actor)
	require.Equal(t, "closed", rev.StateBefore)
	require.Equal(t, "refunded", rev.StateAfter)
	require.Equal(t, orig.DedupeKey, rev.DedupeKey)
	require.Contains(t, rev.Reason, "reevaluated under "+v2+": rejected under "+v1)
	b.audited(t) // the chain verifies and a replay equals the stored state

	head = b.head(t)
	again := b.reevaluate(t, engine.ReevaluateOptions{})
	require.Empty(t, again.Aggregates, "a second re-evaluation changes nothing")
	require.Equal(t, head, b.head(t))

	// Nothing was lost on the way: a redelivery of the refund is still a
	// duplicate of the original receipt.
	require.Equal(t, sm.VerdictDuplicate, b.send(t, ev{name: "REFUND", amount: 100}).Verdict)
}

// TestReevaluateReadmitsHeldAndExpiredEvents: an event an older table held
// (one that expired, one still held) is applied when the current table
// takes it from where the aggregate is; the hold is released.
func TestReevaluateReadmitsHeldAndExpiredEvents(t *testing.T) {
	t.Parallel()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testReevaluateReadmitsHeld(t, setupOn(t, open))
		})
	}
}

func testReevaluateReadmitsHeld(t *testing.T, b *bundle) {
	b.send(t, ev{id: "exp", name: "AUTH", amount: 100})
	held := b.send(t, ev{id: "exp", name: "CLOSE", amount: -1})
	require.Equal(t, sm.VerdictDeferred, held.Verdict)
	b.clock.Add(time.Hour)
	head := b.sealedHead(t)
	expired, err := b.eng.Sweep(t.Context(), b.clock.Now())
	require.NoError(t, err)
	require.Len(t, expired, 1)
	b.settle(t, head, expired)
	b.send(t, ev{id: "hold", name: "AUTH", amount: 100})
	stillHeld := b.send(t, ev{id: "hold", name: "CLOSE", amount: -1})
	require.Equal(t, sm.VerdictDeferred, stillHeld.Verdict)

	// An authorisation can be closed without a capture (it lapsed).
	b.withTable(t, changed("CLOSE", func(tr *sm.Transition) { tr.From = append(tr.From, sm.Authorized) }))
	rep := b.reevaluate(t, engine.ReevaluateOptions{})
	require.Len(t, rep.Aggregates, 2)

	for _, id := range []string{"exp", "hold"} {
		require.Equal(t, "closed", b.state(t, id).State, id)
	}
	exp := b.journal(t, "exp")
	require.Len(t, exp, 4)
	require.Equal(t, expired[0].Seq, exp[2].Seq)
	require.Equal(t, expired[0].Seq, exp[3].RevisesSeq, "the revision points at the expiry")
	require.Zero(t, exp[3].ResolvesSeq, "the expiry already released the hold")
	hold := b.journal(t, "hold")
	require.Len(t, hold, 3)
	require.Equal(t, stillHeld.Seq, hold[2].RevisesSeq)
	require.Equal(t, stillHeld.Seq, hold[2].ResolvesSeq, "the revision resolves the hold")
	n, err := b.store.PendingDeferred(t.Context(), hold[2].Key)
	require.NoError(t, err)
	require.Zero(t, n, "the held event is released")
	b.audited(t)

	// Nothing is held any more, so a sweep long after finds nothing.
	b.clock.Add(2 * time.Hour)
	out, err := b.eng.Sweep(t.Context(), b.clock.Now())
	require.NoError(t, err)
	require.Empty(t, out)
	require.Empty(t, b.reevaluate(t, engine.ReevaluateOptions{}).Aggregates)
}

// TestReevaluateFilters: --provider and --since choose the aggregates by
// their older verdicts.
func TestReevaluateFilters(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, id := range []string{"early", "late"} {
		b.send(t, ev{id: id, name: "AUTH", amount: 100})
		b.send(t, ev{id: id, name: "CAPTURE", amount: -1})
		b.send(t, ev{id: id, name: "CLOSE", amount: -1})
		require.Equal(t, sm.VerdictRejected, b.send(t, ev{id: id, name: "REFUND", amount: 100}).Verdict)
		b.clock.Add(time.Minute)
	}
	since := b.clock.Now().Add(-time.Minute)
	b.withTable(t, changed("REFUND", func(tr *sm.Transition) { tr.From = append(tr.From, sm.Closed) }))

	require.Zero(t, b.reevaluate(t, engine.ReevaluateOptions{Provider: "other", DryRun: true}).Examined)
	rep := b.reevaluate(t, engine.ReevaluateOptions{Since: since})
	require.Len(t, rep.Aggregates, 1)
	require.Equal(t, "late", rep.Aggregates[0].Key.ID)
	require.Equal(t, "closed", b.state(t, "early").State)
	require.Equal(t, "refunded", b.state(t, "late").State)
	b.audited(t)
}

// TestReevaluateNeverUndoesAnAppliedEvent: when the current table, run
// over the whole history, would leave an applied event unapplied, the
// change cannot be made by appending; the aggregate is reported and left
// as it is.
func TestReevaluateNeverUndoesAnAppliedEvent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.send(t, ev{name: "AUTH", amount: 100})
	unknown := b.send(t, ev{name: "CANCEL", amount: -1})
	require.Equal(t, sm.VerdictRecorded, unknown.Verdict, "a word the table does not know")
	b.send(t, ev{name: "CAPTURE", amount: -1})

	tb := testTable()
	tb.Transitions = append(slices.Clone(tb.Transitions), sm.Transition{Event: "CANCEL", From: []sm.State{sm.Authorized}, To: sm.Cancelled})
	b.withTable(t, tb)
	head := b.head(t)
	rep := b.reevaluate(t, engine.ReevaluateOptions{})
	require.Len(t, rep.Aggregates, 1)
	r := rep.Aggregates[0]
	require.Contains(t, r.Refused, "CAPTURE")
	require.Empty(t, r.Appended)
	require.Equal(t, head, b.head(t), "nothing appended")
	require.Equal(t, "captured", b.state(t, "o1").State)
	b.audited(t)
}

// TestReevaluateRefusesWhatAppendingCannotReproduce: an event admitted now
// but placed earlier in history than an applied one that does not commute
// with it (two authorisations: the last one sets the amount) would, if
// appended, leave the aggregate other than the whole history does; the
// aggregate is reported and left as it is.
func TestReevaluateRefusesWhatAppendingCannotReproduce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	reauth := func(event string) sm.Transition {
		return sm.Transition{Event: event, From: []sm.State{sm.Authorized}, To: sm.Authorized, Effect: sm.Authorize}
	}
	v1 := testTable()
	v1.Transitions = append(slices.Clone(v1.Transitions), reauth("REAUTH_LATE"))
	b.withTable(t, v1)
	b.send(t, ev{name: "AUTH", amount: 100})
	require.Equal(t, sm.VerdictRecorded, b.send(t, ev{name: "REAUTH", amount: 200}).Verdict)
	require.Equal(t, sm.VerdictApplied, b.send(t, ev{name: "REAUTH_LATE", amount: 300}).Verdict)

	v2 := v1
	v2.Transitions = append(slices.Clone(v1.Transitions), reauth("REAUTH"))
	b.withTable(t, v2)
	head := b.head(t)
	rep := b.reevaluate(t, engine.ReevaluateOptions{})
	require.Len(t, rep.Aggregates, 1)
	require.Contains(t, rep.Aggregates[0].Refused, "authorized 200")
	require.Equal(t, head, b.head(t), "nothing appended")
	require.Equal(t, int64(300), b.state(t, "o1").Authorized)
	b.audited(t)
}

// TestReevaluateRefusesAnEventThatNoLongerFitsAfterWhatIsApplied: a partial
// capture the older table did not know comes, in history, before the full
// capture that was applied, and the refund after it; after the refund no
// capture is legal. Appending cannot reproduce the history, so nothing is
// appended. (Right after the full capture, which took "the rest" without
// an amount, it would be applied inside that capture.)
func TestReevaluateRefusesAnEventThatNoLongerFitsAfterWhatIsApplied(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.send(t, ev{name: "AUTH", amount: 100})
	require.Equal(t, sm.VerdictRecorded, b.send(t, ev{name: "PARTIAL_CAPTURE", amount: 30}).Verdict)
	b.send(t, ev{name: "CAPTURE", amount: -1})
	require.Equal(t, sm.VerdictApplied, b.send(t, ev{name: "REFUND", amount: 100}).Verdict)

	tb := testTable()
	tb.Transitions = append(slices.Clone(tb.Transitions), sm.Transition{
		Event: "PARTIAL_CAPTURE", From: []sm.State{sm.Authorized, sm.PartiallyCaptured}, To: sm.PartiallyCaptured, Effect: sm.Capture})
	b.withTable(t, tb)
	head := b.head(t)
	rep := b.reevaluate(t, engine.ReevaluateOptions{})
	require.Len(t, rep.Aggregates, 1)
	require.Contains(t, rep.Aggregates[0].Refused, "not after what is applied now")
	require.Equal(t, head, b.head(t), "nothing appended")
	b.audited(t)
}

// TestReevaluateDuringLiveTraffic: a re-evaluation goes through the
// engine's single writer, so deliveries committed while it runs neither
// interleave with its transactions nor lose anything: afterwards the
// journal replays to the stored state.
func TestReevaluateDuringLiveTraffic(t *testing.T) {
	t.Parallel()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testReevaluateDuringLiveTraffic(t, setupOn(t, open))
		})
	}
}

func testReevaluateDuringLiveTraffic(t *testing.T, b *bundle) {
	ids := []string{"a", "b", "c", "d", "e", "f"}
	for _, id := range ids {
		b.send(t, ev{id: id, name: "AUTH", amount: 100})
		b.send(t, ev{id: id, name: "CAPTURE", amount: -1})
		b.send(t, ev{id: id, name: "CLOSE", amount: -1})
		require.Equal(t, sm.VerdictRejected, b.send(t, ev{id: id, name: "REFUND", amount: 60}).Verdict)
	}
	b.withTable(t, changed("REFUND", func(tr *sm.Transition) { tr.From = append(tr.From, sm.Closed) }))

	done := make(chan error, len(ids))
	for _, id := range ids {
		go func() {
			// A second refund races the re-evaluation of the first: which
			// lands first decides nothing, both must (60 + 40 = captured).
			_, err := b.submit(t.Context(), ev{id: id, name: "REFUND", amount: 40, key: id + "/second"})
			done <- err
		}()
	}
	rep := b.reevaluate(t, engine.ReevaluateOptions{})
	for range ids {
		require.NoError(t, <-done)
	}
	require.Equal(t, len(ids), rep.Examined)
	for _, id := range ids {
		a := b.state(t, id)
		require.Equal(t, int64(100), a.Refunded, id)
		require.Equal(t, "refunded", a.State, id)
	}
	b.audited(t)
}

// TestReevaluateAppendsWhenOnlyTheProviderStatusDiffers: after the refund is
// admitted the aggregate shows the refund's word as its provider status,
// where the re-run ends on the later administrative word; state and
// amounts agree, so the refund is appended.
func TestReevaluateAppendsWhenOnlyTheProviderStatusDiffers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	archive := sm.Transition{Event: "ARCHIVE", From: []sm.State{sm.Captured, sm.PartiallyRefunded, sm.Refunded}, To: sm.Stay}
	v1 := changed("REFUND", func(tr *sm.Transition) { tr.From = []sm.State{sm.Authorized} })
	v1.Transitions = append(v1.Transitions, archive)
	b.withTable(t, v1)
	b.send(t, ev{name: "AUTH", amount: 100})
	b.send(t, ev{name: "CAPTURE", amount: -1})
	require.Equal(t, sm.VerdictRejected, b.send(t, ev{name: "REFUND", amount: 100}).Verdict)
	require.Equal(t, sm.VerdictApplied, b.send(t, ev{name: "ARCHIVE", amount: -1}).Verdict)
	// A redelivery is not an event of its own: re-run, it would apply.
	require.Equal(t, sm.VerdictDuplicate, b.send(t, ev{name: "ARCHIVE", amount: -1}).Verdict)

	v2 := testTable()
	v2.Transitions = append(slices.Clone(v2.Transitions), archive)
	b.withTable(t, v2)
	rep := b.reevaluate(t, engine.ReevaluateOptions{})
	require.Len(t, rep.Aggregates, 1)
	require.Empty(t, rep.Aggregates[0].Refused)
	require.Len(t, rep.Aggregates[0].Appended, 1, "the refund, and only it")
	require.Equal(t, "refunded", b.state(t, "o1").State)
	b.audited(t)
}

// TestReevaluateDecidesSnapshotRepeatsAgain: a status snapshot answered
// "already in status" is an event of its own, not a redelivery. Under an
// older table a subscription's PAST_DUE was unknown, so its recovery to
// ACTIVE looked like a repeat; the corrected table knows PAST_DUE, and the
// re-run ends active, as the provider said.
func TestReevaluateDecidesSnapshotRepeatsAgain(t *testing.T) {
	t.Parallel()
	b := setup(t)
	sub := func(extra ...sm.Transition) sm.Table {
		return sm.Table{Provider: "acme", Kind: sm.KindSubscription, Mode: sm.ModeStatus,
			Transitions: append([]sm.Transition{
				{Event: "ACTIVE", From: []sm.State{sm.StateNew}, To: sm.Active},
				{Event: "CANCELLED", From: []sm.State{sm.Active}, To: sm.Cancelled},
			}, extra...)}
	}
	restart := func(tables ...sm.Table) {
		b.stop(t)
		reg, err := sm.NewRegistry(tables...)
		require.NoError(t, err)
		b.reg = reg
		b.start(t)
	}
	restart(testTable(), sub())
	send := func(status string, n int) sm.Verdict {
		out, err := b.eng.Submit(t.Context(), engine.Delivery{Provider: "acme", BodySHA256: fmt.Sprint("b", n), Events: []providers.Event{{
			Provider: "acme", Kind: sm.KindSubscription, AggregateID: "s1", Name: status, ProviderStatus: status,
			DedupeKey: fmt.Sprintf("s1/%s/%d", status, n), Snapshot: true}}})
		require.NoError(t, err)
		return out[0].Verdict
	}
	require.Equal(t, sm.VerdictApplied, send("ACTIVE", 1))
	require.Equal(t, sm.VerdictRecorded, send("PAST_DUE", 2), "unknown to the older table")
	require.Equal(t, sm.VerdictDuplicate, send("ACTIVE", 3), "already in status ACTIVE")

	restart(testTable(), sub(
		sm.Transition{Event: "PAST_DUE", From: []sm.State{sm.Active}, To: sm.PastDue},
		sm.Transition{Event: "ACTIVE", From: []sm.State{sm.PastDue}, To: sm.Active},
	))
	rep := b.reevaluate(t, engine.ReevaluateOptions{})
	require.Len(t, rep.Aggregates, 1)
	require.Empty(t, rep.Aggregates[0].Refused)
	require.Len(t, rep.Aggregates[0].Appended, 2)
	a, err := b.store.Aggregate(t.Context(), storage.AggregateKey{Provider: "acme", Kind: "subscription", ID: "s1"})
	require.NoError(t, err)
	require.Equal(t, "active", a.State, "the subscription recovered")
	b.audited(t)
}

// TestReevaluateInPagesIsOneCall: paging through the aggregates a few at
// a time, each page resumed after the last key of the one before,
// re-decides, reports and appends exactly what one call does, with the
// same total on every page; and a second paged run changes nothing.
func TestReevaluateInPagesIsOneCall(t *testing.T) {
	t.Parallel()
	one, paged := setup(t), setup(t)
	ids := []string{"a", "b", "c", "d", "e", "f", "g"}
	for _, b := range []*bundle{one, paged} {
		for _, id := range ids {
			b.send(t, ev{id: id, name: "AUTH", amount: 100})
			b.send(t, ev{id: id, name: "CAPTURE", amount: -1})
			b.send(t, ev{id: id, name: "CLOSE", amount: -1})
			require.Equal(t, sm.VerdictRejected, b.send(t, ev{id: id, name: "REFUND", amount: 100}).Verdict)
		}
		b.send(t, ev{id: "untouched", name: "AUTH", amount: 5}) // nothing rejected: not selected
		b.withTable(t, changed("REFUND", func(tr *sm.Transition) { tr.From = append(tr.From, sm.Closed) }))
	}

	pages := func(b *bundle, dryRun bool) (rep engine.ReevaluateReport, calls int) {
		opt := engine.ReevaluateOptions{DryRun: dryRun, Limit: 3}
		for {
			page := b.reevaluate(t, opt)
			calls++
			require.Equal(t, len(ids), page.Total, "every page counts all selected")
			require.LessOrEqual(t, page.Examined, 3)
			rep.Examined += page.Examined
			rep.Aggregates = append(rep.Aggregates, page.Aggregates...)
			if !page.More {
				rep.Total = page.Total
				return rep, calls
			}
			require.Equal(t, ids[rep.Examined-1], page.Last.ID)
			opt.After = page.Last
		}
	}
	whole := func(rep engine.ReevaluateReport) engine.ReevaluateReport {
		rep.Last, rep.More = storage.AggregateKey{}, false
		return rep
	}

	dry, calls := pages(paged, true)
	require.Equal(t, 3, calls, "7 aggregates, 3 a page")
	require.Equal(t, whole(one.reevaluate(t, engine.ReevaluateOptions{DryRun: true})), dry)
	require.Equal(t, one.head(t), paged.head(t), "a dry run writes nothing")

	want := one.reevaluate(t, engine.ReevaluateOptions{})
	require.Len(t, want.Aggregates, len(ids))
	got, _ := pages(paged, false)
	require.Equal(t, whole(want), got, "the same revisions, the same sequences")
	require.Equal(t, one.head(t), paged.head(t), "the same journal, entry for entry")
	for _, id := range ids {
		require.Equal(t, "refunded", paged.state(t, id).State, id)
	}
	paged.audited(t)

	again, _ := pages(paged, false)
	require.Equal(t, len(ids), again.Examined)
	require.Empty(t, again.Aggregates, "a second run changes nothing")
	require.Equal(t, one.head(t), paged.head(t))
}
