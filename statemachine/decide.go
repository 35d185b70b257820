package statemachine

import (
	"fmt"
	"slices"
	"strings"
)

// Snapshot is what Decide needs to know of an aggregate. State is StateNew
// for an aggregate that has no applied event yet.
type Snapshot struct {
	State   State
	Amounts Amounts
	// Status is the provider's own status the aggregate shows: a snapshot
	// (Input.Snapshot) equal to it is a repeat.
	Status string
	// Parent is the aggregate's parent, once an applied event named one.
	Parent Parent
}

// Parent names the aggregate a child belongs to (a refund's or a
// chargeback's payment, a payment's subscription); the zero value is none.
type Parent struct {
	Kind Kind
	ID   string
}

func (p Parent) String() string { return string(p.Kind) + " " + p.ID }

// Input is one normalized event as Decide sees it.
type Input struct {
	Event     string
	Amount    int64
	HasAmount bool
	Currency  string
	// BodySHA256 identifies the delivery's content.
	BodySHA256 string
	// Prior is the body hash already recorded under the event's dedupe key,
	// or "" when the key is new.
	Prior string
	// RecordOnly marks an event the provider knows has no lifecycle.
	RecordOnly bool
	// Snapshot marks a status snapshot of the aggregate itself (Magnius, an
	// Inyo payment's own object), as opposed to an event or an operation
	// reported by an object of its own. A snapshot equal to the
	// aggregate's current status is a duplicate, whatever was seen before,
	// unless its amount or currency disagrees with what the aggregate
	// holds there (restatedAmountDisagrees);
	// a status seen before but legal from where the aggregate is now (a
	// subscription that recovers) is decided like any other.
	Snapshot bool
	// Status is the provider status the event reports, compared with
	// Snapshot.Status; "" means Event.
	Status string
	// Distinct marks an operation with an object of its own that moved
	// when it was reported (a refund object applied with its effect on the
	// payment; the engine decides no effect whose object did not move). It
	// is then no operation already counted here, told again, so an amount
	// equal to the total already moved is more money like any other
	// amount (see whereItsEdgeEnds).
	Distinct bool
	// Parent is the parent the event names, if any.
	Parent Parent
	// AmountOf names the aggregate whose reported amount an effect on its
	// parent carries because the event reported none of its own (a
	// refund completed without an amount moves its payment by the
	// refund's amount); the entry says so.
	AmountOf string
	// honoured marks an event an older machine applied (Honour): its
	// amount effect takes the branch the amount bounds would refuse, as
	// the rules without those bounds did, instead of a problem.
	honoured bool
}

// status is the provider status in reports.
func (in Input) status() string {
	if in.Status != "" {
		return in.Status
	}
	return in.Event
}

// ReasonCode classifies a verdict's reason.
type ReasonCode string

// Reason codes recorded with verdicts.
const (
	ReasonIllegal     ReasonCode = "illegal"       // never legal from here
	ReasonStale       ReasonCode = "stale"         // the aggregate has moved past it
	ReasonConflict    ReasonCode = "conflict"      // same dedupe key, different body; or another parent
	ReasonAmount      ReasonCode = "amount"        // amount rules broken
	ReasonCurrency    ReasonCode = "currency"      // currency differs from the aggregate's
	ReasonExpired     ReasonCode = "expired"       // deferred longer than the window
	ReasonEarly       ReasonCode = "early"         // deferred: legal from a state ahead
	ReasonUnknown     ReasonCode = "unknown_event" // recorded: a word the machine does not know
	ReasonNoLifecycle ReasonCode = "no_lifecycle"  // recorded: nothing to transition
	ReasonMalformed   ReasonCode = "malformed"     // the body could not be parsed
	ReasonSkipped     ReasonCode = "jumped"        // applied along a path (status snapshots)
)

// Decision is the verdict for one event and, when applied, its effect.
type Decision struct {
	Verdict Verdict
	Code    ReasonCode
	Detail  string
	// To and Amounts are the aggregate after the event (unchanged unless
	// the verdict is applied).
	To      State
	Amounts Amounts
	// Skipped lists the states a status snapshot passed through on its way
	// to To.
	Skipped []State
}

