package payengine

import (
	"slices"

	sm "github.com/paystate/paystate/statemachine"
)

// The words in these tables are the event names PayEngine sends, except
// where Parse normalizes a name from the payload (see doc.go):
//   - an outcome event whose response says FAIL becomes "<EVENT>_FAILED"
//     (PAYMENT_AUTH → PAYMENT_AUTH_FAILED, as the document titles it);
//   - SUBSCRIPTION_CREATED/UPDATED with a status other than Active become
//     "<EVENT>_INACTIVE"; a SUBSCRIPTION_CANCELLED with success false becomes
//     SUBSCRIPTION_CANCELLED_FAILED;
//   - DISPUTE_INFORMATION_UPDATED whose status says won, lost or cancelled
//     becomes "DISPUTE_INFORMATION_UPDATED_WON" (_LOST, _CANCELLED);
//   - MERCHANT_STATUS_CHANGED is named by its status (in_review, active, ...).

// attempt is where the outcome of a transaction may land. A transaction id
// that was declined or failed accepts a later success: should PayEngine ever
// report two outcomes for one transaction, the success must not be lost
// (and arriving in the other order, the failure is stale), so money that
// moved is never hidden behind a declined state.
//
// A success (an authorization or a sale) is also legal after the device
// cancelled the sale: nothing leads from a success to cancelled, so the
// success is the newer outcome and is not hidden behind the cancellation.
// Failures are not: after a cancellation they belong to the attempt that
// was cancelled.
var (
	attempt      = []sm.State{sm.StateNew, sm.Declined, sm.Failed}
	succeedFrom  = []sm.State{sm.StateNew, sm.Declined, sm.Failed, sm.Cancelled}
	captureFrom  = []sm.State{sm.Authorized, sm.PartiallyCaptured}
	voidableFrom = []sm.State{sm.Authorized, sm.PartiallyCaptured, sm.Captured}
	refundFrom   = []sm.State{sm.PartiallyCaptured, sm.Captured, sm.PartiallyRefunded}
)

// paymentTable: one PayEngine transaction (data.transaction_id). Card
// transactions run PAYMENT_AUTH → PAYMENT_CAPTURED, one-step sales
// (PAYMENT_SALE, PAYMENT_ACH, OFFLINE_SALE) land on captured at once;
// refunds and ACH credits name the transaction they return money from and
// move its refunded total.
var paymentTable = sm.Table{
	Provider: Name,
	Kind:     sm.KindPayment,
	Mode:     sm.ModeEvent,
	Transitions: []sm.Transition{
		// Authorization.
		{Event: "PAYMENT_AUTH", From: succeedFrom, To: sm.Authorized, Effect: sm.Authorize},
		{Event: "PAYMENT_AUTH_FAILED", From: attempt, To: sm.Declined,
			Note: "PAYMENT_AUTH with auth_response.status FAIL: the issuer declined"},

		// One-step sales.
		{Event: "PAYMENT_SALE", From: succeedFrom, To: sm.Captured, Effect: sm.Purchase},
		{Event: "PAYMENT_SALE_FAILED", From: attempt, To: sm.Failed,
			Note: "PAYMENT_SALE with status FAIL: the same outcome as PAYMENT_FAILED"},
		{Event: "PAYMENT_FAILED", From: attempt, To: sm.Failed},
		{Event: "PAYMENT_ACH", From: succeedFrom, To: sm.Captured, Effect: sm.Purchase,
			Note: "an ACH debit is a sale; a later ACH return is not in the document"},
		{Event: "PAYMENT_ACH_FAILED", From: attempt, To: sm.Failed},
		{Event: "OFFLINE_SALE", From: succeedFrom, To: sm.Captured, Effect: sm.Purchase,
			Note: "the documented sample carries no amount"},
		{Event: "DEVICE_SALE_CANCEL", From: attempt, To: sm.Cancelled,
			Note: "the sale was cancelled on the card-present device before it completed"},

		// Capture of an authorization.
		{Event: "PAYMENT_CAPTURED", From: captureFrom, To: sm.Captured, Effect: sm.Capture},
		{Event: "PAYMENT_CAPTURED_FAILED", From: captureFrom, To: sm.Stay},
		// The authorization is captured in parts (from partially_captured
		// above), and a part captured can be refunded before the next one
		// is: a capture after a refund is decided by the amounts as it
		// would be without the refund (the rest fits, or is more than is
		// left), and the payment stays partially refunded. From refunded
		// it is a way back, so a revert: "ahead" stays acyclic.
		{Event: "PAYMENT_CAPTURED", From: []sm.State{sm.PartiallyRefunded}, To: sm.PartiallyRefunded, Effect: sm.Capture,
			Note: "the rest of the authorization captured after a refund of an earlier capture"},
		{Event: "PAYMENT_CAPTURED", From: []sm.State{sm.Refunded}, To: sm.PartiallyRefunded, Effect: sm.Capture, Revert: true,
			Note: "the rest of the authorization captured after the earlier captures were refunded"},

		// Void: of an authorization, or of a sale or capture before it
		// settles. After a capture of part of the authorization, the void
		// is of what is still authorized: the rest is released and what
		// was captured stays captured (see doc.go).
		{Event: "PAYMENT_VOIDED", From: []sm.State{sm.Authorized}, To: sm.Voided},
		{Event: "PAYMENT_VOIDED", From: []sm.State{sm.PartiallyCaptured}, To: sm.Captured, Effect: sm.Release,
			Note: "the authorization's uncaptured rest released; the captures stay"},
		{Event: "PAYMENT_VOIDED", From: []sm.State{sm.Captured}, To: sm.Voided, Effect: sm.VoidCapture,
			Note: "a void of an unsettled capture takes every capture back"},
		{Event: "PAYMENT_VOIDED_FAILED", From: voidableFrom, To: sm.Stay},

		// Refunds (card) and ACH credits, from the refund webhook's second event.
		// The amounts decide between partially_refunded and refunded.
		{Event: "PAYMENT_REFUNDED", From: refundFrom, To: sm.PartiallyRefunded, Effect: sm.Refund},
		{Event: "ACH_CREDIT_ISSUED", From: refundFrom, To: sm.PartiallyRefunded, Effect: sm.Refund},
	},
	// The payload names no new status: recorded on the transaction's
	// history, never guessed into a transition (see doc.go).
	RecordOnly: []string{"TRANSACTION_STATUS_CHANGED"},
}

