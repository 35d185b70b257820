package statemachine

import (
	"fmt"
	"slices"
)

// Honour returns the decision of an event an older machine applied,
// taking the aggregate from cur to the state to (through skipped, for a
// status snapshot's jump), as its journal entry recorded, where today's
// rules decide it otherwise. History is never rewritten: the applied
// verdict stands, so the aggregate is where the journal says, and Honour
// works out only what the event did to the amounts.
//
// The effect is the one of the event's edge from where the aggregate
// was, or, where today's table has none from there, of an edge of the
// event that can end in to; each skipped state is reached by an edge from
// the state before it. It is computed towards the state the journal
// recorded (the partial or full reading an older rule chose) and without
// the bounds the amount rules refuse an effect with (a capture above a
// reported authorization, a refund above the capture, a void of part of
// a payment it ends): where a bound fails, the effect takes the branch
// the rules take for totals not fully known, raising the bound to what
// the event proves or voiding all, which is what the rules did before
// those bounds were added. Checks that never depended on the rules'
// revision still hold: an amount that is negative or whose total would
// overflow moves nothing, and Detail says so. A word today's table does
// not know, or no edge to follow, moves nothing either, but a reported
// amount is still the order's amount where none was (as a NoEffect row).
//
// The verdict and the state are the journal's, not something Honour
// decides: a caller compares Decide's decision with the entry first and
// honours only entries an older machine version decided.
func Honour(m *Machine, cur Snapshot, in Input, skipped []State, to State) Decision {
	in.honoured = true
	passing := Input{Currency: in.Currency, Snapshot: in.Snapshot, honoured: true}
	if in.Snapshot {
		passing.Amount, passing.HasAmount = in.Amount, in.HasAmount
	}
	a, from := cur.Amounts, cur.State
	var problems []string
	effect := func(e edge, ok bool, to State, in Input) {
		eff := NoEffect
		if ok {
			eff = e.Effect
		}
		after, _, problem := applyEffect(eff, to, a, in)
		if problem != "" {
			problems = append(problems, problem)
			return
		}
		a = after
	}
	for _, s := range skipped {
		e, ok := m.edgeReaching(from, s)
		effect(e, ok, s, passing)
		from = s
	}
	e, ok := m.edges[edgeKey{in.Event, from}]
	if !ok {
		e, ok = m.edgeEndingAt(in.Event, to)
	}
	effect(e, ok, to, in)
	d := Decision{Verdict: VerdictApplied, To: to, Amounts: a, Skipped: skipped}
	if len(problems) > 0 {
		d.Detail = fmt.Sprintf("amounts unchanged where %s", problems[0])
	}
	return d
}

// edgeReaching finds an edge from from that can end in to, forward edges
// first (a jump never takes a revert, see pathTo), in table order.
func (m *Machine) edgeReaching(from, to State) (edge, bool) {
	var revert edge
	found := false
	for _, ev := range m.events {
		e, ok := m.edges[edgeKey{ev, from}]
		if !ok || !canEndAt(e, to) {
			continue
		}
		if !e.Revert {
			return e, true
		}
		if !found {
			revert, found = e, true
		}
	}
	return revert, found
}

// edgeEndingAt finds an edge of event that can end in to, in table order.
func (m *Machine) edgeEndingAt(event string, to State) (edge, bool) {
	for _, s := range m.sources[event] {
		if e := m.edges[edgeKey{event, s}]; canEndAt(e, to) {
			return e, true
		}
	}
	return edge{}, false
}

func canEndAt(e edge, s State) bool {
	return slices.Contains(outcomes(e.to, e.Effect), s)
}
