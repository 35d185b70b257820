package inyo

import sm "github.com/paystate/paystate/statemachine"

// Inyo's webhook carries the whole payment object, and its status says
// where the payment is: the machines are status snapshots (ModeStatus). A
// status that lies ahead is reached at once along the legal path (the
// states passed are recorded as skipped); one the payment has moved past is
// stale. The six statuses are the six the webhook document lists.
//
// The words are Inyo's statuses exactly as sent. A payment's own object
// (parentPaymentId equal to paymentId) and a child object that captures,
// voids or refunds it (parentPaymentId naming it) both land on the payment
// under the child's status; see doc.go for how a child becomes events.
var paymentTable = sm.Table{
	Provider: Name,
	Kind:     sm.KindPayment,
	Mode:     sm.ModeStatus,
	Transitions: []sm.Transition{
		{Event: "CHALLENGE", From: []sm.State{sm.StateNew}, To: sm.Challenge,
			Note: "3-D Secure: the cardholder must complete a challenge before authorization"},
		{Event: "AUTHORIZED", From: []sm.State{sm.StateNew, sm.Challenge}, To: sm.Authorized, Effect: sm.Authorize},
		{Event: "DECLINED", From: []sm.State{sm.StateNew, sm.Challenge}, To: sm.Declined,
			Note: "the issuer or acquirer refused; after a challenge the document names AUTHORIZED or DECLINED"},

		// Inyo captures a payment once, in full or for less than the
		// authorization: the amounts pick captured or partially_captured,
		// and no second capture is legal from either.
		{Event: "CAPTURED", From: []sm.State{sm.Authorized}, To: sm.Captured, Effect: sm.Capture},
		// "A previously authorized transaction has been voided before
		// capture": never from a captured state.
		{Event: "VOIDED", From: []sm.State{sm.Authorized}, To: sm.Voided,
			Note: "before capture only; releases the authorization, moves no captured money"},
		// Nothing leads from captured to voided or declined, so a CAPTURED
		// reported after either is the newer status: money moved, not
		// hidden behind an outcome that moved none. A revert (a way out of
		// an outcome), so no jump passes through one and the outcome
		// reported again afterwards stays stale.
		{Event: "CAPTURED", From: []sm.State{sm.Voided, sm.Declined}, To: sm.Captured, Effect: sm.Capture, Revert: true,
			Note: "captured after a void or a decline: the newer status, money moved"},

		// Refunds come in parts (child objects with their own amounts) or as
		// the payment's own REFUNDED status (the rest); the amounts pick
		// partially_refunded or refunded.
		{Event: "REFUNDED", From: []sm.State{sm.Captured, sm.PartiallyCaptured, sm.PartiallyRefunded}, To: sm.Refunded,
			Effect: sm.Refund},
	},
}

// A child object in status REFUNDED is a refund of its parent payment: it is
// also tracked as a refund aggregate of its own, whose only documented
// status is the successful one.
var refundTable = sm.Table{
	Provider: Name,
	Kind:     sm.KindRefund,
	Mode:     sm.ModeStatus,
	Transitions: []sm.Transition{
		{Event: "REFUNDED", From: []sm.State{sm.StateNew}, To: sm.Succeeded,
			Note: "Inyo reports a refund once it has succeeded; no pending or failed refund status is documented"},
	},
}
