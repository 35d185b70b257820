package reconcile

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/paystate/paystate/engine"
	"github.com/paystate/paystate/internal/telemetry"
	"github.com/paystate/paystate/providers"
	"github.com/paystate/paystate/providers/ngenius"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/sqlite"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// fakeProvider answers FetchStatus from a table; it counts the calls.
type fakeProvider struct {
	mu      sync.Mutex
	answers map[string][]providers.Event
	errs    map[string]error
	calls   map[string]int
}

func (f *fakeProvider) FetchStatus(_ context.Context, kind sm.Kind, id string) ([]providers.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[id]++
	if err := f.errs[id]; err != nil {
		return nil, err
	}
	return f.answers[id], nil
}

func (f *fakeProvider) says(id string, events ...providers.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers[id] = events
}

func (f *fakeProvider) called(id string) int { f.mu.Lock(); defer f.mu.Unlock(); return f.calls[id] }

// event is an N-Genius event as the status client makes it.
func event(id, name string, amount int64) providers.Event {
	e := providers.Event{Provider: ngenius.Name, Kind: sm.KindPayment, AggregateID: id, Name: name, ProviderStatus: name,
		Currency: "AED", DedupeKey: "ngenius:status:" + id + ":" + name}
	if amount >= 0 {
		e.Amount, e.HasAmount = amount, true
	}
	return e
}

type bundle struct {
	store    storage.Store
	machines *sm.Registry
	eng      *engine.Engine
	clock    *clock
	provider *fakeProvider
	rec      *Reconciler
	reg      *prometheus.Registry
	logs     *bytes.Buffer
}

const (
	minAge = 15 * time.Minute
	window = 24 * time.Hour
)

func setup(t *testing.T) *bundle {
	t.Helper()
	return setupTraced(t, nil)
}

// setupTraced is setup with the engine and the reconciler traced through
// tp (nil: not).
func setupTraced(t *testing.T, tp trace.TracerProvider) *bundle {
	t.Helper()
	b := &bundle{
		clock:    &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)},
		provider: &fakeProvider{answers: map[string][]providers.Event{}, errs: map[string]error{}, calls: map[string]int{}},
		reg:      prometheus.NewRegistry(),
		logs:     &bytes.Buffer{},
	}
	var err error
	b.machines, err = sm.NewRegistry(ngenius.New(ngenius.Config{}).Tables()...)
	require.NoError(t, err)
	b.store, err = sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "paystate.db"))
	require.NoError(t, err)
	b.eng = engine.New(b.store, b.machines, engine.Config{DeferWindow: window, SweepEvery: time.Hour, Now: b.clock.Now, TracerProvider: tp})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); b.eng.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; require.NoError(t, b.store.Close()) })
	b.rec = New(b.store, b.machines, b.eng, map[string]providers.StatusFetcher{ngenius.Name: b.provider}, Config{
		MinAge: minAge, MaxAge: 48 * time.Hour, Now: b.clock.Now, Registerer: b.reg,
		Log:            slog.New(slog.NewTextHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		TracerProvider: tp,
	})
	return b
}

// webhook submits an N-Genius webhook event as the webhook handler would.
func (b *bundle) webhook(t *testing.T, id, name string, amount int64) engine.Outcome {
	t.Helper()
	ev := event(id, name, amount)
	ev.DedupeKey = "ngenius:webhook:" + id + ":" + name
	sum := sha256.Sum256([]byte(ev.DedupeKey))
	out, err := b.eng.Submit(t.Context(), engine.Delivery{Provider: ngenius.Name, BodySHA256: hex.EncodeToString(sum[:]), Events: []providers.Event{ev}})
	require.NoError(t, err)
	require.Len(t, out, 1)
	return out[0]
}

func (b *bundle) pass(t *testing.T) Report {
	t.Helper()
	rep, err := b.rec.Pass(t.Context())
	require.NoError(t, err)
	return rep
}

func (b *bundle) aggregate(t *testing.T, id string) storage.Aggregate {
	t.Helper()
	a, err := b.store.Aggregate(t.Context(), storage.AggregateKey{Provider: ngenius.Name, Kind: "payment", ID: id})
	require.NoError(t, err)
	return a
}

func (b *bundle) journal(t *testing.T, id string) []storage.JournalEntry {
	t.Helper()
	entries, err := b.store.Journal(t.Context(), &storage.AggregateKey{Provider: ngenius.Name, Kind: "payment", ID: id}, 0, 100)
	require.NoError(t, err)
	return entries
}

func (b *bundle) verify(t *testing.T) {
	t.Helper()
	bad, err := engine.Verify(t.Context(), b.store, b.machines)
	require.NoError(t, err)
	require.Empty(t, bad, "stored state equals a replay of the journal")
	rep, err := storage.VerifyChain(t.Context(), b.store)
	require.NoError(t, err)
	require.True(t, rep.OK, rep.Problem)
}

func (b *bundle) counter(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	fams, err := b.reg.Gather()
	require.NoError(t, err)
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			return value(m)
		}
	}
	return 0
}

