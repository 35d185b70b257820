package statemachine

import "fmt"

// Amounts are an aggregate's money figures in minor units of Currency.
type Amounts struct {
	Currency string
	// Amount is the face amount (order total, refund or chargeback amount).
	Amount     int64
	Authorized int64
	Captured   int64
	Refunded   int64
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
func applyEffect(e Effect, to State, a Amounts, in Input) (Amounts, State, string) {
	if a.Currency == "" {
		a.Currency = in.Currency
	}
	if in.HasAmount && in.Amount < 0 {
		return a, to, fmt.Sprintf("negative amount %d", in.Amount)
	}
	switch e {
	case NoEffect:
		if in.HasAmount && a.Amount == 0 {
			a.Amount = in.Amount
		}
	case Reprice:
		if in.HasAmount {
			a.Amount = in.Amount
		}
	case Authorize:
		if in.HasAmount {
			a.Authorized = in.Amount
			if a.Amount == 0 {
				a.Amount = in.Amount
			}
		}
	case Purchase:
		if in.HasAmount {
			a.Authorized, a.Captured = in.Amount, in.Amount
			if a.Amount == 0 {
				a.Amount = in.Amount
			}
		}
	case Capture:
		switch {
		case in.HasAmount:
			a.Captured += in.Amount
		case to == Captured:
			// A full capture without an amount captures what is left.
			a.Captured = max(a.Captured, a.Authorized)
		default:
			// A partial capture without an amount: the state is the
			// provider's word, the total is unknown and stays as it was.
			return a, to, ""
		}
		if a.Authorized > 0 && a.Captured > a.Authorized {
			return a, to, fmt.Sprintf("captured %d would exceed authorized %d", a.Captured, a.Authorized)
		}
		if a.Authorized > 0 && capturePair.has(to) {
			to = pick(capturePair, a.Captured >= a.Authorized)
		}
	case Refund:
		switch {
		case in.HasAmount:
			a.Refunded += in.Amount
		case to == Refunded:
			a.Refunded = max(a.Refunded, a.Captured)
		default:
			return a, to, ""
		}
		if a.Refunded > a.Captured {
			return a, to, fmt.Sprintf("refunded %d would exceed captured %d", a.Refunded, a.Captured)
		}
		if a.Captured > 0 && refundPair.has(to) {
			to = pick(refundPair, a.Refunded >= a.Captured)
		}
	case VoidCapture:
		if in.HasAmount {
			if in.Amount > a.Captured {
				return a, to, fmt.Sprintf("voiding %d exceeds captured %d", in.Amount, a.Captured)
			}
			a.Captured -= in.Amount
		} else {
			a.Captured = 0
		}
		if to == Authorized || to == PartiallyCaptured {
			to = Authorized
			if a.Captured > 0 {
				to = PartiallyCaptured
			}
		}
	case VoidRefund:
		if in.HasAmount {
			if in.Amount > a.Refunded {
				return a, to, fmt.Sprintf("voiding %d exceeds refunded %d", in.Amount, a.Refunded)
			}
			a.Refunded -= in.Amount
		} else {
			a.Refunded = 0
		}
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

func pick(p partialFull, full bool) State {
	if full {
		return p.full
	}
	return p.partial
}
