package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/paystate/paystate/providers"
	"github.com/paystate/paystate/redact"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
)

// Actors recorded on journal entries.
const (
	ActorWebhook = "webhook"
	ActorEngine  = "engine"
)

// ErrClosed is returned by Submit once the engine has stopped.
var ErrClosed = errors.New("engine: closed")

// UnprocessableError is Submit's error for a delivery that failed on its
// own, for a reason other than the store being unavailable (a statement
// the store refuses, a panic while deciding it): a retry fails the same
// way. The other deliveries of its batch are committed without it.
type UnprocessableError struct {
	// Cause is what failed.
	Cause error
	// Recorded holds the journal entry that records the delivery as
	// rejected (malformed), with the cause, when the store took it.
	Recorded []Outcome
}

// Error says what failed, masked as every text the engine keeps is: it
// is logged and answered.
func (e *UnprocessableError) Error() string {
	return "engine: delivery cannot be processed: " + redact.Text(e.Cause.Error())
}

func (e *UnprocessableError) Unwrap() error { return e.Cause }

// Stack is the goroutine's stack where the delivery panicked, for the
// log; nil when it did not panic.
func (e *UnprocessableError) Stack() []byte {
	var p *panicError
	if errors.As(e.Cause, &p) {
		return p.stack
	}
	return nil
}

// panicError is a panic recovered while a transaction ran.
type panicError struct {
	value any
	stack []byte
}

func (p *panicError) Error() string { return fmt.Sprintf("panic: %v", p.value) }

// Config tunes the engine. Zero values take the defaults.
type Config struct {
	// DeferWindow is how long an early event is held before it expires
	// into rejected. Default 24h.
	DeferWindow time.Duration
	// MaxBatch bounds how many deliveries one transaction gathers.
	// Default 256.
	MaxBatch int
	// MaxDelay bounds how long the committer waits for more deliveries
	// once the queue is empty, before committing a batch smaller than
	// MaxBatch. Zero (the default) adds no wait: under load, batches form
	// by themselves while the previous commit flushes; a short delay
	// trades latency for larger batches when load is moderate.
	MaxDelay time.Duration
	// SweepEvery is how often expired deferred events are resolved.
	// Default 1 minute.
	SweepEvery time.Duration
	// Now is the clock (tests replace it).
	Now func() time.Time
	// Notifier, if set, is told after every successful commit — unless
	// the store seals entries after they commit (storage.Sealer), whose
	// sealer must tell it instead (postgres.Store.RunSealer's OnSealed):
	// subscribers read the journal, which holds only sealed entries.
	Notifier *Notifier
	// Observer, if set, is told about every batch (metrics).
	Observer Observer
	// IDKey masks identifiers that hold a card number (redact.IDKey); the
	// zero value uses a key of the running process, so that a restarted
	// engine files such identifiers under new names: set it in production.
	IDKey redact.IDKey
	// CommitTimeout bounds each transaction, from begin to commit: a
	// store that stops answering fails the batch with
	// storage.ErrUnavailable (its webhooks are answered 503) instead of
	// holding it, every webhook behind it and shutdown. Default
	// storage.DefaultTimeout.
	CommitTimeout time.Duration
	// TracerProvider, if set, traces submissions and batches (see
	// trace.go); nil: no spans, at no cost.
	TracerProvider trace.TracerProvider
	// Encoder is the store's storage.Encoder, for a store handed to New
	// wrapped in something that hides it (a cache); nil: the store's own
	// when it has one. Submit encodes each delivery's body and payloads
	// with it, off the writer.
	Encoder storage.Encoder
}

// WithDefaults returns c as New uses it, every unset field given its
// default ("config check" prints what the server will run with).
// DefaultMaxBatch is Config.MaxBatch when unset.
const DefaultMaxBatch = 256

func (c Config) WithDefaults() Config {
	c.defaults()
	return c
}

