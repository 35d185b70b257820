package reconcile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/paystate/paystate/engine"
	"github.com/paystate/paystate/internal/telemetry"
	"github.com/paystate/paystate/providers"
	"github.com/paystate/paystate/reqid"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
)

// Actor is recorded on the journal entries of what the reconciler submits.
const Actor = "reconciler"

// Submitter is the engine as the reconciler uses it.
type Submitter interface {
	Submit(ctx context.Context, d engine.Delivery) ([]engine.Outcome, error)
}

// Config tunes a Reconciler. Zero values take the defaults.
type Config struct {
	// Interval between passes. Default 5 minutes.
	Interval time.Duration
	// MinAge an aggregate must have stood still before it is checked.
	// Default 15 minutes.
	MinAge time.Duration
	// MaxAge after which an aggregate that does not move is no longer
	// checked. Default 7 days.
	MaxAge time.Duration
	// MaxChecks bounds the provider calls of one pass; the rest wait for
	// the next. Default 100.
	MaxChecks int
	// PageSize of journal reads. Default 500.
	PageSize int
	// Now is the clock (tests replace it).
	Now func() time.Time
	Log *slog.Logger
	// Registerer, if set, receives the reconciler's metrics.
	Registerer prometheus.Registerer
	// TracerProvider, if set, traces each check (reconcile.check, with
	// the provider's API calls and the submissions beneath it); nil: no
	// spans.
	TracerProvider trace.TracerProvider
}

