// Package bulkload fills a paystate store with many aggregates quickly, for
// the benchmarks that need a large store (docs/performance.md, "Growth").
//
// Ingesting through the engine runs a decision and several statements per
// event: a few thousand aggregates a second, so a store of ten million
// would take most of an hour. Here only the first aggregate of a sequence
// goes through the real engine; every other one is a copy of what the
// engine wrote for it — journal entries, receipts and aggregates — with
// the identifier, the body hashes and the receipt times changed, and the
// dedupe keys the provider derives from the copy's bodies. The copies are
// appended through storage.Tx in large transactions, so the store numbers
// and chains them exactly as it does every entry; for SQLite, a faster
// path writes the same rows straight into the database file (sqlite.go).
//
// The result is what ingesting the same webhooks one aggregate at a time
// would have written, provided that the engine decides a fresh aggregate
// the same way whatever its identifier (it does: identifiers are keys, not
// inputs of the machines). Copy i is received i microseconds after the
// first, so receipt times grow with the journal as they do in production.
package bulkload

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/paystate/paystate/engine"
	"github.com/paystate/paystate/providers"
	"github.com/paystate/paystate/redact"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
)

// Sequence is what happens to one aggregate: the webhooks it receives.
type Sequence struct {
	Provider providers.Provider
	// Bodies returns the raw webhook bodies of the aggregate named id, in
	// the order they arrive. id must appear in them wherever it belongs
	// (the aggregate's identifier, references derived from it), since the
	// copies are made by replacing it.
	Bodies func(id string) [][]byte
	// ID names aggregate i. Every ID has the length of ID(0), and ID(0)
	// appears nowhere in the bodies but where it names the aggregate:
	// same-length replacement keeps any length-prefixed encoding valid.
	ID func(i int) string
}

// Options tune Load. Zero values take the defaults.
type Options struct {
	// PerCommit is about how many journal entries one transaction
	// appends. Default 5000.
	PerCommit int
	// Start is the receipt time of aggregate 0. Default: now.
	Start time.Time
	// SQLiteFile, when the store is SQLite, is its database file: the
	// copies are then written into it on a connection of Load's own, by
	// multi-row INSERTs with the file synced once at the end, instead of
	// through storage.Tx (several times faster; see sqliteFile).
	SQLiteFile string
	// Progress, when set, is called after each batch with the number of
	// aggregates written so far.
	Progress func(done int)
}

// Stats is what Load wrote.
type Stats struct {
	Aggregates int
	Entries    int64
	Elapsed    time.Duration
}

// Load writes n aggregates following seq into store: aggregate 0 through
// the engine, the others as copies of it. Nothing else may write to store
// while Load runs.
func Load(ctx context.Context, store storage.Store, machines *sm.Registry, seq Sequence, n int, o Options) (Stats, error) {
	start := time.Now()
	if n < 1 {
		return Stats{}, errors.New("bulkload: nothing to load")
	}
	if o.PerCommit <= 0 {
		o.PerCommit = 5000
	}
	if o.Start.IsZero() {
		o.Start = time.Now()
	}
	o.Start = o.Start.Truncate(time.Microsecond)
	t, err := ingestTemplate(ctx, store, machines, seq, o.Start)
	if err != nil {
		return Stats{}, err
	}
	st := Stats{Aggregates: 1, Entries: int64(len(t.entries))}
	var w writer = txWriter{store}
	if o.SQLiteFile != "" {
		head, err := store.Head(ctx)
		if err != nil {
			return st, err
		}
		if w, err = openSQLiteFile(ctx, o.SQLiteFile, head, t); err != nil {
			return st, err
		}
	}
	last, err := t.pipeline(ctx, seq, n, max(1, o.PerCommit/len(t.entries)), w, func(done int) {
		st.Aggregates = done
		st.Entries = int64(done * len(t.entries))
		if o.Progress != nil {
			o.Progress(done)
		}
	})
	if err = errors.Join(err, w.close(ctx)); err == nil && n > 1 {
		// On PostgreSQL the entries are committed unsealed: sealed here,
		// so that they are in the journal the check reads.
		if err = storage.SealAll(ctx, store); err == nil {
			err = t.check(ctx, store, last)
		}
	}
	st.Elapsed = time.Since(start)
	return st, err
}