func value(m *dto.Metric) float64 {
	if m.Counter != nil {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

func TestMissedAuthorisationIsRecoveredThroughTheEngine(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// N-Genius sent AUTHORISED while paystate was unreachable; only the
	// CAPTURED arrived, and is held.
	require.Equal(t, sm.VerdictDeferred, b.webhook(t, "o1", "CAPTURED", -1).Verdict)
	b.provider.says("o1", event("o1", "AUTHORISED", 10000), event("o1", "CAPTURED", -1))

	require.Equal(t, Report{}, b.pass(t), "too young to ask about")
	require.Zero(t, b.provider.called("o1"))

	b.clock.Add(minAge)
	rep := b.pass(t)
	require.Equal(t, Report{Checked: 1, Submitted: 1}, rep, "only the missing authorisation is submitted")
	require.Equal(t, 1, b.provider.called("o1"))

	a := b.aggregate(t, "o1")
	require.Equal(t, "captured", a.State)
	require.Equal(t, int64(10000), a.Captured)
	entries := b.journal(t, "o1")
	require.Len(t, entries, 3)
	require.Equal(t, "webhook", entries[0].Actor)
	require.Equal(t, "deferred", entries[0].Verdict)
	require.Equal(t, Actor, entries[1].Actor)
	require.Equal(t, "AUTHORISED", entries[1].Event)
	require.Equal(t, "applied", entries[1].Verdict)
	require.Contains(t, string(entries[1].RedactedBody), "status API")
	require.Equal(t, "engine", entries[2].Actor, "the held capture was resolved by the engine")
	require.Equal(t, "applied", entries[2].Verdict)
	b.verify(t)

	require.Equal(t, 1.0, b.counter(t, "paystate_reconcile_checks_total", map[string]string{"result": "submitted"}))
	require.Equal(t, 1.0, b.counter(t, "paystate_reconcile_events_total", map[string]string{"verdict": "applied"}))
	require.Contains(t, b.logs.String(), "request_id=")

	// Captured is not terminal, so it is still watched, but the provider
	// now agrees: nothing is submitted.
	b.clock.Add(minAge)
	require.Equal(t, Report{Checked: 1}, b.pass(t))
	require.Len(t, b.journal(t, "o1"), 3)
}

func TestChecksBackOffWhileTheProviderAgrees(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.webhook(t, "o1", "AUTHORISED", 10000)
	b.provider.says("o1", event("o1", "AUTHORISED", 10000))
	calls := func() int { return b.provider.called("o1") }

	b.clock.Add(minAge)
	b.pass(t)
	require.Equal(t, 1, calls())
	b.pass(t)
	require.Equal(t, 1, calls(), "not asked again at once")
	b.clock.Add(minAge) // 2·min_age since the last change
	b.pass(t)
	require.Equal(t, 2, calls())
	b.clock.Add(minAge) // 3·min_age: the next is due at 4·min_age
	b.pass(t)
	require.Equal(t, 2, calls())
	b.clock.Add(minAge)
	b.pass(t)
	require.Equal(t, 3, calls())
	require.Equal(t, 3.0, b.counter(t, "paystate_reconcile_checks_total", map[string]string{"result": "in_sync"}))

	// A webhook moves it: the clock starts again.
	b.webhook(t, "o1", "CAPTURED", -1)
	b.provider.says("o1", event("o1", "AUTHORISED", 10000), event("o1", "CAPTURED", -1))
	b.clock.Add(minAge)
	b.pass(t)
	require.Equal(t, 4, calls())

	// After max_age without a change, it is given up on.
	b.clock.Add(49 * time.Hour)
	b.pass(t)
	require.Equal(t, 4, calls())
	require.Equal(t, 0.0, b.counter(t, "paystate_reconcile_tracked", nil))
}

func TestTerminalAggregatesAreNotChecked(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.webhook(t, "o1", "AUTHORISED", 10000)
	b.webhook(t, "o1", "FULL_AUTH_REVERSED", -1)
	b.clock.Add(10 * minAge)
	require.Equal(t, Report{}, b.pass(t))
	require.Zero(t, b.provider.called("o1"))
}

// Closing an N-Genius order is administrative: money can still be reported
// after it, so a closed order that stood still is checked like any other.
func TestClosedOrdersAreStillChecked(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.webhook(t, "o1", "AUTHORISED", 10000)
	b.webhook(t, "o1", "ORDER_CLOSED", -1)
	b.provider.says("o1", event("o1", "AUTHORISED", 10000))
	b.clock.Add(10 * minAge)
	require.Equal(t, 1, b.pass(t).Checked)
	require.Equal(t, 1, b.provider.called("o1"))
}

func TestExpiredDeferredEventMakesTheAggregateDueAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// A reconciler with a long minimum age: only the expiry can make it
	// ask.
	b.rec.cfg.MinAge, b.rec.cfg.MaxAge = 100*time.Hour, 200*time.Hour
	require.Equal(t, sm.VerdictDeferred, b.webhook(t, "o1", "CAPTURED", -1).Verdict)
	b.clock.Add(window)
	expired, err := b.eng.Sweep(t.Context(), b.clock.Now())
	require.NoError(t, err)
	require.Len(t, expired, 1)
	b.provider.says("o1", event("o1", "AUTHORISED", 10000), event("o1", "CAPTURED", -1))

	rep := b.pass(t)
	require.Equal(t, Report{Checked: 1, Submitted: 1}, rep,
		"the missed authorisation is needed; the expired capture is revived by it, not submitted again")
	require.Equal(t, "captured", b.aggregate(t, "o1").State)
	entries := b.journal(t, "o1")
	require.Len(t, entries, 4)
	require.Equal(t, Actor, entries[2].Actor)
	require.Equal(t, "AUTHORISED", entries[2].Event)
	require.Equal(t, "CAPTURED", entries[3].Event)
	require.Equal(t, entries[1].Seq, entries[3].RevisesSeq, "the webhook's capture, revising its expiry")
	for _, e := range entries[2:] {
		require.Equal(t, "applied", e.Verdict)
	}
	b.verify(t)

	// Asked once: the expiry does not keep it due.
	b.pass(t)
	require.Equal(t, 1, b.provider.called("o1"))
}

func TestProviderErrorsAreCountedAndBackedOff(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.webhook(t, "o1", "AUTHORISED", 10000)
	b.webhook(t, "o2", "AUTHORISED", 10000)
	b.provider.errs["o1"] = fmt.Errorf("ngenius: order o1: %w", providers.ErrUnknownAggregate)
	b.provider.errs["o2"] = fmt.Errorf("ngenius: retrieving order o2: connection refused")
	b.clock.Add(minAge)
	require.Equal(t, Report{Checked: 2}, b.pass(t))
	require.Equal(t, 1.0, b.counter(t, "paystate_reconcile_checks_total", map[string]string{"result": "not_found"}))
	require.Equal(t, 1.0, b.counter(t, "paystate_reconcile_checks_total", map[string]string{"result": "error"}))
	b.pass(t)
	require.Equal(t, 1, b.provider.called("o2"), "backed off after an error")
	require.Len(t, b.journal(t, "o1"), 1, "nothing submitted")
}

func TestOnlyProvidersWithAFetcherAreWatchedAndPassesAreBounded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.rec.cfg.MaxChecks = 2
	for i := range 3 {
		id := fmt.Sprintf("o%d", i)
		b.webhook(t, id, "AUTHORISED", 10000)
		b.provider.says(id, event(id, "AUTHORISED", 10000))
	}
	b.rec.fetchers = map[string]providers.StatusFetcher{"magnius": b.provider}
	b.clock.Add(minAge)
	require.Equal(t, Report{}, b.pass(t), "no fetcher for ngenius: nothing is tracked")

	// A reconciler that can ask N-Genius reads the journal from the start.
	b.rec = New(b.store, b.machines, b.eng, map[string]providers.StatusFetcher{ngenius.Name: b.provider},
		Config{MinAge: minAge, MaxChecks: 2, Now: b.clock.Now})
	require.Equal(t, Report{Checked: 2}, b.pass(t))
	require.Equal(t, Report{Checked: 1}, b.pass(t), "the third waited for the next pass")
}