func (c *Config) defaults() {
	if c.Interval <= 0 {
		c.Interval = 5 * time.Minute
	}
	if c.MinAge <= 0 {
		c.MinAge = 15 * time.Minute
	}
	if c.MaxAge < c.MinAge {
		c.MaxAge = max(c.MinAge, 7*24*time.Hour)
	}
	if c.MaxChecks <= 0 {
		c.MaxChecks = 100
	}
	if c.PageSize <= 0 {
		c.PageSize = 500
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
}

// Reconciler checks stalled aggregates with their provider. Create it with
// New; run it with Run, or drive it with Pass. A Reconciler is not safe
// for concurrent passes.
type Reconciler struct {
	store    storage.Reader
	machines *sm.Registry
	engine   Submitter
	fetchers map[string]providers.StatusFetcher
	cfg      Config
	metrics  *metrics

	cursor  int64 // journal sequence read up to
	tracked map[storage.AggregateKey]*tracked
}

// tracked is what the reconciler knows of one aggregate.
type tracked struct {
	state string
	// since is when the aggregate last changed (or received anything but
	// the reconciler's own answers).
	since time.Time
	// checks counts checks since then that found nothing to do.
	checks int
	// expired: a deferred event of it expired; check now.
	expired bool
}

// due is when the aggregate should next be checked.
func (t *tracked) due(minAge time.Duration) time.Time {
	if t.expired {
		return time.Time{}
	}
	return t.since.Add(minAge << min(t.checks, 20))
}

// New returns a reconciler for the providers in fetchers (by provider
// name) over store, submitting through eng.
func New(store storage.Reader, machines *sm.Registry, eng Submitter, fetchers map[string]providers.StatusFetcher, cfg Config) *Reconciler {
	cfg.defaults()
	return &Reconciler{
		store: store, machines: machines, engine: eng, fetchers: fetchers, cfg: cfg,
		metrics: newMetrics(cfg.Registerer),
		tracked: map[storage.AggregateKey]*tracked{},
	}
}

// Run makes a pass at once and then every Interval until ctx ends.
func (r *Reconciler) Run(ctx context.Context) {
	names := make([]string, 0, len(r.fetchers))
	for n := range r.fetchers {
		names = append(names, n)
	}
	sort.Strings(names)
	r.cfg.Log.Info("reconciler running", "providers", names, "interval", r.cfg.Interval,
		"min_age", r.cfg.MinAge, "max_age", r.cfg.MaxAge)
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := r.Pass(ctx); err != nil && ctx.Err() == nil {
			r.cfg.Log.Warn("reconcile pass", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Report says what one pass did.
type Report struct {
	// Checked counts provider calls, Submitted the events submitted.
	Checked, Submitted int
}

// Pass reads the journal appended since the last pass, then checks the
// aggregates that are due, oldest first, up to MaxChecks. It returns an
// error only when the journal could not be read; a provider's failure is
// logged, counted and retried on a later pass.
func (r *Reconciler) Pass(ctx context.Context) (Report, error) {
	var rep Report
	if err := r.catchUp(ctx); err != nil {
		return rep, err
	}
	now := r.cfg.Now()
	type candidate struct {
		key storage.AggregateKey
		due time.Time
	}
	var due []candidate
	for k, t := range r.tracked {
		if !t.expired && now.Sub(t.since) > r.cfg.MaxAge {
			delete(r.tracked, k) // stood still too long: given up on
			continue
		}
		if d := t.due(r.cfg.MinAge); !now.Before(d) {
			due = append(due, candidate{k, d})
		}
	}
	sort.Slice(due, func(i, j int) bool {
		if !due[i].due.Equal(due[j].due) {
			return due[i].due.Before(due[j].due)
		}
		a, b := due[i].key, due[j].key
		return a.Provider+"\x00"+a.Kind+"\x00"+a.ID < b.Provider+"\x00"+b.Kind+"\x00"+b.ID
	})
	for _, c := range due {
		if rep.Checked == r.cfg.MaxChecks || ctx.Err() != nil {
			break
		}
		rep.Checked++
		rep.Submitted += r.check(ctx, c.key)
	}
	r.metrics.tracked.Set(float64(len(r.tracked)))
	return rep, nil
}

// catchUp reads the journal from the cursor to its end.
func (r *Reconciler) catchUp(ctx context.Context) error {
	for {
		entries, err := r.store.Journal(ctx, nil, r.cursor, r.cfg.PageSize)
		if err != nil {
			return err
		}
		for i := range entries {
			r.observe(&entries[i])
			r.cursor = entries[i].Seq
		}
		if len(entries) < r.cfg.PageSize {
			return nil
		}
	}
}

// observe updates what is known of the entry's aggregate.
func (r *Reconciler) observe(e *storage.JournalEntry) {
	k := e.Key
	if k.Kind == "" || k.ID == "" || r.fetchers[k.Provider] == nil {
		return
	}
	m := r.machines.Machine(k.Provider, sm.Kind(k.Kind))
	if m == nil {
		return
	}
	t := r.tracked[k]
	if t == nil {
		t = &tracked{}
		r.tracked[k] = t
	}
	moved := e.StateAfter != t.state
	if moved || e.Actor != Actor {
		t.since, t.checks = e.ReceivedAt, 0
	}
	t.state = e.StateAfter
	if e.ResolvesSeq != 0 && e.Verdict == string(sm.VerdictRejected) && strings.HasPrefix(e.Reason, string(sm.ReasonExpired)) {
		t.expired = true
	}
	if m.Terminal(sm.State(t.state)) {
		delete(r.tracked, k)
	}
}

// check asks the provider about key and submits what paystate lacks. It
// returns how many events it submitted.
func (r *Reconciler) check(ctx context.Context, key storage.AggregateKey) int {
	if r.cfg.TracerProvider == nil {
		n, _ := r.checkOne(ctx, key)
		return n
	}
	ctx, span := r.cfg.TracerProvider.Tracer(tracerName).Start(ctx, "reconcile.check", trace.WithAttributes(
		telemetry.AttrProvider.String(key.Provider), attribute.String("paystate.kind", key.Kind)))
	defer span.End()
	n, result := r.checkOne(ctx, key)
	span.SetAttributes(attribute.String("paystate.reconcile.result", result), attribute.Int("paystate.reconcile.submitted", n))
	if result == "error" {
		span.SetStatus(codes.Error, "provider not asked successfully")
	}
	return n
}

// tracerName is the instrumentation scope of the reconciler's spans.
const tracerName = "github.com/paystate/paystate/reconcile"

// checkOne is check: what it submitted, and the result it counted.
func (r *Reconciler) checkOne(ctx context.Context, key storage.AggregateKey) (int, string) {
	t := r.tracked[key]
	id := reqid.New()
	log := r.cfg.Log.With("provider", key.Provider, "kind", key.Kind, "aggregate", key.ID, "request_id", id)
	ctx = reqid.With(ctx, id)
	t.expired = false
	events, err := r.fetchers[key.Provider].FetchStatus(ctx, sm.Kind(key.Kind), key.ID)
	if err != nil {
		t.checks++
		result := "error"
		if errors.Is(err, providers.ErrUnknownAggregate) {
			result = "not_found"
		}
		r.metrics.checks.WithLabelValues(key.Provider, result).Inc()
		log.WarnContext(ctx, "reconcile: provider not asked successfully", "result", result, "err", err)
		return 0, result
	}
	submitted := 0
	// Each round submits the first event the aggregate lacks, then looks
	// again: the engine may have resolved held events on the way.
	for range events {
		ev, ok, err := r.next(ctx, key, events)
		if err != nil {
			log.WarnContext(ctx, "reconcile: reading the aggregate", "err", err)
			break
		}
		if !ok {
			break
		}
		outcomes, err := r.engine.Submit(ctx, delivery(key.Provider, ev, id))
		if err != nil {
			log.WarnContext(ctx, "reconcile: submission not committed", "event", ev.Name, "err", err)
			break
		}
		submitted++
		for _, o := range outcomes {
			r.metrics.submitted.WithLabelValues(key.Provider, string(o.Verdict)).Inc()
			log.InfoContext(ctx, "reconciled", "event", o.Event, "verdict", o.Verdict, "reason", o.Reason,
				"state_before", o.StateBefore, "state", o.StateAfter, "seq", o.Seq, "resolved", len(o.Resolved))
		}
	}
	// Back off either way: if what was submitted moved the aggregate, the
	// next pass sees it in the journal and starts the clock again.
	t.checks++
	result := "submitted"
	if submitted == 0 {
		result = "in_sync"
		log.DebugContext(ctx, "reconcile: the provider agrees", "state", t.state)
	}
	r.metrics.checks.WithLabelValues(key.Provider, result).Inc()
	return submitted, result
}

// next returns the first of events that the machine applies from the
// aggregate's current state and that moves it.
func (r *Reconciler) next(ctx context.Context, key storage.AggregateKey, events []providers.Event) (providers.Event, bool, error) {
	snap := sm.Snapshot{State: sm.StateNew}
	agg, err := r.store.Aggregate(ctx, key)
	switch {
	case err == nil:
		snap = sm.Snapshot{State: sm.State(agg.State), Amounts: engine.Amounts(agg), Status: agg.ProviderStatus}
	case !errors.Is(err, storage.ErrNotFound):
		return providers.Event{}, false, err
	}
	for _, ev := range events {
		if ev.AggregateID != key.ID || string(ev.Kind) != key.Kind || ev.RecordOnly {
			continue
		}
		m := r.machines.Machine(key.Provider, ev.Kind)
		d := sm.Decide(m, snap, sm.Input{Event: ev.Name, Amount: ev.Amount, HasAmount: ev.HasAmount, Currency: ev.Currency, BodySHA256: "dry-run"})
		if d.Verdict == sm.VerdictApplied && d.To != snap.State {
			return ev, true, nil
		}
	}
	return providers.Event{}, false, nil
}

// delivery wraps one event the way the engine takes a webhook. The "body"
// is the normalized event as JSON: it is what the reconciler learnt, it
// holds no card data, and it is the same every time the provider gives
// the same answer, so that a repeated answer is a duplicate.
func delivery(provider string, ev providers.Event, id string) engine.Delivery {
	body, err := json.Marshal(struct {
		Source string          `json:"source"`
		Event  providers.Event `json:"event"`
	}{"status API", ev})
	if err != nil {
		panic(err) // a plain struct
	}
	sum := sha256.Sum256(body)
	return engine.Delivery{
		Provider:     provider,
		BodySHA256:   hex.EncodeToString(sum[:]),
		RedactedBody: body,
		Events:       []providers.Event{ev},
		Actor:        Actor,
		RequestID:    id,
	}
}

type metrics struct {
	checks    *prometheus.CounterVec
	submitted *prometheus.CounterVec
	tracked   prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paystate_reconcile_checks_total",
			Help: "Aggregates the reconciler asked their provider about, by result: in_sync, submitted, not_found, error.",
		}, []string{"provider", "result"}),
		submitted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paystate_reconcile_events_total",
			Help: "Events the reconciler submitted through the engine, by verdict.",
		}, []string{"provider", "verdict"}),
		tracked: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "paystate_reconcile_tracked",
			Help: "Non-terminal aggregates the reconciler is watching.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.checks, m.submitted, m.tracked)
	}
	return m
}
