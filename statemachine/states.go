package statemachine

import "slices"

// Kind is the kind of aggregate an event concerns.
type Kind string

// The aggregate kinds. Every provider maps its objects onto these so that
// an order service never has to learn a provider's vocabulary.
const (
	KindPayment      Kind = "payment"
	KindRefund       Kind = "refund"
	KindChargeback   Kind = "chargeback"
	KindSubscription Kind = "subscription"
	KindLink         Kind = "link"
	KindOnboarding   Kind = "onboarding"
)

// Kinds lists every aggregate kind in a stable order.
var Kinds = []Kind{KindPayment, KindRefund, KindChargeback, KindSubscription, KindLink, KindOnboarding}

// State is a canonical state name. The same word (for example "cancelled")
// may be canonical for several kinds; canonicalStates says which.
type State string

// StateNew is the state of an aggregate before its first applied event. It
// may appear as a transition source but never as a target, and is never
// stored: an aggregate exists once an event has been applied to it.
const StateNew State = "new"

// Canonical states. Payments use the first block; the other kinds reuse
// words where the meaning is the same.
const (
	Pending           State = "pending"
	Challenge         State = "challenge" // 3-D Secure in progress
	Authorized        State = "authorized"
	FraudReview       State = "fraud_review"
	CaptureRequested  State = "capture_requested"
	PartiallyCaptured State = "partially_captured"
	Captured          State = "captured"
	PartiallyRefunded State = "partially_refunded"
	Refunded          State = "refunded"
	Voided            State = "voided"
	Declined          State = "declined"
	Failed            State = "failed"
	Cancelled         State = "cancelled"
	Closed            State = "closed"
	Unknown           State = "unknown"

	Requested State = "requested"
	OnHold    State = "on_hold"
	Succeeded State = "succeeded"

	Open      State = "open"
	InDispute State = "in_dispute"
	Won       State = "won"
	Lost      State = "lost"

	Created   State = "created"
	Active    State = "active"
	PastDue   State = "past_due"
	Expired   State = "expired"
	Completed State = "completed"

	Initiated State = "initiated"
	Done      State = "done"

	InReview State = "in_review"
	Rejected State = "rejected"
)

var canonicalStates = map[Kind][]State{
	KindPayment: {Pending, Challenge, Authorized, FraudReview, CaptureRequested, PartiallyCaptured,
		Captured, PartiallyRefunded, Refunded, Voided, Declined, Failed, Cancelled, Closed, Unknown},
	KindRefund:       {Requested, Pending, OnHold, Succeeded, Failed, Cancelled, Unknown},
	KindChargeback:   {Open, InDispute, Won, Lost, Cancelled},
	KindSubscription: {Created, Active, PastDue, Cancelled, Expired, Completed},
	KindLink:         {Created, Initiated, Done, Cancelled, Expired},
	// Onboarding is not in the design brief's starting set: PayEngine reports
	// a merchant's onboarding progress, which has a lifecycle of its own.
	KindOnboarding: {Created, InReview, Active, Rejected, Cancelled, Unknown},
}

// CanonicalStates returns the canonical states of kind k in their documented
// order, or nil for an unknown kind.
func CanonicalStates(k Kind) []State { return slices.Clone(canonicalStates[k]) }

// IsCanonical reports whether s is a canonical state of kind k.
func IsCanonical(k Kind, s State) bool { return slices.Contains(canonicalStates[k], s) }

// Verdict is the outcome recorded for every authenticated event.
type Verdict string

// The verdicts; see the design brief for their exact meaning.
const (
	VerdictApplied   Verdict = "applied"
	VerdictDuplicate Verdict = "duplicate"
	VerdictDeferred  Verdict = "deferred"
	VerdictRejected  Verdict = "rejected"
	VerdictRecorded  Verdict = "recorded"
)