// writer commits batches of copies.
type writer interface {
	write(ctx context.Context, t *template, batch []copyOf) error
	close(ctx context.Context) error
}

// txWriter writes through the store, one Update per batch.
type txWriter struct{ store storage.Store }

func (w txWriter) write(ctx context.Context, t *template, batch []copyOf) error {
	return w.store.Update(ctx, func(tx storage.Tx) error { return t.write(ctx, tx, batch) })
}

func (txWriter) close(context.Context) error { return nil }

// pipeline makes the copies of aggregates 1..n-1 on every core while w
// commits the batches before them (parsing the copies' bodies costs about
// as much as writing them), and returns the last copy.
func (t *template) pipeline(ctx context.Context, seq Sequence, n, perCommit int, w writer, progress func(done int)) (copyOf, error) {
	ctx, cancel := context.WithCancel(ctx)
	batches := make(chan chan batchOf, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	wg.Go(func() {
		defer close(batches)
		for from := 1; from < n; from += perCommit {
			done := make(chan batchOf, 1)
			select {
			case batches <- done:
			case <-ctx.Done():
				return
			}
			wg.Go(func() { done <- t.batch(seq, from, min(from+perCommit, n)) })
		}
	})
	var last copyOf
	written := 1
	for done := range batches {
		b := <-done
		if b.err != nil {
			return last, b.err
		}
		if err := w.write(ctx, t, b.copies); err != nil {
			return last, fmt.Errorf("bulkload: after %d aggregates: %w", written, err)
		}
		last = b.copies[len(b.copies)-1]
		written += len(b.copies)
		progress(written)
	}
	return last, ctx.Err()
}

// check reads the last copy back through the store: its entries must
// verify (every field is hashed) and end the chain, and its aggregates
// must be what was written. It catches a writer that no longer lays rows
// out as the store reads them.
func (t *template) check(ctx context.Context, store storage.Store, last copyOf) error {
	head, err := store.Head(ctx)
	if err != nil {
		return err
	}
	rep, err := storage.VerifyRange(ctx, store, head.Seq-int64(len(t.entries))+1, 0)
	if err != nil {
		return err
	}
	if !rep.OK {
		return fmt.Errorf("bulkload: the loaded journal does not verify: %s", rep.Problem)
	}
	for _, want := range last.aggs {
		got, err := store.Aggregate(ctx, want.Key)
		if err != nil {
			return fmt.Errorf("bulkload: reading back %v: %w", want.Key, err)
		}
		if !sameAggregate(got, want) {
			return fmt.Errorf("bulkload: %v reads back as %+v, not %+v", want.Key, got, want)
		}
	}
	return nil
}

func sameAggregate(a, b storage.Aggregate) bool {
	for _, x := range []*storage.Aggregate{&a, &b} {
		x.CreatedAt, x.UpdatedAt = time.UnixMicro(x.CreatedAt.UnixMicro()), time.UnixMicro(x.UpdatedAt.UnixMicro())
	}
	return a == b
}

// template is what the engine wrote for aggregate 0.
type template struct {
	id     string
	bodies [][]byte
	// sums are the hex SHA-256 of bodies.
	sums []string
	// event maps each dedupe key of the template to the body and the
	// event of that body it came from: providers derive dedupe keys in
	// their own ways (N-Genius hashes several fields), so a copy's keys
	// come from parsing the copy's bodies.
	event   map[string][2]int
	entries []storage.JournalEntry
	// receipt[j]: entry j recorded its dedupe key (first sight of it).
	receipt []bool
	// resolves[j] is the index of the entry that entry j resolves, or -1.
	resolves []int
	aggs     []storage.Aggregate
}

// ingestTemplate runs aggregate 0's webhooks through the engine, as the
// webhook handler does, and reads back everything they wrote.
func ingestTemplate(ctx context.Context, store storage.Store, machines *sm.Registry, seq Sequence, at time.Time) (*template, error) {
	t := &template{id: seq.ID(0), bodies: seq.Bodies(seq.ID(0))}
	if t.id == "" || len(t.bodies) == 0 {
		return nil, errors.New("bulkload: the sequence has no id or no bodies")
	}
	head, err := store.Head(ctx)
	if err != nil {
		return nil, err
	}
	eng := engine.New(store, machines, engine.Config{Now: func() time.Time { return at }, SweepEvery: time.Hour})
	engCtx, stop := context.WithCancel(ctx)
	var run sync.WaitGroup
	run.Go(func() { eng.Run(engCtx) })
	defer func() { stop(); run.Wait() }()
	t.event = map[string][2]int{}
	for b, body := range t.bodies {
		d, err := delivery(seq.Provider, body)
		if err != nil {
			return nil, err
		}
		for k, ev := range d.Events {
			t.event[ev.DedupeKey] = [2]int{b, k}
		}
		if n := bytes.Count(body, []byte(t.id)); n == 0 || bytes.Count(d.RedactedBody, []byte(t.id)) != n {
			return nil, fmt.Errorf("bulkload: %q must appear in every body, and survive redaction", t.id)
		}
		if _, err := eng.Submit(ctx, d); err != nil {
			return nil, err
		}
		t.sums = append(t.sums, d.BodySHA256)
	}
	stop()
	run.Wait()
	// A store that seals after commit (PostgreSQL): the template's
	// entries are read from the journal, sealed.
	if err := storage.SealAll(ctx, store); err != nil {
		return nil, err
	}

	if t.entries, err = store.Journal(ctx, nil, head.Seq, 10000); err != nil {
		return nil, err
	}
	bySeq := map[int64]int{}
	keys := map[storage.AggregateKey]bool{}
	for j, e := range t.entries {
		if _, ok := t.event[e.DedupeKey]; !ok {
			return nil, fmt.Errorf("bulkload: entry %d is not one of the sequence's events", e.Seq)
		}
		bySeq[e.Seq] = j
		t.resolves = append(t.resolves, -1)
		if e.ResolvesSeq != 0 {
			k, ok := bySeq[e.ResolvesSeq]
			if !ok {
				return nil, fmt.Errorf("bulkload: entry %d resolves %d, outside the sequence", e.Seq, e.ResolvesSeq)
			}
			t.resolves[j] = k
		}
		if e.Key.Kind != "" && !keys[e.Key] {
			keys[e.Key] = true
			a, err := store.Aggregate(ctx, e.Key)
			if errors.Is(err, storage.ErrNotFound) {
				continue // nothing was applied to it
			}
			if err != nil {
				return nil, err
			}
			if held, err := store.PendingDeferred(ctx, e.Key); err != nil || held > 0 {
				return nil, errors.Join(err, fmt.Errorf("bulkload: the sequence leaves events held for %v", e.Key))
			}
			t.aggs = append(t.aggs, a)
		}
	}
	err = store.Update(ctx, func(tx storage.Tx) error {
		t.receipt = make([]bool, len(t.entries))
		for j, e := range t.entries {
			r, err := tx.Receipt(ctx, e.Key.Provider, e.DedupeKey)
			if errors.Is(err, storage.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			t.receipt[j] = r.Seq == e.Seq
		}
		return nil
	})
	return t, err
}

// delivery is what the webhook handler submits for an authenticated body.
func delivery(p providers.Provider, body []byte) (engine.Delivery, error) {
	events, err := p.Parse(body)
	if err == nil {
		err = providers.CheckText(events)
	}
	if err != nil {
		return engine.Delivery{}, fmt.Errorf("bulkload: %s body: %w", p.Name(), err)
	}
	sum := sha256.Sum256(body)
	return engine.Delivery{Provider: p.Name(), BodySHA256: hex.EncodeToString(sum[:]), RedactedBody: redact.Body(body), Events: events}, nil
}

// copyOf is the template made for another identifier.
type copyOf struct {
	entries []storage.JournalEntry
	aggs    []storage.Aggregate
}

type batchOf struct {
	copies []copyOf
	err    error
}

// batch makes the copies of aggregates from..to-1.
func (t *template) batch(seq Sequence, from, to int) batchOf {
	b := batchOf{copies: make([]copyOf, 0, to-from)}
	for i := from; i < to; i++ {
		c, err := t.copy(seq.Provider, seq.ID(i), time.Duration(i)*time.Microsecond)
		if err != nil {
			return batchOf{err: err}
		}
		b.copies = append(b.copies, c)
	}
	return b
}

// copy rewrites the template for id, received later by shift.
func (t *template) copy(p providers.Provider, id string, shift time.Duration) (copyOf, error) {
	if len(id) != len(t.id) {
		return copyOf{}, fmt.Errorf("bulkload: id %q is not as long as %q", id, t.id)
	}
	sums := make(map[string]string, len(t.sums))
	events := make([][]providers.Event, len(t.bodies))
	for b, body := range t.bodies {
		body = bytes.ReplaceAll(body, []byte(t.id), []byte(id))
		sum := sha256.Sum256(body)
		sums[t.sums[b]] = hex.EncodeToString(sum[:])
		var err error
		if events[b], err = p.Parse(body); err != nil {
			return copyOf{}, fmt.Errorf("bulkload: %s: %w", id, err)
		}
	}
	dedupeKey := func(template string) (string, error) {
		at := t.event[template]
		if at[1] >= len(events[at[0]]) {
			return "", fmt.Errorf("bulkload: %s: the copy's body %d parses into fewer events than the template's", id, at[0])
		}
		return events[at[0]][at[1]].DedupeKey, nil
	}
	str := func(s string) string { return strings.ReplaceAll(s, t.id, id) }
	later := func(at time.Time) time.Time {
		if at.IsZero() {
			return at
		}
		return at.Add(shift)
	}
	c := copyOf{entries: make([]storage.JournalEntry, len(t.entries)), aggs: make([]storage.Aggregate, len(t.aggs))}
	for j, e := range t.entries {
		e.Seq, e.PrevHash, e.Hash, e.ResolvesSeq = 0, "", "", 0
		var err error
		if e.DedupeKey, err = dedupeKey(e.DedupeKey); err != nil {
			return copyOf{}, err
		}
		e.Key.ID, e.Reason = str(e.Key.ID), str(engine.ShiftHeldUntil(&e, shift))
		e.RedactedBody = bytes.ReplaceAll(e.RedactedBody, []byte(t.id), []byte(id))
		e.Payload = bytes.ReplaceAll(e.Payload, []byte(t.id), []byte(id))
		if s, ok := sums[e.BodySHA256]; ok {
			e.BodySHA256 = s
		}
		e.ReceivedAt = later(e.ReceivedAt)
		c.entries[j] = e
	}
	for j, a := range t.aggs {
		a.Key.ID, a.Parent.ID, a.MerchantReference = str(a.Key.ID), str(a.Parent.ID), str(a.MerchantReference)
		a.CreatedAt, a.UpdatedAt = later(a.CreatedAt), later(a.UpdatedAt)
		c.aggs[j] = a
	}
	return c, nil
}

// write appends batch in tx with the receipts and final aggregates the
// engine wrote for each copy.
func (t *template) write(ctx context.Context, tx storage.Tx, batch []copyOf) error {
	return t.walk(batch, func(j int, e *storage.JournalEntry) error {
		if err := tx.Append(ctx, e); err != nil {
			return err
		}
		if t.receipt[j] {
			return tx.PutReceipt(ctx, e.Key.Provider, e.DedupeKey, storage.Receipt{Seq: e.Seq, BodySHA256: e.BodySHA256})
		}
		return nil
	}, func(_ int, a *storage.Aggregate) error { return tx.PutAggregate(ctx, *a) })
}

// walk calls entry for each copy's entries in the template's order, then
// agg for its aggregates. entry gets a copy of the entry (so a retried
// transaction starts afresh) whose ResolvesSeq is the Seq entry set on the
// entry it resolves.
func (t *template) walk(batch []copyOf, entry func(j int, e *storage.JournalEntry) error, agg func(j int, a *storage.Aggregate) error) error {
	seqs := make([]int64, len(t.entries))
	for _, c := range batch {
		for j := range c.entries {
			e := c.entries[j]
			if k := t.resolves[j]; k >= 0 {
				e.ResolvesSeq = seqs[k]
			}
			if err := entry(j, &e); err != nil {
				return err
			}
			seqs[j] = e.Seq
		}
		for j := range c.aggs {
			if err := agg(j, &c.aggs[j]); err != nil {
				return err
			}
		}
	}
	return nil
}
