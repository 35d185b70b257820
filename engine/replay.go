package engine

import (
	"cmp"
	"context"
	"fmt"
	"hash/maphash"
	"iter"
	"runtime"
	"slices"
	"sync"
	"time"

	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
)

// Mismatch is one difference between stored state and a replay.
type Mismatch struct {
	Key    storage.AggregateKey
	Seq    int64 // journal entry where the replay disagreed, 0 if at the end
	Detail string
	// Phantom marks an aggregate that is stored although no journal entry
	// applied anything to it.
	Phantom bool
}

const phantomDetail = "stored, but no journal entry applied an event to it"

// replayPage is how many journal entries one read returns.
const replayPage = 1000

// Replay rebuilds every aggregate from the journal alone by running each
// applied entry's event through the machines again. It reports where the
// machines no longer agree with what the journal says happened, in
// journal order.
//
// An applied verdict an older machine version decided stands even where
// today's rules decide the event otherwise (a bound added since rejects
// it, say): history is never rewritten, so the aggregate goes where the
// journal says, with the event's amount effect as statemachine.Honour
// works it out, and the replay goes on. Such an entry is no mismatch; it
// is listed apart (Aggregates.Honoured). One the current version decided
// is re-decided exactly: a disagreement there is a mismatch, since that
// version cannot have decided otherwise (the version is part of the
// entry's hash, so it cannot be changed to dodge this without breaking
// the chain).
//
// An aggregate's decisions depend on its previous state, so its entries
// are decided in order, but aggregates are independent of each other: one
// worker per core decides the aggregates whose key hashes to it, each in
// journal order, while readers fetch the pages ahead of them.
func Replay(ctx context.Context, r storage.Reader, machines *sm.Registry) (*Aggregates, []Mismatch, error) {
	// Reading a page (mostly inside the database driver) costs about twice
	// what deciding it does, so one reader would leave the workers
	// waiting; two leave the rest of a store's read pool to everyone else.
	return replay(ctx, r, machines, replayShape{workers: runtime.GOMAXPROCS(0), readers: 2, page: replayPage})
}

// replayShape is how a replay spreads its work.
type replayShape struct {
	workers int // deciding goroutines
	readers int // journal pages read at once
	page    int // entries per read
}

// Aggregates is what a replay rebuilt: every aggregate, kept in the shard
// of the worker that rebuilt it. Merging the shards into one map took a
// tenth of a replay's CPU, on one core, after the others had finished.
type Aggregates struct {
	seed   maphash.Seed
	shards []map[storage.AggregateKey]storage.Aggregate
	// honoured are the entries decided under an older machine version
	// that today's rules decide otherwise, in journal order.
	honoured []Mismatch
}

// Honoured lists, in journal order, the applied entries an older machine
// version decided that today's rules decide otherwise, which the replay
// followed as the journal recorded them: notices for an audit, not
// mismatches.
func (a *Aggregates) Honoured() []Mismatch { return a.honoured }

// shardOf is the shard (and worker) of key.
func shardOf(seed maphash.Seed, key storage.AggregateKey, n int) int {
	if n == 1 {
		return 0
	}
	return int(maphash.String(seed, key.ID) % uint64(n))
}

// Len is the number of aggregates.
func (a *Aggregates) Len() int {
	n := 0
	for _, s := range a.shards {
		n += len(s)
	}
	return n
}

// Get returns the aggregate of key, if the replay rebuilt it.
func (a *Aggregates) Get(key storage.AggregateKey) (storage.Aggregate, bool) {
	v, ok := a.shards[shardOf(a.seed, key, len(a.shards))][key]
	return v, ok
}

// All yields every aggregate, in no particular order.
func (a *Aggregates) All() iter.Seq2[storage.AggregateKey, storage.Aggregate] {
	return func(yield func(storage.AggregateKey, storage.Aggregate) bool) {
		for _, s := range a.shards {
			for k, v := range s {
				if !yield(k, v) {
					return
				}
			}
		}
	}
}

