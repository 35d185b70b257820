package statemachine

import (
	"math"
	"math/big"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// amountNear draws amounts that reach the int64 limit: small ones, ones
// near MaxInt64 and ones near half of it (two of which overflow together).
func amountNear(t *rapid.T, label string) int64 {
	return rapid.OneOf(
		rapid.Int64Range(0, 1000),
		rapid.Int64Range(math.MaxInt64-1000, math.MaxInt64),
		rapid.Int64Range(math.MaxInt64/2-1000, math.MaxInt64/2+1000),
	).Draw(t, label)
}

// TestAmountRulesNearTheLimit: whatever sequence of authorizations,
// captures and refunds, with amounts up to MaxInt64, the totals never wrap:
// an applied event's totals are the exact sums (computed without a limit)
// or, for a part inside a capture or refund in full that gave no amount,
// unchanged with that rest reduced by the part,
// refunded <= captured <= authorized holds while every figure is known,
// a reported authorization (zero included) is never rewritten, also while
// the capture or refund split is not fully known,
// the rest a capture (refund) in full took is a part of the captured
// (refunded) total, never more nor below zero (Amounts.CapturedRest),
// and an event whose exact total would not fit int64 is rejected for its
// amount, leaving the aggregate as it was.
func TestAmountRulesNearTheLimit(t *testing.T) {
	t.Parallel()
	tb := cardTable()
	tb.Transitions = append(tb.Transitions, Transition{Event: "VOID_REFUND", From: []State{PartiallyRefunded, Refunded},
		To: PartiallyRefunded, Effect: VoidRefund, Revert: true})
	m, err := Build(tb)
	if err != nil {
		t.Fatal(err)
	}
	words := []string{"CAPTURE", "PARTIAL_CAPTURE", "REFUND", "PARTIAL_REFUND", "VOID_CAPTURE", "VOID_REFUND"}
	rapid.Check(t, func(rt *rapid.T) {
		cur := Snapshot{State: StateNew}
		d := Decide(m, cur, Input{Event: "AUTH", Amount: amountNear(rt, "auth"), HasAmount: true})
		if d.Verdict != VerdictApplied {
			rt.Fatalf("authorization: %s", d.Reason())
		}
		cur = Snapshot{State: d.To, Amounts: d.Amounts}
		for i := rapid.IntRange(1, 12).Draw(rt, "events"); i > 0; i-- {
			in := Input{Event: rapid.SampledFrom(words).Draw(rt, "word")}
			if rapid.IntRange(0, 4).Draw(rt, "no amount") > 0 {
				in.Amount, in.HasAmount = amountNear(rt, "amount"), true
			}
			d := Decide(m, cur, in)
			a, b := cur.Amounts, d.Amounts
			exact := func(x, y int64) *big.Int { return new(big.Int).Add(big.NewInt(x), big.NewInt(y)) }
			overflows := func(x, y int64) bool { return !exact(x, y).IsInt64() }
			switch d.Verdict {
			case VerdictApplied:
				if b.Authorized != a.Authorized {
					// A reported authorization, zero included, is never
					// rewritten by what is captured or refunded of it,
					// nor by what a capture or refund proves while the
					// amounts are not fully known: every AUTH here
					// reports its amount.
					rt.Fatalf("%s of %d rewrote authorized %d as %d", in.Event, in.Amount, a.Authorized, b.Authorized)
				}
				if in.HasAmount {
					// A part may instead be applied inside what a capture
					// (refund) in full without an amount took as the rest:
					// the total stays and the rest left shrinks by the part.
					inside := func(total, after, rest, restAfter int64) bool {
						return in.Amount <= rest && after == total && restAfter == rest-in.Amount
					}
					switch m.edges[edgeKey{in.Event, cur.State}].Effect {
					case Capture:
						if exact(a.Captured, in.Amount).Cmp(big.NewInt(b.Captured)) != 0 &&
							!inside(a.Captured, b.Captured, a.CapturedRest, b.CapturedRest) {
							rt.Fatalf("captured %d + %d applied as %d (rest %d → %d)", a.Captured, in.Amount, b.Captured, a.CapturedRest, b.CapturedRest)
						}
					case Refund:
						if exact(a.Refunded, in.Amount).Cmp(big.NewInt(b.Refunded)) != 0 &&
							!inside(a.Refunded, b.Refunded, a.RefundedRest, b.RefundedRest) {
							rt.Fatalf("refunded %d + %d applied as %d (rest %d → %d)", a.Refunded, in.Amount, b.Refunded, a.RefundedRest, b.RefundedRest)
						}
					}
				}
			case VerdictRejected:
				if d.Amounts != a || d.To != cur.State {
					rt.Fatalf("a rejection changed the aggregate")
				}
				if d.Code == ReasonAmount && in.HasAmount {
					// Only an overflow or a broken limit may reject.
					big64 := big.NewInt
					ok := false
					switch effectAt(m, in.Event, cur.State) {
					case Capture:
						// Every authorization here reports its amount,
						// zero included (a card check): a known limit,
						// also while the split is not fully known.
						ok = overflows(a.Captured, in.Amount) ||
							exact(a.Captured, in.Amount).Cmp(big64(a.Authorized)) > 0
					case Refund:
						// With the split not fully known, a refund may
						// prove a capture, up to the authorization.
						limit := a.Captured
						if a.Unknown {
							limit = a.Authorized
						}
						ok = overflows(a.Refunded, in.Amount) ||
							exact(a.Refunded, in.Amount).Cmp(big64(limit)) > 0
					case VoidCapture:
						ok = !a.Unknown && in.Amount > a.Captured
					case VoidRefund:
						ok = !a.Unknown && in.Amount > a.Refunded
					}
					if !ok {
						rt.Fatalf("%s of %d on %+v rejected: %s", in.Event, in.Amount, a, d.Reason())
					}
				}
			}
			if b.Authorized < 0 || b.Captured < 0 || b.Refunded < 0 {
				rt.Fatalf("a negative total: %+v", b)
			}
			if !b.Unknown && (b.Captured > b.Authorized || b.Refunded > b.Captured) {
				rt.Fatalf("totals out of order: %+v", b)
			}
			if b.CapturedRest < 0 || b.CapturedRest > b.Captured || b.RefundedRest < 0 || b.RefundedRest > b.Refunded {
				rt.Fatalf("a rest outside its total: %+v", b)
			}
			if d.Verdict == VerdictApplied {
				cur = Snapshot{State: d.To, Amounts: d.Amounts}
			}
		}
	})
}

// TestOverflowIsRejected: the review's case, an authorization of MaxInt64
// and captures that would wrap the captured total.
func TestOverflowIsRejected(t *testing.T) {
	t.Parallel()
	m, err := Build(cardTable())
	if err != nil {
		t.Fatal(err)
	}
	cur := Snapshot{State: PartiallyCaptured, Amounts: Amounts{Amount: math.MaxInt64, Authorized: math.MaxInt64, Captured: math.MaxInt64 - 5}}
	d := Decide(m, cur, Input{Event: "PARTIAL_CAPTURE", Amount: math.MaxInt64, HasAmount: true})
	if d.Verdict != VerdictRejected || d.Code != ReasonAmount {
		t.Fatalf("capture that wraps: %s %s", d.Verdict, d.Reason())
	}
	cur = Snapshot{State: PartiallyRefunded, Amounts: Amounts{Authorized: math.MaxInt64, Captured: math.MaxInt64, Refunded: 10, Unknown: true}}
	d = Decide(m, cur, Input{Event: "PARTIAL_REFUND", Amount: math.MaxInt64, HasAmount: true})
	if d.Verdict != VerdictRejected || d.Code != ReasonAmount {
		t.Fatalf("refund that wraps, even with amounts not fully known: %s %s", d.Verdict, d.Reason())
	}
}

// effectAt is the effect in has from state: its edge from there, or, for an
// operation rejected as more than is left, the edge that could have brought
// the aggregate there (for a capture on a refunded payment, to captured).
func effectAt(m *Machine, event string, s State) Effect {
	if e, ok := m.edges[edgeKey{event, s}]; ok {
		return e.Effect
	}
	if e, ok := m.captureBeforeRefunds(s, event); ok {
		return e.Effect
	}
	for _, src := range m.sources[event] {
		e := m.edges[edgeKey{event, src}]
		if slices.Contains(outcomes(e.to, e.Effect), s) {
			return e.Effect
		}
	}
	return NoEffect
}
