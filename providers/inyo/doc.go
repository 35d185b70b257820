// Package inyo is the Inyo Payments Gateway v2 webhook integration.
//
// # Delivery model
//
// A merchant enables webhooks for some of the payment statuses AUTHORIZED,
// CAPTURED, CHALLENGE, DECLINED, VOIDED and REFUNDED; when a payment
// reaches one, Inyo POSTs the whole payment object (paymentId,
// parentPaymentId, externalPaymentId, amount, created, approved, message,
// acquirerMessage, status, captured, voided, card-check results, ...). The
// document says nothing of retries, timeouts or ordering, so this package
// assumes both: a delivery may never be repeated, or may be repeated any
// number of times and out of order.
//
// # Machines
//
// The object's status says where the payment is, so both machines are
// status snapshots (ModeStatus, see machine.go): a status that lies ahead is
// reached at once along the legal path and the passed states are recorded
// as skipped (CAPTURED before AUTHORIZED: applied, authorized skipped); a
// status the payment has moved past is rejected as stale (a late AUTHORIZED
// after CAPTURED). Nothing is deferred. The mapping:
//
//	CHALLENGE  → challenge   3-D Secure; the document names AUTHORIZED or
//	                         DECLINED as what follows it
//	AUTHORIZED → authorized  from new or challenge; sets the authorized amount
//	DECLINED   → declined    from new or challenge
//	CAPTURED   → captured    from authorized; captured or partially_captured
//	                         as the amounts say
//	VOIDED     → voided      from authorized only: "voided before capture"
//	CAPTURED   → captured    also from voided or declined: the newer status
//	REFUNDED   → refunded    from (partially_)captured or partially_refunded;
//	                         refunded or partially_refunded as the amounts say
//
// CAPTURED is legal once: Inyo's API reference says a payment is captured
// once, in full or for less than the authorization, so a second report of
// the capture is never counted twice: a child capture after the payment's
// own CAPTURED is stale, and the payment's own CAPTURED after a child
// capture is its status catching up (see "Children"), totals unchanged. VOIDED after CAPTURED is
// stale, not illegal: VOIDED is legal from authorized, a state the
// captured payment has moved past, so it is the late report of a void that
// cannot have happened after the capture; Decide calls every such word
// stale. DECLINED is not legal after authorized: the document describes a
// decline as the issuer's answer to the authorization.
//
// The other way round, CAPTURED after VOIDED or DECLINED is applied
// (captured): nothing leads from captured to voided ("voided before
// capture") or to declined, so the capture cannot be the older of the two:
// it is the newer status, money moved, and rejecting it as stale would
// hide captured money behind an outcome that moved none. After a decline,
// with nothing authorised, it authorises what it captures. These rows are
// reverts (ways out of an outcome): no jump passes through a void or a
// decline to take them, and the void or decline reported again afterwards
// stays stale. A child refund of a voided or declined payment is still
// illegal (see below): it reports no capture, only a refund of one.
//
// # Amounts
//
// The object's "amount" (95 in the sample) carries no currency and no
// statement of units. It is taken as a decimal in major units of
// Config.Currency (default USD) and converted exactly on its decimal text
// with the repository's money package: 95 is 9500 cents, 100.10 is 10010,
// 57.0000 is 5700, and more significant decimals than the currency has are
// refused. Inyo's other payment objects show decimals such as 100.10 and
// 57.0000 beside "currency": "USD", which is why major units were chosen;
// the choice lives in one function, amountMinor, should Inyo say otherwise.
// Numbers are decoded as json.Number, never as floats. A merchant whose
// Inyo account is not in USD must set Config.Currency.
//
// On the payment's own object the amount is the payment's amount: it is the
// authorized amount of AUTHORIZED and the captured amount of CAPTURED, and
// of every status a jump passes through (a payment first seen CAPTURED was
// authorized for the object's amount). It is a total, not a delta (the
// object is a snapshot, statemachine.Input.Snapshot): a repeated status
// never counts twice. On the payment's own REFUNDED the amount is still
// the payment's, not a refund's, and REFUNDED on the payment itself says
// all of it was refunded (Inyo's statuses have no partial refund; parts
// are child objects), so the refunded total reaches what was captured of
// it, whether the refund child objects were seen or not, and whatever the
// order: a REFUNDED that arrives first passes through an authorization and
// a capture of the payment's amount. Its amount never makes it a part.
// With the totals not fully known (a child refund came first) it proves a
// capture and a refund of at least that much. With them known, an amount
// that is neither what was captured nor the payment's amount (REFUNDED 40
// of a payment captured for 100) is Inyo's figures disagreeing: the
// payment is refunded in full all the same, its totals are marked not
// fully known (statemachine.Amounts.Unknown: ask Inyo), and the applied
// entry's reason names the amount and the totals it disagrees with. With
// the totals not fully known, the capture its amount proves is still
// bounded by the payment's amount once Inyo reported it (AUTHORIZED
// without an amount, then CAPTURED 100, then REFUNDED 120: refunded in
// full, 100 captured and refunded, the reason saying that 120 is above
// the authorized 100), as a child refund's proof is. It is not rejected as an amount conflict:
// the status is the fact, what the amount means on REFUNDED is this
// package's reading, and a rejection would leave the payment captured
// while Inyo says it was refunded, rejecting every later REFUNDED object
// with the same amount again.
//
// # Children
//
// parentPaymentId links an object to the payment it belongs to. When it
// equals paymentId (the document's sample) or is absent, the object is the
// payment itself. When it names another payment, the object is an operation
// on that payment issued as a payment object of its own (Inyo's payment
// history lists its capture and its refunds under their own paymentIds),
// and only the status tells which operation it is:
//
//   - REFUNDED: two events. A refund aggregate (kind refund, id the child's
//     paymentId, Parent the payment, state succeeded, amount the refund's)
//     so that each refund can be looked up and listed under its payment;
//     and REFUNDED with the child's amount on the parent, so that the
//     parent's refunded total moves and partial or full follows from the
//     amounts.
//   - CAPTURED or VOIDED: the same status on the parent, with the child's
//     amount (a partial capture leaves the payment partially_captured).
//     Nothing else: paystate has no capture or void aggregate, the state of
//     a capture is the state of its payment, and the child's body and
//     paymentId are kept with the parent's journal entry (the paymentId is
//     in its dedupe key).
//   - any other status (a declined capture or refund attempt, a status Inyo
//     adds): one record-only event on the child's id, linked to its parent;
//     the parent is left alone, because the object does not say which
//     operation failed.
//
// A payment's own object is a snapshot of the payment
// (providers.Event.Snapshot): its status equal to the payment's current
// Inyo status is a duplicate, one behind is stale. The amount is part of
// that status: the same status again for an amount the payment does not
// hold there (AUTHORIZED for 100.10, then AUTHORIZED for 999.99) is no
// repeat of what put it there, and is rejected (amount), the entry naming
// both figures. The document says nothing of the amount changing at a
// status, and a capture for less is a child object or the first CAPTURED
// (see "Amounts"), so a repeat agrees when it states the payment's amount
// or the total the status set (the authorized total of AUTHORIZED, the
// captured total of CAPTURED, the refunded total of REFUNDED); with the
// totals not fully known nothing is compared. Magnius' same status with
// another amount has the same key as the first (its key holds no amount),
// so its receipt answers it as a conflict first. A child's event on its
// parent is an operation (providers.Event.Operation): it has the child's
// identity, moves the parent's state and totals, and leaves the parent's
// Inyo status as the parent's own objects last said it, because the child's
// status is the child's: a payment that only children have reached has no
// Inyo status yet. So a REFUNDED on the payment's own object after a child
// refund is news of the payment, not a repeat of the child, also when the
// child came first.
//
// The payment's own object whose status ends where children already took
// the payment (VOIDED after a child void, REFUNDED after child refunds of
// the whole capture, CAPTURED after a child capture) is not behind it: the
// payment has not moved past that status, its own status just had not
// said it yet. It is applied in place: state and totals as the children
// left them (they moved the money; the object's amount, the payment's,
// could count it twice), and the payment's Inyo status says it from then
// on (said again: a duplicate). Its amount is still read as on any own
// status, never added on top: a REFUNDED whose amount is neither what was
// captured nor the payment's amount marks the totals not fully known and
// says so, and on totals not fully known it proves a capture of at least
// it (up to a reported authorization). A VOIDED's or CAPTURED's amount is
// the payment's face amount only: a void moves no captured money, and the
// payment's own CAPTURED may carry the payment's amount rather than the
// captured sum (see "Why a late AUTHORIZED or CAPTURED does not correct
// the totals"). A status that ends elsewhere (AUTHORIZED
// after a child void) is still stale.
//
// When a child and its payment disagree. A child refund's two events are
// decided each on its own aggregate. The refund aggregate holds what Inyo
// says of the refund object (REFUNDED: succeeded), which is a fact about
// that object and is kept even when the payment cannot take it; the
// payment's event is decided by the payment's machine, and is rejected
// when the refund cannot have happened to the payment as paystate knows it:
// illegal on a voided or declined payment (nothing was captured), amount
// when it refunds more than was captured while the totals are fully known
// (also when child refunds alone refunded it in full: the payment's own
// object never said REFUNDED, so no total of Inyo's can hold the one
// more, nor when its own REFUNDED only caught up after the children had
// refunded it all, taking nothing). A child refund after the payment's
// own REFUNDED that took the rest may be one that REFUNDED counted: no
// larger than what is left of that rest (statemachine.Amounts.RefundedRest)
// it is applied in place, totals unchanged, and uses up its share of the
// rest, so that children which together exceed it are not all held (the
// one that no longer fits is amount). Rejecting each as stale would let
// any number of them through unchecked. So a succeeded
// refund beside a rejected effect on its payment is intended: it is the
// discrepancy an auditor must see (the effect's entry names the reason),
// not one paystate may settle by believing either side. The generic
// gateway's and PayEngine's refunds are decided the same way. The same
// refund reported again (another created time, so another delivery) is
// stale for the refund, and its effect restates that; another child of
// exactly the refunded total is another refund (amount), never read as the
// first one again.
//
// A child CAPTURED or REFUNDED without an amount is malformed: it would move
// the parent's totals by an unknown sum.
//
// Status snapshots are never deferred: a status ahead is reached at once,
// and the jump carries what the states it passes through imply ("Clients
// can enable webhooks for specific transaction status changes", so a
// merchant may never get CAPTURED). A child refund on an authorized
// payment passes through captured, which captures the authorization; the
// refund then applies with its own amount. A child refund on a payment
// nothing is known of passes through an authorization and a capture of
// unknown amounts: it is applied, the refund proves a capture of at least
// its amount, the totals are raised to that and marked not fully known
// (statemachine.Amounts.Unknown), and a further refund is not rejected for
// the unknown capture. Its own later AUTHORIZED or CAPTURED is stale: the
// totals stay marked until someone asks Inyo.
//
// Why a late AUTHORIZED or CAPTURED does not correct the totals. Its amount
// is real (the authorized or captured amount of the payment object), and
// the body is journalled with the stale verdict, so an auditor has it. But
// using it would need a verdict the contract does not have: the snapshot
// lies behind (the payment is refunded), so it cannot be applied, which is
// a transition from the current state, and a rejection leaves the
// aggregate unchanged. Folding it in would be a change to Decide for every
// status provider (a stale snapshot that still moves amounts), not a row of
// this table. And it would not clear the mark: Amounts.Unknown is one flag
// for all three totals, an AUTHORIZED says nothing of the capture (Inyo
// may capture less), and even after both the refunded total is only the
// child refunds that reached paystate ("Clients can enable webhooks for
// specific transaction status changes"), so "fully known" could not be
// claimed. The order service would read the same answer, "ask Inyo", with
// or without the correction. Since statemachine.Rules 7 there is a shape
// for "applied, no state change, totals raised to what it proves" (an
// event-mode capture or refund inside a full one, and since Rules 10 a
// part inside a full one without an amount), so the verdict is no longer
// what stops it. What does: the document shows the payment object only
// as AUTHORIZED, and its amount on CAPTURED being the captured sum is this
// package's reading, not the document's — a capture for less is a child
// object with its own amount (Inyo's payment history), so the payment's
// own CAPTURED may well carry the payment's amount. Raising the captured
// total to it could overstate what moved, and a refunded payment's
// refunded total would have to follow (its state says refunded in full),
// a second inference on the first. Reviewed again (Rules 10): left as it
// is.
//
// # Other fields
//
// externalPaymentId, the merchant's own id that Inyo's API addresses
// payments by, becomes Event.MerchantReference. approved, message and
// acquirerMessage are kept in the body but decide nothing: status is what
// the document defines the webhook by.
//
// # Time
//
// "created" ("2025-01-21 16:31:02") has no zone; it is read as UTC (an RFC
// 3339 time with an offset is accepted too) and becomes Event.OccurredAt.
//
// # Authentication
//
// Inyo does not sign webhooks. The merchant configures credentials that
// Inyo sends with each webhook in the Authorization header, either
// "Basic base64(user:password)" or "Bearer <token>". Config accepts several
// of each at once so that a credential can be rotated: add the new one,
// change it at Inyo, drop the old one. The presented credential is hashed
// and compared in constant time with every configured credential of its
// scheme, without stopping at a match. With nothing configured every
// webhook is refused (fail closed), since without credentials anyone could
// post payment states. Errors never contain a configured or presented
// value, and every mismatch gets one message, so that an answer does not
// tell which schemes are configured. The credential does not bind the body:
// TLS is what keeps a body from being altered in transit.
//
// # Dedupe key
//
// Inyo sends no event or delivery id, so each event's key is derived from
// the content that identifies a delivery: the SHA-256 of the length-
// prefixed paymentId, status, captured, voided, amount (in minor units) and
// created, prefixed with "inyo:" and the event's role (payment, parent,
// refund, child) so that the two events of a child refund have keys of
// their own. Whether Inyo retries is not documented: with this key a
// retried delivery of the same object is a duplicate either way, and the
// same key arriving with a different body (another message, say) is
// recorded as a conflict instead of being applied twice. The engine keeps a
// payment's own snapshot under its key and the payment's version (see
// providers.Event.Snapshot): after the payment has moved on, a retry is
// decided again, a duplicate while it is still the payment's status (for
// an amount the payment holds there; see "Children") and stale once it is
// behind. The amount in the key makes the same status for another amount
// a key of its own, which the amount rule, not the receipt, decides. A child's keys hold for ever.
package inyo
