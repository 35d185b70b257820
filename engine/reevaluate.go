package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
)

// ActorReevaluation is the actor of the entries a re-evaluation appends.
const ActorReevaluation = "reevaluation"

// ReevaluateOptions choose what Reevaluate re-decides.
type ReevaluateOptions struct {
	// Provider limits it to one provider's aggregates (empty: all).
	Provider string
	// Since limits it to aggregates with an older version's verdict
	// received at or after Since (zero: any time). The whole history of
	// each such aggregate is re-run all the same.
	Since time.Time
	// DryRun decides and reports without writing anything.
	DryRun bool
	// After resumes a paged re-evaluation: only aggregates whose key sorts
	// after it (zero: from the first).
	After storage.AggregateKey
	// Limit is how many aggregates this call re-decides at most (0: all);
	// the report's More says whether others remain after its Last.
	Limit int
}

// Reevaluation is what re-deciding one aggregate found and, unless a dry
// run, appended.
type Reevaluation struct {
	Key storage.AggregateKey
	// Before is the aggregate as stored, After as the current tables leave
	// it (State "new": nothing applied). They differ only when Changes do.
	Before, After storage.Aggregate
	// Changes are the events whose verdict the current tables change.
	Changes []Change
	// Appended are the entries written, one per change (none on a dry run
	// or when Refused).
	Appended []Outcome
	// Refused, when set, says why the changes were not appended: the
	// current tables would also undo an applied event, and a re-evaluation
	// only appends.
	Refused string
}

// Change is one event whose verdict a re-evaluation changes.
type Change struct {
	// Seq is the entry whose verdict is revised: the event's latest.
	Seq   int64
	Event string
	// Was is that entry's verdict, reason and machine version.
	Was                   sm.Verdict
	WasReason, WasVersion string
	// Now is the verdict of the current tables and Version their version.
	Now                sm.Verdict
	NowReason, Version string
}

// ReevaluateReport is the outcome of Reevaluate.
type ReevaluateReport struct {
	// Examined counts the aggregates re-decided.
	Examined int
	// Aggregates are those with changes (or refused ones), in key order.
	Aggregates []Reevaluation
	// Total counts the aggregates the filter selects, from the first:
	// those of earlier pages included.
	Total int
	// Last is the key of the last aggregate re-decided, and More whether
	// others follow it: pass Last as After for the next page.
	Last storage.AggregateKey
	More bool
}

// reevalChunk is how many aggregates one write transaction re-decides:
// live deliveries wait behind it, so it stays small.
const reevalChunk = 32

// Reevaluate re-decides every aggregate that has a rejected, held or
// recorded verdict decided by an older version of its machine than the one
// the engine runs now, by running the aggregate's whole history through
// the current table. Where a verdict changes, it appends a new entry that
// points at the one it revises (RevisesSeq), with the usual verdict;
// nothing is rewritten, and the aggregate follows the new entries. Each
// group of aggregates is re-decided and written in one transaction of the
// engine's single writer, so it never races live deliveries.
//
// With opt.Limit it re-decides one page of the aggregates, in key order,
// after opt.After; paging through them re-decides and appends exactly what
// one call does. Every page lists the candidates again (one pass over the
// journal), so Total stays current.
func (e *Engine) Reevaluate(ctx context.Context, opt ReevaluateOptions) (ReevaluateReport, error) {
	// Re-evaluation reads the journal, which holds sealed entries only:
	// on a store that seals after commit, everything acknowledged so far
	// is sealed first (and each aggregate again under its lock, should
	// more have committed since: reevaluate).
	if err := storage.SealAll(ctx, e.store); err != nil {
		return ReevaluateReport{}, err
	}
	keys, err := e.reevalCandidates(ctx, opt)
	if err != nil {
		return ReevaluateReport{}, err
	}
	rep := ReevaluateReport{Total: len(keys)}
	if opt.After != (storage.AggregateKey{}) {
		// Keys are in order: skip those of earlier pages.
		i, _ := slices.BinarySearchFunc(keys, opt.After, storage.AggregateKey.Compare)
		for i < len(keys) && keys[i].Compare(opt.After) <= 0 {
			i++
		}
		keys = keys[i:]
	}
	if opt.Limit > 0 && len(keys) > opt.Limit {
		keys, rep.More = keys[:opt.Limit], true
	}
	rep.Examined = len(keys)
	if len(keys) > 0 {
		rep.Last = keys[len(keys)-1]
	}
	for len(keys) > 0 {
		n := min(len(keys), reevalChunk)
		job := &reevalJob{keys: keys[:n], dryRun: opt.DryRun}
		keys = keys[n:]
		if opt.DryRun {
			// Nothing is written: read what is committed, outside the writer.
			err = e.reevaluate(ctx, nil, job)
		} else {
			_, err = e.enqueue(ctx, &request{reeval: job, reply: make(chan reply, 1)})
		}
		if err != nil {
			return rep, err
		}
		for _, r := range job.out {
			if len(r.Changes) > 0 || r.Refused != "" {
				rep.Aggregates = append(rep.Aggregates, r)
			}
		}
	}
	return rep, nil
}

