package ngenius

import sm "github.com/paystate/paystate/statemachine"

// N-Genius reports one event per transition on an order; every event its
// webhook document lists is a row here. Card payments run AUTHORISED →
// (PARTIALLY_)CAPTURED → (PARTIALLY_)REFUNDED, one-step sales run
// PURCHASED, alternative payment methods (APM) run APM_PAYMENT_ACCEPTED —
// money received, so captured — then the APM refund events, and may be
// cancelled. Requests and failures are Stay rows: the payment keeps
// its state while the order shows the provider's last word.
//
// An order can take several payment attempts (a declined card, then
// another), so the outcome of an attempt is legal again after a declined
// or failed one — and only then: an order whose current attempt succeeded
// takes no new one, so a failure arriving while it stands belongs to an
// earlier attempt and is stale, as it is after a fraud rejection took the
// successful attempt back while its authorisation still stands
// (UnlessAuthorized). A pending order has an APM attempt under
// way whose cancellation was asked for (or failed) before the APM
// accepted it: its outcome is still to come.
var (
	attempt     = []sm.State{sm.StateNew, sm.Pending, sm.Declined, sm.Failed}
	captureFrom = []sm.State{sm.Authorized, sm.PartiallyCaptured}
	captured    = []sm.State{sm.PartiallyCaptured, sm.Captured}
	refundFrom  = []sm.State{sm.PartiallyCaptured, sm.Captured, sm.PartiallyRefunded}
	refundedAny = []sm.State{sm.PartiallyRefunded, sm.Refunded}
	reviewable  = []sm.State{sm.Authorized, sm.FraudReview}
	// apmCancelFrom: an APM payment before the APM accepted it (pending,
	// or after an earlier attempt was declined or failed; authorized) and
	// after (captured).
	apmCancelFrom = []sm.State{sm.Pending, sm.Declined, sm.Failed, sm.Authorized, sm.Captured}
	// apmCancelledFrom: an APM payment the APM had not accepted, so no
	// money moved.
	apmCancelledFrom = []sm.State{sm.StateNew, sm.Pending, sm.Declined, sm.Failed, sm.Authorized}
	// closeFrom is every state an order can be in: closing does not depend
	// on, or change, what happened to the money.
	closeFrom = []sm.State{sm.Pending, sm.Authorized, sm.FraudReview, sm.PartiallyCaptured, sm.Captured, sm.PartiallyRefunded,
		sm.Refunded, sm.Voided, sm.Declined, sm.Failed, sm.Cancelled}
)

