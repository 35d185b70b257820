package payengine_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/engine/enginetest"
	"github.com/paystate/paystate/providers/payengine"
	sm "github.com/paystate/paystate/statemachine"
)

// linked is a documented sample (strict JSON, nothing stripped) whose
// ids that name another object (the refunded or disputed transaction) are
// set to the transaction of this lifecycle, and whose event_uid is set
// when uid is not "" (the document's samples share a few uids across
// unrelated events).
func linked(t *testing.T, name, uid string, set map[string]string) []byte {
	t.Helper()
	var doc map[string]any
	require.NoError(t, json.Unmarshal(readFixture(t, name), &doc))
	if uid != "" {
		doc["event_uid"] = uid
	}
	data := doc["data"].(map[string]any)
	for k, v := range set {
		data[k] = v
	}
	body, err := json.Marshal(doc)
	require.NoError(t, err)
	return body
}

// TestDocumentedSamplesAsOneLifecycle walks the document's own samples
// through the lives of the sample transaction: authorised, captured under
// the authorisation's event_uid, a status change recorded, refunded in part
// by a refund that names it, a late void stale, disputed and the dispute
// updated; and, for ACH, a debit and its credit.
func TestDocumentedSamplesAsOneLifecycle(t *testing.T) {
	t.Parallel()
	const txnID = "efa04765-b876-46b9-8c0e-39f30d27eb73"
	const refundID = "415d9e62-1725-41e3-a6c0-1b7cc3153398"
	of := map[string]string{"original_transaction_id": txnID}
	disputed := map[string]string{"transaction_id": txnID}

	t.Run("card", func(t *testing.T) {
		t.Parallel()
		h := enginetest.New(t, payengine.New(payengine.Config{}))
		check(t, "PAYMENT_AUTH", h.Deliver(readFixture(t, "PAYMENT_AUTH.json")), applied(pay, txnID, "authorized"))
		check(t, "PAYMENT_CAPTURED", h.Deliver(readFixture(t, "PAYMENT_CAPTURED.json")), applied(pay, txnID, "captured"))
		check(t, "TRANSACTION_STATUS_CHANGED", h.Deliver(readFixture(t, "TRANSACTION_STATUS_CHANGED.json")),
			want{pay, txnID, sm.VerdictRecorded, "no_lifecycle", "captured"})
		check(t, "PAYMENT_REFUNDED", h.Deliver(linked(t, "PAYMENT_REFUNDED.json", "", of)),
			applied(sm.KindRefund, refundID, "succeeded"), applied(pay, txnID, "partially_refunded"))
		check(t, "PAYMENT_REFUNDED again", h.Deliver(linked(t, "PAYMENT_REFUNDED.json", "", of)),
			want{sm.KindRefund, refundID, sm.VerdictDuplicate, "", "succeeded"}, want{pay, txnID, sm.VerdictDuplicate, "", "partially_refunded"})
		check(t, "PAYMENT_VOIDED after the refund", h.Deliver(readFixture(t, "PAYMENT_VOIDED.json")),
			want{pay, txnID, sm.VerdictRejected, "stale", "partially_refunded"})
		check(t, "DISPUTE_CREATED", h.Deliver(linked(t, "DISPUTE_CREATED.json", "", disputed)), applied(sm.KindChargeback, txnID, "open"))
		check(t, "DISPUTE_INFORMATION_UPDATED", h.Deliver(linked(t, "DISPUTE_INFORMATION_UPDATED.json", "", disputed)),
			applied(sm.KindChargeback, txnID, "in_dispute"))
		a := h.Aggregate(pay, txnID)
		require.EqualValues(t, [3]int64{7548, 7548, 1000}, [3]int64{a.Authorized, a.Captured, a.Refunded})
		require.Equal(t, "USD", a.Currency)
		r := h.Aggregate(sm.KindRefund, refundID)
		require.EqualValues(t, 1000, r.Amount)
		require.Equal(t, string(pay), r.Parent.Kind)
		require.Equal(t, txnID, r.Parent.ID)
		c := h.Aggregate(sm.KindChargeback, txnID)
		require.Equal(t, txnID, c.Parent.ID)
		h.Verify()
	})
	t.Run("ACH", func(t *testing.T) {
		t.Parallel()
		h := enginetest.New(t, payengine.New(payengine.Config{}))
		check(t, "ACH_CREDIT_ISSUED before its debit", h.Deliver(linked(t, "ACH_CREDIT_ISSUED.json", "", of)),
			applied(sm.KindRefund, refundID, "succeeded"), want{pay, txnID, sm.VerdictDeferred, "early", "new"})
		out := h.Deliver(readFixture(t, "PAYMENT_ACH.json"))
		check(t, "PAYMENT_ACH", out, applied(pay, txnID, "captured"))
		require.Len(t, out[0].Resolved, 1)
		require.Equal(t, "partially_refunded", out[0].Resolved[0].StateAfter)
		a := h.Aggregate(pay, txnID)
		require.EqualValues(t, [3]int64{7548, 7548, 1000}, [3]int64{a.Authorized, a.Captured, a.Refunded})
		h.Verify()
	})
	t.Run("sale voided after a failed void", func(t *testing.T) {
		t.Parallel()
		h := enginetest.New(t, payengine.New(payengine.Config{}))
		check(t, "PAYMENT_SALE", h.Deliver(readFixture(t, "PAYMENT_SALE.json")), applied(pay, txnID, "captured"))
		check(t, "PAYMENT_VOIDED_FAILED", h.Deliver(readFixture(t, "PAYMENT_VOIDED_FAILED.json")), applied(pay, txnID, "captured"))
		check(t, "PAYMENT_VOIDED", h.Deliver(readFixture(t, "PAYMENT_VOIDED.json")), applied(pay, txnID, "voided"))
		a := h.Aggregate(pay, txnID)
		require.EqualValues(t, [3]int64{7548, 0, 0}, [3]int64{a.Authorized, a.Captured, a.Refunded})
		h.Verify()
	})
}
