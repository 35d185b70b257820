// Package magnius is the Magnius webhook integration.
//
// # Delivery model
//
// Magnius sends thin status snapshots, one HTTP POST per status change:
//
//	{"type": "transaction", "id": "c3c5...", "status": "SETTLEMENT_REQUESTED",
//	 "status_reason": "...", "amount": 2500, "merchant_reference": "...",
//	 "paymentlink_id": "...", "subscription_id": "..."}
//
// Only type and id are always present. The body says which object changed
// and its status now, not what happened: it carries no event id, no
// timestamp and no currency. A webhook that is not answered 200 is sent
// again after 1m, 2m, 5m, 15m, 30m, 1h, 2h, 6h and 24h, so snapshots of one
// object can arrive out of order and more than once, up to about a day and
// a half late.
//
// Every machine (machine.go) is therefore a status machine
// (statemachine.ModeStatus): a snapshot that lies ahead is reached at once
// along the shortest legal path, and the engine journals the states passed
// through; one the object has moved past is rejected as stale; a status a
// machine does not know is returned as an event of the type's kind and the
// engine records it as unknown.
//
// Statuses repeat: the document lists each type's statuses without an
// order, and some objects really return to a status (a subscription that
// recovers, a transaction waiting again, a chargeback disputed again). So
// every status event is a snapshot (providers.Event.Snapshot): one equal
// to the object's current Magnius status is a duplicate (unless its
// amount or currency disagrees with what the object holds there, see
// "Dedupe key"); one seen before
// but legal from where the object is now is applied again; one behind is
// stale. Nothing in the body tells a repeat from a retry; see "Dedupe
// key".
//
// # Types and aggregates
//
//   - transaction → payment. A subscription_id names the transaction's
//     parent subscription; otherwise a paymentlink_id names its link.
//   - refund → refund, chargeback → chargeback. The document gives them no
//     parent field; an undocumented transaction_id, if Magnius sends one,
//     names the payment. Without it they stand alone.
//   - A parent, once an applied snapshot named it, does not change: the
//     subscription or payment link "used to create this transaction" and a
//     refund's payment are facts of the object. A refund or chargeback
//     snapshot naming another payment (another transaction_id) is rejected
//     as a conflict with both named in the reason, as every provider's is:
//     it would move another payment's money. A transaction naming another
//     subscription_id or paymentlink_id is still money that moved: decided
//     as usual, the first parent kept and the other named in the reason.
//     One naming none, or a parent of the other kind (a paymentlink_id
//     beside the subscription that is the parent: both fields are optional
//     and a transaction may have both), is decided as usual and the parent
//     stays.
//   - cardlink → link, subscription → subscription.
//   - validationruleset, report_generated and the tag-rule and anti-fraud
//     rule triggers have no lifecycle: Kind "", RecordOnly, AggregateID =
//     id, Name = the type and ProviderStatus = the status. The document
//     names the rule triggers as webhooks without giving their type
//     strings, so any type containing "rule" is taken for one.
//   - Any other type is returned with Kind "" (not RecordOnly: paystate does
//     not know what it is) and recorded by the engine.
//   - status is optional in the document. A lifecycle type without one says
//     that the object changed but not how: it is recorded on the aggregate
//     (RecordOnly, Name = the type) and moves nothing.
//
// Type is matched case-insensitively; statuses are kept as sent, so a
// lower-case "authorized" is an unknown status, recorded, not guessed at.
//
// # Transaction statuses
//
//   - INITIATED, IN_PROGRESS, PENDING → pending. None is an outcome.
//     INITIATED is legal only as the first status, so a late one is stale;
//     IN_PROGRESS and PENDING are Stay rows from pending, so the provider
//     status moves while the state does not. A late IN_PROGRESS after
//     PENDING is therefore applied (the provider status steps back); the
//     canonical state is right either way and one state per word would
//     have invented an order the document does not give.
//   - AUTHORIZED → authorized (Authorize), SETTLEMENT_REQUESTED →
//     capture_requested, SETTLEMENT_COMPLETED → captured (Capture),
//     AUTHORIZATION_VOIDED → voided, DECLINED → declined, FAILED → failed,
//     CANCELLED and ABANDONED (the consumer left) → cancelled, UNKNOWN →
//     unknown.
//   - UNKNOWN is legal from pending only and resolves to any outcome
//     (AUTHORIZED, DECLINED, CANCELLED, FAILED, SETTLEMENT_COMPLETED).
//     Allowing it after authorized as well would make a cycle (authorized →
//     unknown → authorized) through which a stale AUTHORIZED could walk the
//     payment back; an UNKNOWN after a later status is rejected as stale.
//   - FAILED is also legal from authorized and capture_requested: each
//     Magnius transaction is one attempt, so a FAILED after an
//     authorisation is the settlement failing, not a late snapshot.
//   - SETTLEMENT_COMPLETED is also legal from failed, declined,
//     cancelled and voided. A settled transaction is never failed,
//     declined, cancelled, abandoned or voided afterwards (none is legal
//     from captured), so when SETTLEMENT_COMPLETED arrives after one of
//     them the two cannot have happened the other way round: the
//     settlement is the newer status (a settlement retried after it
//     failed, a consumer who left the payment flow and whose bank transfer
//     completed late), money moved, and rejecting it as stale would hide
//     captured money behind an outcome that moved none. It captures the
//     authorisation (above it: amount), or, with nothing authorised,
//     authorises what it captures. These rows are reverts (ways out of an
//     outcome), so no jump passes through an outcome to take them, and the
//     outcome reported again after the settlement stays stale.
//
// Amounts. amount is "the item amount in cents": the transaction's amount
// in every snapshot, not a delta. Magnius sends no currency, so Currency is
// left empty (the aggregate then has none; amounts are compared as given).
// Because the amount is the object's at every status, the first applied
// snapshot that carries one gives the order its amount (Order.amount_minor),
// whatever its status: amount is optional, so an AUTHORIZED or CANCELLED
// without it followed by SETTLEMENT_COMPLETED of 1000 is an order of 1000.
// A jump carries the amount through every state it passes (a transaction
// first seen at SETTLEMENT_REQUESTED was authorised for its amount), and
// every edge's amount rule applies on the way:
//   - AUTHORIZED authorises the amount;
//   - SETTLEMENT_REQUESTED (RequestCapture) is the amount to settle: above
//     the authorised amount it is rejected (amount), also when a later
//     SETTLEMENT_COMPLETED jumps through it, and it never replaces the
//     authorised amount (the document calls amount "the item amount", and
//     a settlement of more than was authorised is not money the card
//     holder agreed to);
//   - SETTLEMENT_COMPLETED from capture_requested captures the amount (or
//     the rest of the authorisation when there is none; less than
//     authorised is a partial capture, more is rejected);
//   - SETTLEMENT_COMPLETED from pending or unknown is a Purchase
//     (authorised = captured = amount). That is the shortest path, so a
//     transaction first seen settled is journalled as having passed through
//     pending only: Magnius does not say whether it was authorised
//     separately (cards) or settled directly (some payment methods), and
//     claiming authorized and capture_requested would invent states while
//     leaving the authorised total at zero.
//
// # Other machines
//
// Refunds: PENDING → pending, HOLD → on_hold, PROCESSED → succeeded,
// FAILED → failed, CANCELLED → cancelled, UNKNOWN → unknown. A held refund
// is released to its outcome or back to PENDING: the document lists the
// refund statuses (PENDING, PROCESSED, CANCELLED, FAILED, HOLD, UNKNOWN)
// without an order, HOLD is not an outcome, and each webhook is "the
// status change" it communicates, so a PENDING after HOLD is the hold
// released, applied (a Revert row, on_hold → pending, so a PENDING or HOLD
// after an outcome stays stale). The cost is the subscription's (below): a
// first PENDING retried late, after HOLD, reads as a release; the next
// status (HOLD again, or the outcome) corrects the state, and no money
// depends on it. Earlier versions rejected every PENDING after HOLD as
// stale, which lost real releases. A PROCESSED after FAILED or CANCELLED
// is applied (succeeded) for the reason SETTLEMENT_COMPLETED after FAILED
// is: a processed refund is never failed or cancelled afterwards, so it is
// the newer status and the money was returned.
//
// Refund and chargeback amounts are the aggregate's face amount; they do
// not change the payment's totals, since the payment is another aggregate.
// So a refund never raises the totals of a payment whose amounts are not
// fully known either (the proof, bounded by a reported authorization, that
// an Inyo refund makes of its payment's capture): Magnius's transaction
// statuses have no refund, and a refund snapshot is no operation on its
// payment's money; the payment's refunded total stays 0.
// amount is "the item amount in cents" in every snapshot, so a snapshot
// that states another amount than the aggregate holds says what the object
// is for now: a refund PENDING for 100 and PROCESSED for 80 returned 80, a
// chargeback OPEN for 100 and LOST for 60 cost 60. Every refund and
// chargeback row reprices (statemachine.Reprice): the aggregate takes the
// snapshot's amount and the journal entry's reason names the change
// ("amount changed from 100 to 80"). Rejecting the snapshot as an amount
// mismatch was the other reading, and the worse one: the refund would stay
// pending although Magnius says it was processed, hiding money returned
// behind a figure Magnius no longer states. A snapshot without amount
// keeps the one the aggregate has; a stale one changes nothing.
//
// Chargebacks: OPEN → IN_DISPUTE → WON, LOST or CANCELLED, each outcome
// also directly from open. A decision can be challenged (pre-arbitration,
// arbitration), and Magnius' five statuses have no word for that stage but
// IN_DISPUTE: IN_DISPUTE after WON or LOST opens the dispute again (a
// Revert row, so a late OPEN stays stale). The cost is the subscription's
// (below): an IN_DISPUTE delivered late, after the outcome, reads as a
// challenge. An outcome straight after the other (WON after LOST) stays
// stale: a snapshot carries no time, and with retries over 34 h it reads
// either way — the end of a challenge whose IN_DISPUTE is still being
// retried (WON the newer), or a first WON retried until after the
// challenge and the LOST (WON the older). The document lists the five
// statuses and nothing of their order, so nothing tells the two apart;
// status snapshots are never held, so the WON cannot wait for the
// IN_DISPUTE either. The rejected WON is journalled with its reason.
//
// Card links: CREATED → INITIATED (the consumer opened it) → DONE, or
// CANCELLED / EXPIRED from created or initiated. EXPIRED or CANCELLED after
// DONE reads stale, not illegal: both are legal from initiated, which DONE
// has moved past, and Decide calls every word legal from a state behind
// the current one stale. "Illegal" (a used link does not expire after the
// fact) would need the document to say what a link's expiry means after
// use, and it lists the statuses only; both verdicts reject alike (the
// link stays done, the body is journalled with the reason).
//
// Subscriptions: CREATED → ACTIVE → PAST_DUE, and CANCELLED, EXPIRED,
// COMPLETED to end. active ⇄ past_due is a real cycle: PAST_DUE → ACTIVE
// is the recovery, marked Revert so that "ahead" stays acyclic (an ended
// subscription still rejects a late ACTIVE as stale). Magnius' snapshots
// cannot tell this cycle apart from lateness: an ACTIVE that arrives while
// past_due is taken as a recovery, even if it is really the first ACTIVE
// delivered late (a retry, up to ~34 h). Since a subscription falls past due
// at a billing date, usually much later than that, the recovery is the
// likelier reading. A recovery whose body equals the first ACTIVE's is
// still a recovery: ACTIVE → PAST_DUE → ACTIVE ends active, and round again.
// COMPLETED, CANCELLED and EXPIRED are legal from past_due.
//
// The order-independence property tests cover every machine with its
// cycles; the arrival orders they draw keep the laps of a cycle in order,
// which is all a body without a time or a sequence number allows (an
// ACTIVE, ACTIVE, PAST_DUE arrival is the same whether the path was one lap
// or two).
//
// # Ordering
//
// Nothing Magnius documents orders two snapshots of one object: the body
// has no timestamp, no sequence number and no event id, the document names
// no delivery header, and a retry (1m ... 24h) resends the same body. So a
// retry whose acknowledgement was lost, delivered after a newer status,
// cannot be told from a status the object really returned to. paystate
// orders snapshots by the machine alone: an older status the object has
// moved past is stale (AUTHORIZED after SETTLEMENT_COMPLETED, PENDING after
// AUTHORIZED); one the object can really return to is applied again, so
// the retried ACTIVE after PAST_DUE reads as a recovery, a PENDING after
// HOLD as a release, an IN_DISPUTE after
// WON as a challenge and an IN_PROGRESS after PENDING moves the provider
// status back (the canonical state stays pending). Only asking Magnius for
// the object could settle such a case, and paystate has no Magnius
// reconciler; the journal keeps every delivery, so an auditor sees the
// repeat.
//
// # Authentication
//
// Every webhook is signed: X-Signature is the base64 RSA PKCS #1 v1.5
// signature, with SHA-1, of the raw body, verified with Magnius' public key
// (one for payground, one for live). Config.PublicKeysPEM takes several
// keys at once (test and live, or old and new during a rotation); each
// entry may be a PKIX "PUBLIC KEY", a PKCS #1 "RSA PUBLIC KEY" or a
// "CERTIFICATE" (its RSA key is used), and a key that cannot be used is a
// configuration error at start-up naming the entry. With no key configured
// Authenticate rejects everything: Magnius always signs, so there is no
// unauthenticated mode. Nothing secret is compared (the keys are public),
// and errors never contain the presented header.
//
// SHA-1: crypto/rsa verifies PKCS #1 v1.5 signatures over SHA-1 by default
// in Go 1.26; only FIPS 140-only mode (GODEBUG=fips140=only) refuses it, and
// New then fails with that reason rather than rejecting every webhook
// later. Keys under 1024 bits are refused by crypto/rsa and by New.
// SHA-1's collision weakness matters little here: an attacker would have
// to get Magnius to sign one of two colliding bodies.
//
// # Dedupe key
//
// Magnius sends no event id, so Parse derives one: "magnius:" and the hex
// SHA-256 of the length-prefixed (lower-cased) type, id and status. Because
// a status can truly come back, the engine keeps a snapshot's receipt under
// that key and the object's version: a retry while the object has not
// moved is the same key with the same body, a duplicate; the same status of
// the same object with a different body (another amount, another
// status_reason) while the object is where that status put it is a
// conflict, recorded and never applied twice. Where no receipt answers
// the same status (the delivery that set it is not the one compared
// with), the statemachine's rule for a snapshot of the current status
// decides, as for Inyo: another amount than the object holds there is
// rejected (amount), except on refunds and chargebacks, whose amount may
// change (Reprice). After the object has moved
// on, the same body is decided again: a duplicate if it is the current
// status, applied if it is legal from there, stale if it is behind.
package magnius
