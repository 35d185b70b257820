// Package payengine is the PayEngine webhook integration.
//
// # Delivery model
//
// PayEngine sends one HTTP POST per event, always the envelope
// {event_uid, event, data}: transactions (PAYMENT_AUTH, PAYMENT_CAPTURED,
// PAYMENT_SALE, PAYMENT_REFUNDED, ...), payment links, subscriptions,
// disputes, merchant onboarding and batches. A delivery is retried until it
// is answered 2xx, and an answer slower than 3 seconds counts as a failure
// (and is retried). Nothing in this package blocks: Authenticate and Parse
// are pure computations over the headers and the body, with no I/O, no
// locks and no network, so the handler's time goes to the durable commit
// alone.
//
// # Authentication
//
// Every webhook is signed. The header X-PF-Signature holds
// "t=<unix seconds>,s=<hex>", where s is the hex HMAC-SHA256, keyed with
// the endpoint's signing secret, of the timestamp exactly as sent, a ".",
// and the raw body. As PayEngine documents, the header is split on ",",
// each element on its first "=", and elements other than t and s are
// ignored, in any order; an s that is not 64 hex digits, a t that is not
// decimal seconds, a second t, a missing t or s all refuse the delivery.
// Every configured secret (Config.Secrets: several at once, so that a
// secret can be rotated: add the new one, switch the dashboard, remove the
// old one) is tried against every presented signature with constant-time
// comparisons, without stopping at the first match. A correctly signed
// delivery must also have a timestamp within Config.Tolerance (default
// 300 s) of the receiver's clock in either direction: older ones are
// replays, and ones from the future are refused as well, since a clock
// running ahead would otherwise widen the replay window. With no secret
// configured every delivery is refused (fail closed). Errors never contain
// a secret, a signature or the presented header.
//
// # Dedupe key
//
// event_uid is PayEngine's id of the event, but not of one event alone: its
// own samples show the PAYMENT_AUTH and the PAYMENT_CAPTURED of one
// transaction (and SUBSCRIPTION_CREATED, _CANCELLED and others) under one
// event_uid. Keyed on the uid alone, the capture would be refused as a
// conflict, acknowledged, and never retried: money lost from the state. So
// the key is the uid, the event name as sent and the id of the object the
// webhook is about (the transaction, refund, link, subscription, dispute or
// merchant), hashed with length prefixes (see dedupeKey). A different event
// under a known uid is a different event; the same three with the same body
// is a duplicate; with another body (PAYMENT_AUTH with status PASS, then
// FAIL, for one transaction under one uid; a refund's amount changed) it is
// a conflict, recorded as rejected and surfaced, never applied.
//
// Updates of links and subscriptions are the exception the samples call
// for. PAYMENTLINK_CREATED and PAYMENTLINK_UPDATED of link 37jrf share one
// uid, and SUBSCRIPTION_CREATED, _CANCELLED and _UPDATED of subscription
// a65ju share another: the uid follows the object (or the integration),
// not the event, so nothing suggests a second update of the object gets a
// uid of its own. Keyed on the three, a later update (a new price, PAST_DUE
// or PAID) would be the first one "told with another body": a conflict,
// acknowledged, never retried, its fact lost. Each update states when it
// was made (updatedAt, updatedDate), so PAYMENTLINK_UPDATED and
// SUBSCRIPTION_UPDATED are keyed on that time as well (updateKey): a later
// update is another event, decided on the state; the same update time with
// another body is still a conflict; a retry is a duplicate. An update
// stating no readable time is keyed on its body: nothing else tells it
// from another update, and a conflict would lose it (the cost: one told
// again with another body is applied, not surfaced). A redelivery of an
// update recorded before this keying is decided again: it states the
// object as it was, and in event mode it is applied again (its amount and
// status, which later updates may already have moved past).
//
// MERCHANT_STATUS_CHANGED is the same case: the merchant samples
// (MERCHANT_CREATED, _UPDATED, _STATUS_CHANGED, MICRO_DEPOSIT_INITIATED)
// share one uid, and a merchant's next status (in_review, then Active) was
// a conflict that left it in review for good. A status change states no
// time, but it is a status snapshot of the merchant, so it is marked one
// (providers.Event.Snapshot) and the engine scopes its key to the
// merchant's version: a retry while the merchant stays where it was
// decided is a duplicate, the same status with another body a conflict, a
// status equal to the current one a duplicate, and a status seen before
// but legal now (active again after a pause) is decided afresh.
//
// A successful refund (PAYMENT_REFUNDED, ACH_CREDIT_ISSUED) yields two
// events: the refund itself (kind refund) and its effect on the payment it
// names (kind payment). Both are keyed by the refund's own id, the kind
// telling them apart, so a redelivery of the refund with another body
// conflicts on both and never moves the payment's money twice, while a
// different refund under the same uid is a different event.
//
// An event this package does not know (a type PayEngine adds later, such
// as PAYMENT_CHARGEBACK_REVERSED) is keyed the same way, on the object it
// names, read as the known events of its family name theirs, so that two
// such events for two transactions under one uid are two events, not a
// conflict, and each is found in its object's history. The family is the
// name's prefix: PAYMENTLINK_ (data.paymentLinkId), SUBSCRIPTION_
// (data.subscriptionId), DISPUTE_ (the dispute's own id, else its
// transaction's; parent the payment), MERCHANT_ (data.merchant_id, else
// data.id), MICRO_DEPOSIT_ (the merchant's onboarding, else the bank
// account without a kind), BATCH_ (data.id, without a kind). Under any
// other name, data.transaction_id names a transaction: a refund linked to
// its payment when data.original_transaction_id is there too (as in
// PAYMENT_REFUNDED), else the payment; failing that, data.id names the
// object without a kind. A member that is absent, not a string or blank
// names nothing, and data that is not an object, or repeats a member
// with two values, names no object. An event that names no object (so
// too BATCH_GENERATED without an id) is keyed on its uid, its name and
// the SHA-256 of its body (objectlessKey): keyed on the uid and name alone,
// as it was, a second such event under a reused uid read as the first one
// told with another body, a conflict (and so did each retry of it), for an
// event that moves nothing. With the body in the key a retry is a
// duplicate and another body another event, recorded; such an event has
// no aggregate, and is found in the journal (ListJournal), under the
// provider with no kind and no id. Nothing in an unknown event's data refuses
// it. Since paystate does not know what it means, it is always recorded
// (record-only, reason no_lifecycle): it never creates an aggregate (a
// payment it names has no state until its own events come; its history
// shows the recorded event) and never moves one, even when its name is a
// word a table knows (SUBSCRIPTION_UPDATED_CANCELLED sent as the event).
//
// An operator upgrading from a version that keyed on the uid alone should
// know that a redelivery of an event recorded under the old key is not
// recognised as a duplicate: it is decided again on the state (a capture
// or a sale is then stale; a refund would be counted again). Likewise a
// redelivery of an unknown event recorded before unknown events were keyed
// on their object, or before one naming no object was keyed on its body,
// is recorded a second time (it moves nothing).
//
// # Aggregates and amounts
//
//   - payment: data.transaction_id. A refund names its payment in
//     data.original_transaction_id.
//   - refund: the refund's own data.transaction_id, Parent the payment.
//   - chargeback: the dispute's own id (data.dispute_id, data.disputeId or
//     data.id, in that order) where the body has one, so that a transaction
//     disputed a second time gets a second dispute; the documented samples
//     carry none, and then the disputed transaction's data.transaction_id
//     names the dispute (one dispute per transaction). The Parent is always
//     the disputed payment, data.transaction_id.
//   - link: data.paymentLinkId; subscription: data.subscriptionId.
//   - onboarding: data.merchant_id (data.id, equal to it in the samples,
//     when merchant_id is absent).
//
// Amounts are decimal strings in major units ("75.48") and are converted
// exactly with the money package (a JSON number is taken by its text, never
// through a float). Transactions carry no currency, so Config.DefaultCurrency
// (default USD: PayEngine is a US processor, and its API defaults a missing
// currencyCode to USD) applies unless the data states currencyCode or
// currency_code. Links and subscriptions carry currencyCode, and so does a
// dispute that states its amount (data.amount, as links and subscriptions
// state theirs; the documented dispute samples state none). A
// transaction's amount is the response's totalAmount, or transactionAmount
// when there is no total: PayEngine defines transactionAmount as the total
// including gratuity, and totalAmount is what the cardholder is charged.
// A refund's amount is return_response.returnedAmount. A currency is only
// attached to an event that has an amount or states one, so an event
// without amount never conflicts with a payment in another currency.
//
// # Interpretation of the document
//
// The samples are JavaScript-object literals with typos; testdata keeps
// each verbatim (doc_<name>.txt) and a strict-JSON rewrite as PayEngine
// sends it (<name>.json). The rewrites fix: missing commas and a
// "// comment" in MERCHANT_STATUS_CHANGED (whose capabilities are dropped,
// since the comment says they come only with status Active), the missing
// closing brace of PAYMENT_REFUNDED and ACH_CREDIT_ISSUED, "12024-08-21..."
// and the unterminated '37jrf in the payment links, 'data":', 'wlx57'. and
// 'USD" in subscriptions, '...'[, and 'approvedAmount":' in
// BATCH_GENERATED, and a mismatched quote in DISPUTE_INFORMATION_UPDATED.
//
// Strictness: a body must be exactly one JSON object (no trailing data)
// with a non-empty event_uid and event, and a data object for every event
// this package knows. Members are read by their exact names and only where
// an event uses them, each checked for its type there (an id must be a
// string, an amount a decimal string or number, a status a string); a field
// Parse does not use never makes a webhook malformed, since PayEngine would
// retry a refused body for as long as it retries. A member Parse uses sent
// twice in one object with different texts ("status": "FAIL", "status":
// "PASS") is malformed: the body states two outcomes, and which one a
// reader takes depends on the reader (see package providers).
//
// Outcome events carry the processor's answer (auth_response, sale_response,
// ach_response, return_response) whose status is PASS or FAIL. The document
// titles a PAYMENT_AUTH with status FAIL "PAYMENT_AUTH_FAILED", and lists
// PAYMENT_VOIDED_FAILED beside PAYMENT_VOIDED; Parse extends that naming:
// an outcome event with status FAIL is named "<EVENT>_FAILED", and one with
// any other status "<EVENT>_<STATUS>", a word no table knows, so that it is
// recorded rather than guessed into a transition. Since the title may be
// what PayEngine sends, an event named "<EVENT>_FAILED" for an outcome
// event (PAYMENT_AUTH_FAILED, PAYMENT_SALE_FAILED, ...) is read as that
// event with status FAIL, whatever its response says, and carries no
// amount. ProviderStatus keeps the
// answer readable: "PAYMENT_AUTH FAIL (D2005: Invalid Card)".
//
// Payment states (machine.go): PAYMENT_AUTH authorizes; PAYMENT_SALE,
// PAYMENT_ACH and OFFLINE_SALE are one-step sales (captured, Purchase);
// PAYMENT_CAPTURED captures the authorization (captured, or
// partially_captured when the amount is less). The document says nothing
// of captures in parts; the table takes them (another PAYMENT_CAPTURED on
// a partially captured payment adds to it), so it takes them also after a
// refund of an earlier part landed: the capture is decided by the amounts,
// as it would be without the refund (the rest fits and the payment stays
// partially refunded, more than is left is amount, the whole captured
// total again with nothing left is stale), never by whether a refund came
// between. PAYMENT_VOIDED voids an
// authorization or an unsettled capture. The document does not say what a
// void does after a capture of part of the authorization, and its void
// carries no amount of its own (the sale_response repeats the
// transaction's total). Read as taking every capture back, it zeroed money
// PayEngine reported captured, and the refund of that money was then
// rejected. It is read as a void of what is still authorized: the rest is
// released (statemachine.Release: the authorized total comes down to the
// captured total), the payment is captured and its captures stay
// refundable. A capture reported after that void is then more than is
// authorized (amount): had it come before the void, the void released
// less, but the entry keeps the body and says by how much; a void of a
// payment captured in full still takes every capture back (voided), and
// one after a refund is still stale. PAYMENT_FAILED and the _FAILED
// sales are failed, a failed authorization is declined; DEVICE_SALE_CANCEL
// is a card-present sale cancelled on the device (cancelled). A success of
// the same transaction (an authorization or a sale) reported after a
// decline, a failure or a device cancellation is applied: nothing leads
// from a success to any of them, so the success is the newer outcome, and
// money that moved is not hidden behind one that moved none; the failure
// or cancellation reported after the success is stale. Failures of a
// void or a capture leave the state (Stay). OFFLINE_SALE's sample carries
// no amount: such a sale is captured with its amounts marked not fully
// known (statemachine.Amounts.Unknown, served as amounts_unknown); a refund
// with an amount against it is applied and proves a capture of at least
// the refunded total, rather than being rejected for the missing figure.
//
// TRANSACTION_STATUS_CHANGED names no new status: its sample carries the
// same sale_response, status PASS, as PAYMENT_SALE. Mapping it to captured
// would either repeat the sale or invent a status, so it is recorded on the
// transaction's history (kind payment, record-only) with its amount.
//
// Refunds: the refund aggregate records what PayEngine reports, succeeded
// (PASS) or failed (FAIL); only a successful refund moves the payment's
// refunded total, and the amount rules apply there: a refund beyond the
// captured amount is rejected on the payment (reason amount) while the
// refund itself stays recorded as succeeded, since PayEngine did return the
// money. The mismatch is thereby visible on the order, not hidden. A
// second refund transaction of the whole captured amount is such a refund
// (amount): its own transaction_id says it is not the first one reported
// again, which is stale for the refund and so for its effect.
//
// Payment links: PAYMENTLINK_UPDATED carries the link's new amount, which
// becomes its face amount, and its paymentLinkStatus, which names the
// update: ACTIVE (or none) leaves the link usable (created); PAID, COMPLETED
// or USED make it done; EXPIRED expired; CANCELLED cancelled. A status the
// document does not name gives "PAYMENTLINK_UPDATED_<STATUS>", which is
// recorded, not guessed. PAYMENTLINK_CANCELLED cancels.
//
// Subscriptions: SUBSCRIPTION_CREATED with subscriptionStatus Active (the
// sample) is active; with another status it is named
// SUBSCRIPTION_CREATED_INACTIVE and is created. SUBSCRIPTION_UPDATED is
// named by the status it states, matched exactly (upper-cased, spaces and
// dashes as underscores): Active activates a created subscription and
// recovers a past-due one; PAST_DUE, CANCELLED, EXPIRED and COMPLETED move
// it to that state; PAUSED, and any status the document does not name,
// leave the state and show in the provider status. Every update carries the
// subscription's amount. SUBSCRIPTION_CANCELLED cancels; with success false
// it is SUBSCRIPTION_CANCELLED_FAILED (Stay). The updates run in event mode:
// an update arriving after a later one (a late Active after PAST_DUE) is
// applied in arrival order, since the state keeps no update date to order
// them by.
//
// Disputes run in status mode: DISPUTE_CREATED opens a
// dispute; every dispute event that states an amount sets the dispute's
// amount (statemachine.Reprice, as Magnius' chargeback snapshots do): an
// update stating another amount than the dispute had (the amount disputed
// changed, a representment in part) is a fact of its own, taken, and its
// entry says "amount changed from <old> to <new>"; keeping the first
// amount hid every later one. An update rejected as stale takes nothing.
// DISPUTE_INFORMATION_UPDATED puts it in dispute (statuses like
// AWAITING_PROCESSOR_RESPONSE), and a status that ends it is matched
// exactly, never by the words in it: WON and MERCHANT_WON are won; LOST,
// NOT_WON ("Not Won"), MERCHANT_LOST, ACCEPTED (the merchant accepted the
// chargeback) and EXPIRED (the response window passed unanswered) are lost;
// CANCELLED, CANCELED and WITHDRAWN are cancelled. CLOSED and RESOLVED end
// a dispute without naming who won: they are applied where the dispute
// stands (the provider status shows them) and the outcome, if one comes, is
// still taken. An update arriving before DISPUTE_CREATED opens the dispute
// on its way. A won or lost decision can be challenged (pre-arbitration,
// arbitration): an update that names no outcome after WON or LOST opens the
// dispute again (in_dispute, a revert row, so a late DISPUTE_CREATED stays
// stale) and the next outcome is taken, as Magnius' IN_DISPUTE after an
// outcome is. Every update has an event_uid of its own and a retry keeps
// it, so a retried update is a duplicate whatever arrived in between; the
// cost is an older update whose first delivery failed and whose retry
// lands after the outcome: it reads as a challenge, and the dispute shows
// in_dispute until the next outcome (the journal keeps both). Rejecting
// every update after an outcome as stale, as earlier versions did, lost
// reversed chargebacks. An outcome straight after another (LOST after
// WON), a cancelled dispute's updates, and anything but CLOSED or RESOLVED
// after a cancellation stay stale. Why an outcome after the other one is
// not taken as a reversal: the updates carry no time and no sequence, and
// retries reorder them, so WON after LOST reads either way — a challenge
// whose own update is still on its way (WON the newer), or a first WON
// whose delivery failed until after the challenge and the LOST (WON the
// older). The document says nothing that tells them apart. Holding it for
// the challenge's update would settle the first reading (PayEngine retries
// until answered 2xx, so that update comes), but a challenge is a way back
// (a revert row), and the engine holds an event only for a state ahead;
// the rejected outcome stays in the journal (`paystate reevaluate`
// re-decides it only under a changed table, not when the challenge's
// update lands). An order service reads the dispute's journal before
// relying on an outcome.
//
// A refund reported after the payment was voided reads stale, not
// illegal: PAYMENT_REFUNDED is legal from captured, and the void leads out
// of captured, so the engine reads the refund as behind the void. Neither
// order fits the document — a void takes back an unsettled capture, a
// refund returns a settled one, and nothing in the table voids a refunded
// payment — so "illegal" would be the more precise word, but the document
// states neither rule, and both verdicts reject alike (state and totals
// unchanged, the body journalled with the reason, re-decided by
// `paystate reevaluate` under a later table). The word is Decide's, for
// every provider: stale when the current state lies on a path from a state
// the event is legal from.
//
// Onboarding runs in status mode with MERCHANT_STATUS_CHANGED's status as
// the word, following PayEngine's merchant lifecycle: editing (the merchant
// is filling in the application: created; back to editing during review
// stays in_review), in_review and submitted_to_pe (in_review), active,
// declined (rejected), cancelled. paused and suspended are servicing
// statuses of a merchant that was boarded: the onboarding stays active and
// the provider status shows them. MERCHANT_UPDATED leaves the state
// (Stay). The micro-deposit events verify the merchant's bank account, which
// has no canonical kind; they are recorded on the merchant's onboarding
// (record-only), so an auditor finds them in the merchant's history (with no
// merchant_id, they are recorded under the bank_account_id with no kind).
//
// BATCH_GENERATED is recorded (no lifecycle), under the batch id. Events
// this package does not know are recorded on the object they name (see
// Dedupe key).
//
// Timestamps: transaction timestamps ("2022-02-04T20:59:24") carry no time
// zone and are left out of OccurredAt rather than guessed; links and
// subscriptions give RFC 3339 times, which are used. An unreadable time is
// ignored rather than refused: it is informational, and refusing it would
// make PayEngine retry a body that can never succeed.
package payengine
