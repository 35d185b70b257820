package engine_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/engine"
	"github.com/paystate/paystate/providers"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/sqlite"
)

func testTable() sm.Table {
	return sm.Table{
		Provider: "acme",
		Kind:     sm.KindPayment,
		Transitions: []sm.Transition{
			{Event: "AUTH", From: []sm.State{sm.StateNew}, To: sm.Authorized, Effect: sm.Authorize},
			{Event: "REVIEW", From: []sm.State{sm.Authorized}, To: sm.FraudReview},
			{Event: "ACCEPT", From: []sm.State{sm.FraudReview}, To: sm.Authorized},
			{Event: "CAPTURE", From: []sm.State{sm.Authorized, sm.PartiallyCaptured}, To: sm.Captured, Effect: sm.Capture},
			{Event: "REFUND", From: []sm.State{sm.Captured, sm.PartiallyRefunded}, To: sm.PartiallyRefunded, Effect: sm.Refund},
			{Event: "VOID", From: []sm.State{sm.Authorized, sm.FraudReview}, To: sm.Voided},
			{Event: "CLOSE", From: []sm.State{sm.Captured, sm.PartiallyRefunded, sm.Refunded, sm.Voided}, To: sm.Closed},
		},
		RecordOnly: []string{"NOTE"},
	}
}

type bundle struct {
	store  storage.Store
	eng    *engine.Engine
	path   string
	cancel context.CancelFunc
	done   chan struct{}
	clock  *clock
	reg    *sm.Registry
	// open, when set, opens the store instead of SQLite at path (the same
	// database on every start).
	open func(t *testing.T) storage.Store
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func setup(t *testing.T) *bundle {
	t.Helper()
	return setupOn(t, nil)
}

// setupOn is setup over the store open opens (nil: SQLite).
func setupOn(t *testing.T, open func(t *testing.T) storage.Store) *bundle {
	t.Helper()
	b := &bundle{path: filepath.Join(t.TempDir(), "paystate.db"), clock: &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}, open: open}
	reg, err := sm.NewRegistry(testTable())
	require.NoError(t, err)
	b.reg = reg
	b.start(t)
	t.Cleanup(func() { b.stop(t) })
	return b
}

