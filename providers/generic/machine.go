package generic

import sm "github.com/paystate/paystate/statemachine"

// The event types the gateway's document lists.
const (
	EventPaymentCompleted = "payment.completed"
	EventPaymentFailed    = "payment.failed"
	EventRefundInitiated  = "refund.initiated"
	EventRefundCompleted  = "refund.completed"
	EventCustomerCreated  = "customer.created"
	EventCustomerUpdated  = "customer.updated"
)

// paymentTable is the payment object's lifecycle. The gateway reports a
// finished payment, never an authorisation, so payment.completed is a
// one-step purchase: the amount is authorised and captured at once.
//
// The payment also moves when one of its refunds completes: Parse turns a
// refund.completed that names its payment_id into a second event on the
// payment, and the Refund effect adds the refund's amount to the refunded
// total, so that the amounts (never the event name) pick partially_refunded
// or refunded, and a refund larger than what is left is rejected.
var paymentTable = sm.Table{
	Provider: Name,
	Kind:     sm.KindPayment,
	Mode:     sm.ModeEvent,
	Transitions: []sm.Transition{
		{Event: EventPaymentCompleted, From: []sm.State{sm.StateNew, sm.Failed}, To: sm.Captured, Effect: sm.Purchase,
			Note: "money taken; from failed: a later attempt on the same payment succeeded"},
		{Event: EventPaymentFailed, From: []sm.State{sm.StateNew}, To: sm.Failed},
		{Event: EventPaymentFailed, From: []sm.State{sm.Failed}, To: sm.Stay,
			Note: "another failed attempt on the same payment"},
		{Event: EventRefundCompleted, From: []sm.State{sm.Captured, sm.PartiallyRefunded}, To: sm.PartiallyRefunded, Effect: sm.Refund,
			Note: "a refund of this payment completed; the amounts pick partial or full (without an amount: partial, not fully known)"},
	},
}

// refundTable is the refund object's lifecycle. refund.initiated means the
// gateway has accepted the refund and is processing it: pending, not
// requested (requested is a refund asked for but not yet taken on by the
// provider, which this gateway never reports).
//
// refund.completed is legal from new as well as from pending: the document
// does not promise that refund.initiated is always sent, nor that it
// arrives first, and a completed refund must not wait for an event that may
// never come. A refund.initiated that arrives after refund.completed is
// therefore rejected as stale instead of being held.
//
// refund.completed reprices: its amount is what was refunded (and what the
// payment's refunded total takes), refund.initiated's was what was asked
// for. A completion for another amount replaces the initiated one, and the
// journal entry names the change, so the refund and its payment agree.
var refundTable = sm.Table{
	Provider: Name,
	Kind:     sm.KindRefund,
	Mode:     sm.ModeEvent,
	Transitions: []sm.Transition{
		{Event: EventRefundInitiated, From: []sm.State{sm.StateNew}, To: sm.Pending},
		{Event: EventRefundCompleted, From: []sm.State{sm.StateNew, sm.Pending}, To: sm.Succeeded, Effect: sm.Reprice,
			Note: "from new: the gateway may skip refund.initiated; its amount is what was refunded"},
	},
}
