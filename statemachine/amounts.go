package statemachine

import (
	"fmt"
	"math"
)

// Amounts are an aggregate's money figures in minor units of Currency.
type Amounts struct {
	Currency string
	// Amount is the face amount (order total, refund or chargeback amount).
	Amount     int64
	Authorized int64
	Captured   int64
	Refunded   int64
	// Unknown says the figures are not fully known: an event moved money
	// without saying how much and its word did not imply it (a partial
	// capture without an amount, a purchase or authorization without one,
	// a refund void without one). Authorized, Captured and Refunded are then
	// what the events proved, not necessarily the truth, and the amount
	// checks raise a figure to what a later event proves instead of
	// rejecting it (a refund of 30 proves a capture of at least 30). It is
	// never cleared: an order service reads it as "ask the provider".
	Unknown bool
	// AmountKnown says an applied event reported Amount: an Amount of 0
	// is then a real zero-amount order (a card check), not one whose
	// amount nobody has reported yet.
	AmountKnown bool
	// CapturedRest is the part of Captured that captures in full without
	// an amount of their own took as "the rest" of the authorization, less
	// the parts with their amount reported since that fit inside it (see
	// heldByRest). RefundedRest is the same of Refunded and refunds in
	// full.
	CapturedRest, RefundedRest int64
}

// partialFull pairs the partial and full states that the amounts choose
// between.
type partialFull struct{ partial, full State }

var (
	capturePair = partialFull{PartiallyCaptured, Captured}
	refundPair  = partialFull{PartiallyRefunded, Refunded}
)

func (p partialFull) has(s State) bool { return s == p.partial || s == p.full }

// outcomes lists every state an edge declared with target to and effect e
// can end in, for reachability: the amounts pick one at run time.
func outcomes(to State, e Effect) []State {
	switch {
	case e == Capture && capturePair.has(to):
		return []State{PartiallyCaptured, Captured}
	case e == Refund && refundPair.has(to):
		return []State{PartiallyRefunded, Refunded}
	case e == VoidCapture && (to == Authorized || to == PartiallyCaptured):
		return []State{Authorized, PartiallyCaptured}
	case e == VoidRefund && (to == PartiallyRefunded || to == Captured):
		return []State{PartiallyRefunded, Captured, PartiallyCaptured}
	}
	return []State{to}
}

