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
package ngenius