func (c *Config) defaults() {
	if c.DeferWindow <= 0 {
		c.DeferWindow = 24 * time.Hour
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.SweepEvery <= 0 {
		c.SweepEvery = time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.CommitTimeout <= 0 {
		c.CommitTimeout = storage.DefaultTimeout
	}
}

// Delivery is one authenticated webhook: its events and what is kept of
// its body.
type Delivery struct {
	Provider string
	// BodySHA256 is the hex SHA-256 of the body as received.
	BodySHA256 string
	// RedactedBody is the body after card-data redaction.
	RedactedBody []byte
	Events       []providers.Event
	// Malformed, when set, records the delivery as rejected with this
	// reason instead of deciding events.
	Malformed string
	Actor     string
	// RequestID follows the delivery into its outcomes; empty means the
	// one Submit's context carries (package reqid).
	RequestID string
}

// Outcome is the verdict of one event.
type Outcome struct {
	// Seq is the entry's place in the journal; 0 when the store seals
	// entries after they commit (PostgreSQL) and had not sealed it when
	// the outcome was made: the entry is durable, and its place is
	// assigned when sealed.
	Seq         int64
	Key         storage.AggregateKey
	Event       string
	Verdict     sm.Verdict
	Reason      string
	StateBefore string
	StateAfter  string
	Version     int64
	// Resolved lists deferred events that this event made legal (or
	// finally illegal) and that were resolved in the same transaction.
	Resolved []Outcome
	// RequestID is the id of the request that caused the outcome (for
	// logs; it is not journaled).
	RequestID string
	// Malformed, set on the one outcome of a delivery recorded as
	// malformed instead of decided, says why: its body did not parse, or
	// holds text storage cannot keep.
	Malformed string
}

// Engine ingests deliveries. Create it with New, run it with Run.
type Engine struct {
	store    storage.Store
	machines *sm.Registry
	cfg      Config

	queue chan *request
	// admin carries re-evaluations: each is a transaction of its own, never
	// gathered into a batch of deliveries.
	admin   chan *request
	running atomic.Bool
	// inflight counts Submit calls between enqueue and answer so that Run
	// can drain them before it returns.
	inflight sync.WaitGroup
	mu       sync.RWMutex
	closed   bool
	health   health
	// tracer is nil when tracing is off.
	tracer trace.Tracer
	// encoder is nil when the store has none.
	encoder storage.Encoder
}

type request struct {
	d     Delivery
	sweep time.Time // non-zero: resolve deferred events expired by then
	// reeval, when set, re-decides aggregates (Reevaluate); its results
	// are written into it.
	reeval *reevalJob
	reply  chan reply
	// pre is what Submit made of d before queueing it (prepare.go).
	pre prepared
	// tr is nil when the request is not traced (trace.go).
	tr *requestTrace
}

type reply struct {
	outcomes []Outcome
	err      error
	// tr is the request's, its batch span set: the channel orders the
	// committer's write before the submitter's read.
	tr *requestTrace
}

// New returns an engine over store running the machines.
func New(store storage.Store, machines *sm.Registry, cfg Config) *Engine {
	cfg.defaults()
	e := &Engine{
		store:    store,
		machines: machines,
		cfg:      cfg,
		queue:    make(chan *request, cfg.MaxBatch),
		admin:    make(chan *request),
	}
	if cfg.TracerProvider != nil {
		e.tracer = cfg.TracerProvider.Tracer(tracerName)
	}
	e.encoder = cfg.Encoder
	if e.encoder == nil {
		e.encoder, _ = store.(storage.Encoder)
	}
	return e
}

// Submit decides and durably commits d, then returns the verdicts. An error
// means nothing of d was committed (wrapping storage.ErrUnavailable when a
// retry may help) — or that ctx ended first, in which case the commit may
// still happen and a redelivery will be answered as a duplicate. One more
// case cannot be told apart: a transaction whose COMMIT was sent but whose
// answer did not come back within CommitTimeout fails with
// storage.ErrUnavailable, yet the database may have committed it; then,
// too, a redelivery is answered as a duplicate, never applied twice.
func (e *Engine) Submit(ctx context.Context, d Delivery) ([]Outcome, error) {
	if d.Actor == "" {
		d.Actor = ActorWebhook
	}
	if err := providers.CheckText(d.Events); err != nil && d.Malformed == "" {
		// Storage cannot hold such text; record the delivery as malformed
		// instead of failing every batch it joins.
		d.Events, d.Malformed = nil, err.Error()
	}
	d.RequestID = requestID(ctx, d)
	d = mask(d, e.cfg.IDKey)
	r := &request{d: d, pre: e.prepare(d), reply: make(chan reply, 1)}
	if e.tracer != nil {
		return e.tracedSubmit(ctx, r)
	}
	return e.enqueue(ctx, r)
}

// Sweep resolves every deferred event whose window has passed by now.
func (e *Engine) Sweep(ctx context.Context, now time.Time) ([]Outcome, error) {
	return e.enqueue(ctx, &request{sweep: now, reply: make(chan reply, 1)})
}

func (e *Engine) enqueue(ctx context.Context, r *request) ([]Outcome, error) {
	rep := e.exchange(ctx, r)
	return rep.outcomes, rep.err
}

// exchange queues r and waits for its reply.
func (e *Engine) exchange(ctx context.Context, r *request) reply {
	e.mu.RLock()
	if e.closed {
		e.mu.RUnlock()
		return reply{err: ErrClosed}
	}
	e.inflight.Add(1)
	e.mu.RUnlock()
	defer e.inflight.Done()
	queue := e.queue
	if r.reeval != nil {
		queue = e.admin
	}
	select {
	case queue <- r:
	case <-ctx.Done():
		return reply{err: ctx.Err()}
	}
	select {
	case rep := <-r.reply:
		return rep
	case <-ctx.Done():
		return reply{err: ctx.Err()}
	}
}

// Run commits batches until ctx ends, then stops taking new work, finishes
// every submission already made, and returns. Run must be called once: a
// second call panics, since two committers would race for one queue.
func (e *Engine) Run(ctx context.Context) {
	if !e.running.CompareAndSwap(false, true) {
		panic("engine: Run called twice")
	}
	// CPU profiles tell the writer's work (and that of any goroutine it
	// starts) from the rest by this label.
	pprof.Do(ctx, pprof.Labels("paystate", "writer"), e.run)
}

func (e *Engine) run(ctx context.Context) {
	sweep := time.NewTicker(e.cfg.SweepEvery)
	defer sweep.Stop()
	drained := make(chan struct{})
	go func() {
		<-ctx.Done()
		e.mu.Lock()
		e.closed = true
		e.mu.Unlock()
		e.inflight.Wait()
		close(drained)
	}()
	for {
		select {
		case r := <-e.queue:
			e.commit(context.WithoutCancel(ctx), e.gather(r))
		case r := <-e.admin:
			e.commit(context.WithoutCancel(ctx), []*request{r})
		case <-sweep.C:
			r := &request{sweep: e.cfg.Now(), reply: make(chan reply, 1)}
			e.commit(context.WithoutCancel(ctx), e.gather(r))
		case <-drained:
			// Everything enqueued has been answered; anything still in
			// the queue belongs to a Submit whose ctx ended.
			for {
				select {
				case r := <-e.queue:
					e.commit(context.WithoutCancel(ctx), e.gather(r))
				case r := <-e.admin:
					e.commit(context.WithoutCancel(ctx), []*request{r})
				default:
					return
				}
			}
		}
	}
}

// gather takes first plus whatever else is queued, up to MaxBatch, waiting
// at most MaxDelay for more when the queue runs dry.
func (e *Engine) gather(first *request) []*request {
	batch := []*request{first}
	var deadline <-chan time.Time
	for len(batch) < e.cfg.MaxBatch {
		select {
		case r := <-e.queue:
			batch = append(batch, r)
			continue
		default:
		}
		if e.cfg.MaxDelay <= 0 {
			return batch
		}
		if deadline == nil {
			t := time.NewTimer(e.cfg.MaxDelay)
			defer t.Stop()
			deadline = t.C
		}
		select {
		case r := <-e.queue:
			batch = append(batch, r)
		case <-deadline:
			return batch
		}
	}
	return batch
}

// commit runs a batch in one transaction and answers every request in it.
// If the store is unavailable (or corrupted), every request gets the
// error: nothing of the batch was committed, and a retry may help (or an
// operator must). If the batch failed for
// another reason, that is one delivery's own (a statement the store
// refuses, a panic deciding it): each request is committed alone, so that
// only that one fails.
func (e *Engine) commit(ctx context.Context, batch []*request) {
	results, err := e.transact(ctx, batch)
	if err != nil && !storeFault(err) {
		if len(batch) > 1 {
			for _, r := range batch {
				e.commit(ctx, []*request{r})
			}
			return
		}
		e.unprocessable(ctx, batch[0], err)
		return
	}
	if err == nil {
		e.notify()
	}
	for i, r := range batch {
		if err != nil {
			r.reply <- reply{err: fmt.Errorf("engine: batch of %d not committed: %w", len(batch), err), tr: r.tr}
		} else {
			stamp(results[i], r.d.RequestID)
			r.reply <- reply{outcomes: results[i], tr: r.tr}
		}
	}
}

// transact runs batch in one transaction, bounded by CommitTimeout, and
// reports it to the observer. A panic deciding a delivery fails the
// transaction (which rolls back) instead of the committer.
func (e *Engine) transact(ctx context.Context, batch []*request) ([][]Outcome, error) {
	// The transaction runs on one OS thread, so that the thread's CPU
	// clock measures the writer's own work (deciding, statements, the
	// store's commit), whatever else the process runs meanwhile.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu0, measured := threadCPU()
	ctx, late, cancel := storage.Bound(ctx, e.cfg.CommitTimeout)
	defer cancel()
	results := make([][]Outcome, len(batch))
	ctx, span := e.startBatch(ctx, batch)
	start := time.Now()
	// decided is when the last statement of the batch's (last) attempt
	// returned: what the store does after it is making the batch durable.
	var decided time.Time
	var last *batchTx
	err := e.store.Update(ctx, func(stx storage.Tx) (err error) {
		defer func() {
			if v := recover(); v != nil {
				err = &panicError{value: v, stack: debug.Stack()}
			}
		}()
		decided = time.Time{}
		tx, err := prefetch(ctx, stx, batch)
		last = tx
		if err != nil {
			return err
		}
		for i, r := range batch {
			var err error
			switch {
			case r.reeval != nil:
				err = e.reevaluate(ctx, tx, r.reeval)
			case r.sweep.IsZero():
				results[i], err = e.ingest(ctx, tx, r.d, &r.pre)
			default:
				results[i], err = e.expire(ctx, tx, r.sweep)
			}
			if err != nil {
				return err
			}
		}
		decided = time.Now()
		return nil
	})
	if err == nil {
		// A store that seals after commit has now set the entries' Seq
		// to 0 (not sealed yet); the outcomes copied handles.
		for i, r := range batch {
			last.settle(results[i])
			if r.reeval != nil {
				for j := range r.reeval.out {
					last.settle(r.reeval.out[j].Appended)
				}
			}
		}
	}
	err = e.health.record(late(err))
	end := time.Now()
	var committing time.Duration
	if !decided.IsZero() {
		committing = end.Sub(decided)
	}
	var cpu time.Duration
	if cpu1, ok := threadCPU(); ok && measured {
		cpu = cpu1 - cpu0
	}
	e.observe(batch, results, end.Sub(start), committing, cpu, err)
	if span != nil {
		e.endBatch(ctx, span, start, decided, end, err)
	}
	return results, err
}

// notify tells the Notifier that the journal grew, when a commit makes it
// grow: not on a store that seals later (Config.Notifier).
func (e *Engine) notify() {
	if e.cfg.Notifier == nil {
		return
	}
	if _, sealsLater := storage.AsSealer(e.store); sealsLater {
		return
	}
	e.cfg.Notifier.Notify()
}

// unprocessable answers a request that failed alone, for a reason of its
// own. A delivery is recorded as rejected (malformed, with the cause), so
// that what the provider sent is kept for audit and for a later
// re-evaluation; the request is answered with an UnprocessableError either
// way.
func (e *Engine) unprocessable(ctx context.Context, r *request, cause error) {
	ue := &UnprocessableError{Cause: cause}
	if r.reeval == nil && r.sweep.IsZero() && r.d.Malformed == "" {
		rec := *r
		rec.d.Events, rec.d.Malformed = nil, redact.Text("not processed: "+cause.Error())
		if results, err := e.transact(ctx, []*request{&rec}); err == nil {
			stamp(results[0], r.d.RequestID)
			ue.Recorded = results[0]
			e.notify()
		}
	}
	r.reply <- reply{err: ue, tr: r.tr}
}
