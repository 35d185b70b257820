package payengine_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/engine"
	"github.com/paystate/paystate/engine/enginetest"
	"github.com/paystate/paystate/providers/payengine"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
)

// webhook builds a body in the documented envelope.
func webhook(uid, event string, data map[string]any) []byte {
	b, err := json.Marshal(map[string]any{"event_uid": uid, "event": event, "data": data})
	if err != nil {
		panic(err)
	}
	return b
}

// answer is a processor response; amount "" leaves the amounts out.
func answer(status, amount string) map[string]any {
	r := map[string]any{"status": status, "responseCode": "A0000", "responseMessage": "Success"}
	if status == "FAIL" {
		r["responseCode"], r["responseMessage"] = "D2005", "Invalid Card"
	}
	if amount != "" {
		r["totalAmount"], r["transactionAmount"], r["processedAmount"] = amount, amount, amount
	}
	return r
}

// txn is a transaction webhook; responseField names the response object.
func txn(uid, event, id, responseField, status, amount string) []byte {
	data := map[string]any{"transaction_id": id, "payment_id": "p-" + id, "merchant_id": "m-1", "description": "test"}
	if responseField != "" {
		data[responseField] = answer(status, amount)
	}
	return webhook(uid, event, data)
}

func auth(uid, id, amount string) []byte {
	return txn(uid, "PAYMENT_AUTH", id, "auth_response", "PASS", amount)
}
func authFail(uid, id string) []byte {
	return txn(uid, "PAYMENT_AUTH", id, "auth_response", "FAIL", "")
}
func capture(uid, id, amount string) []byte {
	return txn(uid, "PAYMENT_CAPTURED", id, "sale_response", "PASS", amount)
}
func sale(uid, id, amount string) []byte {
	return txn(uid, "PAYMENT_SALE", id, "sale_response", "PASS", amount)
}
func void(uid, id string) []byte {
	return txn(uid, "PAYMENT_VOIDED", id, "sale_response", "PASS", "75.48")
}

// refund is a PAYMENT_REFUNDED (or ACH_CREDIT_ISSUED) of refundID against
// the payment of.
func refund(uid, event, refundID, of, status, amount string) []byte {
	r := map[string]any{"status": status, "responseCode": "A0000", "responseMessage": "Success"}
	if amount != "" {
		r["returnedAmount"] = amount
	}
	data := map[string]any{"account_id": "a-1", "transaction_id": refundID, "return_response": r}
	if of != "" {
		data["original_transaction_id"] = of
	}
	return webhook(uid, event, data)
}

// want is the expected outcome of one event of a delivery.
type want struct {
	kind    sm.Kind
	id      string
	verdict sm.Verdict
	code    string // reason prefix
	state   string
}

func applied(kind sm.Kind, id, state string) want {
	return want{kind, id, sm.VerdictApplied, "", state}
}

func check(t *testing.T, step string, out []engine.Outcome, wants ...want) {
	t.Helper()
	require.Len(t, out, len(wants), step)
	for i, w := range wants {
		o := out[i]
		require.Equal(t, string(w.kind), o.Key.Kind, "%s: event %d kind", step, i)
		require.Equal(t, w.id, o.Key.ID, "%s: event %d id", step, i)
		require.Equal(t, w.verdict, o.Verdict, "%s: event %d %s: %s", step, i, o.Event, o.Reason)
		require.Regexp(t, "^"+w.code, o.Reason, "%s: event %d", step, i)
		require.Equal(t, w.state, o.StateAfter, "%s: event %d", step, i)
	}
}

type step struct {
	name  string
	body  []byte
	wants []want
}

const pay = sm.KindPayment