// Reason renders the code and detail for the journal.
func (d Decision) Reason() string {
	switch {
	case d.Code == "":
		return d.Detail
	case d.Detail == "":
		return string(d.Code)
	}
	return string(d.Code) + ": " + d.Detail
}

// Decide returns the verdict for in against the aggregate cur. m may be nil
// for an event with no lifecycle. Decide is pure: the caller persists the
// decision.
func Decide(m *Machine, cur Snapshot, in Input) Decision {
	d := decide(m, cur, in)
	if in.AmountOf != "" && d.Verdict != VerdictDuplicate {
		d.Detail = strings.TrimPrefix(d.Detail+"; "+fmt.Sprintf("amount %d is %s's: the event reported none", in.Amount, in.AmountOf), "; ")
	}
	if d.Verdict == VerdictApplied && otherParent(cur, in) {
		// Not an operation on the parent's money (see decide): decided
		// as usual, the parent it already has kept, the other named.
		d.Detail = strings.TrimPrefix(d.Detail+"; "+fmt.Sprintf("names %s as its parent; keeps %s", in.Parent, cur.Parent), "; ")
	}
	return d
}

// otherParent reports whether in names a parent of the kind the aggregate's
// parent has, and another one.
func otherParent(cur Snapshot, in Input) bool {
	return in.Parent.ID != "" && cur.Parent.ID != "" && in.Parent.Kind == cur.Parent.Kind && in.Parent.ID != cur.Parent.ID
}

// movesParentMoney reports whether an aggregate of m's kind is an
// operation on its parent's money: a refund's or a chargeback's payment.
func movesParentMoney(m *Machine) bool {
	return m.table.Kind == KindRefund || m.table.Kind == KindChargeback
}

// decide is Decide without the note on a parent kept.
func decide(m *Machine, cur Snapshot, in Input) Decision {
	keep := Decision{To: cur.State, Amounts: cur.Amounts}
	verdict := func(v Verdict, code ReasonCode, format string, args ...any) Decision {
		d := keep
		d.Verdict, d.Code, d.Detail = v, code, fmt.Sprintf(format, args...)
		return d
	}
	switch {
	case in.Prior != "" && in.Prior == in.BodySHA256:
		return verdict(VerdictDuplicate, "", "already recorded")
	case in.Prior != "":
		return verdict(VerdictRejected, ReasonConflict, "dedupe key already recorded with a different body")
	case m == nil || in.RecordOnly || m.recordOnly[in.Event]:
		return verdict(VerdictRecorded, ReasonNoLifecycle, "")
	case !m.Knows(in.Event):
		return verdict(VerdictRecorded, ReasonUnknown, "%s is not an event of the %s %s machine", in.Event, m.table.Provider, m.table.Kind)
	case otherParent(cur, in) && movesParentMoney(m):
		// A refund's or a chargeback's payment, once known, does not
		// change: it moves the money of the payment it belongs to, and
		// moving another's would leave each telling half the story. A
		// payment's subscription or link is where it came from, not
		// whose money it moves: a payment naming another one is decided
		// as usual (money reported as moved is applied) and keeps the
		// first (Decide notes the other). A parent of another kind is
		// another relation, not a contradiction (a Magnius transaction
		// created by a subscription through a payment link).
		return verdict(VerdictRejected, ReasonConflict, "names %s as its parent; it belongs to %s", in.Parent, cur.Parent)
	case in.Currency != "" && cur.Amounts.Currency != "" && !strings.EqualFold(in.Currency, cur.Amounts.Currency):
		// Before the repeat: a status said again in another currency is
		// not the one that put the aggregate there.
		return verdict(VerdictRejected, ReasonCurrency, "event in %s, aggregate in %s", in.Currency, cur.Amounts.Currency)
	case in.Snapshot && cur.State != StateNew && in.status() == cur.Status:
		// The provider says again where the aggregate already is: a retry,
		// or a repeat after a round trip that was itself recorded, unless
		// its amount says otherwise.
		if problem := m.restatedAmountDisagrees(cur, in); problem != "" {
			return verdict(VerdictRejected, ReasonAmount, "%s", problem)
		}
		return verdict(VerdictDuplicate, "", "already in status %s", cur.Status)
	}

	if d, ok := m.insideTheRest(cur, in); ok {
		return d
	}
	if e, ok := m.edges[edgeKey{in.Event, cur.State}]; ok {
		if e.UnlessAuthorized && cur.Amounts.authorizationStands() {
			return verdict(VerdictRejected, ReasonStale, "%s holds an authorization; %s reports an attempt before it", cur.State, in.Event)
		}
		if restated(e.Effect, cur.Amounts, in) && nothingLeft(e.Effect, cur.Amounts) {
			// A capture after a refund where the capture is already
			// whole: decided as on the payment captured in full (see
			// whereItsEdgeEnds), not by whether a refund came between.
			return verdict(VerdictRejected, ReasonStale, "%s of %d is the %s total already moved, with nothing left: the same operation reported again", in.Event, in.Amount, e.Effect)
		}
		return m.apply(cur, in, nil)
	}
	if m.table.Mode == ModeStatus {
		if path := m.pathTo(cur.State, in.Event); path != nil {
			return m.apply(cur, in, path)
		}
	} else if s, ok := m.aheadSource(cur.State, in.Event); ok && !m.movedMoneyHere(cur.State, in.Event) {
		return verdict(VerdictDeferred, ReasonEarly, "%s is legal from %s, which %s can still reach", in.Event, s, cur.State)
	}
	if d, ok := m.captureAfterRefunds(cur, in); ok {
		return d
	}
	if d, ok := m.whereItsEdgeEnds(cur, in); ok {
		return d
	}
	if d, ok := m.caughtUp(cur, in); ok {
		return d
	}
	for _, s := range m.sources[in.Event] {
		if s == cur.State || m.ahead[s][cur.State] {
			return verdict(VerdictRejected, ReasonStale, "%s has moved past %s, where %s applies", cur.State, s, in.Event)
		}
	}
	return verdict(VerdictRejected, ReasonIllegal, "%s is not legal from %s", in.Event, cur.State)
}

