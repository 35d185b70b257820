package statemachine

// Effect is what an applied transition does to the aggregate's amounts.
// Capture and refund effects also decide between the partial and the full
// state of a pair (partially_captured/captured, partially_refunded/refunded):
// the table names one of the pair and the amounts pick which one is true.
type Effect uint8

const (
	// NoEffect leaves amounts alone (except that a first known amount and
	// currency are remembered).
	NoEffect Effect = iota
	// Authorize sets the authorized amount.
	Authorize
	// Purchase authorizes and captures the same amount in one step.
	Purchase
	// Capture adds the event's amount to the captured total, or captures the
	// rest of the authorization when the event carries no amount.
	Capture
	// VoidCapture takes the event's amount (or every capture) back off the
	// captured total.
	VoidCapture
	// Refund adds the event's amount to the refunded total, or refunds the
	// rest of the captured amount when the event carries no amount.
	Refund
	// VoidRefund takes the event's amount (or every refund) back off the
	// refunded total.
	VoidRefund
	// Reprice sets the face amount to the event's amount (a payment link
	// or subscription whose price was changed, a refund completed for
	// another amount than requested, a snapshot stating its object's
	// amount now); without an amount it changes nothing. A change of an
	// amount already reported is named in the decision's detail. The only
	// effect allowed on kinds other than payments: it moves no money.
	Reprice
	// RequestCapture asks for a capture of the event's amount: no money
	// moves, but the amount must not exceed the authorization (an
	// authorization not reported is taken to be at least the amount), and
	// it never changes the authorized amount.
	RequestCapture
	// Release ends an authorization captured in part: the rest not
	// captured is released, so the authorized total comes down to the
	// captured total, and what was captured stays captured. No money
	// moves; an amount the event states is not read (the rest is what is
	// left).
	Release
)

var effectNames = [...]string{"none", "authorize", "purchase", "capture", "void_capture", "refund", "void_refund", "reprice", "request_capture", "release"}

func (e Effect) String() string {
	if int(e) < len(effectNames) {
		return effectNames[e]
	}
	return "effect(?)"
}

// Mode says what a provider's webhook word means.
type Mode uint8

const (
	// ModeEvent: the word names a transition that happened ("CAPTURED").
	// One that is not legal yet but is legal from a state still ahead is
	// deferred until its predecessor lands.
	ModeEvent Mode = iota
	// ModeStatus: the word is a status snapshot ("SETTLEMENT_COMPLETED").
	// A status that lies ahead is reached along the legal path at once and
	// the states passed through are reported as skipped.
	ModeStatus
)

// Stay as a transition's To means the event leaves the aggregate in
// whichever of its From states it is in: the typical shape of "request
// received" and "attempt failed" events, which are applied (the provider's
// status moves, the version advances) without a state change.
const Stay State = "(stay)"

// Transition is one row of a machine: on Event, from any of From, go to To.
type Transition struct {
	Event  string
	From   []State
	To     State
	Effect Effect
	// Revert marks an edge that undoes money movement (a capture or refund
	// voided). Such edges are legal, but they do not count as "ahead" when
	// deciding whether an early event can still become legal: otherwise
	// every state behind a revert would look reachable again and a late,
	// stale event would be held instead of rejected.
	Revert bool
	// UnlessAuthorized marks the outcome of a payment attempt (an
	// authorisation, a decline, a failure) that is legal only while the
	// payment holds no authorisation: an authorised total above zero, or
	// an authorisation of unknown amount (Amounts.Unknown). From a state
	// this edge leaves while an authorisation stands (a successful attempt
	// taken back by a fraud rejection, its reversal still to come) the
	// event is stale: a provider starts a new attempt only on an order
	// with no successful one, so it reports an attempt that came before.
	UnlessAuthorized bool
	// Note is a short why for readers of the table and the diagram.
	Note string
}

// Table is a provider's declarative machine for one aggregate kind.
type Table struct {
	Provider string
	Kind     Kind
	Mode     Mode
	// Transitions are the legal edges. Every (Event, From) pair is unique.
	Transitions []Transition
	// RecordOnly lists words of this kind that carry no lifecycle: they are
	// recorded, never transitioned.
	RecordOnly []string
}
