package ngenius_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/engine/enginetest"
	"github.com/paystate/paystate/providers/ngenius"
	sm "github.com/paystate/paystate/statemachine"
)

// webhook builds a body in the documented shape. amount < 0 leaves
// transaction.amount out.
func webhook(orderID, event string, orderAmount, amount int64, at string) []byte {
	tx := map[string]any{"id": "txn-" + event + "-" + at, "state": event, "date": at}
	if amount >= 0 {
		tx["amount"] = map[string]any{"currencyCode": "AED", "value": amount}
	}
	body, err := json.Marshal(map[string]any{
		"event": event,
		"order": map[string]any{
			"reference": "REF-" + orderID,
			"id":        orderID,
			"amount":    map[string]any{"currencyCode": "AED", "value": orderAmount},
		},
		"transaction": tx,
		"timestamp":   at,
	})
	if err != nil {
		panic(err)
	}
	return body
}

type step struct {
	event   string
	amount  int64 // transaction amount; -1 for none
	verdict sm.Verdict
	code    string // reason prefix, for rejections and deferrals
	state   sm.State
}

func TestSequences(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		steps []step
		final sm.State
		amts  [3]int64 // authorized, captured, refunded
	}{
		{"authorise, capture, refund in part then in full", []step{
			{"AUTHORISED", -1, sm.VerdictApplied, "", sm.Authorized},
			{"CAPTURED", -1, sm.VerdictApplied, "", sm.Captured},
			{"PARTIALLY_REFUNDED", 2500, sm.VerdictApplied, "", sm.PartiallyRefunded},
			{"REFUNDED", -1, sm.VerdictApplied, "", sm.Refunded},
		}, sm.Refunded, [3]int64{10000, 10000, 10000}},
		{"fraud review, rejected, authorisation reversed", []step{
			{"AUTHORISED", -1, sm.VerdictApplied, "", sm.Authorized},
			{"POST_AUTH_FRAUD_CHECK_REVIEW", -1, sm.VerdictApplied, "", sm.FraudReview},
			{"POST_AUTH_FRAUD_CHECK_REJECTED", -1, sm.VerdictApplied, "", sm.Declined},
			{"FULL_AUTH_REVERSED", -1, sm.VerdictApplied, "", sm.Voided},
		}, sm.Voided, [3]int64{10000, 0, 0}},
		{"fraud review reversed directly", []step{
			{"AUTHORISED", -1, sm.VerdictApplied, "", sm.Authorized},
			{"POST_AUTH_FRAUD_CHECK_REVIEW", -1, sm.VerdictApplied, "", sm.FraudReview},
			{"FULL_AUTH_REVERSED", -1, sm.VerdictApplied, "", sm.Voided},
		}, sm.Voided, [3]int64{10000, 0, 0}},
		{"fraud review accepted, then captured", []step{
			{"AUTHORISED", -1, sm.VerdictApplied, "", sm.Authorized},
			{"POST_AUTH_FRAUD_CHECK_REVIEW", -1, sm.VerdictApplied, "", sm.FraudReview},
			{"CAPTURED", -1, sm.VerdictDeferred, "early", sm.FraudReview},
			{"POST_AUTH_FRAUD_CHECK_ACCEPTED", -1, sm.VerdictApplied, "", sm.Authorized},
		}, sm.Captured, [3]int64{10000, 10000, 0}},
		{"capture before authorisation is deferred, then applied", []step{
			{"CAPTURED", -1, sm.VerdictDeferred, "early", sm.StateNew},
			{"AUTHORISED", -1, sm.VerdictApplied, "", sm.Authorized},
		}, sm.Captured, [3]int64{10000, 10000, 0}},
		{"late authorisation after capture is stale", []step{
			{"AUTHORISED", -1, sm.VerdictApplied, "", sm.Authorized},
			{"CAPTURED", -1, sm.VerdictApplied, "", sm.Captured},
			{"AUTHORISED", -1, sm.VerdictRejected, "stale", sm.Captured},
		}, sm.Captured, [3]int64{10000, 10000, 0}},
		{"refund larger than captured", []step{
			{"AUTHORISED", -1, sm.VerdictApplied, "", sm.Authorized},
			{"PARTIALLY_CAPTURED", 4000, sm.VerdictApplied, "", sm.PartiallyCaptured},
			{"PARTIALLY_REFUNDED", 5000, sm.VerdictRejected, "amount", sm.PartiallyCaptured},
		}, sm.PartiallyCaptured, [3]int64{10000, 4000, 0}},
		{"partial captures add up to a full capture", []step{
			{"AUTHORISED", -1, sm.VerdictApplied, "", sm.Authorized},
			{"PARTIALLY_CAPTURED", 6000, sm.VerdictApplied, "", sm.PartiallyCaptured},
			{"PARTIALLY_CAPTURED", 4000, sm.VerdictApplied, "", sm.Captured},
		}, sm.Captured, [3]int64{10000, 10000, 0}},
		{"a partial capture after a partial refund adds to the capture", []step{
			{"AUTHORISED", -1, sm.VerdictApplied, "", sm.Authorized},
			{"PARTIALLY_CAPTURED", 4000, sm.VerdictApplied, "", sm.PartiallyCaptured},
			{"PARTIALLY_REFUNDED", 1000, sm.VerdictApplied, "", sm.PartiallyRefunded},
			{"PARTIALLY_CAPTURED", 6000, sm.VerdictApplied, "", sm.PartiallyRefunded},
			{"PARTIALLY_CAPTURED", 1, sm.VerdictRejected, "amount", sm.PartiallyRefunded},
			{"REFUNDED", -1, sm.VerdictApplied, "", sm.Refunded},
		}, sm.Refunded, [3]int64{10000, 10000, 10000}},
		{"a partial capture after the first capture was refunded in full", []step{
			{"AUTHORISED", -1, sm.VerdictApplied, "", sm.Authorized},
			{"PARTIALLY_CAPTURED", 4000, sm.VerdictApplied, "", sm.PartiallyCaptured},
			{"REFUNDED", -1, sm.VerdictApplied, "", sm.Refunded},
			{"PARTIALLY_CAPTURED", 3000, sm.VerdictApplied, "", sm.PartiallyRefunded},
			{"PARTIALLY_REFUNDED", 3000, sm.VerdictApplied, "", sm.Refunded},
			// A late AUTHORISED is still behind, not held.
			{"AUTHORISED", -1, sm.VerdictRejected, "stale", sm.Refunded},
		}, sm.Refunded, [3]int64{10000, 7000, 7000}},
		{"the second partial capture overtaken by a refund of the first", []step{
			{"AUTHORISED", -1, sm.VerdictApplied, "", sm.Authorized},
			{"PARTIALLY_CAPTURED", 5000, sm.VerdictApplied, "", sm.PartiallyCaptured},
			{"PARTIALLY_REFUNDED", 5000, sm.VerdictApplied, "", sm.Refunded},
			{"PARTIALLY_CAPTURED", 5000, sm.VerdictApplied, "", sm.PartiallyRefunded},
			{"ORDER_CLOSED", -1, sm.VerdictApplied, "", sm.PartiallyRefunded},
		}, sm.PartiallyRefunded, [3]int64{10000, 10000, 5000}},
		// Capture rows from partially_refunded make that state a source of
		// PARTIALLY_CAPTURED, and it lies ahead of captured; still, a
		// payment captured in full never has room for another capture
		// (refunds do not give it back), so a late partial capture there is
		// not held for a refund: stale, or amount when it says more than the
		// total; one that fits in the total is a part the full CAPTURED
		// (which took "the rest") completed, applied inside it (Rules 10).
		{"a partial capture on a payment captured in full is not held", []step{
			{"AUTHORISED", -1, sm.VerdictApplied, "", sm.Authorized},
			{"CAPTURED", -1, sm.VerdictApplied, "", sm.Captured},
			{"PARTIALLY_CAPTURED", 12000, sm.VerdictRejected, "amount", sm.Captured},
			{"PARTIALLY_CAPTURED", 4000, sm.VerdictApplied, "", sm.Captured},
			{"PARTIALLY_CAPTURED", -1, sm.VerdictRejected, "stale", sm.Captured},
			{"PARTIAL_CAPTURE_FAILED", -1, sm.VerdictRejected, "stale", sm.Captured},
			{"PARTIALLY_REFUNDED", 1000, sm.VerdictApplied, "", sm.PartiallyRefunded},
		}, sm.PartiallyRefunded, [3]int64{10000, 10000, 1000}},
		{"capture voided returns to authorised", []step{
			{"AUTHORISED", -1, sm.VerdictApplied, "", sm.Authorized},
			{"CAPTURED", -1, sm.VerdictApplied, "", sm.Captured},
			{"CAPTURE_VOIDED", -1, sm.VerdictApplied, "", sm.Authorized},
		}, sm.Authorized, [3]int64{10000, 0, 0}},
		{"refund voided", []step{
			{"PURCHASED", -1, sm.VerdictApplied, "", sm.Captured},
			{"REFUND_REQUESTED", -1, sm.VerdictApplied, "", sm.Captured},
			{"REFUNDED", -1, sm.VerdictApplied, "", sm.Refunded},
			{"REFUND_VOIDED", -1, sm.VerdictApplied, "", sm.Captured},
		}, sm.Captured, [3]int64{10000, 10000, 0}},
		{"failures leave the state alone", []step{
			{"AUTHORISED", -1, sm.VerdictApplied, "", sm.Authorized},
			{"CAPTURE_FAILED", -1, sm.VerdictApplied, "", sm.Authorized},
			{"FULL_AUTH_REVERSAL_FAILED", -1, sm.VerdictApplied, "", sm.Authorized},
			{"PARTIAL_CAPTURE_FAILED", -1, sm.VerdictApplied, "", sm.Authorized},
		}, sm.Authorized, [3]int64{10000, 0, 0}},
		{"APM accepted then cancelled: the money goes back", []step{
			{"APM_PAYMENT_ACCEPTED", -1, sm.VerdictApplied, "", sm.Captured},
			{"CANCELLATION_REQUESTED", -1, sm.VerdictApplied, "", sm.Captured},
			{"CANCELLED", -1, sm.VerdictApplied, "", sm.Cancelled},
			{"CAPTURED", -1, sm.VerdictRejected, "stale", sm.Cancelled},
		}, sm.Cancelled, [3]int64{10000, 0, 0}},
		{"APM payment cancelled before the APM accepted it: no money moved", []step{
			{"CANCELLATION_REQUESTED", -1, sm.VerdictApplied, "", sm.Pending},
			{"CANCELLED", -1, sm.VerdictApplied, "", sm.Cancelled},
			{"APM_PAYMENT_ACCEPTED", -1, sm.VerdictRejected, "stale", sm.Cancelled},
		}, sm.Cancelled, [3]int64{0, 0, 0}},
		{"APM payment cancelled, the only event of its order", []step{
			{"CANCELLED", -1, sm.VerdictApplied, "", sm.Cancelled},
		}, sm.Cancelled, [3]int64{0, 0, 0}},
		{"APM cancellation failed, then the APM accepts the payment", []step{
			{"CANCELLATION_REQUESTED", -1, sm.VerdictApplied, "", sm.Pending},
			{"CANCELLATION_FAILED", -1, sm.VerdictApplied, "", sm.Pending},
			{"APM_PAYMENT_ACCEPTED", -1, sm.VerdictApplied, "", sm.Captured},
		}, sm.Captured, [3]int64{10000, 10000, 0}},
		{"APM cancellation failed, reported alone", []step{
			{"CANCELLATION_FAILED", -1, sm.VerdictApplied, "", sm.Pending},
		}, sm.Pending, [3]int64{0, 0, 0}},
		{"a card attempt declined, then an APM attempt cancelled", []step{
			{"DECLINED", -1, sm.VerdictApplied, "", sm.Declined},
			{"CANCELLATION_REQUESTED", -1, sm.VerdictApplied, "", sm.Declined},
			{"CANCELLED", -1, sm.VerdictApplied, "", sm.Cancelled},
		}, sm.Cancelled, [3]int64{0, 0, 0}},
		{"APM payment refunded in part, then in full", []step{
			{"APM_PAYMENT_ACCEPTED", -1, sm.VerdictApplied, "", sm.Captured},
			{"PARTIAL_REFUND_REQUESTED", -1, sm.VerdictApplied, "", sm.Captured},
			{"PARTIALLY_REFUNDED", 4000, sm.VerdictApplied, "", sm.PartiallyRefunded},
			{"REFUND_REQUESTED", -1, sm.VerdictApplied, "", sm.PartiallyRefunded},
			{"REFUNDED", -1, sm.VerdictApplied, "", sm.Refunded},
		}, sm.Refunded, [3]int64{10000, 10000, 10000}},
		{"APM refund requests that fail leave the payment captured", []step{
			{"APM_PAYMENT_ACCEPTED", -1, sm.VerdictApplied, "", sm.Captured},
			{"REFUND_REQUESTED", -1, sm.VerdictApplied, "", sm.Captured},
			{"REFUND_REQUEST_FAILED", -1, sm.VerdictApplied, "", sm.Captured},
			{"PARTIAL_REFUND_REQUEST_FAILED", -1, sm.VerdictApplied, "", sm.Captured},
		}, sm.Captured, [3]int64{10000, 10000, 0}},
		{"purchase reversed", []step{
			{"PURCHASED", -1, sm.VerdictApplied, "", sm.Captured},
			{"PURCHASE_REVERSAL_FAILED", -1, sm.VerdictApplied, "", sm.Captured},
			{"PURCHASE_REVERSED", -1, sm.VerdictApplied, "", sm.Voided},
		}, sm.Voided, [3]int64{10000, 0, 0}},
		{"declined, then closed: closing keeps the state", []step{
			{"DECLINED", -1, sm.VerdictApplied, "", sm.Declined},
			{"ORDER_CLOSED", -1, sm.VerdictApplied, "", sm.Declined},
			{"ORDER_CLOSED", -1, sm.VerdictApplied, "", sm.Declined},
		}, sm.Declined, [3]int64{0, 0, 0}},
		{"refunds and a refund failure reported after closing apply", []step{
			{"AUTHORISED", -1, sm.VerdictApplied, "", sm.Authorized},
			{"CAPTURED", -1, sm.VerdictApplied, "", sm.Captured},
			{"ORDER_CLOSED", -1, sm.VerdictApplied, "", sm.Captured},
			{"PARTIALLY_REFUNDED", 2500, sm.VerdictApplied, "", sm.PartiallyRefunded},
			{"REFUND_FAILED", -1, sm.VerdictApplied, "", sm.PartiallyRefunded},
			{"REFUNDED", -1, sm.VerdictApplied, "", sm.Refunded},
		}, sm.Refunded, [3]int64{10000, 10000, 10000}},
		{"a reversal reported after closing applies", []step{
			{"AUTHORISED", -1, sm.VerdictApplied, "", sm.Authorized},
			{"ORDER_CLOSED", -1, sm.VerdictApplied, "", sm.Authorized},
			{"FULL_AUTH_REVERSED", -1, sm.VerdictApplied, "", sm.Voided},
		}, sm.Voided, [3]int64{10000, 0, 0}},
		{"a capture reported after closing applies", []step{
			{"AUTHORISED", -1, sm.VerdictApplied, "", sm.Authorized},
			{"ORDER_CLOSED", -1, sm.VerdictApplied, "", sm.Authorized},
			{"PARTIALLY_CAPTURED", 4000, sm.VerdictApplied, "", sm.PartiallyCaptured},
		}, sm.PartiallyCaptured, [3]int64{10000, 4000, 0}},
		{"a refund void reported after closing applies", []step{
			{"PURCHASED", -1, sm.VerdictApplied, "", sm.Captured},
			{"REFUNDED", -1, sm.VerdictApplied, "", sm.Refunded},
			{"ORDER_CLOSED", -1, sm.VerdictApplied, "", sm.Refunded},
			{"REFUND_VOIDED", -1, sm.VerdictApplied, "", sm.Captured},
		}, sm.Captured, [3]int64{10000, 10000, 0}},
		{"late failures of an earlier attempt are stale, not held", []step{
			{"DECLINED", -1, sm.VerdictApplied, "", sm.Declined},
			{"AUTHORISED", -1, sm.VerdictApplied, "", sm.Authorized},
			{"DECLINED", -1, sm.VerdictRejected, "stale", sm.Authorized},
			{"AUTHORISATION_FAILED", -1, sm.VerdictRejected, "stale", sm.Authorized},
			{"POST_AUTH_FRAUD_CHECK_REVIEW", -1, sm.VerdictApplied, "", sm.FraudReview},
			{"AUTHORISATION_FAILED", -1, sm.VerdictRejected, "stale", sm.FraudReview},
			{"PURCHASE_DECLINED", -1, sm.VerdictRejected, "stale", sm.FraudReview},
			// Nothing was held for the rejection to release: the order
			// stays declined, not failed.
			{"POST_AUTH_FRAUD_CHECK_REJECTED", -1, sm.VerdictApplied, "", sm.Declined},
		}, sm.Declined, [3]int64{10000, 0, 0}},
		// A fraud rejection takes the successful attempt back, but the
		// authorisation stands until FULL_AUTH_REVERSED: no new attempt is
		// started meanwhile, so an attempt's outcome reported then belongs
		// to an earlier attempt. Applied, it turned the order failed, and
		// the automatic reversal was held for an authorisation that never
		// came and expired.
		{"after a fraud rejection, late outcomes of earlier attempts are stale; the reversal applies", []step{
			{"AUTHORISED", -1, sm.VerdictApplied, "", sm.Authorized},
			{"POST_AUTH_FRAUD_CHECK_REVIEW", -1, sm.VerdictApplied, "", sm.FraudReview},
			{"POST_AUTH_FRAUD_CHECK_REJECTED", -1, sm.VerdictApplied, "", sm.Declined},
			{"AUTHORISATION_FAILED", -1, sm.VerdictRejected, "stale", sm.Declined},
			{"PURCHASE_FAILED", -1, sm.VerdictRejected, "stale", sm.Declined},
			{"DECLINED", -1, sm.VerdictRejected, "stale", sm.Declined},
			{"GATEWAY_RISK_PRE_AUTH_REJECTED", -1, sm.VerdictRejected, "stale", sm.Declined},
			{"PRE_AUTH_FRAUD_CHECK_REJECTED", -1, sm.VerdictRejected, "stale", sm.Declined},
			{"PURCHASE_DECLINED", -1, sm.VerdictRejected, "stale", sm.Declined},
			// Nor does an earlier attempt's success: a purchase, or an APM's
			// payment accepted, would move money on a rejected order.
			{"PURCHASED", 10000, sm.VerdictRejected, "stale", sm.Declined},
			{"APM_PAYMENT_ACCEPTED", 10000, sm.VerdictRejected, "stale", sm.Declined},
			// The authorisation reported again does not undo the rejection.
			{"AUTHORISED", -1, sm.VerdictRejected, "stale", sm.Declined},
			{"FULL_AUTH_REVERSED", -1, sm.VerdictApplied, "", sm.Voided},
			{"AUTHORISATION_FAILED", -1, sm.VerdictRejected, "stale", sm.Voided},
		}, sm.Voided, [3]int64{10000, 0, 0}},
		{"after a fraud rejection whose reversal failed, a late failure is stale", []step{
			{"AUTHORISED", -1, sm.VerdictApplied, "", sm.Authorized},
			{"POST_AUTH_FRAUD_CHECK_REJECTED", -1, sm.VerdictApplied, "", sm.Declined},
			{"FULL_AUTH_REVERSAL_FAILED", -1, sm.VerdictApplied, "", sm.Declined},
			{"AUTHORISATION_FAILED", -1, sm.VerdictRejected, "stale", sm.Declined},
			{"FULL_AUTH_REVERSED", -1, sm.VerdictApplied, "", sm.Voided},
		}, sm.Voided, [3]int64{10000, 0, 0}},
		{"a plain decline leaves room for new attempts", []step{
			{"DECLINED", -1, sm.VerdictApplied, "", sm.Declined},
			{"AUTHORISATION_FAILED", -1, sm.VerdictApplied, "", sm.Failed},
			{"PURCHASE_DECLINED", -1, sm.VerdictApplied, "", sm.Declined},
			{"AUTHORISED", -1, sm.VerdictApplied, "", sm.Authorized},
		}, sm.Authorized, [3]int64{10000, 0, 0}},
		{"a fraud rejection arriving before its review is still held", []step{
			{"AUTHORISED", -1, sm.VerdictApplied, "", sm.Authorized},
			{"POST_AUTH_FRAUD_CHECK_ACCEPTED", -1, sm.VerdictDeferred, "early", sm.Authorized},
			{"POST_AUTH_FRAUD_CHECK_REVIEW", -1, sm.VerdictApplied, "", sm.FraudReview},
		}, sm.Authorized, [3]int64{10000, 0, 0}},
		{"an event N-Genius adds later is recorded", []step{
			{"AUTHORISED", -1, sm.VerdictApplied, "", sm.Authorized},
			{"INSTALMENT_PLAN_CREATED", -1, sm.VerdictRecorded, "unknown_event", sm.Authorized},
		}, sm.Authorized, [3]int64{10000, 0, 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := enginetest.New(t, ngenius.New(ngenius.Config{}))
			for i, s := range tc.steps {
				at := fmt.Sprintf("2025-03-14T12:%02d:00Z", i)
				o := h.DeliverOne(webhook("o-1", s.event, 10000, s.amount, at))
				require.Equal(t, s.verdict, o.Verdict, "step %d %s: %s", i+1, s.event, o.Reason)
				require.Regexp(t, "^"+s.code, o.Reason, "step %d %s", i+1, s.event)
				require.Equal(t, string(s.state), o.StateAfter, "step %d %s", i+1, s.event)
			}
			a := h.Aggregate(sm.KindPayment, "o-1")
			require.Equal(t, string(tc.final), a.State)
			require.Equal(t, tc.amts, [3]int64{a.Authorized, a.Captured, a.Refunded})
			h.Verify()
		})
	}
}