// applyEffect computes the amounts after an event and the state the
// amounts make true of the declared target. A non-empty problem means the
// event is illegal for its amount (rejected with ReasonAmount).
//
// An event's amount is what it moves; a snapshot's (Input.Snapshot) is its
// object's amount, a total that a capture or refund of the object reaches
// rather than adds to, so that a snapshot seen again never counts twice.
//
// An effect whose amount the event does not carry takes what the
// provider's word implies: a full capture captures the rest of the
// authorization, a full refund refunds the rest of the capture, a void
// of a capture without an amount voids every capture (the payment is
// back to authorized or voided). Where nothing is implied — a partial
// capture or refund without an amount, an authorization or a purchase
// without one, a refund void without an amount (which refund?) — the
// figure stays as it was and Unknown is set. From then on the amount
// checks cannot reject: a refund of 30 on a capture total believed to be
// 0 proves a capture of at least 30, so the totals are raised to what the
// event proves instead (see Amounts.Unknown).
func applyEffect(e Effect, to State, a Amounts, in Input) (Amounts, State, string) {
	if a.Currency == "" {
		a.Currency = in.Currency
	}
	if in.HasAmount && in.Amount < 0 {
		return a, to, fmt.Sprintf("negative amount %d", in.Amount)
	}
	if in.Snapshot && in.HasAmount {
		// A snapshot's amount is its object's at every status, whatever
		// the status does to the totals: the first one applied is the
		// order's amount (AUTHORIZED without one, then SETTLEMENT_COMPLETED
		// 1000: the order is for 1000).
		a.setAmount(in.Amount)
	}
	// raised is the state an amount check that had to raise a bound
	// leaves: a snapshot's amount is its object's whole amount, so its
	// word stands; an operation's amount is that operation's, so only the
	// partial state is known.
	raised := func(p partialFull) State {
		if in.Snapshot || !p.has(to) {
			return to
		}
		return p.partial
	}
	switch e {
	case NoEffect:
		if in.HasAmount {
			a.setAmount(in.Amount)
		}
	case Reprice:
		if in.HasAmount {
			a.Amount, a.AmountKnown = in.Amount, true
		}
	case Authorize:
		switch {
		case in.HasAmount:
			a.Authorized = in.Amount
			a.setAmount(in.Amount)
		case a.Authorized == 0:
			a.Unknown = true
		}
	case Purchase:
		switch {
		case in.HasAmount:
			a.Authorized, a.Captured = in.Amount, in.Amount
			a.CapturedRest = 0
			a.setAmount(in.Amount)
		case a.Captured == 0:
			a.Unknown = true
		}
	case RequestCapture:
		if !in.HasAmount {
			break
		}
		if in.Amount > a.Authorized {
			if a.authorizationReported() && !in.honoured {
				return a, to, fmt.Sprintf("capture of %d requested, above authorized %d", in.Amount, a.Authorized)
			}
			a.Authorized, a.Unknown = in.Amount, true
		}
	case Capture:
		switch {
		case in.HasAmount && in.Snapshot:
			// A snapshot's amount is its object's amount, a total, not a
			// delta: the capture reaches it.
			a.Captured = max(a.Captured, in.Amount)
		case in.HasAmount:
			sum, ok := add(a.Captured, in.Amount)
			if !ok {
				return a, to, fmt.Sprintf("captured %d + %d overflows", a.Captured, in.Amount)
			}
			a.Captured = sum
		case to == Captured && (a.Authorized > 0 || a.authorizationReported()):
			// A full capture without an amount captures what is left:
			// nothing, of an authorization reported as 0 (a card check).
			a.CapturedRest += max(a.Authorized-a.Captured, 0)
			a.Captured = max(a.Captured, a.Authorized)
		default:
			// A partial capture without an amount, or a full one of an
			// authorization never reported: the state is the provider's
			// word, the total is not known.
			a.Unknown = true
			return a, to, ""
		}
		if a.Captured > a.Authorized {
			if a.authorizationReported() && !in.honoured {
				return a, to, fmt.Sprintf("captured %d would exceed authorized %d", a.Captured, a.Authorized)
			}
			// An authorization never reported, or not fully known: this
			// capture proves it was at least the captured total.
			a.Authorized = a.Captured
			return a, raised(capturePair), ""
		}
		if capturePair.has(to) {
			to = pick(capturePair, a.Captured >= a.Authorized)
		}
	case Refund:
		switch {
		case in.HasAmount && in.Snapshot && to == Refunded:
			// A snapshot's word is where its object is, and refunded
			// says all of it was (parts have words or objects of their
			// own): the refunded total reaches what was captured. The
			// amount is the object's: on totals not fully known it
			// proves a capture of at least it; on known totals one that
			// is neither the captured total nor the face amount
			// disagrees with them, so they are no longer fully known.
			// What it adds is the rest it took, as a refund in full
			// without an amount takes it (RefundedRest). A reported
			// authorization still bounds the capture it proves: the
			// status stands, the amount above it is the provider's
			// figures disagreeing (see disagreement), not a capture
			// above what was authorized.
			switch {
			case a.Unknown:
				proved := in.Amount
				if a.authorizationReported() && !in.honoured {
					proved = min(proved, a.Authorized)
				}
				a.Captured = max(a.Captured, proved)
				a.Authorized = max(a.Authorized, a.Captured)
			case in.Amount != a.Captured && !(a.AmountKnown && in.Amount == a.Amount):
				a.Unknown = true
			}
			a.RefundedRest += max(a.Captured-a.Refunded, 0)
			a.Refunded = max(a.Refunded, a.Captured)
		case in.HasAmount && in.Snapshot:
			// The object's amount, a total: a refund of the whole object
			// reaches it, or what was captured of it.
			a.Refunded = max(a.Refunded, min(in.Amount, max(a.Captured, a.Refunded)))
		case in.HasAmount:
			sum, ok := add(a.Refunded, in.Amount)
			if !ok {
				return a, to, fmt.Sprintf("refunded %d + %d overflows", a.Refunded, in.Amount)
			}
			a.Refunded = sum
		case to == Refunded && (a.Captured > 0 || !a.Unknown):
			// A refund in full without an amount refunds the rest of
			// the capture: nothing, of a capture known to be 0 (a card
			// check captured), a figure as known as any other.
			a.RefundedRest += max(a.Captured-a.Refunded, 0)
			a.Refunded = max(a.Refunded, a.Captured)
		default:
			a.Unknown = true
			return a, to, ""
		}
		if a.Refunded > a.Captured {
			if !a.Unknown && !in.honoured {
				return a, to, fmt.Sprintf("refunded %d would exceed captured %d", a.Refunded, a.Captured)
			}
			// A capture not fully known: this refund proves it was at
			// least the refunded total, which a reported authorization
			// still bounds.
			if a.Refunded > a.Authorized && a.authorizationReported() && !in.honoured {
				return a, to, fmt.Sprintf("refunded %d would prove a capture above authorized %d", a.Refunded, a.Authorized)
			}
			a.Captured = a.Refunded
			a.Authorized = max(a.Authorized, a.Captured)
			return a, raised(refundPair), ""
		}
		if a.Captured > 0 && refundPair.has(to) {
			to = pick(refundPair, a.Refunded >= a.Captured)
		}
	case VoidCapture:
		// A void whose word ends the payment (a purchase reversed, a
		// payment voided) takes every capture back; a void that returns
		// to authorized may take one.
		whole := to != Authorized && to != PartiallyCaptured
		switch {
		case !in.HasAmount:
			a.Captured = 0
		case whole && in.Amount < a.Captured && !in.honoured:
			return a, to, fmt.Sprintf("voiding %d of captured %d: a void to %s takes every capture back", in.Amount, a.Captured, to)
		case in.Amount <= a.Captured:
			a.Captured -= in.Amount
		case a.Unknown || in.honoured:
			a.Captured = 0
		default:
			return a, to, fmt.Sprintf("voiding %d exceeds captured %d", in.Amount, a.Captured)
		}
		a.CapturedRest = min(a.CapturedRest, a.Captured)
		if to == Authorized || to == PartiallyCaptured {
			to = Authorized
			if a.Captured > 0 {
				to = PartiallyCaptured
			}
		}
	case Release:
		a.Authorized = min(a.Authorized, a.Captured)
	case VoidRefund:
		switch {
		case !in.HasAmount:
			// One refund of how many? If there were several, the rest
			// are still refunded; the total is no longer known.
			a.Refunded, a.Unknown = 0, true
		case in.Amount <= a.Refunded:
			a.Refunded -= in.Amount
		case a.Unknown || in.honoured:
			a.Refunded = 0
		default:
			return a, to, fmt.Sprintf("voiding %d exceeds refunded %d", in.Amount, a.Refunded)
		}
		a.RefundedRest = min(a.RefundedRest, a.Refunded)
		if to == PartiallyRefunded || to == Captured {
			switch {
			case a.Refunded > 0:
				to = PartiallyRefunded
			case a.Authorized > 0 && a.Captured < a.Authorized:
				to = PartiallyCaptured
			default:
				to = Captured
			}
		}
	}
	return a, to, ""
}