// reevalJob is one group of aggregates for the writer.
type reevalJob struct {
	keys   []storage.AggregateKey
	dryRun bool
	out    []Reevaluation
}

// reevalCandidates lists, in key order, the aggregates with a verdict that
// an older version decided and that re-evaluation could change.
func (e *Engine) reevalCandidates(ctx context.Context, opt ReevaluateOptions) ([]storage.AggregateKey, error) {
	found := map[storage.AggregateKey]bool{}
	var keys []storage.AggregateKey
	for after := int64(0); ; {
		page, err := e.store.Journal(ctx, nil, after, replayPage)
		if err != nil {
			return nil, err
		}
		for i := range page {
			en := &page[i]
			after = en.Seq
			if found[en.Key] || !hasLifecycle(en.Key) || (opt.Provider != "" && en.Key.Provider != opt.Provider) ||
				en.ReceivedAt.Before(opt.Since) {
				continue
			}
			switch sm.Verdict(en.Verdict) {
			case sm.VerdictRejected, sm.VerdictDeferred, sm.VerdictRecorded:
			default:
				continue
			}
			m := e.machines.Machine(en.Key.Provider, sm.Kind(en.Key.Kind))
			if m == nil || en.MachineVersion == m.Version() {
				continue
			}
			found[en.Key] = true
			keys = append(keys, en.Key)
		}
		if len(page) < replayPage {
			break
		}
	}
	slices.SortFunc(keys, storage.AggregateKey.Compare)
	return keys, nil
}

// reevaluate re-decides job's aggregates. tx is nil on a dry run: what is
// committed is read and nothing is written.
func (e *Engine) reevaluate(ctx context.Context, tx storage.Tx, job *reevalJob) error {
	job.out = job.out[:0] // Update may run the transaction again
	if b, ok := tx.(*batchTx); ok {
		// Every aggregate of the job locked at once, before any is
		// re-decided, as the expiry sweep does (lookupAggregates): one
		// at a time, in key order, they could deadlock with a batch.
		if err := b.lookupAggregates(ctx, job.keys); err != nil {
			return err
		}
	}
	now := e.now()
	for _, key := range job.keys {
		m := e.machines.Machine(key.Provider, sm.Kind(key.Kind))
		var agg storage.Aggregate
		var exists bool
		var err error
		if tx == nil {
			agg, err = e.store.Aggregate(ctx, key)
			exists = err == nil
			if errors.Is(err, storage.ErrNotFound) {
				agg, err = storage.Aggregate{Key: key}, nil
			}
		} else {
			agg, exists, err = e.lock(ctx, tx, key)
		}
		if err != nil {
			return err
		}
		if err := e.sealAggregate(ctx, key); err != nil {
			return err
		}
		entries, err := e.aggregateJournal(ctx, key)
		if err != nil {
			return err
		}
		r, plan, err := planReevaluation(m, agg, exists, entries, now)
		if err != nil {
			return err
		}
		if tx != nil && r.Refused == "" {
			if r.Appended, err = e.appendRevisions(ctx, tx, m, agg, exists, plan, now); err != nil {
				return err
			}
		}
		job.out = append(job.out, r)
	}
	return nil
}