func TestPaymentSequences(t *testing.T) {
	t.Parallel()
	type amounts [3]int64 // authorized, captured, refunded
	cases := []struct {
		name  string
		steps []step
		final string
		amts  amounts
	}{
		{"auth, capture, partial refund, refund of the rest", []step{
			{"auth", auth("e1", "t1", "75.48"), []want{applied(pay, "t1", "authorized")}},
			{"capture", capture("e2", "t1", "75.48"), []want{applied(pay, "t1", "captured")}},
			{"refund 10.00", refund("e3", "PAYMENT_REFUNDED", "r1", "t1", "PASS", "10.00"), []want{
				applied(sm.KindRefund, "r1", "succeeded"), applied(pay, "t1", "partially_refunded")}},
			{"refund 65.48", refund("e4", "PAYMENT_REFUNDED", "r2", "t1", "PASS", "65.48"), []want{
				applied(sm.KindRefund, "r2", "succeeded"), applied(pay, "t1", "refunded")}},
			{"nothing left to refund", refund("e5", "PAYMENT_REFUNDED", "r3", "t1", "PASS", "0.01"), []want{
				applied(sm.KindRefund, "r3", "succeeded"), {pay, "t1", sm.VerdictRejected, "amount: refunded 7549 would exceed captured 7548", "refunded"}}},
		}, "refunded", amounts{7548, 7548, 7548}},

		{"the capture reported again under another event_uid is stale, not more money", []step{
			{"auth", auth("e1", "t1", "75.48"), []want{applied(pay, "t1", "authorized")}},
			{"capture", capture("e2", "t1", "75.48"), []want{applied(pay, "t1", "captured")}},
			{"the capture again", capture("e3", "t1", "75.48"), []want{{pay, "t1", sm.VerdictRejected, "stale", "captured"}}},
			{"a capture beyond it", capture("e4", "t1", "1.00"), []want{{pay, "t1", sm.VerdictRejected, "amount", "captured"}}},
		}, "captured", amounts{7548, 7548, 0}},

		// The authorization is captured in parts, and a refund of the
		// first part may land before the next part is captured: the
		// capture is decided by the amounts, as without the refund.
		{"the rest of the authorization captured after a refund of the first capture", []step{
			{"auth", auth("e1", "t1", "100.00"), []want{applied(pay, "t1", "authorized")}},
			{"capture 60", capture("e2", "t1", "60.00"), []want{applied(pay, "t1", "partially_captured")}},
			{"refund 10", refund("e3", "PAYMENT_REFUNDED", "r1", "t1", "PASS", "10.00"), []want{
				applied(sm.KindRefund, "r1", "succeeded"), applied(pay, "t1", "partially_refunded")}},
			{"capture the rest", capture("e4", "t1", "40.00"), []want{applied(pay, "t1", "partially_refunded")}},
			{"the whole capture again", capture("e5", "t1", "100.00"), []want{{pay, "t1", sm.VerdictRejected, "stale", "partially_refunded"}}},
			{"a capture beyond it", capture("e6", "t1", "1.00"), []want{
				{pay, "t1", sm.VerdictRejected, "amount: captured 10100 would exceed authorized 10000", "partially_refunded"}}},
		}, "partially_refunded", amounts{10000, 10000, 1000}},

		{"the rest captured after the first capture was refunded in full", []step{
			{"auth", auth("e1", "t1", "100.00"), []want{applied(pay, "t1", "authorized")}},
			{"capture 60", capture("e2", "t1", "60.00"), []want{applied(pay, "t1", "partially_captured")}},
			{"refund 60", refund("e3", "PAYMENT_REFUNDED", "r1", "t1", "PASS", "60.00"), []want{
				applied(sm.KindRefund, "r1", "succeeded"), applied(pay, "t1", "refunded")}},
			{"more than is left", capture("e4", "t1", "40.01"), []want{
				{pay, "t1", sm.VerdictRejected, "amount: captured 10001 would exceed authorized 10000", "refunded"}}},
			{"capture the rest", capture("e5", "t1", "40.00"), []want{applied(pay, "t1", "partially_refunded")}},
		}, "partially_refunded", amounts{10000, 10000, 6000}},

		{"a capture in full reported again after a refund is stale, as without the refund", []step{
			{"auth", auth("e1", "t1", "75.48"), []want{applied(pay, "t1", "authorized")}},
			{"capture", capture("e2", "t1", "75.48"), []want{applied(pay, "t1", "captured")}},
			{"refund", refund("e3", "PAYMENT_REFUNDED", "r1", "t1", "PASS", "75.48"), []want{
				applied(sm.KindRefund, "r1", "succeeded"), applied(pay, "t1", "refunded")}},
			{"the capture again", capture("e4", "t1", "75.48"), []want{{pay, "t1", sm.VerdictRejected, "stale", "refunded"}}},
			{"a capture beyond it", capture("e5", "t1", "1.00"), []want{{pay, "t1", sm.VerdictRejected, "amount", "refunded"}}},
		}, "refunded", amounts{7548, 7548, 7548}},

		{"an authorization of 0.00 is a limit: a capture above it is amount", []step{
			{"auth 0.00", auth("e1", "t1", "0.00"), []want{applied(pay, "t1", "authorized")}},
			{"capture 10.00", capture("e2", "t1", "10.00"), []want{
				{pay, "t1", sm.VerdictRejected, "amount: captured 1000 would exceed authorized 0", "authorized"}}},
		}, "authorized", amounts{0, 0, 0}},

		{"capture before auth is deferred, then applied", []step{
			{"capture", capture("e1", "t1", "75.48"), []want{{pay, "t1", sm.VerdictDeferred, "early", "new"}}},
			{"auth", auth("e2", "t1", "75.48"), []want{applied(pay, "t1", "authorized")}},
		}, "captured", amounts{7548, 7548, 0}},

		{"refund before the sale is deferred on the payment", []step{
			{"refund", refund("e1", "PAYMENT_REFUNDED", "r1", "t1", "PASS", "5.00"), []want{
				applied(sm.KindRefund, "r1", "succeeded"), {pay, "t1", sm.VerdictDeferred, "early", "new"}}},
			{"sale", sale("e2", "t1", "20.00"), []want{applied(pay, "t1", "captured")}},
		}, "partially_refunded", amounts{2000, 2000, 500}},

		{"refund over the captured amount: recorded on the refund, rejected on the payment", []step{
			{"auth", auth("e1", "t1", "75.48"), []want{applied(pay, "t1", "authorized")}},
			{"partial capture", capture("e2", "t1", "50.00"), []want{applied(pay, "t1", "partially_captured")}},
			{"refund 60.00", refund("e3", "PAYMENT_REFUNDED", "r1", "t1", "PASS", "60.00"), []want{
				applied(sm.KindRefund, "r1", "succeeded"), {pay, "t1", sm.VerdictRejected, "amount", "partially_captured"}}},
			{"refund 50.00 fits", refund("e4", "PAYMENT_REFUNDED", "r2", "t1", "PASS", "50.00"), []want{
				applied(sm.KindRefund, "r2", "succeeded"), applied(pay, "t1", "refunded")}},
		}, "refunded", amounts{7548, 5000, 5000}},

		{"second refund would exceed the sale", []step{
			{"sale", sale("e1", "t1", "75.48"), []want{applied(pay, "t1", "captured")}},
			{"refund 70.00", refund("e2", "PAYMENT_REFUNDED", "r1", "t1", "PASS", "70.00"), []want{
				applied(sm.KindRefund, "r1", "succeeded"), applied(pay, "t1", "partially_refunded")}},
			{"refund 10.00", refund("e3", "PAYMENT_REFUNDED", "r2", "t1", "PASS", "10.00"), []want{
				applied(sm.KindRefund, "r2", "succeeded"), {pay, "t1", sm.VerdictRejected, "amount", "partially_refunded"}}},
		}, "partially_refunded", amounts{7548, 7548, 7000}},

		{"failed refund leaves the payment alone", []step{
			{"sale", sale("e1", "t1", "75.48"), []want{applied(pay, "t1", "captured")}},
			{"refund FAIL", refund("e2", "PAYMENT_REFUNDED", "r1", "t1", "FAIL", "10.00"), []want{applied(sm.KindRefund, "r1", "failed")}},
			{"refund retried, PASS", refund("e3", "PAYMENT_REFUNDED", "r1", "t1", "PASS", "10.00"), []want{
				applied(sm.KindRefund, "r1", "succeeded"), applied(pay, "t1", "partially_refunded")}},
		}, "partially_refunded", amounts{7548, 7548, 1000}},

		{"ACH sale and ACH credit", []step{
			{"ach", txn("e1", "PAYMENT_ACH", "t1", "ach_response", "PASS", "75.48"), []want{applied(pay, "t1", "captured")}},
			{"credit", refund("e2", "ACH_CREDIT_ISSUED", "r1", "t1", "PASS", "75.48"), []want{
				applied(sm.KindRefund, "r1", "succeeded"), applied(pay, "t1", "refunded")}},
		}, "refunded", amounts{7548, 7548, 7548}},

		{"late auth after capture is stale", []step{
			{"auth", auth("e1", "t1", "75.48"), []want{applied(pay, "t1", "authorized")}},
			{"capture", capture("e2", "t1", "75.48"), []want{applied(pay, "t1", "captured")}},
			{"auth again", auth("e3", "t1", "75.48"), []want{{pay, "t1", sm.VerdictRejected, "stale", "captured"}}},
		}, "captured", amounts{7548, 7548, 0}},

		{"capture larger than the authorization", []step{
			{"auth", auth("e1", "t1", "50.00"), []want{applied(pay, "t1", "authorized")}},
			{"capture", capture("e2", "t1", "75.48"), []want{{pay, "t1", sm.VerdictRejected, "amount", "authorized"}}},
		}, "authorized", amounts{5000, 0, 0}},

		{"auth voided; a late capture is stale", []step{
			{"auth", auth("e1", "t1", "75.48"), []want{applied(pay, "t1", "authorized")}},
			{"void failed", txn("e2", "PAYMENT_VOIDED_FAILED", "t1", "auth_response", "FAIL", ""), []want{applied(pay, "t1", "authorized")}},
			{"void", void("e3", "t1"), []want{applied(pay, "t1", "voided")}},
			{"capture", capture("e4", "t1", "75.48"), []want{{pay, "t1", sm.VerdictRejected, "stale", "voided"}}},
		}, "voided", amounts{7548, 0, 0}},

		// The document's void carries the transaction's sale_response,
		// no amount of its own. After a capture of part of the
		// authorization it voids what is still authorized: the rest is
		// released, the capture stays and can be refunded. Read as a void
		// of every capture it zeroed money PayEngine reported captured.
		{"a void after a partial capture releases the rest; the capture stays", []step{
			{"auth", auth("e1", "t1", "75.48"), []want{applied(pay, "t1", "authorized")}},
			{"capture 30.00", capture("e2", "t1", "30.00"), []want{applied(pay, "t1", "partially_captured")}},
			{"void", void("e3", "t1"), []want{applied(pay, "t1", "captured")}},
			{"the rest captured after the void is more than is authorized", capture("e4", "t1", "45.48"), []want{
				{pay, "t1", sm.VerdictRejected, "amount: captured 7548 would exceed authorized 3000", "captured"}}},
			{"refund of the capture", refund("e5", "PAYMENT_REFUNDED", "r1", "t1", "PASS", "30.00"), []want{
				applied(sm.KindRefund, "r1", "succeeded"), applied(pay, "t1", "refunded")}},
		}, "refunded", amounts{3000, 3000, 3000}},

		{"sale voided before settlement", []step{
			{"sale", sale("e1", "t1", "75.48"), []want{applied(pay, "t1", "captured")}},
			{"void", void("e2", "t1"), []want{applied(pay, "t1", "voided")}},
		}, "voided", amounts{7548, 0, 0}},

		{"capture failed leaves the authorization", []step{
			{"auth", auth("e1", "t1", "75.48"), []want{applied(pay, "t1", "authorized")}},
			{"capture FAIL", txn("e2", "PAYMENT_CAPTURED", "t1", "sale_response", "FAIL", ""), []want{applied(pay, "t1", "authorized")}},
		}, "authorized", amounts{7548, 0, 0}},

		{"declined, then authorized on a retry of the same transaction", []step{
			{"auth FAIL", authFail("e1", "t1"), []want{applied(pay, "t1", "declined")}},
			{"auth PASS", auth("e2", "t1", "75.48"), []want{applied(pay, "t1", "authorized")}},
			{"a late FAIL is stale", authFail("e3", "t1"), []want{{pay, "t1", sm.VerdictRejected, "stale", "authorized"}}},
		}, "authorized", amounts{7548, 0, 0}},

		{"sale failed, device sale cancelled", []step{
			{"failed", txn("e1", "PAYMENT_FAILED", "t1", "sale_response", "FAIL", ""), []want{applied(pay, "t1", "failed")}},
			{"cancel", txn("e2", "DEVICE_SALE_CANCEL", "t1", "sale_response", "FAIL", ""), []want{applied(pay, "t1", "cancelled")}},
		}, "cancelled", amounts{0, 0, 0}},

		// A cancelled device sale that is then reported sold: the sale
		// cannot have come first (nothing leads from captured to
		// cancelled), so it is the newer outcome and money moved, as after
		// a decline or a failure.
		{"device sale cancelled, then the sale completed", []step{
			{"cancel", txn("e1", "DEVICE_SALE_CANCEL", "t1", "sale_response", "FAIL", ""), []want{applied(pay, "t1", "cancelled")}},
			{"sale", sale("e2", "t1", "75.48"), []want{applied(pay, "t1", "captured")}},
			{"the cancel again is stale", txn("e3", "DEVICE_SALE_CANCEL", "t1", "sale_response", "FAIL", ""), []want{{pay, "t1", sm.VerdictRejected, "stale", "captured"}}},
		}, "captured", amounts{7548, 7548, 0}},

		{"status change is recorded on the transaction", []step{
			{"sale", sale("e1", "t1", "75.48"), []want{applied(pay, "t1", "captured")}},
			{"status changed", txn("e2", "TRANSACTION_STATUS_CHANGED", "t1", "sale_response", "PASS", "75.48"), []want{
				{pay, "t1", sm.VerdictRecorded, "no_lifecycle", "captured"}}},
			{"unknown outcome", txn("e3", "PAYMENT_SALE", "t1", "sale_response", "PENDING", "75.48"), []want{
				{pay, "t1", sm.VerdictRecorded, "unknown_event", "captured"}}},
		}, "captured", amounts{7548, 7548, 0}},

		// The sale's amount is unknown (amounts not fully known): a refund
		// proves a capture of at least its amount instead of being
		// rejected for it (TestOfflineSaleWithoutAmount).
		{"offline sale without amount: a refund with one proves the capture", []step{
			{"offline sale", txn("e1", "OFFLINE_SALE", "t1", "", "", ""), []want{applied(pay, "t1", "captured")}},
			{"refund", refund("e2", "PAYMENT_REFUNDED", "r1", "t1", "PASS", "1.00"), []want{
				applied(sm.KindRefund, "r1", "succeeded"), applied(pay, "t1", "partially_refunded")}},
		}, "partially_refunded", amounts{100, 100, 100}},

		{"a refund in another currency than the sale", []step{
			{"sale in CAD", webhook("e1", "PAYMENT_SALE", map[string]any{"transaction_id": "t1", "currencyCode": "CAD",
				"sale_response": answer("PASS", "75.48")}), []want{applied(pay, "t1", "captured")}},
			{"refund in the default USD", refund("e2", "PAYMENT_REFUNDED", "r1", "t1", "PASS", "10.00"), []want{
				applied(sm.KindRefund, "r1", "succeeded"), {pay, "t1", sm.VerdictRejected, "currency", "captured"}}},
		}, "captured", amounts{7548, 7548, 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := enginetest.New(t, payengine.New(payengine.Config{}))
			for _, s := range tc.steps {
				check(t, s.name, h.Deliver(s.body), s.wants...)
			}
			a := h.Aggregate(pay, "t1")
			require.Equal(t, tc.final, a.State)
			require.Equal(t, tc.amts, amounts{a.Authorized, a.Captured, a.Refunded})
			h.Verify()
		})
	}
}