func TestAnEventThatWouldNotMoveTheAggregateIsNotSubmitted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// Partially captured by webhooks; N-Genius describes the same partial
	// capture. Submitting it again would count the capture twice.
	b.webhook(t, "o1", "AUTHORISED", 10000)
	b.webhook(t, "o1", "PARTIALLY_CAPTURED", 4000)
	b.provider.says("o1", event("o1", "AUTHORISED", 10000), event("o1", "PARTIALLY_CAPTURED", 4000))
	b.clock.Add(minAge)
	require.Equal(t, Report{Checked: 1}, b.pass(t))
	a := b.aggregate(t, "o1")
	require.Equal(t, "partially_captured", a.State)
	require.Equal(t, int64(4000), a.Captured)
	require.Len(t, b.journal(t, "o1"), 2)
}

// A traced check is a trace of its own: what the provider was asked,
// and the submissions beneath it.
func TestChecksAreTraced(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	b := setupTraced(t, telemetry.Synchronous(exp, 1))
	b.webhook(t, "o1", "CAPTURED", -1)
	b.provider.says("o1", event("o1", "AUTHORISED", 10000), event("o1", "CAPTURED", -1))
	b.clock.Add(minAge)
	exp.Reset()
	require.Equal(t, Report{Checked: 1, Submitted: 1}, b.pass(t))

	var check tracetest.SpanStub
	var submits []tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		switch s.Name {
		case "reconcile.check":
			check = s
		case "engine.submit":
			submits = append(submits, s)
		}
	}
	require.Equal(t, "reconcile.check", check.Name)
	require.Contains(t, check.Attributes, attribute.String("paystate.provider", "ngenius"))
	require.Contains(t, check.Attributes, attribute.String("paystate.reconcile.result", "submitted"))
	require.Contains(t, check.Attributes, attribute.Int("paystate.reconcile.submitted", 1))
	require.Len(t, submits, 1)
	require.Equal(t, check.SpanContext.SpanID(), submits[0].Parent.SpanID(), "the submission is the check's")
}