// apply runs in from cur.State, or from the end of a status path, and
// checks the amount rules.
//
// A jump carries what the states it passes through imply: each edge of the
// path has its effect, as if its word had arrived without an amount (a
// skipped full capture captures the rest of the authorization), except
// that a snapshot's amount, which is its object's amount at every status,
// goes with every edge (a skipped authorization authorizes it). An edge
// whose amount rule fails rejects the whole event.
func (m *Machine) apply(cur Snapshot, in Input, path []hop) Decision {
	amounts, from := cur.Amounts, cur.State
	var skipped []State
	passing := Input{Currency: in.Currency, Snapshot: in.Snapshot}
	if in.Snapshot {
		passing.Amount, passing.HasAmount = in.Amount, in.HasAmount
	}
	reject := func(problem string) Decision {
		return Decision{Verdict: VerdictRejected, Code: ReasonAmount, Detail: problem, To: cur.State, Amounts: cur.Amounts}
	}
	for _, h := range path {
		e := m.edges[edgeKey{h.event, from}]
		var problem string
		if amounts, _, problem = applyEffect(e.Effect, e.to, amounts, passing); problem != "" {
			return reject(fmt.Sprintf("%s (passing %s)", problem, h.to))
		}
		from = h.to
		skipped = append(skipped, from)
	}
	e := m.edges[edgeKey{in.Event, from}]
	to, ok := m.step(from, in.Event)
	if !ok || to != e.to {
		// Build ran every edge on looplab, so this is a bug in this
		// package, never input.
		panic(fmt.Sprintf("statemachine: looplab/fsm refused %s from %s", in.Event, from))
	}
	before := amounts
	amounts, to, problem := applyEffect(e.Effect, to, amounts, in)
	if problem != "" {
		return reject(problem)
	}
	d := Decision{Verdict: VerdictApplied, To: to, Amounts: amounts, Skipped: skipped}
	if len(skipped) > 0 {
		d.Code = ReasonSkipped
		names := make([]string, len(skipped))
		for i, s := range skipped {
			names[i] = string(s)
		}
		d.Detail = "passed through " + strings.Join(names, ", ")
	}
	if change := faceChange(cur.Amounts, amounts); change != "" {
		d.Detail = strings.TrimPrefix(d.Detail+"; "+change, "; ")
	}
	if note := disagreement(e, before, amounts, in); note != "" {
		d.Detail = strings.TrimPrefix(d.Detail+"; "+note, "; ")
	}
	return d
}