func TestRefundsLinkToTheirPayment(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, payengine.New(payengine.Config{}))
	h.Deliver(sale("e1", "t1", "75.48"))
	h.Deliver(refund("e2", "PAYMENT_REFUNDED", "r1", "t1", "PASS", "10.00"))
	r := h.Aggregate(sm.KindRefund, "r1")
	require.Equal(t, storage.AggregateKey{Provider: payengine.Name, Kind: string(pay), ID: "t1"}, r.Parent)
	require.Equal(t, "USD", r.Currency)
	require.EqualValues(t, 1000, r.Amount)
	require.Equal(t, "PAYMENT_REFUNDED PASS (A0000: Success)", r.ProviderStatus)
	p := h.Aggregate(pay, "t1")
	require.EqualValues(t, 1000, p.Refunded)
	require.Equal(t, "PAYMENT_REFUNDED PASS (A0000: Success)", p.ProviderStatus)
}

// Deferred events survive a restart and are applied when their predecessor
// lands.
func TestDeferredAcrossRestart(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, payengine.New(payengine.Config{}))
	check(t, "capture", h.Deliver(capture("e1", "t1", "75.48")), want{pay, "t1", sm.VerdictDeferred, "early", "new"})
	h.Restart()
	out := h.Deliver(auth("e2", "t1", "75.48"))
	check(t, "auth", out, applied(pay, "t1", "authorized"))
	require.Len(t, out[0].Resolved, 1)
	require.Equal(t, sm.VerdictApplied, out[0].Resolved[0].Verdict)
	require.Equal(t, "captured", out[0].Resolved[0].StateAfter)
	require.Equal(t, "captured", h.Aggregate(pay, "t1").State)
	h.Verify()
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

// PayEngine's samples reuse one event_uid across the events of one
// transaction and across objects. Dedupe is on (event_uid, event, object):
// a different event under a known uid is a different event and applies;
// the same three with another body is a conflict, recorded as rejected;
// only the same body again is a duplicate — also after a restart.
func TestEventUIDWithEventAndObjectIsTheDedupeKey(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, payengine.New(payengine.Config{}))
	const txnID = "efa04765-b876-46b9-8c0e-39f30d27eb73"
	check(t, "PAYMENT_AUTH", h.Deliver(readFixture(t, "PAYMENT_AUTH.json")), applied(pay, txnID, "authorized"))
	check(t, "PAYMENT_AUTH again", h.Deliver(readFixture(t, "PAYMENT_AUTH.json")),
		want{pay, txnID, sm.VerdictDuplicate, "", "authorized"})
	// Same uid, event and transaction, another body (status FAIL).
	check(t, "PAYMENT_AUTH_FAILED", h.Deliver(readFixture(t, "PAYMENT_AUTH_FAILED.json")),
		want{pay, txnID, sm.VerdictRejected, "conflict", "authorized"})
	// The document's own sequence: the capture under the auth's uid.
	check(t, "PAYMENT_CAPTURED", h.Deliver(readFixture(t, "PAYMENT_CAPTURED.json")), applied(pay, txnID, "captured"))
	// The same uid on another kind of object is another event as well.
	check(t, "SUBSCRIPTION_CREATED", h.Deliver(readFixture(t, "SUBSCRIPTION_CREATED.json")), applied(sm.KindSubscription, "a65ju", "active"))
	check(t, "SUBSCRIPTION_CANCELLED", h.Deliver(readFixture(t, "SUBSCRIPTION_CANCELLED.json")),
		applied(sm.KindSubscription, "a65ju", "cancelled"))

	h.Restart()
	check(t, "PAYMENT_AUTH after restart", h.Deliver(readFixture(t, "PAYMENT_AUTH.json")),
		want{pay, txnID, sm.VerdictDuplicate, "", "captured"})
	check(t, "PAYMENT_CAPTURED after restart", h.Deliver(readFixture(t, "PAYMENT_CAPTURED.json")),
		want{pay, txnID, sm.VerdictDuplicate, "", "captured"})
	altered := strings.Replace(string(readFixture(t, "PAYMENT_CAPTURED.json")), `"totalAmount": "75.48"`, `"totalAmount": "70.00"`, 1)
	require.NotEqual(t, string(readFixture(t, "PAYMENT_CAPTURED.json")), altered)
	check(t, "PAYMENT_CAPTURED with another amount", h.Deliver([]byte(altered)),
		want{pay, txnID, sm.VerdictRejected, "conflict", "captured"})
	a := h.Aggregate(pay, txnID)
	require.EqualValues(t, 2, a.Version)
	require.EqualValues(t, 7548, a.Captured)
	h.Verify()
}

