package magnius

import sm "github.com/paystate/paystate/statemachine"

// Magnius webhooks are status snapshots, so every machine is ModeStatus: a
// row says from which states a status is a real next step. A status that
// lies further ahead is reached at once along the shortest legal path (the
// engine records the states passed through); one the aggregate has moved
// past is rejected as stale. Rows therefore list only direct steps; the
// engine fills in the rest.
var (
	fresh        = []sm.State{sm.StateNew}
	pendingOnly  = []sm.State{sm.Pending}
	attemptOpen  = []sm.State{sm.Pending, sm.Unknown}
	settlingOpen = []sm.State{sm.Pending, sm.Unknown, sm.Authorized, sm.CaptureRequested}
	// settledAfter: the outcomes a settlement can still follow.
	settledAfter = []sm.State{sm.Failed, sm.Declined, sm.Cancelled, sm.Voided}
)

// paymentTable is the transaction machine. Every Magnius transaction starts
// INITIATED; INITIATED, IN_PROGRESS and PENDING all mean "no outcome yet"
// and map to pending. Only INITIATED is tied to the start, so a late
// INITIATED after any other status is stale; IN_PROGRESS and PENDING are
// Stay rows so the provider status moves while the canonical state does not.
var paymentTable = sm.Table{
	Provider: Name,
	Kind:     sm.KindPayment,
	Mode:     sm.ModeStatus,
	Transitions: []sm.Transition{
		// No outcome yet.
		{Event: "INITIATED", From: fresh, To: sm.Pending,
			Note: "the first status of every transaction"},
		{Event: "IN_PROGRESS", From: fresh, To: sm.Pending},
		{Event: "IN_PROGRESS", From: pendingOnly, To: sm.Stay,
			Note: "the consumer is in the payment flow (redirect, 3-D Secure)"},
		{Event: "PENDING", From: fresh, To: sm.Pending},
		{Event: "PENDING", From: pendingOnly, To: sm.Stay,
			Note: "waiting for the scheme, bank or payment method"},
		{Event: "UNKNOWN", From: pendingOnly, To: sm.Unknown,
			Note: "the outcome could not be determined; a later status resolves it"},

		// The outcome of the attempt.
		{Event: "AUTHORIZED", From: attemptOpen, To: sm.Authorized, Effect: sm.Authorize},
		{Event: "DECLINED", From: attemptOpen, To: sm.Declined},
		{Event: "CANCELLED", From: attemptOpen, To: sm.Cancelled},
		{Event: "ABANDONED", From: pendingOnly, To: sm.Cancelled,
			Note: "the consumer left the payment flow"},
		{Event: "FAILED", From: settlingOpen, To: sm.Failed,
			Note: "a technical failure, also of a settlement under way"},

		// Settlement.
		{Event: "SETTLEMENT_REQUESTED", From: []sm.State{sm.Authorized}, To: sm.CaptureRequested, Effect: sm.RequestCapture,
			Note: "the amount to settle: never above the authorised amount, which it does not change"},
		{Event: "SETTLEMENT_COMPLETED", From: []sm.State{sm.CaptureRequested}, To: sm.Captured, Effect: sm.Capture},
		{Event: "SETTLEMENT_COMPLETED", From: attemptOpen, To: sm.Captured, Effect: sm.Purchase,
			Note: "settled without a separate authorisation (or its snapshots not seen): authorised = captured"},
		{Event: "AUTHORIZATION_VOIDED", From: []sm.State{sm.Authorized}, To: sm.Voided},
		// A settled transaction is never failed, declined, cancelled,
		// abandoned or voided afterwards (none is legal from captured), so
		// a SETTLEMENT_COMPLETED that arrives after one is the newer
		// status: money moved (a retried settlement, a consumer who left
		// the flow and paid late), and is not hidden behind the outcome.
		// A revert (a way out of an outcome), so no jump passes through
		// an outcome and a late one stays stale.
		{Event: "SETTLEMENT_COMPLETED", From: settledAfter, To: sm.Captured, Effect: sm.Capture, Revert: true,
			Note: "settled after a failure, decline, cancellation or void: the newer status, money moved (captures the authorisation, or authorises what it captures)"},
	},
}