// disagreement names where a snapshot's refund in full and the totals
// disagree, beside the body that holds the figure: its amount, the
// object's, is neither the captured total nor the order's amount, so
// totals that were fully known no longer are; or, on totals not fully
// known, it is above the authorization that bounds the capture it proves.
func disagreement(e edge, before, after Amounts, in Input) string {
	if e.Effect != Refund || e.to != Refunded || !in.Snapshot || !in.HasAmount {
		return ""
	}
	switch {
	case !before.Unknown && after.Unknown:
		return fmt.Sprintf("refunded in full; its amount %d is neither the captured %d nor the order's %d, so the amounts are no longer fully known",
			in.Amount, after.Captured, after.Amount)
	case before.Unknown && in.Amount > after.Captured:
		return fmt.Sprintf("refunded in full; its amount %d is above the authorized %d, which bounds the capture it proves",
			in.Amount, after.Authorized)
	}
	return ""
}

// whereItsEdgeEnds decides an operation, with its amount, that one of
// its own capture or refund edges could have brought here, though none
// takes it from here (a capture on a payment captured in full, a refund of
// 10 on one refunded in full), or a capture on a payment refunded since
// (captureBeforeRefunds). The aggregate has not moved past such an
// event, so it is not read as late:
//
//   - with every figure known it asks for more than is left, and the
//     amount rule says by how much (rejected, amount);
//   - with the amounts not fully known (Amounts.Unknown) and the payment
//     captured or refunded in full, it is inside that full operation: "in
//     full" leaves nothing to capture or refund after it, so it happened
//     before, and its report is a fact the totals had not proved. It is
//     applied in place (see inside).
//
// Only an operation with its amount qualifies; without one it implies
// "the rest", which is nothing, and stays stale. A snapshot keeps stale,
// and so does an operation on a status-mode aggregate whose own status is
// the operation's word, where the snapshot's total may already hold it
// (an Inyo payment's own REFUNDED, then the child refund it counted; see
// snapshotHolds). An operation on a status-mode aggregate whose own status
// never said so (an Inyo payment refunded in full by child refunds alone),
// or said so after the money had all moved, has no such total to hide in:
// one more refund is too much money, or a total that would overflow, and
// says so. So does an
// operation of exactly the total its effect has moved (a capture of the
// captured total on a payment captured in full), unless it is Distinct:
// without an object of its own that moved, it reads as the same capture
// or refund reported again under another event id, not as more money.
// Only event-mode words say "in full" (see inside).
func (m *Machine) whereItsEdgeEnds(cur Snapshot, in Input) (Decision, bool) {
	status := m.table.Mode == ModeStatus
	if in.Snapshot || !in.HasAmount {
		return Decision{}, false
	}
	e, ok := m.moneyEdgeEndingAt(cur.State, in.Event)
	if !ok {
		e, ok = m.captureBeforeRefunds(cur.State, in.Event)
	}
	if !ok || status && cur.Status == in.status() && snapshotHolds(e.Effect, cur.Amounts, in) {
		return Decision{}, false
	}
	if restated(e.Effect, cur.Amounts, in) {
		return Decision{}, false
	}
	reject := func(problem string) (Decision, bool) {
		return Decision{Verdict: VerdictRejected, Code: ReasonAmount, Detail: problem, To: cur.State, Amounts: cur.Amounts}, true
	}
	full := e.Effect == Capture && cur.State == Captured || e.Effect == Refund && cur.State == Refunded
	if cur.Amounts.Unknown && full && !status && in.Amount >= 0 {
		// Held to what it proves, not to its amount added on top.
		d := inside(cur, e.Effect, in)
		if d.Amounts.Captured > cur.Amounts.Authorized && cur.Amounts.authorizationReported() {
			return reject(fmt.Sprintf("%s of %d would prove a capture above authorized %d", in.Event, in.Amount, cur.Amounts.Authorized))
		}
		return d, true
	}
	if _, _, problem := applyEffect(e.Effect, e.to, cur.Amounts, in); problem != "" {
		return reject(problem)
	}
	return Decision{}, false
}