// A redelivery of a refund with another body never moves money twice: both
// of its events conflict. A different refund under the same uid is a
// different event.
func TestRefundRedeliveredWithAnotherBodyNeverMovesMoney(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, payengine.New(payengine.Config{}))
	check(t, "sale", h.Deliver(sale("e1", "t1", "75.48")), applied(pay, "t1", "captured"))
	check(t, "refund under the sale's uid", h.Deliver(refund("e1", "PAYMENT_REFUNDED", "r1", "t1", "PASS", "10.00")),
		applied(sm.KindRefund, "r1", "succeeded"), applied(pay, "t1", "partially_refunded"))
	check(t, "the same refund, another amount", h.Deliver(refund("e1", "PAYMENT_REFUNDED", "r1", "t1", "PASS", "20.00")),
		want{sm.KindRefund, "r1", sm.VerdictRejected, "conflict", "succeeded"},
		want{pay, "t1", sm.VerdictRejected, "conflict", "partially_refunded"})
	check(t, "another refund under the same uid", h.Deliver(refund("e1", "PAYMENT_REFUNDED", "r2", "t1", "PASS", "5.00")),
		applied(sm.KindRefund, "r2", "succeeded"), applied(pay, "t1", "partially_refunded"))
	require.EqualValues(t, 1500, h.Aggregate(pay, "t1").Refunded)
	h.Verify()
}

// A refund is a transaction of its own: a second refund transaction of
// the whole sale is a double refund, rejected on the payment for its
// amount, not as the first one reported again (stale).
func TestDistinctRefundOfTheWholeSaleIsTooMuch(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, payengine.New(payengine.Config{}))
	check(t, "sale", h.Deliver(sale("e1", "t1", "20.00")), applied(pay, "t1", "captured"))
	check(t, "refund", h.Deliver(refund("e2", "PAYMENT_REFUNDED", "r1", "t1", "PASS", "20.00")),
		applied(sm.KindRefund, "r1", "succeeded"), applied(pay, "t1", "refunded"))
	check(t, "another refund of it all", h.Deliver(refund("e3", "PAYMENT_REFUNDED", "r2", "t1", "PASS", "20.00")),
		applied(sm.KindRefund, "r2", "succeeded"),
		want{pay, "t1", sm.VerdictRejected, "amount: refunded 4000 would exceed captured 2000", "refunded"})
	check(t, "the first refund under another uid", h.Deliver(refund("e4", "PAYMENT_REFUNDED", "r1", "t1", "PASS", "20.00")),
		want{sm.KindRefund, "r1", sm.VerdictRejected, "stale", "succeeded"},
		want{pay, "t1", sm.VerdictRejected, "stale", "refunded"})
	require.EqualValues(t, 2000, h.Aggregate(pay, "t1").Refunded)
	h.Verify()
}

// One refund moves its payment once, whatever envelope it comes in: the
// same refund delivered again under another event_uid is stale for the
// refund, and so for its effect on the payment: the refunded total stays.
func TestRefundUnderAnotherUIDNeverMovesMoneyTwice(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, payengine.New(payengine.Config{}))
	check(t, "sale", h.Deliver(sale("e1", "t1", "50.00")), applied(pay, "t1", "captured"))
	check(t, "refund", h.Deliver(refund("e2", "PAYMENT_REFUNDED", "r1", "t1", "PASS", "10.00")),
		applied(sm.KindRefund, "r1", "succeeded"), applied(pay, "t1", "partially_refunded"))
	check(t, "the same refund under another uid", h.Deliver(refund("e3", "PAYMENT_REFUNDED", "r1", "t1", "PASS", "10.00")),
		want{sm.KindRefund, "r1", sm.VerdictRejected, "stale", "succeeded"},
		want{pay, "t1", sm.VerdictRejected, "stale", "partially_refunded"})
	h.Restart()
	check(t, "and again after a restart", h.Deliver(refund("e4", "PAYMENT_REFUNDED", "r1", "t1", "PASS", "10.00")),
		want{sm.KindRefund, "r1", sm.VerdictRejected, "stale", "succeeded"},
		want{pay, "t1", sm.VerdictRejected, "stale", "partially_refunded"})
	require.EqualValues(t, 1000, h.Aggregate(pay, "t1").Refunded)
	h.Verify()
}

// PAYMENT_AUTH_FAILED sent as the event name routes like PAYMENT_AUTH
// with status FAIL.
func TestPaymentAuthFailedAsAnEventName(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, payengine.New(payengine.Config{}))
	check(t, "failed auth", h.Deliver(txn("e1", "PAYMENT_AUTH_FAILED", "t1", "auth_response", "FAIL", "")),
		applied(pay, "t1", "declined"))
	check(t, "retried auth", h.Deliver(auth("e2", "t1", "12.00")), applied(pay, "t1", "authorized"))
	check(t, "late failure", h.Deliver(txn("e3", "PAYMENT_AUTH_FAILED", "t1", "auth_response", "FAIL", "")),
		want{pay, "t1", sm.VerdictRejected, "stale", "authorized"})
	h.Verify()
}

// Each documented sample, delivered to a fresh store, gets the verdict its
// machine gives a first event.
func TestEveryDocumentedSampleGetsAVerdict(t *testing.T) {
	t.Parallel()
	const (
		txnID = "efa04765-b876-46b9-8c0e-39f30d27eb73"
		m1    = "c404d923-226f-4aae-92da-22c1ef370434"
		m2    = "7a8c5219-f9f6-49cd-b747-561f02c36374"
		r     = "415d9e62-1725-41e3-a6c0-1b7cc3153398"
		of    = "353d6f10-c493-4606-9b34-dc864a7cedc9"
	)
	ob, sub, link, cb := sm.KindOnboarding, sm.KindSubscription, sm.KindLink, sm.KindChargeback
	deferred := func(k sm.Kind, id string) want { return want{k, id, sm.VerdictDeferred, "early", "new"} }
	cases := map[string][]want{
		"MERCHANT_CREATED":                     {applied(ob, m1, "created")},
		"MERCHANT_UPDATED":                     {{ob, m1, sm.VerdictApplied, "jumped", "created"}},
		"MERCHANT_STATUS_CHANGED":              {applied(ob, m1, "in_review")},
		"MICRO_DEPOSIT_INITIATED":              {{ob, m1, sm.VerdictRecorded, "no_lifecycle", "new"}},
		"MICRO_DEPOSIT_READY_FOR_VERIFICATION": {{ob, m2, sm.VerdictRecorded, "no_lifecycle", "new"}},
		"MICRO_DEPOSIT_VERIFIED":               {{ob, m2, sm.VerdictRecorded, "no_lifecycle", "new"}},
		"MICRO_DEPOSIT_VERIFICATION_FAILED":    {{ob, m2, sm.VerdictRecorded, "no_lifecycle", "new"}},
		"PAYMENT_AUTH":                         {applied(pay, txnID, "authorized")},
		"PAYMENT_AUTH_FAILED":                  {applied(pay, txnID, "declined")},
		"PAYMENT_VOIDED":                       {deferred(pay, txnID)},
		"PAYMENT_VOIDED_FAILED":                {deferred(pay, txnID)},
		"PAYMENT_CAPTURED":                     {deferred(pay, txnID)},
		"PAYMENT_SALE":                         {applied(pay, txnID, "captured")},
		"PAYMENT_FAILED":                       {applied(pay, txnID, "failed")},
		"DEVICE_SALE_CANCEL":                   {applied(pay, txnID, "cancelled")},
		"PAYMENT_ACH":                          {applied(pay, txnID, "captured")},
		"PAYMENT_REFUNDED":                     {applied(sm.KindRefund, r, "succeeded"), deferred(pay, of)},
		"ACH_CREDIT_ISSUED":                    {applied(sm.KindRefund, r, "succeeded"), deferred(pay, of)},
		"OFFLINE_SALE":                         {applied(pay, "ce7809e8-3179-4f64-b707-f049b0491a2a", "captured")},
		"TRANSACTION_STATUS_CHANGED":           {{pay, txnID, sm.VerdictRecorded, "no_lifecycle", "new"}},
		"PAYMENTLINK_CREATED":                  {applied(link, "37jrf", "created")},
		"PAYMENTLINK_CANCELLED":                {deferred(link, "37jrf")},
		"PAYMENTLINK_UPDATED":                  {deferred(link, "37jrf")},
		"SUBSCRIPTION_CREATED":                 {applied(sub, "a65ju", "active")},
		"SUBSCRIPTION_CANCELLED":               {deferred(sub, "a65ju")},
		"SUBSCRIPTION_UPDATED":                 {deferred(sub, "a65ju")},
		"BATCH_GENERATED":                      {{"", "da5ddbd2-c3ab-4d2f-8f20-a958f229a904", sm.VerdictRecorded, "no_lifecycle", ""}},
		"DISPUTE_CREATED":                      {applied(cb, m1, "open")},
		"DISPUTE_INFORMATION_UPDATED":          {{cb, "4c3d53fc-fe1b-4032-800f-557a04d3a239", sm.VerdictApplied, "jumped: passed through open", "in_dispute"}},
	}
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	require.NoError(t, err)
	require.Len(t, files, len(cases))
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		wants, ok := cases[name]
		require.True(t, ok, name)
		h := enginetest.New(t, payengine.New(payengine.Config{}))
		check(t, name, h.Deliver(readFixture(t, name+".json")), wants...)
		h.Verify()
		h.Close()
	}
}