// sealAggregate seals, on a store that seals after commit, what was
// committed of key's aggregate and not sealed yet, so that its journal
// is all of its history. Called holding the aggregate's lock, nothing
// more of it can commit until the re-evaluation does (a dry run, which
// holds no lock, reads what was sealed when it looked). Sealing takes no
// aggregate's lock, so it does not wait for this transaction.
func (e *Engine) sealAggregate(ctx context.Context, key storage.AggregateKey) error {
	se, ok := storage.AsSealer(e.store)
	if !ok {
		return nil
	}
	n, err := se.Unsealed(ctx, &key)
	if err != nil || n == 0 {
		return err
	}
	_, err = se.Seal(ctx)
	return err
}

func (e *Engine) aggregateJournal(ctx context.Context, key storage.AggregateKey) ([]storage.JournalEntry, error) {
	var all []storage.JournalEntry
	for after := int64(0); ; {
		page, err := e.store.Journal(ctx, &key, after, replayPage)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if len(page) < replayPage {
			return all, nil
		}
		after = page[len(page)-1].Seq
	}
}

// event is one event of an aggregate's history as re-evaluation sees it:
// the entry that first recorded it, and the entry that carries its
// current verdict (itself, the resolution of a hold, or a revision).
type event struct {
	origin, last *storage.JournalEntry
	p            payload
	held         bool // its current verdict is deferred: it is held now
	// waiting: its current verdict is an expiry that keeps it in the
	// held table until revived (waitingExpiry).
	waiting bool
	// What the current tables decide, and in which order they apply.
	now       sm.Decision
	appliedAt int // 1-based position among applied events; 0: not applied
}

// revision is one entry to append.
type revision struct {
	ev     *event
	change Change
}

