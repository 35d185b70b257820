package engine

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
)

// Tables named by audit problems.
const (
	TableJournal    = "journal"
	TableReceipts   = "receipts"
	TableDeferred   = "deferred"
	TableAggregates = "aggregates"
)

// Problem is one way the store disagrees with its journal.
type Problem struct {
	// Table is the table at fault: TableJournal (the journal contradicts
	// itself), TableReceipts, TableDeferred or TableAggregates.
	Table string
	// Row names the row: a receipt's provider/dedupe key, a held event's
	// journal sequence, an aggregate's provider/kind/id.
	Row string
	// Seq is the journal entry concerned, 0 when none is.
	Seq    int64
	Detail string
	// fix rewrites the row from the journal; nil when the journal itself
	// is at fault and nothing derived from it can be trusted to fix it.
	fix func(ctx context.Context, tx storage.Tx) error
}

// Fixable reports whether Repair can rewrite the row from the journal.
func (p Problem) Fixable() bool { return p.fix != nil }

func (p Problem) String() string {
	s := p.Table + " " + p.Row
	if p.Seq != 0 && p.Row != fmt.Sprint(p.Seq) {
		s += fmt.Sprintf(" (journal %d)", p.Seq)
	}
	return s + ": " + p.Detail
}

// AuditReport is what Audit found.
type AuditReport struct {
	// Chain is the hash chain's verdict; the derived tables are checked
	// only when it is OK (a broken journal proves nothing).
	Chain storage.ChainReport
	// Rows read from each derived table.
	Receipts, Deferred, Aggregates int
	// Problems, by table then row.
	Problems []Problem
	// Honoured are notices, not problems: the applied entries an older
	// machine version decided that today's rules decide otherwise, whose
	// verdicts the replay followed as recorded (Aggregates.Honoured), in
	// journal order.
	Honoured []Problem
	// Unreplayable counts journal entries today's machines no longer
	// replay; Repair refuses to rewrite aggregates from such a replay.
	Unreplayable int
	// Unsealed counts the entries committed but not sealed yet when the
	// audit ended (a store that seals after commit, storage.Sealer):
	// acknowledged, in flight, and not checked.
	Unsealed int64
	// ReadOnly: the store seals after commit and this connection could
	// not seal (storage.ErrReadOnly: an auditor's read-only login or
	// transaction). What was sealed was checked; an aggregate with
	// entries not sealed yet, and a held event one of them may have
	// resolved, were in flight and not checked.
	ReadOnly bool
	// ExpiryUnrecorded counts the held events whose deferral was written
	// before entries recorded the expiry: the journal does not say when
	// they expire, so their expiry was not checked.
	ExpiryUnrecorded int
	// FactsPending counts the aggregates that differ from the replay only
	// in the facts a migration left to be derived from the journal
	// (storage.FactsDeriver), while that derivation has not run (it runs
	// at the first open that may write): not problems, and not checked.
	FactsPending int
}

// OK is true when the chain verifies and every derived table agrees with
// the journal.
func (r *AuditReport) OK() bool { return r.Chain.OK && len(r.Problems) == 0 }

// AuditConfig tunes Audit.
type AuditConfig struct {
	// DeferWindow gives a held event whose deferral did not record its
	// expiry (written before entries did) the expiry Repair restores:
	// received + window. Default 24h, the engine's.
	DeferWindow time.Duration
	// Progress, when set, is told how many journal entries the walk over
	// the chain has read, of how many (the head's sequence when it began),
	// after each entry. It runs on Audit's goroutine and must be cheap.
	Progress func(done, total int64)
}