func (b *bundle) start(t *testing.T) {
	t.Helper()
	var store storage.Store
	if b.open != nil {
		store = b.open(t)
	} else {
		var err error
		store, err = sqlite.Open(t.Context(), b.path)
		require.NoError(t, err)
	}
	b.store = store
	b.eng = engine.New(store, b.reg, engine.Config{DeferWindow: time.Hour, Now: b.clock.Now, SweepEvery: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel, b.done = cancel, make(chan struct{})
	go func() { defer close(b.done); b.eng.Run(ctx) }()
}

// run runs eng until the test ends, and waits for it to return.
func run(t *testing.T, eng *engine.Engine) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); eng.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// TestRunTwicePanics: two committers would race for one queue.
func TestRunTwicePanics(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.send(t, ev{name: "AUTH", amount: 10}) // answered: the first Run runs
	// Cancelled: without the check, the second Run returns at once.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.PanicsWithValue(t, "engine: Run called twice", func() { b.eng.Run(ctx) })
}

func (b *bundle) stop(t *testing.T) {
	if b.cancel == nil {
		return
	}
	b.cancel()
	<-b.done
	require.NoError(t, b.store.Close())
	b.cancel = nil
}

type ev struct {
	name   string
	id     string
	amount int64 // <0: none
	key    string
	body   string
}

func (b *bundle) send(t *testing.T, e ev) engine.Outcome {
	t.Helper()
	head := b.sealedHead(t)
	out, err := b.submit(t.Context(), e)
	require.NoError(t, err)
	require.Len(t, out, 1)
	b.settle(t, head, out)
	return out[0]
}

// sealedHead is the chain head, everything committed sealed first.
func (b *bundle) sealedHead(t *testing.T) storage.ChainHead {
	t.Helper()
	require.NoError(t, storage.SealAll(t.Context(), b.store))
	h, err := b.store.Head(t.Context())
	require.NoError(t, err)
	return h
}

// settle gives outs, committed after head by one transaction, on a store
// that seals after commit (whose outcomes carry Seq 0, "assigned when
// sealed"), the sequences sealing gave their entries: in append order,
// each outcome before those it resolved. The bundle's engine writes only
// what the test sends, so the entries after head are theirs.
func (b *bundle) settle(t *testing.T, head storage.ChainHead, outs []engine.Outcome) {
	t.Helper()
	if _, ok := storage.AsSealer(b.store); !ok {
		return
	}
	require.NoError(t, storage.SealAll(t.Context(), b.store))
	entries, err := b.store.Journal(t.Context(), nil, head.Seq, 1000)
	require.NoError(t, err)
	var walk func(outs []engine.Outcome)
	walk = func(outs []engine.Outcome) {
		for i := range outs {
			require.Zero(t, outs[i].Seq, "an unsealed entry's outcome has no sequence")
			require.NotEmpty(t, entries, "an outcome without its entry")
			require.Equal(t, outs[i].Event, entries[0].Event)
			outs[i].Seq, entries = entries[0].Seq, entries[1:]
			walk(outs[i].Resolved)
		}
	}
	walk(outs)
}

func (b *bundle) submit(ctx context.Context, e ev) ([]engine.Outcome, error) {
	if e.id == "" {
		e.id = "o1"
	}
	if e.key == "" {
		e.key = e.id + "/" + e.name
	}
	if e.body == "" {
		e.body = "body:" + e.key
	}
	pe := providers.Event{Provider: "acme", Kind: sm.KindPayment, AggregateID: e.id, Name: e.name, DedupeKey: e.key, Currency: "EUR", MerchantReference: "ref-" + e.id}
	if e.amount >= 0 {
		pe.Amount, pe.HasAmount = e.amount, true
	}
	return b.eng.Submit(ctx, engine.Delivery{Provider: "acme", BodySHA256: e.body, RedactedBody: []byte(e.body), Events: []providers.Event{pe}})
}

func (b *bundle) state(t *testing.T, id string) storage.Aggregate {
	t.Helper()
	a, err := b.store.Aggregate(t.Context(), storage.AggregateKey{Provider: "acme", Kind: "payment", ID: id})
	require.NoError(t, err)
	return a
}

func (b *bundle) verify(t *testing.T) {
	t.Helper()
	// Audit: the chain, and every derived table against the journal.
	rep, err := engine.Audit(t.Context(), b.store, b.reg, engine.AuditConfig{})
	require.NoError(t, err)
	require.True(t, rep.Chain.OK, rep.Chain.Problem)
	require.Empty(t, rep.Problems)
}

func TestAppliedSequence(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.Equal(t, sm.VerdictApplied, b.send(t, ev{name: "AUTH", amount: 1000}).Verdict)
	o := b.send(t, ev{name: "CAPTURE", amount: -1})
	require.Equal(t, sm.VerdictApplied, o.Verdict)
	require.Equal(t, "authorized", o.StateBefore)
	require.Equal(t, "captured", o.StateAfter)
	require.Equal(t, int64(2), o.Version)
	a := b.state(t, "o1")
	require.Equal(t, "captured", a.State)
	require.Equal(t, int64(1000), a.Captured)
	require.Equal(t, "ref-o1", a.MerchantReference)
	require.Equal(t, "CAPTURE", a.ProviderStatus)
	b.verify(t)
}

func TestEarlyEventIsDeferredThenApplied(t *testing.T) {
	t.Parallel()
	b := setup(t)
	o := b.send(t, ev{name: "CAPTURE", amount: -1})
	require.Equal(t, sm.VerdictDeferred, o.Verdict, o.Reason)
	_, err := b.store.Aggregate(t.Context(), storage.AggregateKey{Provider: "acme", Kind: "payment", ID: "o1"})
	require.ErrorIs(t, err, storage.ErrNotFound)
	n, err := b.store.PendingDeferred(t.Context(), storage.AggregateKey{Provider: "acme", Kind: "payment", ID: "o1"})
	require.NoError(t, err)
	require.Equal(t, 1, n)

	auth := b.send(t, ev{name: "AUTH", amount: 500})
	require.Equal(t, sm.VerdictApplied, auth.Verdict)
	require.Len(t, auth.Resolved, 1)
	require.Equal(t, sm.VerdictApplied, auth.Resolved[0].Verdict)
	require.Equal(t, "captured", auth.Resolved[0].StateAfter)

	a := b.state(t, "o1")
	require.Equal(t, "captured", a.State)
	require.Equal(t, int64(2), a.Version)
	n, err = b.store.PendingDeferred(t.Context(), a.Key)
	require.NoError(t, err)
	require.Zero(t, n)

	entries, err := b.store.Journal(t.Context(), &a.Key, 0, 10)
	require.NoError(t, err)
	require.Len(t, entries, 3)
	require.Equal(t, entries[0].Seq, entries[2].ResolvesSeq, "the resolution names the deferral it resolves")
	require.Equal(t, engine.ActorEngine, entries[2].Actor)
	b.verify(t)
}

func TestChainOfDeferredEvents(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// Arrives in reverse: CLOSE needs CAPTURE needs ACCEPT needs REVIEW needs AUTH.
	for _, name := range []string{"CLOSE", "CAPTURE", "ACCEPT", "REVIEW"} {
		require.Equal(t, sm.VerdictDeferred, b.send(t, ev{name: name, amount: -1}).Verdict, name)
	}
	o := b.send(t, ev{name: "AUTH", amount: 700})
	require.Len(t, o.Resolved, 4)
	require.Equal(t, "closed", b.state(t, "o1").State)
	b.verify(t)
}

func TestStaleAndIllegalAreRejectedAndKeepState(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.send(t, ev{name: "AUTH", amount: 100})
	b.send(t, ev{name: "CAPTURE", amount: -1})
	o := b.send(t, ev{name: "AUTH", amount: 100, key: "late-auth"})
	require.Equal(t, sm.VerdictRejected, o.Verdict)
	require.Contains(t, o.Reason, "stale")
	o = b.send(t, ev{name: "REFUND", amount: 101})
	require.Equal(t, sm.VerdictRejected, o.Verdict)
	require.Contains(t, o.Reason, "amount")
	a := b.state(t, "o1")
	require.Equal(t, "captured", a.State)
	require.Equal(t, int64(2), a.Version)
	b.verify(t)
}

func TestDuplicateAndConflict(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.send(t, ev{name: "AUTH", amount: 100})
	o := b.send(t, ev{name: "AUTH", amount: 100})
	require.Equal(t, sm.VerdictDuplicate, o.Verdict)
	o = b.send(t, ev{name: "AUTH", amount: 100, body: "a different body"})
	require.Equal(t, sm.VerdictRejected, o.Verdict)
	require.Contains(t, o.Reason, "conflict")
	require.Equal(t, int64(1), b.state(t, "o1").Version)
	b.verify(t)
}

func TestRecordedEvents(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.send(t, ev{name: "AUTH", amount: 100})
	require.Equal(t, sm.VerdictRecorded, b.send(t, ev{name: "NOTE", amount: -1}).Verdict)
	o := b.send(t, ev{name: "BRAND_NEW_EVENT", amount: -1})
	require.Equal(t, sm.VerdictRecorded, o.Verdict)
	require.Contains(t, o.Reason, "unknown_event")
	require.Equal(t, "authorized", b.state(t, "o1").State)
}

func TestDeferredEventExpires(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.Equal(t, sm.VerdictDeferred, b.send(t, ev{name: "CAPTURE", amount: -1}).Verdict)
	out, err := b.eng.Sweep(t.Context(), b.clock.Now().Add(59*time.Minute))
	require.NoError(t, err)
	require.Empty(t, out, "not expired inside the window")
	b.clock.Add(time.Hour)
	out, err = b.eng.Sweep(t.Context(), b.clock.Now())
	require.NoError(t, err)
	require.Len(t, out, 1)
	require.Equal(t, sm.VerdictRejected, out[0].Verdict)
	require.Contains(t, out[0].Reason, "expired")
	pending, err := b.store.PendingDeferred(t.Context(), storage.AggregateKey{Provider: "acme", Kind: "payment", ID: "o1"})
	require.NoError(t, err)
	require.Zero(t, pending, "an expired event is no longer pending")
	out, err = b.eng.Sweep(t.Context(), b.clock.Now().Add(48*time.Hour))
	require.NoError(t, err)
	require.Empty(t, out, "an event expires once")
	b.verify(t)
}

// TestExpiredEventIsRevivedWhenItsPredecessorLands: a capture held past
// its window expires; the authorisation arriving later must not leave the
// order authorised while the provider captured the money. The capture is
// re-decided as a held event would be, and applied by an entry revising
// the expiry, which stays in the journal as it was.
func TestExpiredEventIsRevivedWhenItsPredecessorLands(t *testing.T) {
	t.Parallel()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testExpiredEventIsRevived(t, setupOn(t, open))
		})
	}
}