// refundTable: one refund or ACH credit transaction (its own
// data.transaction_id), whose Parent is the payment it returns money from.
// PayEngine reports the outcome only, so a refund is born succeeded or
// failed; a success after a failure of the same transaction id is accepted
// for the reason given at attempt.
var refundTable = sm.Table{
	Provider: Name,
	Kind:     sm.KindRefund,
	Mode:     sm.ModeEvent,
	Transitions: []sm.Transition{
		{Event: "PAYMENT_REFUNDED", From: []sm.State{sm.StateNew, sm.Failed}, To: sm.Succeeded},
		{Event: "PAYMENT_REFUNDED_FAILED", From: []sm.State{sm.StateNew, sm.Failed}, To: sm.Failed},
		{Event: "ACH_CREDIT_ISSUED", From: []sm.State{sm.StateNew, sm.Failed}, To: sm.Succeeded},
		{Event: "ACH_CREDIT_ISSUED_FAILED", From: []sm.State{sm.StateNew, sm.Failed}, To: sm.Failed},
	},
}

// linkTable: a payment link (data.paymentLinkId). PAYMENTLINK_UPDATED is
// named by the paymentLinkStatus it states (see doc.go) and carries the
// link's new amount.
var linkTable = sm.Table{
	Provider: Name,
	Kind:     sm.KindLink,
	Mode:     sm.ModeEvent,
	Transitions: []sm.Transition{
		{Event: "PAYMENTLINK_CREATED", From: []sm.State{sm.StateNew}, To: sm.Created},
		{Event: "PAYMENTLINK_UPDATED", From: []sm.State{sm.Created}, To: sm.Created, Effect: sm.Reprice,
			Note: "still ACTIVE: amount, dates or name changed; the link takes the new amount"},
		{Event: "PAYMENTLINK_UPDATED_PAID", From: []sm.State{sm.Created}, To: sm.Done,
			Note: "paymentLinkStatus PAID (COMPLETED, USED): the link was used"},
		{Event: "PAYMENTLINK_UPDATED_EXPIRED", From: []sm.State{sm.Created}, To: sm.Expired},
		{Event: "PAYMENTLINK_UPDATED_CANCELLED", From: []sm.State{sm.Created}, To: sm.Cancelled},
		{Event: "PAYMENTLINK_CANCELLED", From: []sm.State{sm.Created}, To: sm.Cancelled},
	},
}