// Audit checks the journal's hash chain and every table derived from it:
//   - receipts: each dedupe key has exactly one first verdict, and its
//     receipt points at that entry with its body hash; no receipt names
//     a key the journal never saw;
//   - deferred: each event the journal held is either resolved exactly
//     once by a later entry or still held, as it was received; nothing
//     else is held;
//   - aggregates: each equals a replay of its journal (state, amounts,
//     its parent link), and none is stored that no journal entry built.
//
// It is safe under live traffic: tables are compared with the journal
// read up to a head taken after they were listed, a row is called missing
// only if it must have existed throughout the listing, and a differing
// aggregate is read again around a replay of its own entries before it
// is reported.
//
// On a store that seals after commit (storage.Sealer) an entry committed
// but not sealed is in flight: its effects are in the tables and it is
// not in the journal yet. Audit seals what was committed before it
// began, what was committed before the tables were listed ahead of the
// second walk, and before replaying an aggregate it rechecks what was
// committed before it read the row, so that the journal it compares with holds
// every entry the rows it read reflect; a receipt listed while its entry
// was unsealed (it names a handle) is in flight and not checked. On a
// connection that may not seal (read-only) it checks what is sealed: see
// AuditReport.ReadOnly.
func Audit(ctx context.Context, r storage.Reader, machines *sm.Registry, cfg AuditConfig) (*AuditReport, error) {
	if cfg.DeferWindow <= 0 {
		cfg.DeferWindow = 24 * time.Hour
	}
	rep := &AuditReport{}
	// Everything acknowledged before the audit began is checked: sealed
	// first, when the store seals after commit.
	sealer := &auditSealer{r: r}
	if err := sealer.all(ctx); err != nil {
		return nil, err
	}
	d := newDerived(cfg)
	visit := d.visit
	if cfg.Progress != nil {
		head, err := r.Head(ctx)
		if err != nil {
			return nil, err
		}
		var done int64
		visit = func(e *storage.JournalEntry) {
			d.visit(e)
			done++
			cfg.Progress(done, head.Seq)
		}
	}
	chain, err := storage.WalkChain(ctx, r, 0, 0, visit)
	if err != nil {
		return nil, err
	}
	rep.Chain = chain
	if !chain.OK {
		return rep, nil
	}
	listedAt := chain.Head.Seq
	receipts, err := listAll(ctx, r.Receipts, func(s storage.StoredReceipt) storage.ReceiptKey { return s.Key })
	if err != nil {
		return nil, err
	}
	held, err := listAll(ctx, r.Deferred, func(d storage.DeferredEvent) int64 { return d.Seq })
	if err != nil {
		return nil, err
	}
	// What was appended while the tables were listed explains rows the
	// listing saw that the first walk did not: sealed first, when the
	// store seals after commit, so that it is in the journal. Read-only,
	// a deferral the listing lacks may have been resolved by an entry
	// not sealed yet: its aggregate's unsealed entries are counted
	// before the walk, so that one committed before the listing is
	// either counted or walked.
	if err := sealer.all(ctx); err != nil {
		return nil, err
	}
	if err := d.heldInFlight(ctx, sealer, held, listedAt); err != nil {
		return nil, err
	}
	tail, err := storage.WalkChain(ctx, r, listedAt+1, 0, d.visit)
	if err != nil {
		return nil, err
	}
	if !tail.OK {
		rep.Chain = tail
		return rep, nil
	}
	rep.Chain.Checked += tail.Checked
	rep.Chain.Head = tail.Head
	rep.Receipts, rep.Deferred = len(receipts), len(held)
	d.checkReceipts(receipts, listedAt)
	d.checkDeferred(held, listedAt)
	rep.ExpiryUnrecorded = d.unrecordedListed

	aggs, bad, err := Replay(ctx, r, machines)
	if err != nil {
		return nil, err
	}
	pendingFacts := false
	if fd, ok := storage.AsFactsDeriver(r); ok {
		if pendingFacts, err = fd.FactsPending(ctx); err != nil {
			return nil, err
		}
	}
	diffs, stored, factsOnly, err := compareAll(ctx, r, aggs, replayPage, pendingFacts)
	if err != nil {
		return nil, err
	}
	rep.Aggregates, rep.FactsPending = stored, factsOnly
	rep.Unreplayable = len(bad)
	for _, m := range aggs.Honoured() {
		rep.Honoured = append(rep.Honoured, Problem{Table: TableJournal, Row: fmt.Sprint(m.Seq), Seq: m.Seq,
			Detail: fmt.Sprintf("%s/%s/%s %s", m.Key.Provider, m.Key.Kind, m.Key.ID, m.Detail)})
	}
	for _, m := range bad {
		d.problems = append(d.problems, Problem{Table: TableJournal, Row: fmt.Sprint(m.Seq), Seq: m.Seq,
			Detail: fmt.Sprintf("%s/%s/%s no longer replays: %s", m.Key.Provider, m.Key.Kind, m.Key.ID, m.Detail)})
	}
	for _, m := range diffs {
		m, still, err := recheck(ctx, r, sealer, machines, m)
		if err != nil {
			return nil, err
		}
		if still {
			d.problems = append(d.problems, aggregateProblem(m, aggs))
		}
	}
	rep.Problems = d.problems
	sortProblems(rep.Problems)
	rep.ReadOnly = sealer.readOnly
	if se, ok := storage.AsSealer(r); ok {
		if rep.Unsealed, err = se.Unsealed(ctx, nil); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

func tableOrder(t string) int {
	return slices.Index([]string{TableJournal, TableReceipts, TableDeferred, TableAggregates}, t)
}

// ErrUnreplayable: Repair will not rewrite state from a journal that
// today's machines no longer replay.
var ErrUnreplayable = errors.New("engine: journal entries no longer replay through today's machines; nothing was repaired")

// Repair rewrites every fixable problem's row from the journal, in one
// transaction, and returns how many it rewrote. Run it with the server
// stopped: a row the engine changes meanwhile would be overwritten.
func Repair(ctx context.Context, s storage.Store, rep *AuditReport) (int, error) {
	if rep.Unreplayable > 0 {
		return 0, ErrUnreplayable
	}
	n := 0
	err := s.Update(ctx, func(tx storage.Tx) error {
		n = 0
		for _, p := range rep.Problems {
			if p.fix == nil {
				continue
			}
			if err := p.fix(ctx, tx); err != nil {
				return fmt.Errorf("engine: repair %s: %w", p.Row, err)
			}
			n++
		}
		return nil
	})
	return n, err
}

// derived is what the journal says the derived tables must hold, built
// entry by entry.
type derived struct {
	cfg AuditConfig
	// firsts is each dedupe key's first entry: the one its receipt names.
	firsts map[storage.ReceiptKey]firstEntry
	// held are the deferrals not resolved (so far), by their sequence.
	held map[int64]storage.DeferredEvent
	// resolved maps a resolved deferral to the entry that resolved it
	// (or, for one that expired waiting, revived it).
	resolved map[int64]int64
	// waiting maps an expiry that keeps its event held (waitingExpiry)
	// to the deferral, until an entry revises it.
	waiting map[int64]int64
	// inFlight are deferrals not listed whose aggregate had entries not
	// sealed yet, on a connection that could not seal (heldInFlight).
	inFlight map[int64]bool
	// unrecorded are the deferrals whose entry did not record the
	// expiry (written before it was), and unrecordedListed counts the
	// listed rows among them: their expiry is not checked.
	unrecorded       map[int64]bool
	unrecordedListed int
	problems         []Problem
}

type firstEntry struct {
	seq  int64
	body string
}

func newDerived(cfg AuditConfig) *derived {
	return &derived{cfg: cfg, firsts: map[storage.ReceiptKey]firstEntry{},
		held: map[int64]storage.DeferredEvent{}, resolved: map[int64]int64{}, waiting: map[int64]int64{},
		unrecorded: map[int64]bool{}}
}

// visit reads one journal entry, in order.
func (d *derived) visit(e *storage.JournalEntry) {
	if e.ResolvesSeq != 0 {
		d.resolve(e)
		return
	}
	if rs, ok := d.waiting[e.RevisesSeq]; ok && e.RevisesSeq != 0 {
		// Revives (or finally settles) an event that expired waiting.
		delete(d.waiting, e.RevisesSeq)
		delete(d.held, rs)
		d.resolved[rs] = e.Seq
		return
	}
	if !hasReceipt(e) {
		return
	}
	rk := storage.ReceiptKey{Provider: e.Key.Provider, DedupeKey: e.DedupeKey}
	f, seen := d.firsts[rk]
	// Decide answers an event whose key has a receipt with a duplicate
	// (same body) or a conflict (another body), and never otherwise: any
	// other verdict (a snapshot's "already in status" duplicate included)
	// is a first verdict, decided as if the key were new, and put the
	// receipt.
	duplicate := e.Verdict == string(sm.VerdictDuplicate) && e.Reason == receiptDuplicate.Reason()
	conflict := e.Verdict == string(receiptConflict.Verdict) && e.Reason == receiptConflict.Reason()
	switch {
	case !duplicate && !conflict && seen:
		d.problems = append(d.problems, Problem{Table: TableJournal, Row: fmt.Sprint(e.Seq), Seq: e.Seq,
			Detail: fmt.Sprintf("dedupe key %s/%s got its first verdict at %d, yet this delivery of it was %s: its receipt was missing when it arrived",
				rk.Provider, rk.DedupeKey, f.seq, e.Verdict)})
	case !duplicate && !conflict:
		d.firsts[rk] = firstEntry{seq: e.Seq, body: e.BodySHA256}
		if e.Verdict == string(sm.VerdictDeferred) {
			d.hold(e)
		}
	case seen && duplicate != (e.BodySHA256 == f.body):
		// (A snapshot's key is scoped to its aggregate's version and may
		// have been answered by the previous version's receipt: with no
		// first entry of its own key there is nothing to compare.)
		d.problems = append(d.problems, Problem{Table: TableJournal, Row: fmt.Sprint(e.Seq), Seq: e.Seq,
			Detail: fmt.Sprintf("was %s against entry %d of dedupe key %s/%s, whose body is %s", e.Verdict, f.seq, rk.Provider, rk.DedupeKey,
				map[bool]string{true: "the same", false: "another"}[e.BodySHA256 == f.body])})
	}
}

// defer reads an entry that held its event. Its expiry is the one the
// entry recorded; an entry written before expiries were recorded gets
// the configured window, which Repair gives a missing row, and its
// row's expiry is not checked (unrecorded).
func (d *derived) hold(e *storage.JournalEntry) {
	expires, recorded := HeldUntil(e)
	if !recorded {
		expires = e.ReceivedAt.Add(d.cfg.DeferWindow)
		d.unrecorded[e.Seq] = true
	}
	d.held[e.Seq] = storage.DeferredEvent{Seq: e.Seq, Key: e.Key, DedupeKey: e.DedupeKey,
		Payload: bytes.Clone(e.Payload), BodySHA256: e.BodySHA256, ReceivedAt: e.ReceivedAt, ExpiresAt: expires}
}

// resolve reads an entry that resolves a held one.
func (d *derived) resolve(e *storage.JournalEntry) {
	rs := e.ResolvesSeq
	h, ok := d.held[rs]
	bad := func(format string, args ...any) {
		d.problems = append(d.problems, Problem{Table: TableJournal, Row: fmt.Sprint(e.Seq), Seq: e.Seq,
			Detail: fmt.Sprintf(format, args...)})
	}
	switch {
	case ok && (h.Key != e.Key || h.DedupeKey != e.DedupeKey):
		bad("resolves %d, an event of another aggregate or dedupe key", rs)
	case ok && waitingExpiry(e):
		// Expired, and kept to be revived: still in the table, marked.
		h.ExpiredSeq = e.Seq
		d.held[rs] = h
		d.waiting[e.Seq] = rs
	case ok:
		delete(d.held, rs)
		d.resolved[rs] = e.Seq
	case d.resolved[rs] != 0:
		bad("resolves %d a second time (first resolved by %d)", rs, d.resolved[rs])
	default:
		bad("resolves %d, which was never held", rs)
	}
}

// hasReceipt reports whether ingesting e recorded its dedupe key: every
// delivered event but a malformed body's (whose key is its body hash).
// Entries resolving held events, and entries a re-evaluation appends to
// revise an earlier verdict, reuse that event's key and receipt.
func hasReceipt(e *storage.JournalEntry) bool {
	return e.ResolvesSeq == 0 && e.RevisesSeq == 0 && !isMalformed(e)
}

func isMalformed(e *storage.JournalEntry) bool {
	return e.Event == "" && e.Key.Kind == "" && e.DedupeKey == malformedKeyPrefix+e.BodySHA256
}

// What Decide answers an event whose dedupe key already has a receipt,
// with the same body and with another: asked of Decide itself, so that the
// audit reads the journal as the engine wrote it.
var (
	receiptDuplicate = sm.Decide(nil, sm.Snapshot{State: sm.StateNew}, sm.Input{Prior: "a", BodySHA256: "a"})
	receiptConflict  = sm.Decide(nil, sm.Snapshot{State: sm.StateNew}, sm.Input{Prior: "a", BodySHA256: "b"})
)

// checkReceipts compares the listed receipts with the journal. A key
// whose first entry lies past listedAt may have been committed after the
// listing passed it, so its absence proves nothing.
func (d *derived) checkReceipts(rows []storage.StoredReceipt, listedAt int64) {
	listed := make(map[storage.ReceiptKey]bool, len(rows))
	for _, row := range rows {
		listed[row.Key] = true
		if storage.IsHandle(row.Seq) {
			continue // its entry was not sealed when listed: in flight
		}
		f, ok := d.firsts[row.Key]
		name := row.Key.Provider + "/" + row.Key.DedupeKey
		switch {
		case !ok:
			key := row.Key
			d.problems = append(d.problems, Problem{Table: TableReceipts, Row: name, Seq: row.Seq,
				Detail: "no journal entry has this dedupe key: an event carrying it would be answered duplicate unseen",
				fix: func(ctx context.Context, tx storage.Tx) error {
					return tx.DeleteReceipt(ctx, key)
				}})
		case row.Seq != f.seq || row.BodySHA256 != f.body:
			key, want := row.Key, storage.Receipt{Seq: f.seq, BodySHA256: f.body}
			d.problems = append(d.problems, Problem{Table: TableReceipts, Row: name, Seq: f.seq,
				Detail: fmt.Sprintf("names entry %d (body %.12s), the key's first entry is %d (body %.12s)",
					row.Seq, row.BodySHA256, f.seq, f.body),
				fix: func(ctx context.Context, tx storage.Tx) error {
					if err := tx.DeleteReceipt(ctx, key); err != nil {
						return err
					}
					return tx.PutReceipt(ctx, key.Provider, key.DedupeKey, want)
				}})
		}
	}
	for key, f := range d.firsts {
		if listed[key] || f.seq > listedAt {
			continue
		}
		want := storage.Receipt{Seq: f.seq, BodySHA256: f.body}
		d.problems = append(d.problems, Problem{Table: TableReceipts, Row: key.Provider + "/" + key.DedupeKey, Seq: f.seq,
			Detail: fmt.Sprintf("missing: entry %d recorded the key, and a redelivery would be decided again", f.seq),
			fix: func(ctx context.Context, tx storage.Tx) error {
				return tx.PutReceipt(ctx, key.Provider, key.DedupeKey, want)
			}})
	}
}

// checkDeferred compares the listed held events with the journal. A
// deferral resolved past listedAt may have been listed before it was
// resolved; one still held at the end of the walk and deferred by
// listedAt was held throughout the listing, so it must have been listed.
func (d *derived) checkDeferred(rows []storage.DeferredEvent, listedAt int64) {
	listed := make(map[int64]bool, len(rows))
	for _, row := range rows {
		listed[row.Seq] = true
		seq := row.Seq
		undefer := func(ctx context.Context, tx storage.Tx) error { return tx.Undefer(ctx, seq) }
		want, pending := d.held[seq]
		by, resolved := d.resolved[seq]
		if pending && d.unrecorded[seq] {
			d.unrecordedListed++
			want.ExpiresAt = row.ExpiresAt
		}
		rewrite := func(ctx context.Context, tx storage.Tx) error {
			if err := tx.Undefer(ctx, want.Seq); err != nil {
				return err
			}
			return tx.Defer(ctx, want)
		}
		switch {
		case pending && !sameHeld(row, want, listedAt):
			d.problems = append(d.problems, Problem{Table: TableDeferred, Row: fmt.Sprint(seq), Seq: seq,
				Detail: "differs from the event entry " + fmt.Sprint(seq) + " deferred", fix: rewrite})
		case pending && !row.ExpiresAt.Equal(want.ExpiresAt):
			// Expiring it early appends a rejection nobody earned; late,
			// keeps it held past the rejection it is owed.
			want.ExpiredSeq = row.ExpiredSeq
			d.problems = append(d.problems, Problem{Table: TableDeferred, Row: fmt.Sprint(seq), Seq: seq,
				Detail: fmt.Sprintf("expires at %s, but entry %d held the event until %s",
					row.ExpiresAt.UTC().Format(heldUntilLayout), seq, want.ExpiresAt.UTC().Format(heldUntilLayout)),
				fix: rewrite})
		case pending:
		case resolved && by <= listedAt:
			d.problems = append(d.problems, Problem{Table: TableDeferred, Row: fmt.Sprint(seq), Seq: seq,
				Detail: fmt.Sprintf("still held, but entry %d resolved it", by), fix: undefer})
		case resolved:
		default:
			d.problems = append(d.problems, Problem{Table: TableDeferred, Row: fmt.Sprint(seq), Seq: seq,
				Detail: "held, but no journal entry deferred it", fix: undefer})
		}
	}
	for seq, want := range d.held {
		if listed[seq] || seq > listedAt || d.inFlight[seq] {
			continue
		}
		d.problems = append(d.problems, Problem{Table: TableDeferred, Row: fmt.Sprint(seq), Seq: seq,
			Detail: fmt.Sprintf("missing: entry %d deferred the event and nothing resolved it, so it would never be released", seq),
			fix:    func(ctx context.Context, tx storage.Tx) error { return tx.Defer(ctx, want) }})
	}
}

// heldInFlight, on a connection that could not seal, marks the deferrals
// the journal holds by listedAt that the listing lacks and whose
// aggregate has entries not sealed yet: one of those may have resolved
// it. It costs a count per such aggregate, and such deferrals are few:
// those resolved while the audit ran, or whose row is really missing.
func (d *derived) heldInFlight(ctx context.Context, s *auditSealer, listing []storage.DeferredEvent, listedAt int64) error {
	if !s.readOnly {
		return nil
	}
	listed := make(map[int64]bool, len(listing))
	for _, row := range listing {
		listed[row.Seq] = true
	}
	counted := map[storage.AggregateKey]bool{}
	for seq, want := range d.held {
		if listed[seq] || seq > listedAt {
			continue
		}
		unsealed, ok := counted[want.Key]
		if !ok {
			var err error
			if unsealed, err = s.inFlight(ctx, want.Key); err != nil {
				return err
			}
			counted[want.Key] = unsealed
		}
		if unsealed {
			if d.inFlight == nil {
				d.inFlight = map[int64]bool{}
			}
			d.inFlight[seq] = true
		}
	}
	return nil
}

// auditSealer seals for an audit, on a store that seals after commit,
// what was committed before it is asked to. On a connection that may not
// write (storage.ErrReadOnly) it cannot; it says so (readOnly), and tells
// whether an aggregate has entries not sealed yet, which the audit then
// leaves unchecked as in flight.
type auditSealer struct {
	r        storage.Reader
	readOnly bool
}

// all seals what was committed before the call; read-only, nothing.
func (s *auditSealer) all(ctx context.Context) error {
	if s.readOnly {
		return nil
	}
	err := storage.SealAll(ctx, s.r)
	if errors.Is(err, storage.ErrReadOnly) {
		s.readOnly = true
		return nil
	}
	return err
}

// inFlight seals what was committed before the call, so that the journal
// holds every entry of key committed by then, and reports false.
// Read-only, it reports whether key has entries not sealed yet: when it
// has none, every entry of key committed before the call is in the
// journal too.
func (s *auditSealer) inFlight(ctx context.Context, key storage.AggregateKey) (bool, error) {
	if err := s.all(ctx); err != nil || !s.readOnly {
		return false, err
	}
	se, ok := storage.AsSealer(s.r)
	if !ok {
		return false, nil
	}
	n, err := se.Unsealed(ctx, &key)
	return n > 0, err
}

// sameHeld compares what the journal fixes of a held event but its
// expiry, which checkDeferred compares on its own to name it.
//
// Whether it expired is compared where the listing must show it: an
// expiry by listedAt was committed before the listing, one after it may
// or may not have been (and one not sealed yet shows as a handle).
func sameHeld(got, want storage.DeferredEvent, listedAt int64) bool {
	settled := func(seq int64) bool { return seq > 0 && seq <= listedAt }
	expiry := got.ExpiredSeq == want.ExpiredSeq || !settled(got.ExpiredSeq) && !settled(want.ExpiredSeq)
	return got.Key == want.Key && got.DedupeKey == want.DedupeKey && bytes.Equal(got.Payload, want.Payload) &&
		got.BodySHA256 == want.BodySHA256 && got.ReceivedAt.Equal(want.ReceivedAt) && expiry
}

func sortProblems(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(tableOrder(a.Table), tableOrder(b.Table)), cmp.Compare(a.Seq, b.Seq), strings.Compare(a.Row, b.Row))
	})
}