func testExpiredEventIsRevived(t *testing.T, b *bundle) {
	key := storage.AggregateKey{Provider: "acme", Kind: "payment", ID: "o1"}
	require.Equal(t, sm.VerdictDeferred, b.send(t, ev{name: "CAPTURE", amount: -1}).Verdict)
	b.clock.Add(time.Hour)
	expired, err := b.eng.Sweep(t.Context(), b.clock.Now())
	require.NoError(t, err)
	require.Len(t, expired, 1)
	require.Contains(t, expired[0].Reason, "expired")
	b.verify(t)

	b.clock.Add(72 * time.Hour) // long after the window: still a fact
	o := b.send(t, ev{name: "AUTH", amount: 10})
	require.Equal(t, sm.VerdictApplied, o.Verdict)
	require.Len(t, o.Resolved, 1)
	r := o.Resolved[0]
	require.Equal(t, sm.VerdictApplied, r.Verdict)
	require.Equal(t, "CAPTURE", r.Event)
	require.Contains(t, r.Reason, "revives an expired event")
	require.Equal(t, "captured", b.state(t, "o1").State)
	require.Equal(t, int64(2), b.state(t, "o1").Version)

	head := b.sealedHead(t)
	entries, err := b.store.Journal(t.Context(), &key, 0, 100)
	require.NoError(t, err)
	require.Len(t, entries, 4, "deferral, expiry, authorisation, revival: %d sealed of %d", len(entries), head.Seq)
	deferral, expiry, revival := entries[0], entries[1], entries[3]
	require.Equal(t, string(sm.VerdictRejected), expiry.Verdict, "the expiry stays as it was")
	require.Equal(t, deferral.Seq, expiry.ResolvesSeq)
	require.Equal(t, expiry.Seq, revival.RevisesSeq, "the revival points at the expiry it revises")
	require.Zero(t, revival.ResolvesSeq)
	require.Equal(t, string(sm.VerdictApplied), revival.Verdict)

	// Nothing is held any more; another capture report is stale or a
	// duplicate, and the revival happens once.
	pending, err := b.store.PendingDeferred(t.Context(), key)
	require.NoError(t, err)
	require.Zero(t, pending)
	held, err := b.store.Deferred(t.Context(), 0, 10)
	require.NoError(t, err)
	require.Empty(t, held)
	require.Equal(t, sm.VerdictApplied, b.send(t, ev{name: "REFUND", amount: 10}).Verdict)
	b.verify(t)
}