func TestDisputeSequences(t *testing.T) {
	t.Parallel()
	cb := sm.KindChargeback
	upd := func(uid, status string) []byte {
		return webhook(uid, "DISPUTE_INFORMATION_UPDATED", map[string]any{"transaction_id": "t1", "status": status, "description": "x"})
	}
	created := func(uid string) []byte {
		return webhook(uid, "DISPUTE_CREATED", map[string]any{"transaction_id": "t1", "merchant_id": "m1"})
	}
	cases := []struct {
		name  string
		steps []step
		final string
	}{
		{"created, updated, won; an outcome straight after it is stale", []step{
			{"created", created("e1"), []want{applied(cb, "t1", "open")}},
			{"updated", upd("e2", "AWAITING_PROCESSOR_RESPONSE"), []want{applied(cb, "t1", "in_dispute")}},
			{"updated again", upd("e3", "UNDER_REVIEW"), []want{applied(cb, "t1", "in_dispute")}},
			{"won", upd("e4", "WON"), []want{applied(cb, "t1", "won")}},
			{"lost after won is stale", upd("e6", "LOST"), []want{{cb, "t1", sm.VerdictRejected, "stale", "won"}}},
			{"created after won is stale", created("e7"), []want{{cb, "t1", sm.VerdictRejected, "stale", "won"}}},
		}, "won"},
		// A decision can be challenged (pre-arbitration, arbitration), and
		// the update that says so is a new event (its own event_uid; a
		// retry of an earlier one is a duplicate): the dispute is open
		// again and its next outcome is taken, as Magnius' IN_DISPUTE after
		// an outcome. Rejecting it as stale lost a reversed chargeback.
		{"lost, challenged, won: the reversal is kept", []step{
			{"created", created("e1"), []want{applied(cb, "t1", "open")}},
			{"lost", upd("e2", "LOST"), []want{applied(cb, "t1", "lost")}},
			{"the retry of the loss is a duplicate", upd("e2", "LOST"), []want{{cb, "t1", sm.VerdictDuplicate, "", "lost"}}},
			{"challenged", upd("e3", "PRE_ARBITRATION"), []want{applied(cb, "t1", "in_dispute")}},
			{"won", upd("e4", "WON"), []want{applied(cb, "t1", "won")}},
		}, "won"},
		{"update before created opens the dispute; created is then stale", []step{
			{"updated", upd("e1", "AWAITING_PROCESSOR_RESPONSE"), []want{{cb, "t1", sm.VerdictApplied, "jumped: passed through open", "in_dispute"}}},
			{"created", created("e2"), []want{{cb, "t1", sm.VerdictRejected, "stale", "in_dispute"}}},
			{"lost", upd("e3", "merchant_lost"), []want{applied(cb, "t1", "lost")}},
		}, "lost"},
		{"cancelled straight from open", []step{
			{"created", created("e1"), []want{applied(cb, "t1", "open")}},
			{"withdrawn", upd("e2", "WITHDRAWN"), []want{applied(cb, "t1", "cancelled")}},
		}, "cancelled"},
		{"not won is lost, and closing keeps the outcome", []step{
			{"created", created("e1"), []want{applied(cb, "t1", "open")}},
			{"updated", upd("e2", "AWAITING_PROCESSOR_RESPONSE"), []want{applied(cb, "t1", "in_dispute")}},
			{"not won", upd("e3", "Not Won"), []want{applied(cb, "t1", "lost")}},
			{"closed", upd("e4", "CLOSED"), []want{applied(cb, "t1", "lost")}},
			{"won after lost is stale", upd("e5", "Won"), []want{{cb, "t1", sm.VerdictRejected, "stale", "lost"}}},
		}, "lost"},
		{"accepted by the merchant is lost", []step{
			{"created", created("e1"), []want{applied(cb, "t1", "open")}},
			{"accepted", upd("e2", "ACCEPTED"), []want{applied(cb, "t1", "lost")}},
		}, "lost"},
		{"expired unanswered is lost", []step{
			{"created", created("e1"), []want{applied(cb, "t1", "open")}},
			{"expired", upd("e2", "Expired"), []want{applied(cb, "t1", "lost")}},
		}, "lost"},
		{"resolved without an outcome stays in dispute, the outcome decides", []step{
			{"created", created("e1"), []want{applied(cb, "t1", "open")}},
			{"updated", upd("e2", "AWAITING_PROCESSOR_RESPONSE"), []want{applied(cb, "t1", "in_dispute")}},
			{"resolved", upd("e3", "Resolved"), []want{applied(cb, "t1", "in_dispute")}},
			{"won", upd("e4", "Won"), []want{applied(cb, "t1", "won")}},
		}, "won"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := enginetest.New(t, payengine.New(payengine.Config{}))
			for _, s := range tc.steps {
				check(t, s.name, h.Deliver(s.body), s.wants...)
			}
			a := h.Aggregate(cb, "t1")
			require.Equal(t, tc.final, a.State)
			require.Equal(t, storage.AggregateKey{Provider: payengine.Name, Kind: string(pay), ID: "t1"}, a.Parent)
			h.Verify()
		})
	}
}

// A dispute update that states another amount than the dispute had
// reports a fact (the amount disputed changed, the chargeback was
// represented in part): it is taken, and the entry names the change, as
// a Magnius chargeback's does. The documented samples carry no amount; these
// are the samples with one added, about one transaction.
func TestDisputeUpdateTakesItsAmount(t *testing.T) {
	t.Parallel()
	cb := sm.KindChargeback
	txn := "c404d923-226f-4aae-92da-22c1ef370434"
	h := enginetest.New(t, payengine.New(payengine.Config{}))
	check(t, "created", h.Deliver(linked(t, "DISPUTE_CREATED.json", "", map[string]string{"amount": "75.48"})), applied(cb, txn, "open"))
	require.EqualValues(t, 7548, h.Aggregate(cb, txn).Amount)

	updated := func(uid, status, amount string) []byte {
		return linked(t, "DISPUTE_INFORMATION_UPDATED.json", uid, map[string]string{"transaction_id": txn, "status": status, "amount": amount})
	}
	check(t, "updated with another amount", h.Deliver(updated("", "AWAITING_PROCESSOR_RESPONSE", "50.00")),
		want{cb, txn, sm.VerdictApplied, "amount changed from 7548 to 5000", "in_dispute"})
	check(t, "updated again, in place", h.Deliver(updated("e2", "UNDER_REVIEW", "40.00")),
		want{cb, txn, sm.VerdictApplied, "amount changed from 5000 to 4000", "in_dispute"})
	check(t, "the same amount changes nothing", h.Deliver(updated("e3", "UNDER_REVIEW_AGAIN", "40.00")), applied(cb, txn, "in_dispute"))
	check(t, "lost for its amount", h.Deliver(updated("e4", "LOST", "45.00")),
		want{cb, txn, sm.VerdictApplied, "amount changed from 4000 to 4500", "lost"})
	a := h.Aggregate(cb, txn)
	require.EqualValues(t, 4500, a.Amount)
	require.Equal(t, "USD", a.Currency)
	h.Verify()
}