// setAmount records the face amount an event reported, unless an earlier
// event already did (a repricing replaces it: Reprice).
func (a *Amounts) setAmount(v int64) {
	if a.AmountKnown || a.Amount != 0 {
		// An aggregate stored before AmountKnown existed has a non-zero
		// Amount that an event reported.
		a.AmountKnown = true
		return
	}
	a.Amount, a.AmountKnown = v, true
}

// faceChange says how an applied event changed a face amount already
// reported, "" when it did not: a refund completed for another amount than
// initiated, a snapshot stating its object's amount now. The journal must
// show the old figure beside the new one.
func faceChange(before, after Amounts) string {
	known := before.AmountKnown || before.Amount != 0
	if !known || !after.AmountKnown || before.Amount == after.Amount {
		return ""
	}
	return fmt.Sprintf("amount changed from %d to %d", before.Amount, after.Amount)
}

// authorizationReported reports whether Authorized is a figure a provider
// reported, which a capture, and the capture a refund proves, is held to:
// one above zero, or zero on an order whose amount was reported as zero
// (AmountKnown: a card check, authorized for nothing). Otherwise an
// Authorized of 0 is an authorization nobody reported, and a capture
// proves it was at least the captured total.
//
// While the amounts are not fully known, Authorized may be a lower bound
// that captures and refunds raised. It is the reported figure when it is
// the order's reported amount: an authorization with its amount reports
// both (Authorize, Purchase), and what is unknown then is the capture or
// refund split, not the limit. One raised by proofs to exactly the order's
// amount reads the same; the order's amount bounds it as well. One
// reported apart from the order's amount (an incremental authorization, a
// repriced order) is not told from a raised one and stays a lower bound.
func (a Amounts) authorizationReported() bool {
	if a.Unknown {
		return a.AmountKnown && a.Authorized == a.Amount
	}
	return a.Authorized > 0 || a.AmountKnown && a.Amount == 0
}

// authorizationStands reports whether the payment holds an authorization:
// an authorized total above zero, or one of unknown amount. It guards the
// edges marked Transition.UnlessAuthorized.
func (a Amounts) authorizationStands() bool {
	return a.Authorized > 0 || a.Unknown
}

// heldByRest reports whether an operation with its amount fits inside
// what captures or refunds in full that reported no amount took as "the
// rest" (Amounts.CapturedRest, RefundedRest) and would not fit on top of
// the total. "In full" took whatever was left, so a part no larger than
// what is left of that rest, reported after it, is one of the parts it
// completed: the totals already hold it. A part that fits on top (the rest
// was voided since, say) is decided as usual, one larger than the rest
// left is money on top (amount), and one as large as the whole total is
// the same operation told again (stale, see whereItsEdgeEnds) unless it is
// Input.Distinct, when it is the one part the rest was. With the amounts
// not fully known the unknown-amount rules decide (inside).
func heldByRest(e Effect, a Amounts, in Input) bool {
	if in.Snapshot || !in.HasAmount || a.Unknown || in.Amount <= 0 {
		return false
	}
	switch e {
	case Capture:
		return in.Amount <= a.CapturedRest && (in.Distinct || in.Amount < a.Captured) && in.Amount > a.Authorized-a.Captured
	case Refund:
		return in.Amount <= a.RefundedRest && (in.Distinct || in.Amount < a.Refunded) && in.Amount > a.Captured-a.Refunded
	}
	return false
}

// add returns a+b and whether it fits int64; both are non-negative.
func add(a, b int64) (int64, bool) {
	if b > math.MaxInt64-a {
		return 0, false
	}
	return a + b, true
}

func pick(p partialFull, full bool) State {
	if full {
		return p.full
	}
	return p.partial
}