var paymentTable = sm.Table{
	Provider: Name,
	Kind:     sm.KindPayment,
	Mode:     sm.ModeEvent,
	Transitions: []sm.Transition{
		// Authorisation and pre-authorisation screening. An attempt's
		// outcome is legal only while no authorisation stands: after a
		// fraud rejection took the successful attempt back (declined,
		// its reversal still to come) it reports an earlier attempt, and
		// is stale (see doc.go, "Attempts").
		{Event: "AUTHORISED", From: attempt, To: sm.Authorized, Effect: sm.Authorize, UnlessAuthorized: true,
			Note: "an attempt: legal on a new or pending order and after a declined or failed one, unless an authorisation stands"},
		{Event: "APM_PAYMENT_ACCEPTED", From: attempt, To: sm.Captured, Effect: sm.Purchase, UnlessAuthorized: true,
			Note: "the APM reports the money received: authorised and captured in one step"},
		{Event: "DECLINED", From: attempt, To: sm.Declined, UnlessAuthorized: true,
			Note: "reported while a successful attempt stands (or one a fraud rejection took back), it belongs to an earlier attempt: stale (so AUTHORISATION_FAILED)"},
		{Event: "AUTHORISATION_FAILED", From: attempt, To: sm.Failed, UnlessAuthorized: true},
		{Event: "GATEWAY_RISK_PRE_AUTH_REJECTED", From: attempt, To: sm.Declined, UnlessAuthorized: true},
		{Event: "PRE_AUTH_FRAUD_CHECK_REJECTED", From: attempt, To: sm.Declined, UnlessAuthorized: true},

		// Post-authorisation fraud screening.
		{Event: "POST_AUTH_FRAUD_CHECK_REVIEW", From: []sm.State{sm.Authorized}, To: sm.FraudReview},
		{Event: "POST_AUTH_FRAUD_CHECK_ACCEPTED", From: []sm.State{sm.FraudReview}, To: sm.Authorized},
		// Revert: the rejection takes back a successful attempt. Were it a
		// forward edge, the attempt states (declined, failed) would look
		// reachable from every authorised order, and a late failure of an
		// earlier attempt would be held for a rejection that never comes
		// instead of being stale (see doc.go, "Attempts").
		{Event: "POST_AUTH_FRAUD_CHECK_REJECTED", From: reviewable, To: sm.Declined, Revert: true,
			Note: "takes the successful attempt back; FULL_AUTH_REVERSED normally follows"},
		{Event: "FULL_AUTH_REVERSED", From: []sm.State{sm.Authorized, sm.FraudReview, sm.Declined}, To: sm.Voided,
			Note: "from declined: the automatic reversal after a post-auth fraud rejection"},
		{Event: "FULL_AUTH_REVERSAL_FAILED", From: []sm.State{sm.Authorized, sm.FraudReview, sm.Declined}, To: sm.Stay,
			Note: "from declined: the automatic reversal after a fraud rejection failed"},

		// One-step purchase.
		{Event: "PURCHASED", From: attempt, To: sm.Captured, Effect: sm.Purchase, UnlessAuthorized: true},
		{Event: "PURCHASE_DECLINED", From: attempt, To: sm.Declined, UnlessAuthorized: true},
		{Event: "PURCHASE_FAILED", From: attempt, To: sm.Failed, UnlessAuthorized: true},
		{Event: "PURCHASE_REVERSED", From: []sm.State{sm.Captured}, To: sm.Voided, Effect: sm.VoidCapture},
		{Event: "PURCHASE_REVERSAL_FAILED", From: []sm.State{sm.Captured}, To: sm.Stay},

		// Capture.
		{Event: "CAPTURED", From: captureFrom, To: sm.Captured, Effect: sm.Capture},
		{Event: "PARTIALLY_CAPTURED", From: captureFrom, To: sm.PartiallyCaptured, Effect: sm.Capture},
		{Event: "CAPTURE_FAILED", From: captureFrom, To: sm.Stay},
		{Event: "PARTIAL_CAPTURE_FAILED", From: captureFrom, To: sm.Stay},
		// An authorisation can be captured in parts, and a part already
		// captured can be refunded before the next part is: a partial
		// capture reported after a refund adds to the captured total, and
		// the payment stays partially refunded. From refunded it is a way
		// back (refunded -> partially_refunded), so a revert: "ahead" stays
		// acyclic. A full CAPTURED is one capture of everything, so it has
		// no row here.
		{Event: "PARTIALLY_CAPTURED", From: []sm.State{sm.PartiallyRefunded}, To: sm.PartiallyRefunded, Effect: sm.Capture,
			Note: "another part captured after a refund of an earlier part"},
		{Event: "PARTIALLY_CAPTURED", From: []sm.State{sm.Refunded}, To: sm.PartiallyRefunded, Effect: sm.Capture, Revert: true,
			Note: "another part captured after the earlier parts were refunded"},
		{Event: "CAPTURE_VOIDED", From: captured, To: sm.Authorized, Effect: sm.VoidCapture, Revert: true,
			Note: "the payment returns to authorised"},
		{Event: "CAPTURE_VOID_FAILED", From: captured, To: sm.Stay},

		// APM cancellation. N-Genius sends no event while an APM payment
		// waits for the APM, so a cancellation can be the first word on
		// an order: the payment is then pending (its cancellation asked
		// for, or failed) until CANCELLED or an outcome of the attempt
		// arrives. An accepted APM payment is captured, so its
		// cancellation gives the money back.
		{Event: "CANCELLATION_REQUESTED", From: []sm.State{sm.StateNew}, To: sm.Pending,
			Note: "an APM payment not yet accepted: its cancellation is asked for"},
		{Event: "CANCELLATION_FAILED", From: []sm.State{sm.StateNew}, To: sm.Pending,
			Note: "an APM payment not yet accepted: it goes on"},
		{Event: "CANCELLATION_REQUESTED", From: apmCancelFrom, To: sm.Stay},
		{Event: "CANCELLATION_FAILED", From: apmCancelFrom, To: sm.Stay},
		{Event: "CANCELLED", From: apmCancelledFrom, To: sm.Cancelled,
			Note: "an APM payment cancelled before the APM accepted it: no money moved"},
		{Event: "CANCELLED", From: []sm.State{sm.Captured}, To: sm.Cancelled, Effect: sm.VoidCapture,
			Note: "an accepted APM payment cancelled: the money goes back"},

		// Refunds.
		{Event: "REFUNDED", From: refundFrom, To: sm.Refunded, Effect: sm.Refund},
		{Event: "PARTIALLY_REFUNDED", From: refundFrom, To: sm.PartiallyRefunded, Effect: sm.Refund},
		{Event: "REFUND_REQUESTED", From: refundFrom, To: sm.Stay},
		{Event: "PARTIAL_REFUND_REQUESTED", From: refundFrom, To: sm.Stay},
		{Event: "REFUND_FAILED", From: refundFrom, To: sm.Stay},
		{Event: "PARTIAL_REFUND_FAILED", From: refundFrom, To: sm.Stay},
		{Event: "REFUND_REQUEST_FAILED", From: refundFrom, To: sm.Stay},
		{Event: "PARTIAL_REFUND_REQUEST_FAILED", From: refundFrom, To: sm.Stay},
		{Event: "REFUND_VOIDED", From: refundedAny, To: sm.PartiallyRefunded, Effect: sm.VoidRefund, Revert: true,
			Note: "the refund is taken back; the amounts decide the resulting state"},
		{Event: "REFUND_VOID_REQUESTED", From: refundedAny, To: sm.Stay},
		{Event: "REFUND_VOID_FAILED", From: refundedAny, To: sm.Stay},

		// Administrative: N-Genius will start no further transaction on the
		// order. The state keeps saying what happened to the money, and a
		// refund, void or capture reported after closing (one that overtook
		// it, or was already under way) still applies: it moved money.
		{Event: "ORDER_CLOSED", From: closeFrom, To: sm.Stay,
			Note: "administrative: the money state stays, the provider status shows ORDER_CLOSED"},
	},
}