// A dispute with an id of its own is its own aggregate: a transaction can
// be disputed again after a first dispute ended, and both link to the
// payment.
func TestSeveralDisputesOnOneTransaction(t *testing.T) {
	t.Parallel()
	cb := sm.KindChargeback
	ev := func(uid, event, dispute, status string) []byte {
		d := map[string]any{"transaction_id": "t1", "dispute_id": dispute}
		if status != "" {
			d["status"] = status
		}
		return webhook(uid, event, d)
	}
	h := enginetest.New(t, payengine.New(payengine.Config{}))
	check(t, "first dispute", h.Deliver(ev("e1", "DISPUTE_CREATED", "d1", "")), applied(cb, "d1", "open"))
	check(t, "first dispute won", h.Deliver(ev("e2", "DISPUTE_INFORMATION_UPDATED", "d1", "WON")), applied(cb, "d1", "won"))
	check(t, "second dispute", h.Deliver(ev("e3", "DISPUTE_CREATED", "d2", "")), applied(cb, "d2", "open"))
	check(t, "second dispute lost", h.Deliver(ev("e4", "DISPUTE_INFORMATION_UPDATED", "d2", "Not Won")), applied(cb, "d2", "lost"))
	for _, id := range []string{"d1", "d2"} {
		require.Equal(t, storage.AggregateKey{Provider: payengine.Name, Kind: string(pay), ID: "t1"}, h.Aggregate(cb, id).Parent, id)
	}
	require.Equal(t, "won", h.Aggregate(cb, "d1").State)
	h.Verify()
}

// A link update carries the link's new amount and the status PayEngine
// gives it; a subscription follows every status its updates state,
// recovering from past due.
func TestLinksAndSubscriptionsFollowTheirUpdates(t *testing.T) {
	t.Parallel()
	link, sub := sm.KindLink, sm.KindSubscription
	linkEv := func(uid, event, id, amount, status string) []byte {
		return webhook(uid, event, map[string]any{"paymentLinkId": id, "amount": amount, "currencyCode": "USD", "paymentLinkStatus": status})
	}
	subEv := func(uid, status, amount string) []byte {
		return webhook(uid, "SUBSCRIPTION_UPDATED", map[string]any{"subscriptionId": "s1", "subscriptionStatus": status, "amount": amount, "currencyCode": "USD"})
	}
	h := enginetest.New(t, payengine.New(payengine.Config{}))
	check(t, "link created", h.Deliver(linkEv("e1", "PAYMENTLINK_CREATED", "l1", "18.00", "ACTIVE")), applied(link, "l1", "created"))
	check(t, "link repriced", h.Deliver(linkEv("e2", "PAYMENTLINK_UPDATED", "l1", "20.00", "ACTIVE")), applied(link, "l1", "created"))
	require.EqualValues(t, 2000, h.Aggregate(link, "l1").Amount)
	check(t, "link paid", h.Deliver(linkEv("e3", "PAYMENTLINK_UPDATED", "l1", "20.00", "PAID")), applied(link, "l1", "done"))
	check(t, "link cancelled after use is stale", h.Deliver(linkEv("e4", "PAYMENTLINK_CANCELLED", "l1", "", "CANCELLED")),
		want{link, "l1", sm.VerdictRejected, "stale", "done"})
	check(t, "link 2 created", h.Deliver(linkEv("e5", "PAYMENTLINK_CREATED", "l2", "18.00", "ACTIVE")), applied(link, "l2", "created"))
	check(t, "link 2 expired", h.Deliver(linkEv("e6", "PAYMENTLINK_UPDATED", "l2", "18.00", "EXPIRED")), applied(link, "l2", "expired"))
	check(t, "link 3 created", h.Deliver(linkEv("e7", "PAYMENTLINK_CREATED", "l3", "18.00", "ACTIVE")), applied(link, "l3", "created"))
	check(t, "link 3 cancelled by update", h.Deliver(linkEv("e8", "PAYMENTLINK_UPDATED", "l3", "18.00", "CANCELLED")), applied(link, "l3", "cancelled"))

	check(t, "subscription created", h.Deliver(webhook("s0", "SUBSCRIPTION_CREATED",
		map[string]any{"subscriptionId": "s1", "subscriptionStatus": "Active", "amount": "150.00", "currencyCode": "USD"})), applied(sub, "s1", "active"))
	check(t, "past due", h.Deliver(subEv("s1", "past_due", "150.00")), applied(sub, "s1", "past_due"))
	check(t, "recovered", h.Deliver(subEv("s2", "Active", "150.00")), applied(sub, "s1", "active"))
	check(t, "past due again", h.Deliver(subEv("s3", "Past Due", "150.00")), applied(sub, "s1", "past_due"))
	check(t, "paused, repriced", h.Deliver(subEv("s4", "Paused", "175.00")), applied(sub, "s1", "past_due"))
	a := h.Aggregate(sub, "s1")
	require.Equal(t, "Paused", a.ProviderStatus)
	require.EqualValues(t, 17500, a.Amount)
	check(t, "expired", h.Deliver(subEv("s5", "EXPIRED", "175.00")), applied(sub, "s1", "expired"))
	check(t, "a late active is stale", h.Deliver(subEv("s6", "Active", "175.00")), want{sub, "s1", sm.VerdictRejected, "stale", "expired"})
	for status, state := range map[string]string{"Completed": "completed", "Cancelled": "cancelled"} {
		id := "s-" + status
		check(t, id+" created", h.Deliver(webhook(id+"-0", "SUBSCRIPTION_CREATED", map[string]any{"subscriptionId": id, "subscriptionStatus": "Active"})),
			applied(sub, id, "active"))
		check(t, id, h.Deliver(webhook(id+"-1", "SUBSCRIPTION_UPDATED", map[string]any{"subscriptionId": id, "subscriptionStatus": status})),
			applied(sub, id, state))
	}
	h.Verify()
}

// The document sends PAYMENTLINK_CREATED and PAYMENTLINK_UPDATED of link
// 37jrf under one event_uid, and SUBSCRIPTION_CREATED, _CANCELLED and
// _UPDATED of subscription a65ju under another (the one of a dozen
// transaction events too): its uid is not an event's. A second update of
// the same object under that uid, made later (its own updatedAt,
// updatedDate), is another update, not the first one told with another
// body: rejected as a conflict, its new amount and status were lost. The
// same update told again with another body is still a conflict, and its
// retry a duplicate.
func TestSecondUpdateUnderTheSameEventUID(t *testing.T) {
	t.Parallel()
	link, sub := sm.KindLink, sm.KindSubscription
	h := enginetest.New(t, payengine.New(payengine.Config{}))
	check(t, "link created", h.Deliver(readFixture(t, "PAYMENTLINK_CREATED.json")), applied(link, "37jrf", "created"))
	check(t, "link updated", h.Deliver(readFixture(t, "PAYMENTLINK_UPDATED.json")), applied(link, "37jrf", "created"))
	linkUpdate := func(updatedAt, amount, status string) []byte {
		return linked(t, "PAYMENTLINK_UPDATED.json", "", map[string]string{"updatedAt": updatedAt, "amount": amount, "paymentLinkStatus": status})
	}
	check(t, "link updated again, later", h.Deliver(linkUpdate("2023-09-01T10:00:00.000Z", "25.00", "ACTIVE")),
		want{link, "37jrf", sm.VerdictApplied, "amount changed from 2000 to 2500", "created"})
	check(t, "its retry", h.Deliver(linkUpdate("2023-09-01T10:00:00.000Z", "25.00", "ACTIVE")),
		want{link, "37jrf", sm.VerdictDuplicate, "", "created"})
	check(t, "that update told with another amount", h.Deliver(linkUpdate("2023-09-01T10:00:00.000Z", "26.00", "ACTIVE")),
		want{link, "37jrf", sm.VerdictRejected, "conflict", "created"})
	check(t, "link paid, later", h.Deliver(linkUpdate("2023-09-02T10:00:00.000Z", "25.00", "PAID")), applied(link, "37jrf", "done"))
	require.EqualValues(t, 2500, h.Aggregate(link, "37jrf").Amount)

	check(t, "subscription created", h.Deliver(readFixture(t, "SUBSCRIPTION_CREATED.json")), applied(sub, "a65ju", "active"))
	check(t, "subscription updated", h.Deliver(readFixture(t, "SUBSCRIPTION_UPDATED.json")), applied(sub, "a65ju", "active"))
	subUpdate := func(updatedDate, status, amount string) []byte {
		return linked(t, "SUBSCRIPTION_UPDATED.json", "", map[string]string{"updatedDate": updatedDate, "subscriptionStatus": status, "amount": amount})
	}
	check(t, "past due, later", h.Deliver(subUpdate("2023-10-12T00:00:00.000Z", "Past Due", "150.00")), applied(sub, "a65ju", "past_due"))
	check(t, "repriced, later", h.Deliver(subUpdate("2023-10-20T00:00:00.000Z", "Active", "175.00")),
		want{sub, "a65ju", sm.VerdictApplied, "amount changed from 15000 to 17500", "active"})
	require.EqualValues(t, 17500, h.Aggregate(sub, "a65ju").Amount)
	h.Verify()
}