// snapshotHolds reports whether the status snapshot that said the
// operation's word may already hold the operation. A refund it can hold is
// no larger than the rest its refund in full took (Amounts.RefundedRest):
// the aggregate's own REFUNDED after refunds of other objects had refunded
// it all took none, so one more is money on top. A capture keeps the
// coarser reading: a snapshot's capture total may hold any capture.
func snapshotHolds(e Effect, a Amounts, in Input) bool {
	if e == Refund {
		return in.Amount <= a.RefundedRest
	}
	return true
}

// restated reports whether an operation with its amount reads as one
// already counted, told again: exactly the total its effect has moved, and
// no object of its own that moved (Input.Distinct).
func restated(e Effect, a Amounts, in Input) bool {
	if in.Snapshot || !in.HasAmount || in.Distinct {
		return false
	}
	return e == Capture && in.Amount == a.Captured || e == Refund && in.Amount == a.Refunded
}

// nothingLeft reports whether, with every figure known, the authorization
// is captured (or the capture refunded) in full: an operation of e has no
// room left.
func nothingLeft(e Effect, a Amounts) bool {
	switch {
	case a.Unknown:
		return false
	case e == Capture:
		return a.Authorized > 0 && a.Captured >= a.Authorized
	case e == Refund:
		return a.Captured > 0 && a.Refunded >= a.Captured
	}
	return false
}

// caughtUp decides a snapshot whose word's own edge ends where the
// aggregate is, though no edge takes it from there and the aggregate's own
// status does not lead there either: operations reported by other objects
// moved it (an Inyo child void, child refunds of the whole capture) and
// left its own status behind (providers.Event.Operation). The snapshot is
// not behind the aggregate, it is the aggregate's own status catching up:
// applied in place, state and totals as they are (the operations moved the
// money, and counting the snapshot's amount again could count it twice),
// the status recorded. Where the aggregate's own status already leads to
// its state (a late INITIATED after PENDING, both pending), the snapshot is
// behind and stays stale.
func (m *Machine) caughtUp(cur Snapshot, in Input) (Decision, bool) {
	if !in.Snapshot || !m.endsAt(in.Event, cur.State) || m.endsAt(cur.Status, cur.State) {
		return Decision{}, false
	}
	if e, ok := m.moneyEdgeEndingAt(cur.State, in.Event); ok && e.Effect == Refund && e.to == Refunded && in.HasAmount {
		return refundCaughtUp(cur, e, in), true
	}
	a := cur.Amounts
	if in.HasAmount {
		a.setAmount(in.Amount)
	}
	return Decision{Verdict: VerdictApplied, To: cur.State, Amounts: a,
		Detail: fmt.Sprintf("already %s, moved there by other objects; its own status catches up, state and totals unchanged", cur.State)}, true
}

// refundCaughtUp applies in place a snapshot whose word is a refund in
// full (an Inyo payment's own REFUNDED) on an aggregate that refunds of
// other objects already refunded in full. What it says of the amounts is
// read as on its edge: its amount is the object's, so on totals not fully
// known it proves a capture of at least it (up to a reported
// authorization), and on known totals one that is neither the captured
// total nor the order's amount marks them no longer fully known. Nothing
// is added on top: the refunds already moved the money. The entry says
// where its amount and the totals disagree.
func refundCaughtUp(cur Snapshot, e edge, in Input) Decision {
	a, _, problem := applyEffect(e.Effect, e.to, cur.Amounts, in)
	detail := fmt.Sprintf("already %s, moved there by other objects; its own status catches up", cur.State)
	if problem != "" {
		// Not expected of a refund in full (it only raises totals), but
		// a problem never moves an aggregate.
		return Decision{Verdict: VerdictRejected, Code: ReasonAmount, Detail: problem, To: cur.State, Amounts: cur.Amounts}
	}
	if note := disagreement(e, cur.Amounts, a, in); note != "" {
		detail += "; " + note
	}
	return Decision{Verdict: VerdictApplied, To: cur.State, Amounts: a, Detail: detail}
}

// endsAt reports whether one of event's edges can end in s (either state
// of a partial/full pair the amounts choose between).
func (m *Machine) endsAt(event string, s State) bool {
	for _, src := range m.sources[event] {
		e := m.edges[edgeKey{event, src}]
		if slices.Contains(outcomes(e.to, e.Effect), s) {
			return true
		}
	}
	return false
}