// TestClosingStaysVisible: ORDER_CLOSED does not hide the money state,
// and the order shows it was closed until the next event; the journal
// keeps it either way.
func TestClosingStaysVisible(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, ngenius.New(ngenius.Config{}))
	h.DeliverOne(webhook("o-c", "PURCHASED", 10000, -1, "2025-03-14T12:00:00Z"))
	o := h.DeliverOne(webhook("o-c", "ORDER_CLOSED", 10000, -1, "2025-03-14T12:01:00Z"))
	require.Equal(t, sm.VerdictApplied, o.Verdict, o.Reason)
	a := h.Aggregate(sm.KindPayment, "o-c")
	require.Equal(t, string(sm.Captured), a.State)
	require.Equal(t, "ORDER_CLOSED", a.ProviderStatus)
	require.Equal(t, int64(2), a.Version)
	h.Verify()
}

func TestSameWebhookTwiceIsADuplicate(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, ngenius.New(ngenius.Config{}))
	body := webhook("o-2", "AUTHORISED", 500, -1, "2025-03-14T12:00:00Z")
	require.Equal(t, sm.VerdictApplied, h.DeliverOne(body).Verdict)
	require.Equal(t, sm.VerdictDuplicate, h.DeliverOne(body).Verdict)
	h.Restart()
	require.Equal(t, sm.VerdictDuplicate, h.DeliverOne(body).Verdict, "dedupe survives a restart")
	require.Equal(t, int64(1), h.Aggregate(sm.KindPayment, "o-2").Version)
	h.Verify()
}

// TestEveryDocumentedEventHasAVerdict sends each fixture to a fresh order:
// every one parses and gets a verdict, none crashes.
func TestEveryDocumentedEventHasAVerdict(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, ngenius.New(ngenius.Config{}))
	m := h.Machines.Machine(ngenius.Name, sm.KindPayment)
	for _, ev := range m.Events() {
		o := h.DeliverOne(webhook("fresh-"+ev, ev, 100, -1, "2025-03-14T12:00:00Z"))
		require.NotEqual(t, sm.VerdictRecorded, o.Verdict, ev)
		require.Contains(t, []sm.Verdict{sm.VerdictApplied, sm.VerdictDeferred}, o.Verdict, "%s: %s", ev, o.Reason)
	}
	h.Verify()
}
