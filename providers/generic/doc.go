// Package generic is the webhook integration of a generic payment gateway
// whose document lists six events (payment.completed, payment.failed,
// refund.initiated, refund.completed, customer.created, customer.updated),
// an X-Signature header, and retries for up to 24 hours with exponential
// backoff. The document's code samples and its example payload were lost
// from the copy paystate has ("Example Webhook Payload" is followed by
// nothing), so this package states the shape it accepts, below, and keeps
// it generous where gateways commonly differ.
//
// # Delivery model
//
// One HTTP POST per event. The gateway retries a delivery that is not
// answered 2xx for up to 24 hours with exponential backoff, and tells the
// receiver to be idempotent: the same event can arrive more than once, and
// events of one payment can arrive out of order (a refund.completed retried
// after a timeout can land after a later event, or before the
// payment.completed it depends on). The engine answers a redelivery as a
// duplicate (200), holds an event that arrived early (deferred) and applies
// it when its predecessor lands.
//
// # Authentication
//
// The document says each request carries an X-Signature header that
// proves it came from the gateway, but not how it is computed. This package
// takes the common reading: X-Signature is the HMAC of the raw request body
// under the webhook secret from the gateway's dashboard. Config.Algorithm
// picks the hash (sha256 by default, sha512, sha1) and Config.Encoding the
// text form (hex by default, base64), so an operator can match whatever the
// gateway really does without code changes. Details:
//
//   - An optional "<algorithm>=" prefix ("sha256=ab12...", the GitHub and
//     Shopify style) is accepted. A prefix that names another algorithm
//     than the configured one is refused rather than followed: letting the
//     sender choose the algorithm would let it pick the weakest.
//   - Hex is accepted in either case. Base64 is accepted in the standard or
//     URL-safe alphabet, padded or not, but strictly (non-zero trailing
//     bits are refused) so that no two spellings of a value decode alike.
//   - A signature of the wrong length for the algorithm is refused before
//     any comparison; the comparison itself is constant time, against every
//     configured secret (several at once, for rotation: add the new secret,
//     switch it in the dashboard, remove the old one).
//   - With no secret configured, or an unsupported algorithm or encoding,
//     every webhook is refused: authentication fails closed.
//
// Errors wrap providers.ErrUnauthenticated and are fixed messages: they
// never contain a secret or the presented signature. Sign computes a
// signature the same way, for tests and the webhook simulator.
//
// # Payload accepted
//
// The envelope is a JSON object:
//
//		{"id": "evt_...", "type": "payment.completed", "created": 1741944413, "data": {...}}
//
//	  - id: the event id (string, or integer digits). Optional; see Dedupe key.
//	  - type: the event type; "event" is accepted as an alias. When both are
//	    present they must agree. Types are matched exactly as sent.
//	  - created: when the event happened, as integer Unix seconds or an RFC
//	    3339 string. Optional.
//	  - data: the object. When data has a member "object" that is itself a
//	    JSON object ({"data": {"object": {...}}}, a common gateway style), that
//	    member is the object; otherwise data is. A string "object" member (an
//	    object-type tag such as "object": "payment") is just a field.
//
// The objects, with unknown fields ignored:
//
//	payment:  {"id", "amount", "currency", "status"?, "merchant_reference"? | "reference"? | "order_id"?, "metadata"?}
//	refund:   {"id", "payment_id"?, "amount", "currency", "status"?, "reason"?}
//	customer: {"id", ...}
//
// id is required for the six documented types. The merchant reference is
// merchant_reference, else reference, else order_id (the first non-empty);
// metadata is not read. status is not the machine's input (the event type
// is); it only feeds the derived dedupe key.
//
// Amounts are never floats. The JSON is decoded with json.Number semantics
// and the amount's literal is read as text:
//
//   - an integer JSON number (10000) is in minor units;
//   - a JSON string ("100.00") is a decimal in major units, converted
//     exactly with the currency's ISO 4217 exponent (money.ToMinor); more
//     decimal places than the currency has are refused, never rounded;
//   - a JSON number with a fraction or an exponent (100.00, 1e4) is refused
//     as malformed: it is impossible to tell whether 100.5 means major units
//     or a broken minor amount, and guessing would move money by a factor
//     of a hundred;
//   - negative amounts are refused; an amount needs a currency, an ISO 4217
//     code checked as every provider checks one (money.Currency), matched
//     case-insensitively and returned upper-cased.
//
// The document shows no payload, so nothing says an amount is always sent.
// A payment.completed or refund.completed without one still reports money
// that moved, and answering 400 would lose it (the gateway retries for 24 h
// and gives up), so it is applied and the payment's totals are marked not
// fully known (statemachine.Amounts.Unknown, served as amounts_unknown): a
// completed payment is captured for an unknown sum; a completed refund
// without an amount (and no refund.initiated amount either, see below)
// leaves the payment partially_refunded, because one refund is not all of
// the payment; a refund with an amount on a payment
// whose own amount is unknown proves a capture of at least its amount.
//
// # Events and machines
//
// See machine.go. payment.completed is a one-step purchase (the gateway
// reports money taken, never an authorisation): captured, with the amount
// both authorised and captured. payment.failed is failed; a later
// payment.completed on the same payment id is accepted (a retried attempt),
// while a payment.failed that arrives after payment.completed is stale.
//
// refund.initiated moves a refund to pending (the gateway has taken it on),
// refund.completed to succeeded; refund.completed is also legal straight
// from new, because the document does not promise that refund.initiated is
// sent or arrives first, and a late refund.initiated is then stale. A
// refund names its payment through payment_id (Event.Parent); without it
// the refund stands alone. A refund belongs to one payment: once an
// applied event has named it, an event naming another payment_id is
// conflicting data, rejected (conflict, "names payment B as its parent;
// it belongs to payment A"), and so is its effect on the payment it
// names. Neither payment and not the refund changes; paystate does not
// re-link a refund, since the money a completion reports would then have
// moved on a payment its own events never named.
//
// The refund's amount is refund.initiated's until refund.completed says
// what was refunded: "successfully processed" is the fact, "initiated" was
// the request. A refund.completed for another amount (initiated 3000,
// completed 5000) is applied; the refund aggregate takes 5000, as the
// payment's refunded total does, and the journal entry's reason says
// "amount changed from 3000 to 5000". Rejecting it as a conflict was the
// other reading, and would leave a refund the gateway calls completed
// pending, its money unrecorded on the payment. A refund.completed without
// an amount keeps the initiated one, and completes the refund that was
// initiated for it: its effect on the payment carries that amount (the
// entry says "amount 1000 is refund r2's: the event reported none"), so
// the refund and its payment's refunded total never tell different
// stories. Only when no event reported the refund's amount is the
// payment's refunded total marked not fully known.
//
// A refund.completed that names its payment also yields a second event, on
// the payment, with the refund's amount: the payment's refunded total
// grows, and the amounts decide partially_refunded or refunded. If the
// payment has not completed yet that event is deferred until it does; a
// refund larger than what is left to refund is rejected on the payment
// (the refund aggregate itself still records that the gateway says it
// succeeded, which is exactly the discrepancy an auditor needs to see),
// also when it is a second refund (another refund id) of exactly what was
// already refunded in full; the same refund id reported again is stale.
//
// customer.created and customer.updated have no lifecycle: they come back
// with no kind, RecordOnly set and the customer id as AggregateID, and are
// recorded. A type this package does not know is not an error: it comes
// back as a payment or refund event when its type starts with "payment." or
// "refund." and its object has an id, else with no kind, and the engine
// records it.
//
// # Dedupe key
//
// When the envelope has an id the key is "id:" followed by it: the gateway's
// retries resend the same event id, so a retry is a duplicate, and the same
// id with a different body is a conflict. Without an id the key is
// "sha256:" followed by the hex SHA-256 of the length-prefixed type, object
// id, object status, amount (minor units and currency) and normalized
// created time. The amount is part of the derived key because, without an
// event id, two events of one type on one object in the same second (two
// failed attempts at different amounts) can only be told apart by it; the
// price is that an id-less redelivery whose amount was altered counts as a
// new event rather than a conflict (on a payment it is then stale or
// rejected by the amount rules, so it still cannot move money twice).
// The payment-side event of a refund.completed uses the refund event's key
// with "/payment" appended, since the engine keeps one receipt per key.
package generic