// refundTable is the refund machine. A refund starts PENDING and may be put
// on HOLD; a held refund is released to its outcome, or back to PENDING
// (processing resumes). HOLD is not an outcome and the document lists the
// refund statuses without an order, so a PENDING after HOLD is the status
// changing again, not a late snapshot: on_hold → pending is a Revert row,
// like the subscription's recovery, so "ahead" stays acyclic and a PENDING
// after an outcome is still stale.
//
// Every row reprices (here and in chargebackTable): a snapshot's amount is
// its object's amount now, so a PROCESSED of 80 after a PENDING of 100 says
// the refund is for 80. The aggregate takes it and the journal entry names
// the change; keeping 100 would misrecord the money returned.
var refundTable = sm.Table{
	Provider: Name,
	Kind:     sm.KindRefund,
	Mode:     sm.ModeStatus,
	Transitions: []sm.Transition{
		{Event: "PENDING", From: fresh, To: sm.Pending, Effect: sm.Reprice},
		{Event: "HOLD", From: []sm.State{sm.Pending}, To: sm.OnHold, Effect: sm.Reprice},
		{Event: "PENDING", From: []sm.State{sm.OnHold}, To: sm.Pending, Effect: sm.Reprice, Revert: true,
			Note: "the hold released: processing resumes"},
		{Event: "UNKNOWN", From: []sm.State{sm.Pending, sm.OnHold}, To: sm.Unknown, Effect: sm.Reprice},
		{Event: "PROCESSED", From: []sm.State{sm.Pending, sm.OnHold, sm.Unknown}, To: sm.Succeeded, Effect: sm.Reprice},
		{Event: "FAILED", From: []sm.State{sm.Pending, sm.OnHold, sm.Unknown}, To: sm.Failed, Effect: sm.Reprice},
		{Event: "CANCELLED", From: []sm.State{sm.Pending, sm.OnHold, sm.Unknown}, To: sm.Cancelled, Effect: sm.Reprice},
		// A processed refund is never failed or cancelled afterwards:
		// PROCESSED after FAILED or CANCELLED is the newer status (the
		// refund went through after all).
		{Event: "PROCESSED", From: []sm.State{sm.Failed, sm.Cancelled}, To: sm.Succeeded, Effect: sm.Reprice, Revert: true,
			Note: "processed after a failure or cancellation: the newer status, the money was returned"},
	},
}

// chargebackTable is the chargeback machine. A chargeback may be decided
// without a dispute, and a decision can be challenged: the issuer or the
// merchant takes it further (pre-arbitration, arbitration) and Magnius,
// whose statuses have no word for that stage, shows IN_DISPUTE again. The
// way back is a Revert edge, so a late OPEN is still stale.
var chargebackTable = sm.Table{
	Provider: Name,
	Kind:     sm.KindChargeback,
	Mode:     sm.ModeStatus,
	Transitions: []sm.Transition{
		{Event: "OPEN", From: fresh, To: sm.Open, Effect: sm.Reprice},
		{Event: "IN_DISPUTE", From: []sm.State{sm.Open}, To: sm.InDispute, Effect: sm.Reprice},
		{Event: "WON", From: []sm.State{sm.Open, sm.InDispute}, To: sm.Won, Effect: sm.Reprice},
		{Event: "LOST", From: []sm.State{sm.Open, sm.InDispute}, To: sm.Lost, Effect: sm.Reprice,
			Note: "from open: the merchant accepted the chargeback"},
		{Event: "CANCELLED", From: []sm.State{sm.Open, sm.InDispute}, To: sm.Cancelled, Effect: sm.Reprice},
		{Event: "IN_DISPUTE", From: []sm.State{sm.Won, sm.Lost}, To: sm.InDispute, Effect: sm.Reprice, Revert: true,
			Note: "the decision is challenged (pre-arbitration, arbitration)"},
	},
}

// linkTable is the card (payment) link machine: created, opened by the
// consumer (INITIATED), paid (DONE), or cancelled or expired unpaid.
var linkTable = sm.Table{
	Provider: Name,
	Kind:     sm.KindLink,
	Mode:     sm.ModeStatus,
	Transitions: []sm.Transition{
		{Event: "CREATED", From: fresh, To: sm.Created},
		{Event: "INITIATED", From: []sm.State{sm.Created}, To: sm.Initiated},
		{Event: "DONE", From: []sm.State{sm.Initiated}, To: sm.Done},
		{Event: "CANCELLED", From: []sm.State{sm.Created, sm.Initiated}, To: sm.Cancelled},
		{Event: "EXPIRED", From: []sm.State{sm.Created, sm.Initiated}, To: sm.Expired},
	},
}

// subscriptionTable is the subscription machine. It has a real cycle: an
// active subscription falls past due when a payment fails and becomes
// active again when it is paid. The way back is a Revert edge so that
// "ahead" stays acyclic (a late CREATED or ACTIVE is still stale once the
// subscription has ended); doc.go explains what Magnius' snapshots cannot
// tell apart here.
var subscriptionTable = sm.Table{
	Provider: Name,
	Kind:     sm.KindSubscription,
	Mode:     sm.ModeStatus,
	Transitions: []sm.Transition{
		{Event: "CREATED", From: fresh, To: sm.Created},
		{Event: "ACTIVE", From: []sm.State{sm.Created}, To: sm.Active},
		{Event: "PAST_DUE", From: []sm.State{sm.Active}, To: sm.PastDue},
		{Event: "ACTIVE", From: []sm.State{sm.PastDue}, To: sm.Active, Revert: true,
			Note: "recovered: the overdue payment was made"},
		{Event: "CANCELLED", From: []sm.State{sm.Created, sm.Active, sm.PastDue}, To: sm.Cancelled},
		{Event: "EXPIRED", From: []sm.State{sm.Created, sm.Active, sm.PastDue}, To: sm.Expired},
		{Event: "COMPLETED", From: []sm.State{sm.Active, sm.PastDue}, To: sm.Completed,
			Note: "from past_due: the recovery snapshot may have been taken for a retry"},
	},
}

var tables = []sm.Table{paymentTable, refundTable, chargebackTable, linkTable, subscriptionTable}