// planReevaluation runs the aggregate's history through m and returns what
// changes, and the revisions to append in order.
func planReevaluation(m *sm.Machine, agg storage.Aggregate, exists bool, entries []storage.JournalEntry, now time.Time) (Reevaluation, []revision, error) {
	r := Reevaluation{Key: agg.Key, Before: agg, After: agg}
	if !exists {
		r.Before.State, r.After.State = string(sm.StateNew), string(sm.StateNew)
	}
	events, err := history(entries)
	if err != nil {
		return r, nil, err
	}

	// The whole history, in arrival order, through the current table, as
	// ingest would have decided it: held events are tried again whenever
	// an event applies. Dedupe is not decided again: only first receipts
	// are events.
	sim, simExists := storage.Aggregate{Key: agg.Key}, false
	var held []*event
	applied := 0
	apply := func(ev *event, dec sm.Decision) {
		sim = advance(sim, simExists, agg.Key, ev.p, dec, now)
		simExists = true
		applied++
		ev.appliedAt = applied
	}
	for _, ev := range events {
		ev.now = sm.Decide(m, snapshot(sim, simExists), ev.p.input(""))
		switch ev.now.Verdict {
		case sm.VerdictDeferred:
			held = append(held, ev)
			continue
		case sm.VerdictApplied:
			apply(ev, ev.now)
		default:
			continue
		}
		for {
			inputs := make([]sm.Input, len(held))
			for i, h := range held {
				inputs[i] = h.p.input("")
			}
			i, dec, ok := nextResolvable(m, snapshot(sim, simExists), inputs)
			if !ok {
				break
			}
			h := held[i]
			held = append(held[:i:i], held[i+1:]...)
			h.now = dec
			if dec.Verdict == sm.VerdictApplied {
				apply(h, dec)
			}
		}
	}

	// What changes: an event the current tables apply that is not applied
	// now, and a held event they reject. One that is applied now and
	// would not be cannot be undone by appending.
	var plan []revision
	version := m.Version()
	for _, ev := range events {
		was := sm.Verdict(ev.last.Verdict)
		nowV := ev.now.Verdict
		switch {
		case was == sm.VerdictApplied && nowV != sm.VerdictApplied:
			r.Refused = fmt.Sprintf("entry %d (%s) is applied, but the current tables %s it (%s); a re-evaluation only appends, so the aggregate is left as it is",
				ev.last.Seq, ev.origin.Event, nowV, ev.now.Reason())
		case was != sm.VerdictApplied && nowV == sm.VerdictApplied,
			ev.held && nowV == sm.VerdictRejected:
		default:
			continue
		}
		plan = append(plan, revision{ev: ev, change: Change{
			Seq: ev.last.Seq, Event: ev.origin.Event,
			Was: was, WasReason: ev.last.Reason, WasVersion: ev.last.MachineVersion,
			Now: nowV, NowReason: ev.now.Reason(), Version: version,
		}})
	}
	for _, rv := range plan {
		r.Changes = append(r.Changes, rv.change)
	}
	if r.Refused != "" || len(plan) == 0 {
		return r, nil, nil
	}
	// Revisions are appended after everything already applied, in the
	// order the re-run applied them; that must lead where the re-run did,
	// or replaying the journal would not give the state written.
	slices.SortStableFunc(plan, func(a, b revision) int { return cmp.Compare(order(a.ev), order(b.ev)) })
	cur, curExists := agg, exists
	for _, rv := range plan {
		if rv.change.Now != sm.VerdictApplied {
			continue
		}
		dec := sm.Decide(m, snapshot(cur, curExists), rv.ev.p.input(""))
		if dec.Verdict != sm.VerdictApplied {
			r.Refused = fmt.Sprintf("the current tables apply %s (entry %d) in the event's place in history, but not after what is applied now (%s); a re-evaluation only appends, so the aggregate is left as it is",
				rv.ev.origin.Event, rv.change.Seq, dec.Reason())
			return r, nil, nil
		}
		cur, curExists = advance(cur, curExists, agg.Key, rv.ev.p, dec, now), true
	}
	// State and amounts, not the provider status: that shows the last
	// word applied, which appending changes without changing the state.
	if !sameState(cur, curExists, sim, simExists) {
		r.Refused = fmt.Sprintf("appending the changes leaves the aggregate %s, the whole history gives %s; a re-evaluation only appends, so the aggregate is left as it is",
			describe(cur, curExists), describe(sim, simExists))
		return r, nil, nil
	}
	r.After = cur
	if !curExists {
		r.After.State = string(sm.StateNew)
	}
	return r, plan, nil
}

func sameState(a storage.Aggregate, aExists bool, b storage.Aggregate, bExists bool) bool {
	x, y := snapshot(a, aExists), snapshot(b, bExists)
	return x.State == y.State && x.Amounts == y.Amounts
}

// order puts applied revisions in the re-run's order, rejections last.
func order(ev *event) int {
	if ev.appliedAt == 0 {
		return int(^uint(0) >> 1)
	}
	return ev.appliedAt
}

func describe(a storage.Aggregate, exists bool) string {
	if !exists {
		return string(sm.StateNew)
	}
	return fmt.Sprintf("%s (authorized %d, captured %d, refunded %d)", a.State, a.Authorized, a.Captured, a.Refunded)
}