// TestExpiredEventThatCanNoLongerApplyIsSettled: an expired event that the
// aggregate has moved past gets its final verdict (stale) as an entry
// revising the expiry, and leaves the held table: what waits is bounded by
// what can still happen.
func TestExpiredEventThatCanNoLongerApplyIsSettled(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.Equal(t, sm.VerdictDeferred, b.send(t, ev{name: "REFUND", amount: 10}).Verdict)
	b.clock.Add(time.Hour)
	_, err := b.eng.Sweep(t.Context(), b.clock.Now())
	require.NoError(t, err)
	held, err := b.store.Deferred(t.Context(), 0, 10)
	require.NoError(t, err)
	require.Len(t, held, 1)
	require.NotZero(t, held[0].ExpiredSeq, "kept, marked expired")
	o := b.send(t, ev{name: "AUTH", amount: 10})
	require.Empty(t, o.Resolved, "still early: it keeps waiting, no entry")
	o = b.send(t, ev{name: "VOID", amount: -1})
	require.Equal(t, sm.VerdictApplied, o.Verdict)
	require.Len(t, o.Resolved, 1)
	require.Equal(t, sm.VerdictRejected, o.Resolved[0].Verdict)
	require.Contains(t, o.Resolved[0].Reason, "revises its expiry")
	held, err = b.store.Deferred(t.Context(), 0, 10)
	require.NoError(t, err)
	require.Empty(t, held)
	b.verify(t)
}