// listAll reads a whole table a page at a time, each page after the
// cursor of the previous one's last row.
func listAll[T, K any](ctx context.Context, read func(context.Context, K, int) ([]T, error), cursor func(T) K) ([]T, error) {
	var out []T
	var after K
	for {
		page, err := read(ctx, after, replayPage)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < replayPage {
			return out, nil
		}
		after = cursor(page[len(page)-1])
	}
}

// aggregateProblem turns a Compare mismatch into a problem whose fix
// writes the replayed aggregate, or removes one the replay never built.
func aggregateProblem(m Mismatch, aggs *Aggregates) Problem {
	p := Problem{Table: TableAggregates, Row: m.Key.Provider + "/" + m.Key.Kind + "/" + m.Key.ID, Detail: m.Detail}
	key := m.Key
	if want, ok := aggs.Get(key); ok && !m.Phantom {
		p.fix = func(ctx context.Context, tx storage.Tx) error { return tx.PutAggregate(ctx, want) }
	} else if m.Phantom {
		p.fix = func(ctx context.Context, tx storage.Tx) error { return tx.DeleteAggregate(ctx, key) }
	}
	return p
}

// recheck reads m's aggregate again, before and after replaying its own
// journal: when both reads agree, nothing was applied to it in between,
// so the replay saw exactly the entries the row reflects and a difference
// is real. A difference that moved under live traffic is looked at again
// a few times and then left for the next audit, as is one whose
// aggregate has entries that could not be sealed (a read-only audit).
func recheck(ctx context.Context, r storage.Reader, sealer *auditSealer, machines *sm.Registry, m Mismatch) (Mismatch, bool, error) {
	forever := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	for range 3 {
		before, hadBefore, err := readAggregate(ctx, r, m.Key)
		if err != nil {
			return m, false, err
		}
		// Every entry before reflects is then in the journal, unless
		// some could not be sealed: in flight.
		if inFlight, err := sealer.inFlight(ctx, m.Key); err != nil || inFlight {
			return m, false, err
		}
		want, built, err := StateAt(ctx, r, machines, m.Key, forever)
		if err != nil {
			// The journal itself no longer replays: Replay reported it.
			return m, true, nil
		}
		after, hadAfter, err := readAggregate(ctx, r, m.Key)
		if err != nil {
			return m, false, err
		}
		if hadBefore != hadAfter || before.Version != after.Version || !before.UpdatedAt.Equal(after.UpdatedAt) {
			continue
		}
		switch {
		case !hadAfter && !built:
			return m, false, nil
		case !hadAfter:
			return Mismatch{Key: m.Key, Detail: "missing: the journal applied events to it"}, true, nil
		case !built:
			return Mismatch{Key: m.Key, Phantom: true, Detail: phantomDetail}, true, nil
		}
		d := diff(after, want)
		return Mismatch{Key: m.Key, Detail: d}, d != "", nil
	}
	return m, false, nil
}

func readAggregate(ctx context.Context, r storage.Reader, key storage.AggregateKey) (storage.Aggregate, bool, error) {
	a, err := r.Aggregate(ctx, key)
	switch {
	case err == nil:
		return a, true, nil
	case errors.Is(err, storage.ErrNotFound):
		return a, false, nil
	}
	return a, false, err
}
