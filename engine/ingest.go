package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/paystate/paystate/providers"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
)

// malformedKeyPrefix starts the dedupe key of a body that could not be
// parsed; no receipt is kept for it, so every such delivery is recorded.
const malformedKeyPrefix = "malformed:"

// ingest decides and writes one delivery inside tx; pre is what was
// prepared of it.
func (e *Engine) ingest(ctx context.Context, tx *batchTx, d Delivery, pre *prepared) ([]Outcome, error) {
	now := e.now()
	if d.Malformed != "" {
		entry := &storage.JournalEntry{
			Key:          storage.AggregateKey{Provider: d.Provider},
			Verdict:      string(sm.VerdictRejected),
			Reason:       string(sm.ReasonMalformed) + ": " + d.Malformed,
			DedupeKey:    malformedKeyPrefix + d.BodySHA256,
			BodySHA256:   d.BodySHA256,
			RedactedBody: d.RedactedBody,
			ReceivedAt:   now,
			Actor:        d.Actor,
			EncodedBody:  pre.encodedBody(),
		}
		if err := tx.Append(ctx, entry); err != nil {
			return nil, err
		}
		o := outcomeOf(entry)
		o.Malformed = d.Malformed
		return []Outcome{o}, nil
	}
	out := make([]Outcome, 0, len(d.Events))
	for i, ev := range d.Events {
		p := payloadAt(d, i)
		var child *Outcome
		if p.Effect {
			child = &out[0]
		}
		payload, encoded := pre.payload(i, p)
		if child != nil && !p.HasAmount {
			if withAmount, ok := effectAmount(tx, d, *child, p); ok {
				p, payload, encoded = withAmount, withAmount.encode(), nil
			}
		}
		o, err := e.ingestEvent(ctx, tx, d, ev, eventValues{p, payload, encoded, pre.encodedBody()}, child, now)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// effectOf reports whether ev is first's effect on its parent: a refund's
// on the payment it refunds, delivered with it (PayEngine, the generic
// gateway, an Inyo child object).
func effectOf(first, ev providers.Event) bool {
	return first.Parent != nil && first.Kind != "" && first.Parent.Kind == ev.Kind && first.Parent.ID == ev.AggregateID
}

// effectAmount gives an effect that reports no amount of its own the
// amount its child holds, when the child was applied and its amount was
// reported (a refund.completed without an amount completes the refund its
// refund.initiated asked for, and the refund keeps that amount): the
// payment then moves by what its refund says, instead of the two telling
// different stories. The payload names where the amount came from, and
// replay decides the effect from it as it was decided here.
func effectAmount(tx *batchTx, d Delivery, child Outcome, p payload) (payload, bool) {
	if child.Verdict != sm.VerdictApplied {
		return p, false
	}
	agg, exists := tx.aggregate(child.Key)
	if !exists || !agg.AmountKnown || agg.Currency == "" || p.Currency != "" && !strings.EqualFold(p.Currency, agg.Currency) {
		return p, false
	}
	p.Amount, p.HasAmount, p.Currency = agg.Amount, true, agg.Currency
	p.AmountOf = agg.Key.Kind + " " + agg.Key.ID
	return p, true
}

// moves reports whether a verdict moves (or will move) its aggregate.
func moves(v sm.Verdict) bool { return v == sm.VerdictApplied || v == sm.VerdictDeferred }

// blockedEffect is the decision for a child's effect on its parent when the
// child itself did not move: one refund moves its payment once, so the same
// refund reported again under another event id (stale for the refund, which
// has already succeeded) refunds nothing. The verdict restates the child's,
// with its reason code.
func blockedEffect(cur sm.Snapshot, child Outcome) sm.Decision {
	code := sm.ReasonStale
	if child.Verdict == sm.VerdictRejected {
		if c, _, ok := strings.Cut(child.Reason, ":"); ok {
			code = sm.ReasonCode(c)
		}
	}
	return sm.Decision{
		Verdict: sm.VerdictRejected,
		Code:    code,
		// The child is named, not its journal sequence: a hashed reason
		// must not depend on a chain position, which a store that
		// chains after commit does not know yet (docs/postgres-sealer.md).
		Detail:  fmt.Sprintf("its %s %s was %s here, so it moves nothing", child.Key.Kind, child.Key.ID, child.Verdict),
		To:      cur.State,
		Amounts: cur.Amounts,
	}
}

// restated reports whether an effect's decision gives way to its child's
// verdict when the child did not move: a decision that would move the
// parent, and one that would reject it for the parent's own reasons (a
// refund already counted, reported again after the payment was refunded in
// full, is stale as its refund is, not a refund of more than is left). A
// duplicate or a conflict is about the effect's own receipt and stands.
func restated(dec sm.Decision) bool {
	return moves(dec.Verdict) || dec.Verdict == sm.VerdictRejected && dec.Code != sm.ReasonConflict
}

// eventValues are an event's payload and what was encoded of its entry
// beforehand (prepared).
type eventValues struct {
	p                           payload
	payload                     []byte
	encodedPayload, encodedBody *storage.Encoded
}

// ingestEvent decides ev and writes its entry. child is set when ev is the
// effect on its parent of the delivery's first event, whose outcome it is.
func (e *Engine) ingestEvent(ctx context.Context, tx *batchTx, d Delivery, ev providers.Event, vals eventValues, child *Outcome, now time.Time) (Outcome, error) {
	key := eventKey(d, ev)
	p := vals.p
	in := p.input(d.BodySHA256)

	k, err := tx.known(ctx, d.Provider, ev, key)
	if err != nil {
		return Outcome{}, err
	}
	if k.hasReceipt {
		in.Prior = k.receipt.BodySHA256
	}
	agg, exists := k.agg, k.exists
	machine := e.machines.Machine(d.Provider, ev.Kind)
	dec := sm.Decide(machine, snapshot(agg, exists), in)
	blocked := child != nil && !moves(child.Verdict) && restated(dec)
	if blocked {
		dec = blockedEffect(snapshot(agg, exists), *child)
	}

	entry := &storage.JournalEntry{
		Key:          key,
		Event:        ev.Name,
		Verdict:      string(dec.Verdict),
		Reason:       dec.Reason(),
		StateBefore:  stateName(agg, exists),
		StateAfter:   stateName(agg, exists),
		VersionAfter: agg.Version,
		DedupeKey:    k.dedupeKey,
		BodySHA256:   d.BodySHA256,
		RedactedBody: d.RedactedBody,
		Payload:      vals.payload,
		ReceivedAt:   now,
		OccurredAt:   micros(ev.OccurredAt),
		Actor:        d.Actor,
		// Decide judged the event by this table (none: no lifecycle).
		MachineVersion: versionOf(machine),
		EncodedBody:    vals.encodedBody,
		EncodedPayload: vals.encodedPayload,
	}
	if note := referenceNote(agg, exists, p); note != "" && !blocked && dec.Verdict != sm.VerdictDuplicate && dec.Code != sm.ReasonConflict {
		entry.Reason = strings.TrimPrefix(entry.Reason+"; "+note, "; ")
	}
	// Last in the reason, where HeldUntil reads it.
	expires := now.Add(e.cfg.DeferWindow)
	if dec.Verdict == sm.VerdictDeferred {
		entry.Reason = heldUntilReason(entry.Reason, expires)
	}
	if blocked {
		// Not an event of its own (it restates its child's verdict), so
		// no normalized event: replay and re-evaluation pass over it, as
		// they pass over a body that did not parse.
		entry.Payload, entry.EncodedPayload = nil, nil
	}
	if dec.Verdict == sm.VerdictApplied {
		agg = record(entry, agg, exists, p, dec, now)
	}
	if err := tx.Append(ctx, entry); err != nil {
		return Outcome{}, err
	}
	if in.Prior == "" {
		if err := tx.PutReceipt(ctx, d.Provider, k.dedupeKey, storage.Receipt{Seq: entry.Seq, BodySHA256: d.BodySHA256}); err != nil {
			return Outcome{}, err
		}
	}
	o := outcomeOf(entry)
	switch dec.Verdict {
	case sm.VerdictApplied:
		if err := tx.PutAggregate(ctx, agg); err != nil {
			return Outcome{}, err
		}
		// With nothing held for the aggregate there is nothing to decide
		// again.
		if k.held {
			o.Resolved, err = e.resolveDeferred(ctx, tx, agg, machine, now)
			if err != nil {
				return Outcome{}, err
			}
		}
	case sm.VerdictDeferred:
		err := tx.Defer(ctx, storage.DeferredEvent{
			Seq:        entry.Seq,
			Key:        key,
			DedupeKey:  k.dedupeKey,
			Payload:    entry.Payload,
			BodySHA256: d.BodySHA256,
			ReceivedAt: now,
			ExpiresAt:  expires,
		})
		if err != nil {
			return Outcome{}, err
		}
	}
	return o, nil
}

// batchTx is a transaction as the events of one batch see it: what they
// read — receipts, aggregates, whether events are held — comes from one
// Lookup of every key the batch names, made when the transaction begins
// (prefetch), kept current by the writes of the transaction itself, which
// go through batchTx. No one else writes what it read while the
// transaction runs (SQLite's write lock; PostgreSQL's advisory lock of
// every aggregate looked up, for every replica), so it answers as the
// database would, without statements per event.
type batchTx struct {
	storage.Tx
	found storage.Lookups
	// asked are the keys Lookup has answered: a key asked and not found
	// does not exist.
	askedReceipts   map[storage.ReceiptKey]bool
	askedAggregates map[storage.AggregateKey]bool
	// provisional are the entries Append gave a handle (a store that
	// seals after commit, storage.Sealer), by handle: once committed the
	// store sets their Seq to 0 (unsealed, no place yet), and settle puts
	// that in the outcomes that copied the handle.
	provisional map[int64]*storage.JournalEntry
}

// Append records an entry whose sequence the store sets only later.
func (b *batchTx) Append(ctx context.Context, e *storage.JournalEntry) error {
	if err := b.Tx.Append(ctx, e); err != nil {
		return err
	}
	if storage.IsHandle(e.Seq) {
		if b.provisional == nil {
			b.provisional = map[int64]*storage.JournalEntry{}
		}
		b.provisional[e.Seq] = e
	}
	return nil
}

// settle replaces, once the transaction committed, the handles outcomes
// copied from their entries with what the entries carry now: 0, the
// sequence of an entry not sealed yet ("assigned when sealed").
func (b *batchTx) settle(outs []Outcome) {
	if b == nil || b.provisional == nil {
		return
	}
	for i := range outs {
		if e, ok := b.provisional[outs[i].Seq]; ok {
			outs[i].Seq = e.Seq
		}
		b.settle(outs[i].Resolved)
	}
}

// prefetch starts batch's transaction view with the keys its deliveries
// name.
func prefetch(ctx context.Context, tx storage.Tx, batch []*request) (*batchTx, error) {
	b := &batchTx{Tx: tx, found: storage.Lookups{
		Receipts:   map[storage.ReceiptKey]storage.Receipt{},
		Aggregates: map[storage.AggregateKey]storage.Aggregate{},
		Held:       map[storage.AggregateKey]bool{},
	}, askedReceipts: map[storage.ReceiptKey]bool{}, askedAggregates: map[storage.AggregateKey]bool{}}
	var receipts []storage.ReceiptKey
	var aggregates []storage.AggregateKey
	snapshots := 0
	for _, r := range batch {
		if !r.sweep.IsZero() || r.d.Malformed != "" {
			continue
		}
		for _, ev := range r.d.Events {
			key := eventKey(r.d, ev)
			if hasLifecycle(key) {
				aggregates = append(aggregates, key)
			}
			if scoped(ev, key) {
				snapshots++
				continue
			}
			receipts = append(receipts, storage.ReceiptKey{Provider: r.d.Provider, DedupeKey: ev.DedupeKey})
		}
	}
	if err := b.lookup(ctx, receipts, aggregates); err != nil || snapshots == 0 {
		return b, err
	}
	// A snapshot's receipt key names the version of its aggregate, which
	// the first lookup has just read.
	receipts = receipts[:0]
	for _, r := range batch {
		if !r.sweep.IsZero() || r.d.Malformed != "" {
			continue
		}
		for _, ev := range r.d.Events {
			if key := eventKey(r.d, ev); scoped(ev, key) {
				cur, prev := b.receiptKeys(ev, key)
				receipts = append(receipts, storage.ReceiptKey{Provider: r.d.Provider, DedupeKey: cur})
				if prev != "" {
					receipts = append(receipts, storage.ReceiptKey{Provider: r.d.Provider, DedupeKey: prev})
				}
			}
		}
	}
	return b, b.lookup(ctx, receipts, nil)
}

// scoped reports whether ev's receipt is scoped to its aggregate's
// version (providers.Event.Snapshot).
func scoped(ev providers.Event, key storage.AggregateKey) bool {
	return ev.Snapshot && hasLifecycle(key)
}

// receiptKeys returns the key ev's receipt is kept under and, for a
// snapshot, the key of the delivery that may have put its aggregate where
// it is.
//
// A snapshot names content the provider can truly send again once its
// aggregate has moved on, so its key holds only while the aggregate stays
// at the version it was decided against: a retry while nothing has
// changed is a duplicate, the same status after a change is decided
// afresh. A snapshot equal to the aggregate's current status compares
// with the delivery that set that status, decided at the previous version
// (every applied event advances the version by one): the same body is its
// retry, another body a conflict. The aggregate must have been looked up.
func (b *batchTx) receiptKeys(ev providers.Event, key storage.AggregateKey) (cur, prev string) {
	if !scoped(ev, key) {
		return ev.DedupeKey, ""
	}
	a, ok := b.found.Aggregates[key]
	if !ok {
		return ev.DedupeKey + "@v0", ""
	}
	cur = ev.DedupeKey + "@v" + strconv.FormatInt(a.Version, 10)
	if cmp.Or(ev.ProviderStatus, ev.Name) == a.ProviderStatus {
		prev = ev.DedupeKey + "@v" + strconv.FormatInt(a.Version-1, 10)
	}
	return cur, prev
}

func (b *batchTx) lookup(ctx context.Context, receipts []storage.ReceiptKey, aggregates []storage.AggregateKey) error {
	if len(receipts) == 0 && len(aggregates) == 0 {
		return nil
	}
	l, err := b.Tx.Lookup(ctx, receipts, aggregates)
	if err != nil {
		return err
	}
	for _, k := range receipts {
		b.askedReceipts[k] = true
	}
	for _, k := range aggregates {
		b.askedAggregates[k] = true
	}
	for k, r := range l.Receipts {
		b.found.Receipts[k] = r
	}
	for k, a := range l.Aggregates {
		b.found.Aggregates[k] = a
	}
	for k := range l.Held {
		b.found.Held[k] = true
	}
	return nil
}

// knownState is what deciding one event reads.
type knownState struct {
	dedupeKey  string // the receipt key (receiptKey)
	receipt    storage.Receipt
	hasReceipt bool
	agg        storage.Aggregate // Key set even when !exists
	exists     bool
	held       bool
}

// known answers from the view, looking up first what prefetch did not.
func (b *batchTx) known(ctx context.Context, provider string, ev providers.Event, key storage.AggregateKey) (knownState, error) {
	var receipts []storage.ReceiptKey
	var aggregates []storage.AggregateKey
	if hasLifecycle(key) && !b.askedAggregates[key] {
		aggregates = append(aggregates, key)
	}
	if scoped(ev, key) && len(aggregates) > 0 {
		// The receipt key needs the aggregate's version first.
		if err := b.lookup(ctx, nil, aggregates); err != nil {
			return knownState{}, err
		}
		aggregates = nil
	}
	cur, prev := b.receiptKeys(ev, key)
	rk := storage.ReceiptKey{Provider: provider, DedupeKey: cur}
	pk := storage.ReceiptKey{Provider: provider, DedupeKey: prev}
	for _, k := range []storage.ReceiptKey{rk, pk} {
		if k.DedupeKey != "" && !b.askedReceipts[k] {
			receipts = append(receipts, k)
		}
	}
	if err := b.lookup(ctx, receipts, aggregates); err != nil {
		return knownState{}, err
	}
	k := knownState{dedupeKey: rk.DedupeKey, agg: storage.Aggregate{Key: key}}
	k.receipt, k.hasReceipt = b.found.Receipts[rk]
	if !k.hasReceipt && prev != "" {
		k.receipt, k.hasReceipt = b.found.Receipts[pk]
	}
	if hasLifecycle(key) {
		k.agg, k.exists = b.aggregate(key)
		k.held = b.found.Held[key]
	}
	return k, nil
}

// lookupAggregates looks up, in one Lookup, the keys with a lifecycle not
// looked up yet: a store that locks a lookup's keys (PostgreSQL's
// advisory locks) takes them all at once, in its own order, the same for
// every writer, where locking them one at a time in another order could
// deadlock with a writer that took two of them the other way round.
func (b *batchTx) lookupAggregates(ctx context.Context, keys []storage.AggregateKey) error {
	var ask []storage.AggregateKey
	for _, k := range keys {
		if hasLifecycle(k) && !b.askedAggregates[k] {
			ask = append(ask, k)
		}
	}
	return b.lookup(ctx, nil, ask)
}

// aggregate answers from the view: the aggregate and whether it exists.
// key must have been looked up, unless it has no lifecycle.
func (b *batchTx) aggregate(key storage.AggregateKey) (storage.Aggregate, bool) {
	if a, ok := b.found.Aggregates[key]; ok && hasLifecycle(key) {
		return a, true
	}
	return storage.Aggregate{Key: key}, false
}

func (b *batchTx) PutReceipt(ctx context.Context, provider, dedupeKey string, r storage.Receipt) error {
	if err := b.Tx.PutReceipt(ctx, provider, dedupeKey, r); err != nil {
		return err
	}
	b.found.Receipts[storage.ReceiptKey{Provider: provider, DedupeKey: dedupeKey}] = r
	return nil
}

func (b *batchTx) PutAggregate(ctx context.Context, a storage.Aggregate) error {
	if err := b.Tx.PutAggregate(ctx, a); err != nil {
		return err
	}
	b.found.Aggregates[a.Key] = a
	return nil
}

// Defer marks the key held. Undefer leaves it marked: a key marked held
// with nothing held costs one DeferredFor, never a wrong verdict.
func (b *batchTx) Defer(ctx context.Context, d storage.DeferredEvent) error {
	if err := b.Tx.Defer(ctx, d); err != nil {
		return err
	}
	b.found.Held[d.Key] = true
	return nil
}

func eventKey(d Delivery, ev providers.Event) storage.AggregateKey {
	return storage.AggregateKey{Provider: d.Provider, Kind: string(ev.Kind), ID: ev.AggregateID}
}

// resolveDeferred re-decides the events held for agg, oldest first, until
// none moves: an applied one can make another legal. A held event that can
// no longer become legal is rejected now rather than at expiry.
//
// Events that expired waiting (DeferredEvent.ExpiredSeq) are re-decided
// with them, in the same order: the provider reported them, and their
// predecessor has now landed after all. One whose verdict is now anything
// but deferred gets an entry revising its expiry (RevisesSeq; the expiry
// stays as it was) and leaves the table; one still early keeps waiting.
//
// The held events are read once: while they are resolved nothing else
// holds an event for agg, so what is still held after each is the list
// without it.
func (e *Engine) resolveDeferred(ctx context.Context, tx storage.Tx, agg storage.Aggregate, m *sm.Machine, now time.Time) ([]Outcome, error) {
	held, err := tx.DeferredFor(ctx, agg.Key)
	if err != nil {
		return nil, err
	}
	payloads := make([]payload, len(held))
	inputs := make([]sm.Input, len(held))
	for i, h := range held {
		if payloads[i], err = decodePayload(h.Payload); err != nil {
			return nil, fmt.Errorf("engine: deferred event %d: %w", h.Seq, err)
		}
		inputs[i] = payloads[i].input(h.BodySHA256)
	}
	var out []Outcome
	for progress := true; progress; {
		progress = false
		if i, dec, ok := nextResolvable(m, snapshot(agg, true), inputs); ok {
			h, p := held[i], payloads[i]
			held, payloads, inputs = slices.Delete(held, i, i+1), slices.Delete(payloads, i, i+1), slices.Delete(inputs, i, i+1)
			entry := &storage.JournalEntry{
				Key:            agg.Key,
				Event:          p.Name,
				Verdict:        string(dec.Verdict),
				Reason:         dec.Reason(),
				StateBefore:    agg.State,
				StateAfter:     agg.State,
				VersionAfter:   agg.Version,
				DedupeKey:      h.DedupeKey,
				BodySHA256:     h.BodySHA256,
				Payload:        h.Payload,
				ReceivedAt:     now,
				OccurredAt:     p.occurred(),
				ResolvesSeq:    h.Seq,
				Actor:          ActorEngine,
				MachineVersion: m.Version(),
			}
			if h.ExpiredSeq != 0 {
				// Its deferral was resolved by the expiry: this entry
				// revises that one. The reason names no sequence (a
				// store that seals after commit does not know it yet).
				entry.ResolvesSeq, entry.RevisesSeq = 0, h.ExpiredSeq
				entry.Reason = revivedReason(dec.Reason())
			}
			if dec.Verdict == sm.VerdictApplied {
				agg = record(entry, agg, true, p, dec, now)
				if err := tx.PutAggregate(ctx, agg); err != nil {
					return nil, err
				}
			}
			if err := tx.Append(ctx, entry); err != nil {
				return nil, err
			}
			if err := tx.Undefer(ctx, h.Seq); err != nil {
				return nil, err
			}
			out = append(out, outcomeOf(entry))
			progress = true // the state moved: look at the held events afresh
		}
	}
	return out, nil
}

// nextResolvable finds the first held event, oldest first, that is no
// longer deferred from cur, and its decision.
func nextResolvable(m *sm.Machine, cur sm.Snapshot, held []sm.Input) (int, sm.Decision, bool) {
	for i, in := range held {
		if dec := sm.Decide(m, cur, in); dec.Verdict != sm.VerdictDeferred {
			return i, dec, true
		}
	}
	return 0, sm.Decision{}, false
}

// expire rejects every held event whose window has passed.
func (e *Engine) expire(ctx context.Context, tx *batchTx, now time.Time) ([]Outcome, error) {
	// Read through the transaction: the store's own reads use another
	// connection and snapshot (on PostgreSQL, a second connection while
	// this one holds the chain head's lock).
	held, err := tx.ExpiredDeferred(ctx, now, e.cfg.MaxBatch)
	if err != nil {
		return nil, err
	}
	// Every key's aggregate is looked up (and so locked) at once, before
	// any is decided, as prefetch does for a batch of deliveries: a
	// store that locks a lookup's keys takes them in its own order, the
	// same for every writer (PostgreSQL: sorted advisory locks). Locked
	// one at a time in the held events' order, two keys could be taken
	// in the opposite order to an ingest batch naming both, a deadlock
	// PostgreSQL breaks only after its deadlock_timeout.
	keys := make([]storage.AggregateKey, len(held))
	for i, h := range held {
		keys[i] = h.Key
	}
	if err := tx.lookupAggregates(ctx, keys); err != nil {
		return nil, err
	}
	var out []Outcome
	for _, h := range held {
		agg, exists := tx.aggregate(h.Key)
		still, err := tx.DeferredFor(ctx, h.Key)
		if err != nil {
			return nil, err
		}
		if !stillHeld(still, h.Seq) {
			continue // resolved by an earlier delivery in this batch
		}
		p, err := decodePayload(h.Payload)
		if err != nil {
			return nil, fmt.Errorf("engine: deferred event %d: %w", h.Seq, err)
		}
		entry := &storage.JournalEntry{
			Key:          h.Key,
			Event:        p.Name,
			Verdict:      string(sm.VerdictRejected),
			Reason:       expiryReason(h.ReceivedAt),
			StateBefore:  stateName(agg, exists),
			StateAfter:   stateName(agg, exists),
			VersionAfter: agg.Version,
			DedupeKey:    h.DedupeKey,
			BodySHA256:   h.BodySHA256,
			Payload:      h.Payload,
			ReceivedAt:   e.now(),
			OccurredAt:   p.occurred(),
			ResolvesSeq:  h.Seq,
			Actor:        ActorEngine,
			// The table held the event and still held it at its expiry.
			MachineVersion: versionOf(e.machines.Machine(h.Key.Provider, sm.Kind(h.Key.Kind))),
		}
		if err := tx.Append(ctx, entry); err != nil {
			return nil, err
		}
		// The event stays, marked with its expiry, to be revived if its
		// predecessor lands later (resolveDeferred).
		if err := tx.Undefer(ctx, h.Seq); err != nil {
			return nil, err
		}
		h.ExpiredSeq = entry.Seq
		if err := tx.Defer(ctx, h); err != nil {
			return nil, err
		}
		out = append(out, outcomeOf(entry))
	}
	return out, nil
}

// waitsNote ends the reason of an expiry whose event stays to be revived.
// Expiries written before events were revived lack it: their events left
// the held table, and the audit, which derives that table from the
// journal alone, tells the two apart by it.
const waitsNote = "; kept, and revived if it arrives later"

func expiryReason(heldSince time.Time) string {
	return fmt.Sprintf("%s: held since %s, its predecessor never arrived%s", sm.ReasonExpired, heldSince.Format(time.RFC3339), waitsNote)
}

// heldUntilNote ends the reason of a deferral with the time its event
// expires. The window that decides it is configuration, which the journal
// does not hold: written into the hashed reason, the held table's expiry
// is derived from the journal and checked against it (Audit), and an edit
// of it cannot move a verdict unseen. Deferrals written before it lack the
// note; their expiry is not checked.
const heldUntilNote = "; held until "

// heldUntilLayout keeps the microseconds every store keeps, so that the
// time read back from the reason equals the one stored.
const heldUntilLayout = "2006-01-02T15:04:05.000000Z07:00"

func heldUntilReason(reason string, until time.Time) string {
	return reason + heldUntilNote + until.UTC().Format(heldUntilLayout)
}

// HeldUntil is the expiry a deferral's entry recorded; false for any
// other entry, and for a deferral written before expiries were recorded.
func HeldUntil(e *storage.JournalEntry) (time.Time, bool) {
	i := strings.LastIndex(e.Reason, heldUntilNote)
	if i < 0 || e.Verdict != string(sm.VerdictDeferred) {
		return time.Time{}, false
	}
	t, err := time.Parse(heldUntilLayout, e.Reason[i+len(heldUntilNote):])
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// ShiftHeldUntil is e's reason with the expiry a deferral recorded moved
// by d, for a copy of e received d later (bulkload); any other reason as
// it is.
func ShiftHeldUntil(e *storage.JournalEntry, d time.Duration) string {
	until, ok := HeldUntil(e)
	if !ok {
		return e.Reason
	}
	return heldUntilReason(e.Reason[:strings.LastIndex(e.Reason, heldUntilNote)], until.Add(d))
}

// waitingExpiry reports whether e is an expiry whose event stays in the
// held table, marked, until an entry revises it.
func waitingExpiry(e *storage.JournalEntry) bool {
	return e.ResolvesSeq != 0 && e.RevisesSeq == 0 && e.Verdict == string(sm.VerdictRejected) &&
		strings.HasPrefix(e.Reason, string(sm.ReasonExpired)+":") && strings.HasSuffix(e.Reason, waitsNote)
}

// revivedReason is the reason of an entry revising an expiry: the
// decision's own (its code first, as every rejection's), or, for an
// applied event, what happened.
func revivedReason(decided string) string {
	if decided == "" {
		return "revives an expired event: its predecessor arrived after its window"
	}
	return decided + "; revises its expiry: its predecessor arrived after its window"
}

// versionOf is the version of m's table, "" when no machine decided.
func versionOf(m *sm.Machine) string {
	if m == nil {
		return ""
	}
	return m.Version()
}

// stillHeld reports whether seq is among held and not expired yet.
func stillHeld(held []storage.DeferredEvent, seq int64) bool {
	for _, h := range held {
		if h.Seq == seq {
			return h.ExpiredSeq == 0
		}
	}
	return false
}

// lock returns the aggregate and whether it exists. Events with no
// lifecycle have no aggregate.
func (e *Engine) lock(ctx context.Context, tx storage.Tx, key storage.AggregateKey) (storage.Aggregate, bool, error) {
	if !hasLifecycle(key) {
		return storage.Aggregate{Key: key}, false, nil
	}
	agg, err := tx.LockAggregate(ctx, key)
	switch {
	case err == nil:
		return agg, true, nil
	case errors.Is(err, storage.ErrNotFound):
		return storage.Aggregate{Key: key}, false, nil
	}
	return agg, false, err
}

func hasLifecycle(key storage.AggregateKey) bool { return key.Kind != "" && key.ID != "" }

// referenceNote says that an event names another merchant reference than
// the aggregate's, which keeps its first (advance): no document says a
// reference changes, and the order stays found by the one it had. The
// entry says so, so that an auditor sees the other reference. Receipt
// answers (duplicate, conflict) keep their reason as Decide gave it: the
// audit reads them by it.
func referenceNote(agg storage.Aggregate, exists bool, p payload) string {
	if !exists || agg.MerchantReference == "" || p.MerchantReference == "" || p.MerchantReference == agg.MerchantReference {
		return ""
	}
	return fmt.Sprintf("names merchant reference %q; the aggregate keeps %q", p.MerchantReference, agg.MerchantReference)
}

// record advances agg by an applied decision and writes where it led on
// entry, the decision's journal entry.
func record(entry *storage.JournalEntry, agg storage.Aggregate, exists bool, p payload, dec sm.Decision, now time.Time) storage.Aggregate {
	agg = advance(agg, exists, entry.Key, p, dec, now)
	entry.StateAfter, entry.VersionAfter = agg.State, agg.Version
	entry.Skipped = stateNames(dec.Skipped)
	return agg
}

// advance returns agg after an applied decision.
func advance(agg storage.Aggregate, exists bool, key storage.AggregateKey, p payload, dec sm.Decision, now time.Time) storage.Aggregate {
	if !exists {
		agg = storage.Aggregate{Key: key, CreatedAt: now}
	}
	agg.State = string(dec.To)
	// An operation reported by another object (an Inyo child) leaves the
	// provider status as the aggregate's own objects last said it, also
	// when none has yet: the child's status is not the aggregate's, and a
	// snapshot compared with it would be taken for a repeat.
	if !p.Operation {
		agg.ProviderStatus = cmp.Or(p.ProviderStatus, p.Name)
	}
	if agg.MerchantReference == "" {
		agg.MerchantReference = p.MerchantReference
	}
	if agg.Parent == (storage.AggregateKey{}) && p.ParentID != "" {
		agg.Parent = storage.AggregateKey{Provider: key.Provider, Kind: p.ParentKind, ID: p.ParentID}
	}
	a := dec.Amounts
	agg.Currency, agg.Amount, agg.Authorized, agg.Captured, agg.Refunded = a.Currency, a.Amount, a.Authorized, a.Captured, a.Refunded
	agg.AmountsUnknown, agg.AmountKnown, agg.CapturedRest, agg.RefundedRest = a.Unknown, a.AmountKnown, a.CapturedRest, a.RefundedRest
	agg.Version++
	agg.UpdatedAt = now
	return agg
}

func snapshot(agg storage.Aggregate, exists bool) sm.Snapshot {
	if !exists {
		return sm.Snapshot{State: sm.StateNew}
	}
	return sm.Snapshot{State: sm.State(agg.State), Status: agg.ProviderStatus, Amounts: Amounts(agg),
		Parent: sm.Parent{Kind: sm.Kind(agg.Parent.Kind), ID: agg.Parent.ID}}
}

// Amounts are a stored aggregate's figures as the machines read them.
func Amounts(agg storage.Aggregate) sm.Amounts {
	return sm.Amounts{
		Currency: agg.Currency, Amount: agg.Amount, Authorized: agg.Authorized, Captured: agg.Captured, Refunded: agg.Refunded,
		Unknown: agg.AmountsUnknown, AmountKnown: agg.AmountKnown, CapturedRest: agg.CapturedRest, RefundedRest: agg.RefundedRest,
	}
}

func stateName(agg storage.Aggregate, exists bool) string {
	if !exists {
		if agg.Key.Kind == "" {
			return ""
		}
		return string(sm.StateNew)
	}
	return agg.State
}

func stateNames(s []sm.State) []string {
	if len(s) == 0 {
		return nil
	}
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = string(x)
	}
	return out
}

func outcomeOf(e *storage.JournalEntry) Outcome {
	return Outcome{
		Seq: e.Seq, Key: e.Key, Event: e.Event, Verdict: sm.Verdict(e.Verdict), Reason: e.Reason,
		StateBefore: e.StateBefore, StateAfter: e.StateAfter, Version: e.VersionAfter,
	}
}

func (e *Engine) now() time.Time { return micros(e.cfg.Now()) }

// micros truncates to the microsecond precision every backend keeps, so
// that what is hashed is what is read back.
func micros(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

func (p payload) occurred() time.Time {
	if p.OccurredAt == nil {
		return time.Time{}
	}
	return micros(*p.OccurredAt)
}
