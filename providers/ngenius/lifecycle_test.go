package ngenius_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/engine/enginetest"
	"github.com/paystate/paystate/providers/ngenius"
	sm "github.com/paystate/paystate/statemachine"
)

// fromSample is the document's own sample payload (testdata/
// sample_captured.json) with nothing stripped: only the event, the
// transaction's id, state and date, the timestamp and the order id are
// set, and a transaction amount added where one is given (amount < 0: none,
// as in the sample).
func fromSample(t *testing.T, orderID, event string, amount int64, n int) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "sample_captured.json"))
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(raw, &doc))
	at := fmt.Sprintf("2024-12-01T13:%02d:%02dZ", n/60, n%60)
	doc["event"], doc["timestamp"] = event, at
	doc["order"].(map[string]any)["id"] = orderID
	tx := doc["transaction"].(map[string]any)
	tx["id"], tx["state"], tx["date"] = fmt.Sprintf("txn789-%d", n), event, at
	if amount >= 0 {
		tx["amount"] = map[string]any{"currencyCode": "AED", "value": amount}
	}
	body, err := json.Marshal(doc)
	require.NoError(t, err)
	return body
}

// TestEveryDocumentedEventAppliesInALifecycle plays plausible lifecycles
// built from the document's sample, in order, and expects every event the
// document lists to be applied at least once where it belongs, with the
// state and totals the document's words imply.
func TestEveryDocumentedEventAppliesInALifecycle(t *testing.T) {
	t.Parallel()
	type ev struct {
		event  string
		amount int64
		state  sm.State
	}
	lifecycles := []struct {
		name  string
		steps []ev
		amts  [3]int64 // authorized, captured, refunded
	}{
		{"card: review, captures in parts, voids, refunds, closing", []ev{
			{"AUTHORISED", -1, sm.Authorized},
			{"POST_AUTH_FRAUD_CHECK_REVIEW", -1, sm.FraudReview},
			{"POST_AUTH_FRAUD_CHECK_ACCEPTED", -1, sm.Authorized},
			{"FULL_AUTH_REVERSAL_FAILED", -1, sm.Authorized},
			{"PARTIAL_CAPTURE_FAILED", -1, sm.Authorized},
			{"CAPTURE_FAILED", -1, sm.Authorized},
			{"PARTIALLY_CAPTURED", 4000, sm.PartiallyCaptured},
			{"CAPTURE_VOID_FAILED", -1, sm.PartiallyCaptured},
			{"CAPTURE_VOIDED", -1, sm.Authorized},
			{"CAPTURED", -1, sm.Captured},
			{"PARTIAL_REFUND_FAILED", -1, sm.Captured},
			{"PARTIALLY_REFUNDED", 2500, sm.PartiallyRefunded},
			{"REFUND_FAILED", -1, sm.PartiallyRefunded},
			{"REFUND_VOID_REQUESTED", -1, sm.PartiallyRefunded},
			{"REFUND_VOID_FAILED", -1, sm.PartiallyRefunded},
			{"REFUND_VOIDED", 2500, sm.Captured},
			{"REFUNDED", -1, sm.Refunded},
			{"ORDER_CLOSED", -1, sm.Refunded},
		}, [3]int64{10000, 10000, 10000}},
		{"attempts declined and failed, then a purchase reversed", []ev{
			{"GATEWAY_RISK_PRE_AUTH_REJECTED", -1, sm.Declined},
			{"PRE_AUTH_FRAUD_CHECK_REJECTED", -1, sm.Declined},
			{"DECLINED", -1, sm.Declined},
			{"AUTHORISATION_FAILED", -1, sm.Failed},
			{"PURCHASE_DECLINED", -1, sm.Declined},
			{"PURCHASE_FAILED", -1, sm.Failed},
			{"PURCHASED", -1, sm.Captured},
			{"PURCHASE_REVERSAL_FAILED", -1, sm.Captured},
			{"PURCHASE_REVERSED", -1, sm.Voided},
		}, [3]int64{10000, 0, 0}},
		{"APM: accepted, refund requests, cancelled", []ev{
			{"APM_PAYMENT_ACCEPTED", -1, sm.Captured},
			{"REFUND_REQUESTED", -1, sm.Captured},
			{"REFUND_REQUEST_FAILED", -1, sm.Captured},
			{"PARTIAL_REFUND_REQUESTED", -1, sm.Captured},
			{"PARTIAL_REFUND_REQUEST_FAILED", -1, sm.Captured},
			{"CANCELLATION_REQUESTED", -1, sm.Captured},
			{"CANCELLATION_FAILED", -1, sm.Captured},
			{"CANCELLED", -1, sm.Cancelled},
		}, [3]int64{10000, 0, 0}},
		{"post-authorisation fraud rejection reversed", []ev{
			{"AUTHORISED", -1, sm.Authorized},
			{"POST_AUTH_FRAUD_CHECK_REVIEW", -1, sm.FraudReview},
			{"POST_AUTH_FRAUD_CHECK_REJECTED", -1, sm.Declined},
			{"FULL_AUTH_REVERSED", -1, sm.Voided},
		}, [3]int64{10000, 0, 0}},
	}
	var used []string
	for _, lc := range lifecycles {
		for _, s := range lc.steps {
			used = append(used, s.event)
		}
	}
	m, err := sm.Build(ngenius.New(ngenius.Config{}).Tables()[0])
	require.NoError(t, err)
	for _, e := range m.Events() {
		require.Contains(t, used, e, "a lifecycle plays every documented event")
	}
	for _, lc := range lifecycles {
		t.Run(lc.name, func(t *testing.T) {
			t.Parallel()
			h := enginetest.New(t, ngenius.New(ngenius.Config{}))
			for i, s := range lc.steps {
				o := h.DeliverOne(fromSample(t, "abc123xyz", s.event, s.amount, i))
				require.Equal(t, sm.VerdictApplied, o.Verdict, "step %d %s: %s", i+1, s.event, o.Reason)
				require.Equal(t, string(s.state), o.StateAfter, "step %d %s", i+1, s.event)
			}
			a := h.Aggregate(sm.KindPayment, "abc123xyz")
			require.Equal(t, lc.amts, [3]int64{a.Authorized, a.Captured, a.Refunded})
			require.Equal(t, "AED", a.Currency)
			require.Equal(t, "ORD-123456", a.MerchantReference)
			require.Equal(t, int64(len(lc.steps)), a.Version)
			require.Equal(t, lc.steps[len(lc.steps)-1].event, a.ProviderStatus)
			h.Verify()
		})
	}
}