// readsInTxOnly refuses the expiry read outside a transaction: the sweep
// runs inside one and must read what that transaction sees.
type readsInTxOnly struct{ storage.Store }

func (readsInTxOnly) ExpiredDeferred(context.Context, time.Time, int) ([]storage.DeferredEvent, error) {
	return nil, errors.New("ExpiredDeferred read outside the sweep's transaction")
}

func TestSweepReadsThroughItsTransaction(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.Equal(t, sm.VerdictDeferred, b.send(t, ev{name: "CAPTURE", amount: 10}).Verdict)
	b.clock.Add(2 * time.Hour)
	eng := engine.New(readsInTxOnly{b.store}, b.reg, engine.Config{DeferWindow: time.Hour, Now: b.clock.Now, SweepEvery: time.Hour})
	run(t, eng)
	out, err := eng.Sweep(t.Context(), b.clock.Now())
	require.NoError(t, err)
	require.Len(t, out, 1)
	require.Contains(t, out[0].Reason, "expired")
	b.verify(t)
}

func TestDeferredEventThatCanNoLongerApplyIsRejectedAtOnce(t *testing.T) {
	t.Parallel()
	// ACCEPT is held until a review begins; VOID ends the order first.
	b := setup(t)
	require.Equal(t, sm.VerdictDeferred, b.send(t, ev{name: "ACCEPT", amount: -1}).Verdict)
	b.send(t, ev{name: "AUTH", amount: 10})
	o := b.send(t, ev{name: "VOID", amount: -1})
	require.Equal(t, sm.VerdictApplied, o.Verdict)
	require.Len(t, o.Resolved, 1, "ACCEPT can never apply once voided")
	require.Equal(t, sm.VerdictRejected, o.Resolved[0].Verdict)
	require.Contains(t, o.Resolved[0].Reason, "stale")
	n, err := b.store.PendingDeferred(t.Context(), storage.AggregateKey{Provider: "acme", Kind: "payment", ID: "o1"})
	require.NoError(t, err)
	require.Zero(t, n)
	b.verify(t)
}

func TestRestartKeepsEverythingAcknowledged(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for i := range 20 {
		id := fmt.Sprintf("o%d", i)
		b.send(t, ev{id: id, name: "CAPTURE", amount: -1})
		b.send(t, ev{id: id, name: "AUTH", amount: int64(100 + i)})
		if i%2 == 0 {
			b.send(t, ev{id: id, name: "REFUND", amount: 10})
		}
	}
	head, err := b.store.Head(t.Context())
	require.NoError(t, err)
	b.stop(t)
	b.start(t)
	head2, err := b.store.Head(t.Context())
	require.NoError(t, err)
	require.Equal(t, head, head2)
	for i := range 20 {
		a := b.state(t, fmt.Sprintf("o%d", i))
		want := "captured"
		if i%2 == 0 {
			want = "partially_refunded"
		}
		require.Equal(t, want, a.State)
	}
	b.verify(t)
	// And it keeps working after the restart.
	require.Equal(t, sm.VerdictDuplicate, b.send(t, ev{id: "o3", name: "AUTH", amount: 103}).Verdict)
}