// history returns the aggregate's events in arrival order, each with the
// entry that carries its current verdict. Duplicates, conflicts and
// bodies that could not be parsed are not events of their own.
func history(entries []storage.JournalEntry) ([]*event, error) {
	var events []*event
	bySeq := map[int64]*event{}
	for i := range entries {
		en := &entries[i]
		switch {
		case en.RevisesSeq != 0:
			if ev := bySeq[en.RevisesSeq]; ev != nil {
				ev.last, bySeq[en.Seq] = en, ev
			}
		case en.ResolvesSeq != 0:
			if ev := bySeq[en.ResolvesSeq]; ev != nil {
				ev.last, bySeq[en.Seq] = en, ev
			}
		case answeredByReceipt(en) || len(en.Payload) == 0:
		default:
			p, err := decodePayload(en.Payload)
			if err != nil {
				return nil, fmt.Errorf("engine: journal entry %d: %w", en.Seq, err)
			}
			ev := &event{origin: en, last: en, p: p}
			events = append(events, ev)
			bySeq[en.Seq] = ev
		}
	}
	for _, ev := range events {
		ev.held = ev.last.Verdict == string(sm.VerdictDeferred)
		ev.waiting = waitingExpiry(ev.last)
	}
	return events, nil
}

// answeredByReceipt reports whether e is a delivery its dedupe key's
// receipt answered (a redelivery, or a conflict): not an event of its own.
// A snapshot answered "already in status" is one, and is decided again.
func answeredByReceipt(e *storage.JournalEntry) bool {
	for _, d := range []sm.Decision{receiptDuplicate, receiptConflict} {
		if e.Verdict == string(d.Verdict) && e.Reason == d.Reason() {
			return true
		}
	}
	return false
}

// appendRevisions writes plan: one entry per change, pointing at the entry
// it revises; held events it settles are released.
func (e *Engine) appendRevisions(ctx context.Context, tx storage.Tx, m *sm.Machine, agg storage.Aggregate, exists bool, plan []revision, now time.Time) ([]Outcome, error) {
	var out []Outcome
	for _, rv := range plan {
		ev, c := rv.ev, rv.change
		dec := sm.Decide(m, snapshot(agg, exists), ev.p.input(""))
		if c.Now == sm.VerdictRejected {
			dec = ev.now // a held event the re-run rejects: its reason
			dec.To, dec.Amounts = sm.State(stateName(agg, exists)), snapshot(agg, exists).Amounts
		}
		was := c.WasVersion
		if was == "" {
			was = "a version not recorded"
		}
		entry := &storage.JournalEntry{
			Key:     agg.Key,
			Event:   ev.origin.Event,
			Verdict: string(dec.Verdict),
			Reason: fmt.Sprintf("reevaluated under %s: %s under %s at entry %d (%s)",
				c.Version, c.Was, was, c.Seq, c.WasReason),
			StateBefore:    stateName(agg, exists),
			StateAfter:     stateName(agg, exists),
			VersionAfter:   agg.Version,
			DedupeKey:      ev.origin.DedupeKey,
			BodySHA256:     ev.origin.BodySHA256,
			Payload:        ev.origin.Payload,
			ReceivedAt:     now,
			OccurredAt:     ev.p.occurred(),
			Actor:          ActorReevaluation,
			MachineVersion: c.Version,
			RevisesSeq:     c.Seq,
		}
		if r := dec.Reason(); r != "" {
			entry.Reason += "; now " + r
		}
		if ev.held {
			entry.ResolvesSeq = ev.last.Seq
		}
		if dec.Verdict == sm.VerdictApplied {
			agg, exists = record(entry, agg, exists, ev.p, dec, now), true
			if err := tx.PutAggregate(ctx, agg); err != nil {
				return nil, err
			}
		}
		if err := tx.Append(ctx, entry); err != nil {
			return nil, err
		}
		if ev.held {
			if err := tx.Undefer(ctx, ev.last.Seq); err != nil {
				return nil, err
			}
		}
		if ev.waiting {
			// Expired and waiting to be revived: this entry revises the
			// expiry, and the event leaves the held table.
			if err := tx.Undefer(ctx, ev.origin.Seq); err != nil {
				return nil, err
			}
		}
		out = append(out, outcomeOf(entry))
	}
	return out, nil
}