// The document's merchant samples (MERCHANT_CREATED, MERCHANT_UPDATED,
// MERCHANT_STATUS_CHANGED, MICRO_DEPOSIT_INITIATED) share one event_uid: a
// merchant's next status change under it (in_review, then Active) is
// another event, not the first one told with another body. As a conflict,
// the merchant stayed in review for good. A status change is a status
// snapshot of the merchant (providers.Event.Snapshot): its key holds while
// the merchant stays where it was decided, so a retry is a duplicate, the
// same status with another body a conflict, and a status seen before but
// legal now (active again after a pause) is decided afresh.
func TestNextMerchantStatusUnderTheSameEventUID(t *testing.T) {
	t.Parallel()
	ob := sm.KindOnboarding
	mid := "c404d923-226f-4aae-92da-22c1ef370434"
	h := enginetest.New(t, payengine.New(payengine.Config{}))
	check(t, "created", h.Deliver(readFixture(t, "MERCHANT_CREATED.json")), applied(ob, mid, "created"))
	check(t, "in review", h.Deliver(readFixture(t, "MERCHANT_STATUS_CHANGED.json")), applied(ob, mid, "in_review"))
	active := linked(t, "MERCHANT_STATUS_CHANGED.json", "", map[string]string{"status": "Active"})
	check(t, "active", h.Deliver(active), applied(ob, mid, "active"))
	check(t, "its retry", h.Deliver(active), want{ob, mid, sm.VerdictDuplicate, "", "active"})
	check(t, "active told with another body", h.Deliver(linked(t, "MERCHANT_STATUS_CHANGED.json", "", map[string]string{"status": "Active", "account_id": "another"})),
		want{ob, mid, sm.VerdictRejected, "conflict", "active"})
	check(t, "paused", h.Deliver(linked(t, "MERCHANT_STATUS_CHANGED.json", "", map[string]string{"status": "paused"})), applied(ob, mid, "active"))
	check(t, "active again, as the first time", h.Deliver(active), applied(ob, mid, "active"))
	require.Equal(t, "Active", h.Aggregate(ob, mid).ProviderStatus, "reactivated, not left paused")
	check(t, "a late in review is stale", h.Deliver(readFixture(t, "MERCHANT_STATUS_CHANGED.json")), want{ob, mid, sm.VerdictRejected, "stale", "active"})
	h.Verify()
}

func TestLinkAndSubscriptionSequences(t *testing.T) {
	t.Parallel()
	link, sub := sm.KindLink, sm.KindSubscription
	linkEv := func(uid, event, amount, status string) []byte {
		d := map[string]any{"paymentLinkId": "l1", "paymentLinkStatus": status, "merchantId": "m1"}
		if amount != "" {
			d["amount"], d["currencyCode"] = amount, "USD"
		}
		return webhook(uid, event, d)
	}
	subEv := func(uid, event, status string, extra ...any) []byte {
		d := map[string]any{"subscriptionId": "s1", "subscriptionStatus": status, "amount": "150.00", "currencyCode": "USD"}
		for i := 0; i+1 < len(extra); i += 2 {
			d[extra[i].(string)] = extra[i+1]
		}
		return webhook(uid, event, d)
	}
	cases := []struct {
		name  string
		kind  sm.Kind
		id    string
		steps []step
		final string
	}{
		{"link created, updated, cancelled", link, "l1", []step{
			{"created", linkEv("e1", "PAYMENTLINK_CREATED", "18.00", "ACTIVE"), []want{applied(link, "l1", "created")}},
			{"updated", linkEv("e2", "PAYMENTLINK_UPDATED", "20.00", "ACTIVE"), []want{applied(link, "l1", "created")}},
			{"cancelled", linkEv("e3", "PAYMENTLINK_CANCELLED", "", "CANCELLED"), []want{applied(link, "l1", "cancelled")}},
			{"a late update is stale", linkEv("e4", "PAYMENTLINK_UPDATED", "20.00", "ACTIVE"), []want{{link, "l1", sm.VerdictRejected, "stale", "cancelled"}}},
		}, "cancelled"},
		{"link cancelled before it was created", link, "l1", []step{
			{"cancelled", linkEv("e1", "PAYMENTLINK_CANCELLED", "", "CANCELLED"), []want{{link, "l1", sm.VerdictDeferred, "early", "new"}}},
			{"created", linkEv("e2", "PAYMENTLINK_CREATED", "18.00", "ACTIVE"), []want{applied(link, "l1", "created")}},
		}, "cancelled"},
		{"link in another currency is a currency conflict", link, "l1", []step{
			{"created", linkEv("e1", "PAYMENTLINK_CREATED", "18.00", "ACTIVE"), []want{applied(link, "l1", "created")}},
			{"updated in EUR", webhook("e2", "PAYMENTLINK_UPDATED", map[string]any{"paymentLinkId": "l1", "amount": "18.00", "currencyCode": "EUR"}),
				[]want{{link, "l1", sm.VerdictRejected, "currency", "created"}}},
		}, "created"},
		{"subscription created active, updated, cancelled", sub, "s1", []step{
			{"created", subEv("e1", "SUBSCRIPTION_CREATED", "Active"), []want{applied(sub, "s1", "active")}},
			{"updated", subEv("e2", "SUBSCRIPTION_UPDATED", "Active"), []want{applied(sub, "s1", "active")}},
			{"cancel failed", webhook("e3", "SUBSCRIPTION_CANCELLED", map[string]any{"subscriptionId": "s1", "success": false}), []want{applied(sub, "s1", "active")}},
			{"cancelled", webhook("e4", "SUBSCRIPTION_CANCELLED", map[string]any{"subscriptionId": "s1", "subscriptionStatus": "CANCELLED", "success": true}),
				[]want{applied(sub, "s1", "cancelled")}},
			{"a late update is stale", subEv("e5", "SUBSCRIPTION_UPDATED", "Active"), []want{{sub, "s1", sm.VerdictRejected, "stale", "cancelled"}}},
		}, "cancelled"},
		{"subscription created inactive, activated by an update", sub, "s1", []step{
			{"created", subEv("e1", "SUBSCRIPTION_CREATED", "Pending"), []want{applied(sub, "s1", "created")}},
			{"paused", subEv("e2", "SUBSCRIPTION_UPDATED", "Paused"), []want{applied(sub, "s1", "created")}},
			{"activated", subEv("e3", "SUBSCRIPTION_UPDATED", "Active"), []want{applied(sub, "s1", "active")}},
			{"paused again", subEv("e4", "SUBSCRIPTION_UPDATED", "Paused"), []want{applied(sub, "s1", "active")}},
		}, "active"},
		{"subscription update before creation is deferred", sub, "s1", []step{
			{"updated", subEv("e1", "SUBSCRIPTION_UPDATED", "Active"), []want{{sub, "s1", sm.VerdictDeferred, "early", "new"}}},
			{"created", subEv("e2", "SUBSCRIPTION_CREATED", "Active"), []want{applied(sub, "s1", "active")}},
		}, "active"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := enginetest.New(t, payengine.New(payengine.Config{}))
			for _, s := range tc.steps {
				check(t, s.name, h.Deliver(s.body), s.wants...)
			}
			require.Equal(t, tc.final, h.Aggregate(tc.kind, tc.id).State)
			h.Verify()
		})
	}
}

