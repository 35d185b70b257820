// Package ngenius is the N-Genius Online webhook integration.
//
// # Delivery model
//
// N-Genius sends one HTTP POST per event on an order (AUTHORISED, CAPTURED,
// REFUNDED, ...; see the event table in machine.go). Several events for the
// same order can arrive in quick succession. The endpoint must answer 200 or
// 201 within 15 seconds, and there are no retries: an event that is not
// acknowledged is lost, so the handler must store first and work later, and a
// missed event can only be recovered by asking N-Genius for the order.
//
// # Authentication
//
// Payloads are not signed. The merchant can configure one custom header name
// and value in the N-Genius portal (for example X-Webhook-Token); N-Genius
// then sends that header with every webhook. Config.HeaderValues accepts
// several values at once so the secret can be rotated without losing
// deliveries: add the new value, change it in the portal, drop the old one.
// The presented value is compared with every configured value in constant
// time. When no header is configured Authenticate accepts everything; the
// server, not the provider, decides whether running unauthenticated is
// allowed. The header proves only that the sender knows the secret: it does
// not bind the body, so TLS is what keeps a body from being altered.
//
// # Dedupe key
//
// N-Genius sends no event or delivery id. The webhook handler still needs
// a key that is equal for two deliveries of the same event (a proxy replay,
// an operator re-posting a stored body) and different for different events,
// so Parse derives one: "ngenius:" followed by the hex SHA-256 of the
// length-prefixed order id, event name, transaction id, transaction state
// and timestamp. Length prefixes keep the fields from running into each
// other ("ab"+"c" and "a"+"bc" hash differently). Amounts and references are
// left out on purpose: the same event with a different amount is the same
// delivery with a different body, which the engine reports as a conflict
// instead of silently applying it twice.
//
// The document asks for idempotence "even if accidentally triggered again"
// without saying what a second trigger looks like. The key reads it as the
// same body (or at least the same order, event, transaction and
// timestamp): a duplicate, or a conflict when anything else differs. A
// second trigger that carried a new timestamp would be a new key, decided
// by the machine: a repeated outcome (AUTHORISED, CAPTURED, REFUNDED
// without an amount, a failure) is stale, and a capture or refund with an
// amount is held to the amount rules, but a partial refund or capture with
// room left would count again. Keys are stored and pinned (they must never
// change), so that reading was kept; an operator who sees such repeats can
// tell them by their transaction id in the journal.
//
// # Currency
//
// Amounts come in minor units, so N-Genius needs no exponent to convert
// them, and earlier versions took any three letters as a currencyCode.
// The document shows only ISO 4217 codes ("AED") and nothing in it argues
// for others, so a currencyCode is checked as every provider checks one
// (money.Currency, blanks around it and letter case ignored): a code ISO
// 4217 does not list (XXQ) is malformed, as at the generic gateway, instead
// of becoming an order's currency that no exponent table knows (the
// console could not show its amounts). The check knows the codes ISO
// added after golang.org/x/text's table (MRU, SLE, VED, VES, UYW, XCG,
// ZWG), so that the refusal, which N-Genius never retries, does not fall
// on a currency in use.
//
// # How the document was read
//
// The event table (machine.go) has a row for every event the document
// lists. Where the document leaves the meaning open, these readings were
// chosen; each has a test in sequence_test.go.
//
// Closing. ORDER_CLOSED is "triggered when the order is marked as closed.
// This typically occurs when no further transactions (like captures or
// refunds) can be performed against it." It says nothing about the money,
// so it is administrative: it is applied without changing the state (the
// state keeps saying captured, refunded, voided, ...: what an order service
// must know) and the provider status shows ORDER_CLOSED, as does the
// journal. Events "may be sent in quick succession" and are never retried,
// so a refund, a refund failure, a void or a capture that overtook the
// closing, or completed after it, arrives after ORDER_CLOSED. Each reports
// money that moved, or a request that failed, and is applied as it would be
// without the closing; rejecting it as stale would lose it for good.
//
// APM payments. APM_PAYMENT_ACCEPTED is "a success response from the APM
// system for a payment", and the document lists no APM capture event while
// it does list APM refunds (REFUND_REQUESTED, PARTIAL_REFUND_REQUESTED and
// their _FAILED twins, then REFUNDED or PARTIALLY_REFUNDED). So the APM
// accepting the payment is the money received: the payment is authorised
// and captured in one step (captured, like PURCHASED), and the refund
// events apply to it as to a captured card payment. An accepted APM
// payment that is then CANCELLED gives the money back (cancelled, captured
// total back to zero); CANCELLATION_REQUESTED and CANCELLATION_FAILED leave
// the state.
//
// An APM payment can also be cancelled before the APM accepted it: the
// document has CANCELLATION_REQUESTED "when we cancel the APM payment" and
// CANCELLED "on success of a payment cancellation from the APM system",
// with no word of acceptance first, and N-Genius sends nothing while an APM
// payment waits for the APM. So a cancellation can be an order's first
// event. CANCELLED on a new order (or after a declined or failed attempt)
// applies: cancelled, no money moved. CANCELLATION_REQUESTED or
// CANCELLATION_FAILED on a new order makes it pending — an attempt under
// way, its outcome to come — from which CANCELLED, APM_PAYMENT_ACCEPTED (the
// cancellation failed and the APM took the money) or any other outcome of
// the attempt applies; after a declined or failed attempt they leave the
// state. Holding them for an acceptance that may never come, as earlier
// versions did, expired them into rejections. An APM_PAYMENT_ACCEPTED that
// arrives after the order was cancelled is stale: N-Genius reported the
// cancellation as the APM's success.
//
// Captures in parts. PARTIALLY_CAPTURED is a capture "for any value that
// does not meet or exceed the original authorization amount", so an
// authorisation can be captured in several parts, each named by its own
// value, and a part already captured can be refunded before the next part
// is captured. A PARTIALLY_CAPTURED that arrives while the order is
// partially refunded or refunded is therefore money captured, not a late
// event: it adds to the captured total (at most the authorisation, as
// always) and the order is partially refunded; the whole captured total
// again, with nothing left to capture, is stale, as it is on an order
// captured in full (the same capture reported again). A full CAPTURED is one
// capture of everything and has no such row, but it is decided as on the
// order before the refund: the capture that completes the authorisation
// after a part was refunded can have happened, so it is applied when the
// authorisation has room for it (without an amount it captures the rest)
// and the order stays partially refunded; it is rejected for its amount
// when it asks for more than the authorisation has left, and stale when
// nothing is left and it is the captured total again or has no amount (the
// same capture reported again). A failed capture has no such row
// (PARTIAL_CAPTURE_FAILED after a refund is stale: it moved nothing). A
// partial capture on an order captured in full is never held for a refund,
// though partially_refunded lies ahead (a refund gives no room back to
// capture): it is decided at once. CAPTURED is the capture "in full", so a
// part reported after it happened before it. With the amounts known it is
// rejected, for its amount when it has one (the exact captured total:
// stale, the same capture again), else as stale. With the amounts not
// fully known (an earlier PARTIALLY_CAPTURED without its amount, then
// CAPTURED capturing "the rest") its amount is the one figure the
// provider gave about that part: it is applied, the order stays captured,
// and the totals become at least what it proves (never its amount added
// to a total that already holds it). A PARTIALLY_REFUNDED with its amount
// after REFUNDED, on unknown amounts, is read the same way.
//
// Attempts. An order can take several payment attempts, so an attempt's
// outcome (AUTHORISED, DECLINED, PURCHASED, ...) is legal from a new order,
// from a pending one (an APM attempt whose cancellation was asked for, see
// above) and after a declined or failed attempt. A DECLINED or AUTHORISATION_FAILED
// that arrives while the order holds a successful attempt (authorised, in
// fraud review, captured, ...) is read as the late report of an earlier
// attempt, and rejected as stale. "Earlier" is read from the order's
// lifecycle, not from the payload: N-Genius starts a new attempt on an
// order only when it has no successful one, so a failure that is reported
// while a success stands can only precede it. The payload cannot say more:
// transaction.id is an opaque id with no order, and transaction.date could
// only be compared with the successful attempt's date, which an order's
// state does not keep. A post-authorisation fraud rejection does take the
// successful attempt back (to declined), but it is marked a revert in the
// table: it is not a step "ahead" that a late failure could wait for, so
// such a failure is not held until a rejection that will in all likelihood
// never come (and, if one did, turn a fraud-rejected order into a failed
// one). The rejection is followed by the automatic FULL_AUTH_REVERSED, after
// which the order takes no further attempt; until it comes the
// authorisation stands, so no new attempt is started either. The attempt
// rows are marked statemachine.Transition.UnlessAuthorized: while the
// order is declined by a fraud rejection, its authorisation standing, a
// DECLINED, AUTHORISATION_FAILED or any other attempt's outcome (the
// authorisation reported again included) is stale, as it is while the
// authorisation is in force. Earlier versions applied it: the order
// became failed and the automatic FULL_AUTH_REVERSED was held for an
// authorisation that never came, then expired. `paystate reevaluate
// --dry-run` lists such orders, but leaves them as they are (a
// re-evaluation only appends, and cannot take back an applied event):
// they are for a person to settle.
//
// Events without their amount. The document's sample carries order.amount
// only; transaction.amount is read where it is sent. Without it, an event
// takes what its word implies, and where the word implies nothing the
// payment's amounts are marked not fully known (statemachine.Amounts.Unknown,
// served as amounts_unknown) instead of being guessed:
//   - CAPTURED ("captured, in full") captures the rest of the authorisation,
//     REFUNDED refunds the rest of the capture: known. The rest of an
//     authorisation reported as 0 (a card check) is 0, so a refund after
//     it is rejected (amount), as after CAPTURED with its amount 0, and
//     REFUNDED without an amount refunds the rest of a capture known to be
//     0: refunded, 0, known;
//   - CAPTURE_VOIDED "will then return to an AUTHORISED state": every capture
//     is voided, known; PURCHASE_REVERSED voids the purchase, known.
//     PURCHASE_REVERSED is "triggered when a previous PURCHASE has been
//     reversed": the whole purchase, the order voided. N-Genius reverses a
//     purchase whole (money back in part is a refund), so a reversal whose
//     transaction.amount is less than the captured total is rejected
//     (amount) and the order stays captured, its refunds still applied;
//     read as a void of a part, it would leave a voided order with money
//     captured and that money's refunds rejected as late;
//   - PARTIALLY_CAPTURED and PARTIALLY_REFUNDED without an amount: the state
//     is the word, the total stays and is marked not fully known;
//   - REFUND_VOIDED without an amount voids "a REFUND", not saying which of
//     several: the refunded total goes to zero and is marked not fully
//     known.
//
// Once marked, a later refund or capture with an amount is never rejected
// for the missing figure: a refund of 1000 after an amount-less partial
// capture proves a capture of at least 1000, and the totals say so. What
// is missing is the capture or refund split, not the authorisation
// AUTHORISED (or PURCHASED) reported with the order's amount: a capture,
// or a refund proving a capture, above it cannot have happened and is
// rejected (amount), as it is with every figure known (AUTHORISED 10000,
// PARTIALLY_CAPTURED without an amount, PARTIALLY_REFUNDED 20000).
//
// A part reported after the whole. CAPTURED without an amount took the
// rest of the authorisation, however much that was, and REFUNDED without
// one the rest of the capture; the totals remember how much that rest was
// (statemachine.Amounts.CapturedRest, RefundedRest). A PARTIALLY_CAPTURED
// or PARTIALLY_REFUNDED with its amount that arrives after it (the
// "quick succession" the document warns of, with no retries to restore
// the order) and fits in what is left of that rest was one of the parts
// the full word completed: it is applied inside it, the state and the
// totals stay (AUTHORISED 10000, CAPTURED, then PARTIALLY_CAPTURED 4000:
// captured, 10000), and the rest left shrinks by its amount, so that late
// parts summing to more than the rest are not all taken in (after a known
// PARTIALLY_CAPTURED 3000 the rest is 7000: 4000 and 3000 fit, a further
// 1000 is rejected, amount). Until statemachine.Rules 10 such a part was
// rejected (amount), as if it came on top, and in Rules 10 every part
// smaller than the total was taken in; `paystate reevaluate` re-decides
// both. A part larger than the rest left is still rejected (amount), and
// so is one after a CAPTURED that reported its own amount: that capture
// holds no other part.
package ngenius