func replay(ctx context.Context, r storage.Reader, machines *sm.Registry, shape replayShape) (*Aggregates, []Mismatch, error) {
	workers := shape.workers
	seed := maphash.MakeSeed()
	shards := make([]*replayer, workers)
	pages := make([]chan []storage.JournalEntry, workers)
	var wg sync.WaitGroup
	for i := range shards {
		shards[i] = newReplayer(ctx, r, machines)
		// A few pages of slack let the readers run ahead of a worker that
		// drew a busier share.
		pages[i] = make(chan []storage.JournalEntry, 4)
		wg.Go(func() {
			for page := range pages[i] {
				for j := range page {
					e := &page[j]
					if shardOf(seed, e.Key, workers) == i {
						shards[i].apply(e)
					}
				}
			}
		})
	}
	err := readPages(ctx, r, shape, func(page []storage.JournalEntry) {
		for _, ch := range pages {
			ch <- page
		}
	})
	for _, ch := range pages {
		close(ch)
	}
	wg.Wait()

	aggs := &Aggregates{seed: seed}
	var bad []Mismatch
	for _, s := range shards {
		aggs.shards = append(aggs.shards, s.aggs)
		bad = append(bad, s.bad...)
		aggs.honoured = append(aggs.honoured, s.honoured...)
		err = cmp.Or(err, s.err)
	}
	bySeq := func(a, b Mismatch) int { return cmp.Compare(a.Seq, b.Seq) }
	slices.SortFunc(bad, bySeq)
	slices.SortFunc(aggs.honoured, bySeq)
	return aggs, bad, err
}

// StateAt rebuilds one aggregate as it stood at time at, from its journal
// entries received up to then, as Replay does (an applied entry an older
// machine version decided stands). ok is false when nothing had been
// applied to it by then.
func StateAt(ctx context.Context, r storage.Reader, machines *sm.Registry, key storage.AggregateKey, at time.Time) (agg storage.Aggregate, ok bool, err error) {
	rp := newReplayer(ctx, r, machines)
	err = eachPage(ctx, r, &key, 0, replayPage, func(page []storage.JournalEntry) bool {
		for i := range page {
			if page[i].ReceivedAt.After(at) || !rp.apply(&page[i]) {
				return false
			}
		}
		return true
	})
	err = cmp.Or(err, rp.err)
	if err == nil && len(rp.bad) > 0 {
		err = fmt.Errorf("engine: journal entry %d no longer replays: %s", rp.bad[0].Seq, rp.bad[0].Detail)
	}
	agg, ok = rp.aggs[key]
	return agg, ok, err
}