func TestConcurrentSubmissionsAreAllCommitted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("c%d", i%8)
			for _, name := range []string{"AUTH", "CAPTURE", "REFUND"} {
				_, err := b.submit(context.Background(), ev{id: id, name: name, amount: 5, key: fmt.Sprintf("%s/%s/%d", id, name, i)})
				if err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	for i := range 8 {
		// Four senders race per order: one AUTH, one CAPTURE and one
		// REFUND of 5 win, the rest are stale; the refund is the whole
		// capture.
		a := b.state(t, fmt.Sprintf("c%d", i))
		require.Equal(t, "refunded", a.State)
		require.Equal(t, [3]int64{5, 5, 5}, [3]int64{a.Authorized, a.Captured, a.Refunded})
		require.Equal(t, int64(3), a.Version)
	}
	b.verify(t)
}

// failingStore fails every commit: nothing may be acknowledged.
type failingStore struct{ storage.Store }

func (failingStore) Update(context.Context, func(storage.Tx) error) error {
	return fmt.Errorf("disk on fire: %w", storage.ErrUnavailable)
}

func TestFailedCommitIsNotAcknowledged(t *testing.T) {
	t.Parallel()
	b := setup(t)
	eng := engine.New(failingStore{b.store}, b.reg, engine.Config{})
	run(t, eng)
	_, err := eng.Submit(t.Context(), engine.Delivery{Provider: "acme", BodySHA256: "x", Events: []providers.Event{
		{Provider: "acme", Kind: sm.KindPayment, AggregateID: "o1", Name: "AUTH", DedupeKey: "k"}}})
	require.Error(t, err)
	require.True(t, errors.Is(err, storage.ErrUnavailable))
	h, err := b.store.Head(t.Context())
	require.NoError(t, err)
	require.Zero(t, h.Seq)
}

func TestTextStorageCannotHoldIsRecordedAsMalformed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	out, err := b.eng.Submit(t.Context(), engine.Delivery{Provider: "acme", BodySHA256: "x", Events: []providers.Event{
		{Provider: "acme", Kind: sm.KindPayment, AggregateID: "o\x001", Name: "AUTH", DedupeKey: "k"}}})
	require.NoError(t, err)
	require.Len(t, out, 1)
	require.Equal(t, sm.VerdictRejected, out[0].Verdict)
	// NUL is valid UTF-8; the reason names the provider, the field and NUL.
	require.Equal(t, "malformed: malformed webhook body: acme: the event's aggregate id holds a NUL character (U+0000), which paystate cannot store", out[0].Reason)
	b.verify(t)
}

// observedStore counts transactions, to see batches form.
type observedStore struct {
	storage.Store
	mu      sync.Mutex
	updates int
}

func (o *observedStore) Update(ctx context.Context, fn func(storage.Tx) error) error {
	o.mu.Lock()
	o.updates++
	o.mu.Unlock()
	return o.Store.Update(ctx, fn)
}

// TestMaxDelayGathersABatch: with a delay bound, deliveries that arrive
// one by one within it share one transaction; with none, each arriving
// alone to an idle committer is committed alone.
func TestMaxDelayGathersABatch(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, tc := range []struct {
		delay time.Duration
		want  func(updates int) bool
	}{
		{time.Hour, func(n int) bool { return n == 1 }},
		{0, func(n int) bool { return n == 5 }},
	} {
		obs := &observedStore{Store: b.store}
		eng := engine.New(obs, b.reg, engine.Config{MaxBatch: 5, MaxDelay: tc.delay, SweepEvery: time.Hour})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { defer close(done); eng.Run(ctx) }()
		var wg sync.WaitGroup
		for i := range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprintf("d%v-%d", tc.delay, i)
				_, err := eng.Submit(ctx, engine.Delivery{Provider: "acme", BodySHA256: id, Events: []providers.Event{
					{Provider: "acme", Kind: sm.KindPayment, AggregateID: id, Name: "AUTH", DedupeKey: id}}})
				if err != nil {
					t.Error(err)
				}
			}()
			if tc.delay == 0 {
				wg.Wait() // one at a time: nothing to gather
			}
		}
		wg.Wait()
		cancel()
		<-done
		require.True(t, tc.want(obs.updates), "delay %v: %d transactions", tc.delay, obs.updates)
	}
}