// subscriptionTable: a subscription (data.subscriptionId). Every
// subscription webhook carries subscriptionStatus; SUBSCRIPTION_UPDATED is
// named by it (see doc.go) and carries the subscription's amount. A
// subscription that fell past due and recovers is active again.
var (
	subscriptionLive = []sm.State{sm.Created, sm.Active, sm.PastDue}
	subscriptionPaid = []sm.State{sm.Active, sm.PastDue}
)

var subscriptionTable = sm.Table{
	Provider: Name,
	Kind:     sm.KindSubscription,
	Mode:     sm.ModeEvent,
	Transitions: slices.Concat([]sm.Transition{
		{Event: "SUBSCRIPTION_CREATED", From: []sm.State{sm.StateNew}, To: sm.Active,
			Note: "created with subscriptionStatus Active, as documented"},
		{Event: "SUBSCRIPTION_CREATED_INACTIVE", From: []sm.State{sm.StateNew}, To: sm.Created,
			Note: "created with any other subscriptionStatus"},
		{Event: "SUBSCRIPTION_UPDATED", From: subscriptionLive, To: sm.Active, Effect: sm.Reprice,
			Note: "Active: activates, or recovers from past due"},
		{Event: "SUBSCRIPTION_UPDATED_PAST_DUE", From: []sm.State{sm.Active}, To: sm.PastDue, Effect: sm.Reprice},
		{Event: "SUBSCRIPTION_UPDATED_PAST_DUE", From: []sm.State{sm.PastDue}, To: sm.PastDue, Effect: sm.Reprice},
		{Event: "SUBSCRIPTION_UPDATED_CANCELLED", From: subscriptionLive, To: sm.Cancelled},
		{Event: "SUBSCRIPTION_UPDATED_EXPIRED", From: subscriptionLive, To: sm.Expired},
		{Event: "SUBSCRIPTION_UPDATED_COMPLETED", From: subscriptionPaid, To: sm.Completed,
			Note: "every installment charged"},
		{Event: "SUBSCRIPTION_CANCELLED", From: subscriptionLive, To: sm.Cancelled},
		{Event: "SUBSCRIPTION_CANCELLED_FAILED", From: subscriptionLive, To: sm.Stay,
			Note: "SUBSCRIPTION_CANCELLED with success false"},
	},
		// A status with no canonical state (Paused, or one the document
		// does not name) is shown as the provider status; the amount
		// follows.
		repriceInPlace("SUBSCRIPTION_UPDATED_PAUSED", "", subscriptionLive...),
		repriceInPlace("SUBSCRIPTION_UPDATED_INACTIVE", "", subscriptionLive...),
	),
}

// repriceInPlace is a Stay row that takes the event's amount: one row per
// state, since a Stay row carries no effect. The note goes on the first
// row only, so that the readings list it once.
func repriceInPlace(event, note string, from ...sm.State) []sm.Transition {
	out := make([]sm.Transition, len(from))
	for i, s := range from {
		out[i] = sm.Transition{Event: event, From: []sm.State{s}, To: s, Effect: sm.Reprice}
	}
	if len(out) > 0 {
		out[0].Note = note
	}
	return out
}

// chargebackTable: a dispute, named by its own id where PayEngine sends
// one, else by the disputed transaction's id (see doc.go); its parent is
// the disputed payment. A dispute update states where the dispute stands,
// so the table runs in status mode: an update that lies ahead is reached
// at once (an update before DISPUTE_CREATED opens the dispute on the way),
// one behind is stale. Won and lost can be challenged (an update naming no
// outcome opens the dispute again); cancelled is final; a CLOSED or
// RESOLVED update names no outcome and leaves the dispute where it is.
var (
	disputeLive = []sm.State{sm.Open, sm.InDispute}
	disputeAny  = []sm.State{sm.Open, sm.InDispute, sm.Won, sm.Lost, sm.Cancelled}
)