// readPages calls fn with every page of the whole journal, in order.
// Up to the head read at the start, shape.readers goroutines each read
// every readers-th page, page k being the entries after k*shape.page up to
// the next page's start (sequences are gap-free, but a gap would only
// make a page shorter); fn gets them back in order. Entries appended since are
// then read one page after the other.
func readPages(ctx context.Context, r storage.Reader, shape replayShape, fn func([]storage.JournalEntry)) error {
	head, err := r.Head(ctx)
	if err != nil {
		return err
	}
	type result struct {
		page []storage.JournalEntry
		err  error
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	size, readers := int64(shape.page), int64(shape.readers)
	pages := (head.Seq + size - 1) / size
	out := make([]chan result, readers)
	for i := range out {
		out[i] = make(chan result, 2)
		wg.Go(func() {
			defer close(out[i])
			for k := int64(i); k < pages; k += readers {
				page, err := r.ReplayJournal(ctx, nil, k*size, shape.page)
				end := min((k+1)*size, head.Seq)
				for len(page) > 0 && page[len(page)-1].Seq > end {
					page = page[:len(page)-1]
				}
				select {
				case out[i] <- result{page, err}:
				case <-ctx.Done():
					return
				}
				if err != nil {
					return
				}
			}
		})
	}
	for k := range pages {
		res, ok := <-out[k%readers]
		if !ok {
			return ctx.Err() // a reader gave up on a cancelled ctx
		}
		if res.err != nil {
			return res.err
		}
		fn(res.page)
	}
	return eachPage(ctx, r, nil, head.Seq, shape.page, func(page []storage.JournalEntry) bool {
		fn(page)
		return true
	})
}

// eachPage reads the journal (of key, or all) after after in order, a
// page at a time, until fn returns false.
func eachPage(ctx context.Context, r storage.Reader, key *storage.AggregateKey, after int64, size int, fn func([]storage.JournalEntry) bool) error {
	for {
		entries, err := r.ReplayJournal(ctx, key, after, size)
		if err != nil {
			return err
		}
		if len(entries) > 0 {
			after = entries[len(entries)-1].Seq
			if !fn(entries) {
				return nil
			}
		}
		if len(entries) < size {
			return nil
		}
	}
}

// replayer decides journal entries into the aggregates it holds.
type replayer struct {
	ctx      context.Context
	r        storage.Reader
	machines *sm.Registry
	aggs     map[storage.AggregateKey]storage.Aggregate
	bad      []Mismatch
	honoured []Mismatch
	// err is the first error reading a whole entry (recorded); the replay
	// stops at it.
	err error
}

func newReplayer(ctx context.Context, r storage.Reader, machines *sm.Registry) *replayer {
	return &replayer{ctx: ctx, r: r, machines: machines, aggs: map[storage.AggregateKey]storage.Aggregate{}}
}

// recorded reads the whole of e (ReplayJournal leaves the machine version
// and the skipped states out, which cost most of a row to read): only
// an entry today's rules decide otherwise needs them.
func (rp *replayer) recorded(e *storage.JournalEntry) (*storage.JournalEntry, error) {
	got, err := rp.r.Journal(rp.ctx, &e.Key, e.Seq-1, 1)
	if err != nil {
		return nil, err
	}
	if len(got) != 1 || got[0].Seq != e.Seq {
		return nil, fmt.Errorf("engine: journal entry %d of %s/%s/%s not found on reading it whole", e.Seq, e.Key.Provider, e.Key.Kind, e.Key.ID)
	}
	return &got[0], nil
}

// apply applies one journal entry if it was applied, and reports false
// when the machines no longer agree with it and it was decided under the
// current version; one decided under an older version is honoured.
func (rp *replayer) apply(e *storage.JournalEntry) bool {
	if e.Verdict != string(sm.VerdictApplied) || rp.err != nil {
		return rp.err == nil
	}
	p, err := decodePayload(e.Payload)
	if err != nil {
		rp.bad = append(rp.bad, Mismatch{Key: e.Key, Seq: e.Seq, Detail: "payload unreadable: " + err.Error()})
		return false
	}
	agg, exists := rp.aggs[e.Key]
	m := rp.machines.Machine(e.Key.Provider, sm.Kind(e.Key.Kind))
	// No body hash: a replayed event has no prior receipt, and Decide
	// looks at the hash only to compare it with one.
	in := p.input("")
	dec := sm.Decide(m, snapshot(agg, exists), in)
	if dec.Verdict != sm.VerdictApplied || string(dec.To) != e.StateAfter {
		var err error
		if m != nil {
			if e, err = rp.recorded(e); err != nil {
				rp.err = err
				return false
			}
		}
		if m == nil || e.MachineVersion == m.Version() {
			rp.bad = append(rp.bad, Mismatch{Key: e.Key, Seq: e.Seq, Detail: fmt.Sprintf("journal says %s → %s, machine now says %s (%s)",
				e.StateBefore, e.StateAfter, dec.Verdict, dec.Reason())})
			return false
		}
		today := dec
		dec = sm.Honour(m, snapshot(agg, exists), in, states(e.Skipped), sm.State(e.StateAfter))
		rp.honoured = append(rp.honoured, Mismatch{Key: e.Key, Seq: e.Seq, Detail: honouredDetail(e, m, today, dec)})
	}
	rp.aggs[e.Key] = advance(agg, exists, e.Key, p, dec, e.ReceivedAt)
	return true
}

// honouredDetail says why an entry was honoured: which rules decided it,
// and what today's decide instead.
func honouredDetail(e *storage.JournalEntry, m *sm.Machine, today, honoured sm.Decision) string {
	now := string(today.Verdict)
	if today.Verdict == sm.VerdictApplied {
		now += " → " + string(today.To)
	}
	if r := today.Reason(); r != "" {
		now += " (" + r + ")"
	}
	s := fmt.Sprintf("decided under older rules (machine version %s, now %s): journal says %s → %s, today's rules say %s; the journal's verdict stands",
		cmp.Or(e.MachineVersion, "not recorded"), m.Version(), e.StateBefore, e.StateAfter, now)
	if honoured.Detail != "" {
		s += "; " + honoured.Detail
	}
	return s
}

func states(names []string) []sm.State {
	if len(names) == 0 {
		return nil
	}
	out := make([]sm.State, len(names))
	for i, n := range names {
		out[i] = sm.State(n)
	}
	return out
}

// Verify replays the journal and compares every replayed aggregate with
// the stored one: the replay's mismatches in journal order, then Compare's.
// Entries the replay honoured (Aggregates.Honoured) are not mismatches.
func Verify(ctx context.Context, r storage.Reader, machines *sm.Registry) ([]Mismatch, error) {
	aggs, bad, err := Replay(ctx, r, machines)
	if err != nil {
		return nil, err
	}
	diffs, err := Compare(ctx, r, aggs)
	if err != nil {
		return nil, err
	}
	return append(bad, diffs...), nil
}

// Compare reports every aggregate of want that differs from the stored
// one, and every stored aggregate want does not have (Phantom), ordered by
// key. It reads the stored aggregates in pages, in key order: a point read
// per aggregate cost more than the replay itself.
func Compare(ctx context.Context, r storage.Reader, want *Aggregates) ([]Mismatch, error) {
	bad, _, _, err := compareAll(ctx, r, want, replayPage, false)
	return bad, err
}

// compareAll is Compare also returning how many aggregates are stored.
// With pendingFacts (storage.FactsDeriver: a migration left the amount
// facts to be derived, and they are not yet), a stored aggregate that
// differs from the replay only in them is not a mismatch: it is counted
// in factsOnly.
func compareAll(ctx context.Context, r storage.Reader, want *Aggregates, size int, pendingFacts bool) (bad []Mismatch, stored, factsOnly int, err error) {
	var phantoms []Mismatch
	seen, total := 0, want.Len()
	differs := func(got, w storage.Aggregate) string {
		if pendingFacts && !sameFacts(got, w) {
			if d := diff(withFacts(got, w), w); d != "" {
				return d
			}
			factsOnly++
			return ""
		}
		return diff(got, w)
	}
	for after := (storage.AggregateKey{}); ; {
		page, err := r.ListAggregates(ctx, storage.AggregateFilter{}, after, size)
		if err != nil {
			return nil, 0, 0, err
		}
		stored += len(page)
		for _, got := range page {
			w, ok := want.Get(got.Key)
			if !ok {
				phantoms = append(phantoms, Mismatch{Key: got.Key, Detail: phantomDetail, Phantom: true})
				continue
			}
			seen++
			if d := differs(got.Aggregate, w); d != "" {
				bad = append(bad, Mismatch{Key: got.Key, Detail: d})
			}
		}
		if len(page) < size {
			break
		}
		after = page[len(page)-1].Key
	}
	if seen < total {
		// Some are not stored (or were stored after their page was read):
		// read each one to say which and why.
		factsOnly = 0
		bad = compareEach(ctx, r, want, differs)
	}
	bad = append(bad, phantoms...)
	slices.SortFunc(bad, func(a, b Mismatch) int { return a.Key.Compare(b.Key) })
	return bad, stored, factsOnly, nil
}

// sameFacts: a and b agree on the facts a migration may have left to be
// derived (storage.FactsDeriver).
func sameFacts(a, b storage.Aggregate) bool {
	return a == withFacts(a, b)
}

// withFacts is a with the facts a migration may have left to be derived
// taken from b: the columns storage.FactsDeriver.SetFacts writes.
func withFacts(a, b storage.Aggregate) storage.Aggregate {
	a.ProviderStatus, a.Amount, a.AmountKnown = b.ProviderStatus, b.Amount, b.AmountKnown
	a.Authorized, a.Captured, a.Refunded, a.AmountsUnknown = b.Authorized, b.Captured, b.Refunded, b.AmountsUnknown
	a.CapturedRest, a.RefundedRest = b.CapturedRest, b.RefundedRest
	return a
}

func compareEach(ctx context.Context, r storage.Reader, want *Aggregates, differs func(got, want storage.Aggregate) string) []Mismatch {
	var bad []Mismatch
	for key, w := range want.All() {
		got, err := r.Aggregate(ctx, key)
		if err != nil {
			bad = append(bad, Mismatch{Key: key, Detail: "stored aggregate: " + err.Error()})
			continue
		}
		if d := differs(got, w); d != "" {
			bad = append(bad, Mismatch{Key: key, Detail: d})
		}
	}
	return bad
}

func diff(got, want storage.Aggregate) string {
	type view struct {
		State, ProviderStatus, Currency, Ref string
		Parent                               storage.AggregateKey
		Amount, Auth, Capt, Ref2, Version    int64
		Created, Updated                     int64
		Unknown, Known                       bool
		CapturedRest, RefundedRest           int64
	}
	v := func(a storage.Aggregate) view {
		return view{a.State, a.ProviderStatus, a.Currency, a.MerchantReference, a.Parent,
			a.Amount, a.Authorized, a.Captured, a.Refunded, a.Version, a.CreatedAt.UnixMicro(), a.UpdatedAt.UnixMicro(),
			a.AmountsUnknown, a.AmountKnown, a.CapturedRest, a.RefundedRest}
	}
	if g, w := v(got), v(want); g != w {
		return fmt.Sprintf("stored %+v, replay gives %+v", g, w)
	}
	return ""
}