func TestOnboardingSequences(t *testing.T) {
	t.Parallel()
	ob := sm.KindOnboarding
	merchant := func(uid, event string) []byte {
		return webhook(uid, event, map[string]any{"id": "m1", "account_id": "a1", "merchant_id": "m1"})
	}
	status := func(uid, s string) []byte {
		return webhook(uid, "MERCHANT_STATUS_CHANGED", map[string]any{"id": "m1", "status": s, "merchant_id": "m1"})
	}
	micro := func(uid, event string) []byte {
		return webhook(uid, event, map[string]any{"account_id": "a1", "merchant_id": "m1", "bank_account_id": "b1"})
	}
	cases := []struct {
		name     string
		steps    []step
		final    string
		provider string
	}{
		{"created, reviewed, boarded, paused and reactivated", []step{
			{"created", merchant("e1", "MERCHANT_CREATED"), []want{applied(ob, "m1", "created")}},
			{"editing", status("e2", "editing"), []want{applied(ob, "m1", "created")}},
			{"micro-deposits", micro("e3", "MICRO_DEPOSIT_INITIATED"), []want{{ob, "m1", sm.VerdictRecorded, "no_lifecycle", "created"}}},
			{"in review", status("e4", "in_review"), []want{applied(ob, "m1", "in_review")}},
			{"back to editing stays in review", status("e5", "Editing"), []want{applied(ob, "m1", "in_review")}},
			{"micro-deposits verified", micro("e6", "MICRO_DEPOSIT_VERIFIED"), []want{{ob, "m1", sm.VerdictRecorded, "no_lifecycle", "in_review"}}},
			{"submitted to PE", status("e7", "Submitted to PE"), []want{applied(ob, "m1", "in_review")}},
			{"active", status("e8", "Active"), []want{applied(ob, "m1", "active")}},
			{"updated", merchant("e9", "MERCHANT_UPDATED"), []want{applied(ob, "m1", "active")}},
			{"paused", status("e10", "paused"), []want{applied(ob, "m1", "active")}},
			{"reactivated", status("e11", "active"), []want{applied(ob, "m1", "active")}},
			{"a late review is stale", status("e12", "in_review"), []want{{ob, "m1", sm.VerdictRejected, "stale", "active"}}},
			{"an unknown status is recorded", status("e13", "frozen"), []want{{ob, "m1", sm.VerdictRecorded, "unknown_event", "active"}}},
		}, "active", "active"},
		{"declined", []step{
			{"in review first", status("e1", "in_review"), []want{applied(ob, "m1", "in_review")}},
			{"created late is stale", merchant("e2", "MERCHANT_CREATED"), []want{{ob, "m1", sm.VerdictRejected, "stale", "in_review"}}},
			{"declined", status("e3", "declined"), []want{applied(ob, "m1", "rejected")}},
			{"active after declined is stale", status("e4", "active"), []want{{ob, "m1", sm.VerdictRejected, "stale", "rejected"}}},
		}, "rejected", "declined"},
		{"a status ahead is reached at once", []step{
			{"suspended", status("e1", "suspended"), []want{{ob, "m1", sm.VerdictApplied, "jumped: passed through active", "active"}}},
		}, "active", "suspended"},
		{"cancelled while editing", []step{
			{"created", merchant("e1", "MERCHANT_CREATED"), []want{applied(ob, "m1", "created")}},
			{"cancelled", status("e2", "cancelled"), []want{applied(ob, "m1", "cancelled")}},
		}, "cancelled", "cancelled"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := enginetest.New(t, payengine.New(payengine.Config{}))
			for _, s := range tc.steps {
				check(t, s.name, h.Deliver(s.body), s.wants...)
			}
			a := h.Aggregate(ob, "m1")
			require.Equal(t, tc.final, a.State)
			require.Equal(t, tc.provider, a.ProviderStatus)
			h.Verify()
		})
	}
}

func TestUnknownEventsAreRecorded(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, payengine.New(payengine.Config{}))
	for i, ev := range []string{"PAYOUT_SENT", "BATCH_GENERATED", "SOMETHING_NEW"} {
		out := h.Deliver(webhook(fmt.Sprintf("e%d", i), ev, map[string]any{"id": "x"}))
		require.Len(t, out, 1)
		require.Equal(t, sm.VerdictRecorded, out[0].Verdict, ev)
		require.Empty(t, out[0].Key.Kind)
	}
	h.Verify()
}

// An event paystate does not know whose data names no object is keyed on
// its uid, its name and its body: the document reuses event_uids across
// different events, and with no object to tell two apart, the second was
// taken for the first told with another body and rejected as a conflict
// (as was every retry of it), for an event that moves nothing. Each is
// recorded, in the journal under no aggregate; a retry is a duplicate.
func TestUnknownEventsNamingNoObject(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, payengine.New(payengine.Config{}))
	payout := func(amount string) []byte {
		return webhook("4d304a4ed5a4e338b4753ab832efd9c0", "PAYOUT_SENT", map[string]any{"account_id": "bb3bc2a6-b5c7-4369-be9c-18455c63c228", "amount": amount})
	}
	recorded := want{"", "", sm.VerdictRecorded, "no_lifecycle", ""}
	check(t, "a payout", h.Deliver(payout("10.00")), recorded)
	check(t, "another payout under the same uid", h.Deliver(payout("20.00")), recorded)
	check(t, "its retry", h.Deliver(payout("20.00")), want{"", "", sm.VerdictDuplicate, "", ""})
	check(t, "data not an object", h.Deliver([]byte(`{"event_uid":"4d304a4ed5a4e338b4753ab832efd9c0","event":"PAYOUT_SENT","data":[1]}`)), recorded)

	history, err := h.Store.Journal(t.Context(), nil, 0, 10)
	require.NoError(t, err)
	require.Len(t, history, 4)
	keys := map[string]bool{}
	for _, e := range history {
		require.Equal(t, "PAYOUT_SENT", e.Event)
		require.Equal(t, storage.AggregateKey{Provider: payengine.Name}, e.Key, "no object, no aggregate")
		keys[e.DedupeKey] = true
	}
	require.Len(t, keys, 3, "one key per body")
	h.Verify()
}

// The acceptance reproduction: events of a type paystate does not know,
// for two transactions under one event_uid (the document reuses uids
// across objects), are two events, each recorded in its transaction's
// history. Neither creates the payment nor moves it, even under a name a
// table knows.
func TestUnknownEventsAreRecordedOnTheirObject(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, payengine.New(payengine.Config{}))
	reversed := func(uid, id string) []byte {
		return webhook(uid, "PAYMENT_CHARGEBACK_REVERSED", map[string]any{"transaction_id": id})
	}
	recorded := func(kind sm.Kind, id, state string) want {
		return want{kind, id, sm.VerdictRecorded, "no_lifecycle", state}
	}
	for _, id := range []string{"tc1", "tc2"} {
		check(t, id, h.Deliver(reversed("uc1", id)), recorded(pay, id, "new"))
		key := storage.AggregateKey{Provider: payengine.Name, Kind: string(pay), ID: id}
		_, err := h.Store.Aggregate(t.Context(), key)
		require.ErrorIs(t, err, storage.ErrNotFound, "no payment is made up from an event not understood")
		history, err := h.Store.Journal(t.Context(), &key, 0, 10)
		require.NoError(t, err)
		require.Len(t, history, 1)
		require.Equal(t, "PAYMENT_CHARGEBACK_REVERSED", history[0].Event)
	}
	check(t, "tc1 again", h.Deliver(reversed("uc1", "tc1")), want{pay, "tc1", sm.VerdictDuplicate, "", "new"})

	// The payment's own events start from nothing, and a later unknown
	// event leaves what they made.
	check(t, "auth", h.Deliver(auth("e1", "tc1", "75.48")), applied(pay, "tc1", "authorized"))
	check(t, "after the auth", h.Deliver(reversed("uc2", "tc1")), recorded(pay, "tc1", "authorized"))
	require.EqualValues(t, 1, h.Aggregate(pay, "tc1").Version)

	// A table's own word sent as the event is not followed either.
	check(t, "subscription", h.Deliver(webhook("s0", "SUBSCRIPTION_CREATED", map[string]any{"subscriptionId": "s1", "subscriptionStatus": "Active"})),
		applied(sm.KindSubscription, "s1", "active"))
	check(t, "a word of the table", h.Deliver(webhook("s1", "SUBSCRIPTION_UPDATED_CANCELLED", map[string]any{"subscriptionId": "s1", "subscriptionStatus": "CANCELLED"})),
		recorded(sm.KindSubscription, "s1", "active"))
	require.EqualValues(t, 1, h.Aggregate(sm.KindSubscription, "s1").Version)
	h.Verify()
}