// inside applies an operation reported after the full operation that
// holds it, on amounts not fully known: the state stays (the full word is
// the later and the larger), and the totals, lower bounds while unknown,
// are raised to what the operation proves — a capture of 40 proves 40
// captured, a refund of 30 proves 30 refunded and so captured — but never
// by adding its amount to a total that may already hold it: the full
// capture of "the rest" did. Rejecting it as stale would throw away the
// only figure the provider gave.
func inside(cur Snapshot, e Effect, in Input) Decision {
	a := cur.Amounts
	if a.Currency == "" {
		a.Currency = in.Currency
	}
	what := "capture"
	if e == Refund {
		what = "refund"
		a.Refunded = max(a.Refunded, in.Amount)
		a.Captured = max(a.Captured, a.Refunded)
	} else {
		a.Captured = max(a.Captured, in.Amount)
	}
	a.Authorized = max(a.Authorized, a.Captured)
	return Decision{Verdict: VerdictApplied, To: cur.State, Amounts: a,
		Detail: fmt.Sprintf("inside the %s in full already applied; amounts not fully known, totals at least what it proves", what)}
}

// insideTheRest decides an operation with its amount that a capture or
// refund in full already holds: applied in place, state and totals as they
// were, less of the rest left for later parts. Event-mode words say "in
// full" without an amount (heldByRest); a status-mode aggregate's own
// status took the rest when it said the operation's word
// (heldByOwnStatus).
func (m *Machine) insideTheRest(cur Snapshot, in Input) (Decision, bool) {
	e, ok := m.edges[edgeKey{in.Event, cur.State}]
	if !ok || e.Effect != Capture && e.Effect != Refund {
		if e, ok = m.moneyEdgeEndingAt(cur.State, in.Event); !ok {
			return Decision{}, false
		}
	}
	status := m.table.Mode == ModeStatus
	if status && !heldByOwnStatus(e.Effect, cur, in) || !status && !heldByRest(e.Effect, cur.Amounts, in) {
		return Decision{}, false
	}
	d := inside(cur, e.Effect, in)
	what, rest := "capture", &d.Amounts.CapturedRest
	if e.Effect == Refund {
		what, rest = "refund", &d.Amounts.RefundedRest
	}
	*rest -= in.Amount
	took := "which took the rest without saying how much"
	if status {
		took = "the aggregate's own " + cur.Status + ", which took the rest"
	}
	d.Detail = fmt.Sprintf("inside the %s in full already applied, %s; totals unchanged, %d of that rest not yet reported in parts",
		what, took, *rest)
	return d, true
}

// heldByOwnStatus reports whether a refund reported by an object of its
// own that moved (Input.Distinct: not one already counted here, told
// again) fits in what the status-mode aggregate's own refund in full took as
// the rest (Amounts.RefundedRest): that status may have counted it, so it
// is one of the parts it completed. Each part held uses up its share of
// the rest, so parts that together exceed it are not all held: the one
// that no longer fits is money on top (see whereItsEdgeEnds).
func heldByOwnStatus(e Effect, cur Snapshot, in Input) bool {
	if e != Refund || in.Snapshot || !in.Distinct || !in.HasAmount || in.Amount <= 0 || cur.Status != in.status() {
		return false
	}
	return in.Amount <= cur.Amounts.RefundedRest
}

// movedMoneyHere reports whether cur is where one of event's own capture
// or refund edges ends. Such an event is never early there: the room a
// capture or refund needs (authorized minus captured, captured minus
// refunded) only comes back along a revert, never along a forward path,
// so waiting for a state ahead cannot make it fit. It is decided now
// (whereItsEdgeEnds): amount when it says how much, inside the full
// operation when the amounts are not fully known, else stale. (N-Genius
// captures in parts after a refund, so partially_refunded is a source of
// PARTIALLY_CAPTURED and lies ahead of captured; a partial capture on a
// payment captured in full is still not held.)
func (m *Machine) movedMoneyHere(cur State, event string) bool {
	_, ok := m.moneyEdgeEndingAt(cur, event)
	return ok
}