var chargebackTable = sm.Table{
	Provider: Name,
	Kind:     sm.KindChargeback,
	Mode:     sm.ModeStatus,
	// Every row reprices: an update stating another amount than the
	// dispute had is a fact, taken and named in its entry (see doc.go).
	Transitions: slices.Concat([]sm.Transition{
		{Event: "DISPUTE_CREATED", From: []sm.State{sm.StateNew}, To: sm.Open, Effect: sm.Reprice},
		{Event: "DISPUTE_INFORMATION_UPDATED", From: []sm.State{sm.Open}, To: sm.InDispute, Effect: sm.Reprice,
			Note: "any status that is not an outcome, e.g. AWAITING_PROCESSOR_RESPONSE"},
		{Event: "DISPUTE_INFORMATION_UPDATED_WON", From: disputeLive, To: sm.Won, Effect: sm.Reprice},
		{Event: "DISPUTE_INFORMATION_UPDATED_LOST", From: disputeLive, To: sm.Lost, Effect: sm.Reprice,
			Note: "LOST, NOT_WON, ACCEPTED by the merchant, or EXPIRED unanswered"},
		{Event: "DISPUTE_INFORMATION_UPDATED_CANCELLED", From: disputeLive, To: sm.Cancelled, Effect: sm.Reprice,
			Note: "withdrawn by the cardholder or cancelled"},
		// A decision can be challenged (pre-arbitration, arbitration): an
		// update that names no outcome after one opens the dispute again.
		// A revert, so a late DISPUTE_CREATED stays stale.
		{Event: "DISPUTE_INFORMATION_UPDATED", From: []sm.State{sm.Won, sm.Lost}, To: sm.InDispute, Effect: sm.Reprice, Revert: true,
			Note: "the decision is challenged (pre-arbitration, arbitration): in dispute again, its next outcome is taken"},
	},
		repriceInPlace("DISPUTE_INFORMATION_UPDATED", "", sm.InDispute),
		repriceInPlace("DISPUTE_INFORMATION_UPDATED_CLOSED", "CLOSED or RESOLVED, from every state: no outcome named, the known one stays", disputeAny...),
	),
}

// onboardingTable: a merchant's onboarding (data.merchant_id). PayEngine's
// merchant lifecycle is editing → in_review → submitted_to_pe → active,
// or declined, cancelled; an active merchant may be paused or suspended and
// reactivated. MERCHANT_STATUS_CHANGED is a status snapshot, so the table
// runs in status mode with the status as the word.
var (
	merchantExists = []sm.State{sm.Created, sm.InReview, sm.Active, sm.Rejected, sm.Cancelled}
	beforeDecision = []sm.State{sm.StateNew, sm.Created, sm.InReview}
)

var onboardingTable = sm.Table{
	Provider: Name,
	Kind:     sm.KindOnboarding,
	Mode:     sm.ModeStatus,
	Transitions: []sm.Transition{
		{Event: "MERCHANT_CREATED", From: []sm.State{sm.StateNew}, To: sm.Created},
		{Event: "MERCHANT_UPDATED", From: merchantExists, To: sm.Stay},
		{Event: "editing", From: []sm.State{sm.Created, sm.InReview}, To: sm.Stay,
			Note: "in review, sent back to the merchant for changes: still under review"},
		{Event: "in_review", From: beforeDecision, To: sm.InReview},
		{Event: "submitted_to_pe", From: beforeDecision, To: sm.InReview,
			Note: "review done, awaiting the processor's approval"},
		{Event: "active", From: []sm.State{sm.StateNew, sm.Created, sm.InReview, sm.Active}, To: sm.Active,
			Note: "from active: reactivated after a pause"},
		{Event: "declined", From: beforeDecision, To: sm.Rejected},
		{Event: "rejected", From: beforeDecision, To: sm.Rejected},
		{Event: "cancelled", From: beforeDecision, To: sm.Cancelled},
		{Event: "canceled", From: beforeDecision, To: sm.Cancelled},
		// Servicing statuses after onboarding completed: the merchant was
		// boarded; the provider status shows the pause.
		{Event: "paused", From: []sm.State{sm.Active}, To: sm.Stay},
		{Event: "suspended", From: []sm.State{sm.Active}, To: sm.Stay},
	},
	// Bank-account verification by micro-deposits, part of onboarding
	// but with no state of the merchant's own.
	RecordOnly: []string{
		"MICRO_DEPOSIT_INITIATED", "MICRO_DEPOSIT_READY_FOR_VERIFICATION",
		"MICRO_DEPOSIT_VERIFIED", "MICRO_DEPOSIT_VERIFICATION_FAILED",
	},
}

var tables = []sm.Table{paymentTable, refundTable, chargebackTable, subscriptionTable, linkTable, onboardingTable}