// moneyEdgeEndingAt finds an edge of event that captures or refunds and
// can end in cur.
func (m *Machine) moneyEdgeEndingAt(cur State, event string) (edge, bool) {
	for _, s := range m.sources[event] {
		e := m.edges[edgeKey{event, s}]
		if (e.Effect == Capture || e.Effect == Refund) && slices.Contains(outcomes(e.to, e.Effect), cur) {
			return e, true
		}
	}
	return edge{}, false
}

// captureAfterRefunds decides, in an event-mode machine, a capture whose
// word ends in captured on a payment refunded since an earlier capture,
// where the table has no row for that word (N-Genius' CAPTURED after
// PARTIALLY_CAPTURED and a refund). A refund gives no room back to capture,
// but it takes none either: a capture the authorization still has room
// for can have happened, so it is applied as it would have been before
// the refund (without an amount it captures the rest), and the payment
// stays partially refunded or refunded as the amounts say. The captured
// total again with nothing left, or no amount with nothing left, is the
// same capture reported again and stays stale; an amount that does not
// fit is rejected for it (whereItsEdgeEnds).
func (m *Machine) captureAfterRefunds(cur Snapshot, in Input) (Decision, bool) {
	if m.table.Mode != ModeEvent || in.Snapshot {
		return Decision{}, false
	}
	e, ok := m.captureBeforeRefunds(cur.State, in.Event)
	if !ok {
		return Decision{}, false
	}
	a := cur.Amounts
	switch {
	case !in.HasAmount && a.Captured >= a.Authorized:
		return Decision{}, false
	case restated(Capture, a, in) && nothingLeft(Capture, a):
		return Decision{}, false
	}
	a, _, problem := applyEffect(Capture, e.to, a, in)
	if problem != "" {
		return Decision{}, false
	}
	to := pick(refundPair, a.Refunded >= a.Captured)
	return Decision{Verdict: VerdictApplied, To: to, Amounts: a,
		Detail: fmt.Sprintf("captured after a refund of an earlier capture; the authorization had room for it, so the payment stays %s", to)}, true
}

// captureBeforeRefunds finds a capture edge of event that can end in
// captured, when cur is where refunds took the payment from there: a
// capture on a refunded payment is one on a payment captured before it,
// decided by the amount rule as there (whereItsEdgeEnds), not read as late.
func (m *Machine) captureBeforeRefunds(cur State, event string) (edge, bool) {
	if !refundPair.has(cur) {
		return edge{}, false
	}
	return m.moneyEdgeEndingAt(Captured, event)
}

// aheadSource finds a state event is legal from that cur can still reach
// without a revert.
func (m *Machine) aheadSource(cur State, event string) (State, bool) {
	for _, s := range m.sources[event] {
		if m.ahead[cur][s] {
			return s, true
		}
	}
	return "", false
}

// hop is one edge of a status path: event, taken to state to.
type hop struct {
	event string
	to    State
}

// pathTo finds the shortest forward path from cur to a state event is legal
// from: the edges taken, the last ending where event applies; nil means
// none.
func (m *Machine) pathTo(cur State, event string) []hop {
	// A source where event is a revert (a way out of an outcome, like a
	// settlement completed after a failure) is no target: the jump would
	// invent that outcome on the way.
	targets := map[State]bool{}
	for _, s := range m.sources[event] {
		if m.ahead[cur][s] && !m.edges[edgeKey{event, s}].Revert {
			targets[s] = true
		}
	}
	if len(targets) == 0 {
		return nil
	}
	type arrival struct {
		from  State
		event string
	}
	prev := map[State]arrival{cur: {}}
	queue := []State{cur}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		if targets[s] {
			var path []hop
			for s != cur {
				a := prev[s]
				path = append([]hop{{a.event, s}}, path...)
				s = a.from
			}
			return path
		}
		for _, ev := range m.events {
			e, ok := m.edges[edgeKey{ev, s}]
			if !ok || e.Revert {
				continue
			}
			// The declared target first: a jump records the path the
			// provider's words describe, not an amount-twin of it.
			for _, o := range append([]State{e.to}, outcomes(e.to, e.Effect)...) {
				if _, seen := prev[o]; !seen {
					prev[o] = arrival{s, ev}
					queue = append(queue, o)
				}
			}
		}
	}
	return nil
}
