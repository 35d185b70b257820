package inyo_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/engine"
	"github.com/paystate/paystate/engine/enginetest"
	"github.com/paystate/paystate/providers/inyo"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
)

// object builds a payment object in the documented shape. parent is the
// parentPaymentId (id itself for the payment's own object); n numbers the
// webhook within a test so that created, and so the dedupe key, differ.
func object(id, parent, status, amount string, n int) []byte {
	body, err := json.Marshal(map[string]any{
		"paymentId":         id,
		"parentPaymentId":   parent,
		"externalPaymentId": "ORD-" + parent,
		"redirectAcsUrl":    "",
		"amount":            json.Number(amount),
		"created":           fmt.Sprintf("2025-01-21 16:%02d:%02d", n/60, n%60),
		"approved":          status != "DECLINED",
		"message":           "Payment Approved",
		"acquirerMessage":   "IN_PROCESS_" + status,
		"automaticReversed": false,
		"status":            status,
		"captured":          status == "CAPTURED" || status == "REFUNDED",
		"voided":            status == "VOIDED",
		"issuerName":        "UNKNOWN",
		"cvcResult":         "NOT_SENT",
	})
	if err != nil {
		panic(err)
	}
	return body
}

// own is the payment's own object; child an object whose parent is pay.
func own(id, status, amount string) func(n int) []byte {
	return func(n int) []byte { return object(id, id, status, amount, n) }
}

func child(id, pay, status, amount string) func(n int) []byte {
	return func(n int) []byte { return object(id, pay, status, amount, n) }
}

// expect is one outcome of a delivery, in the order Parse returns events.
type expect struct {
	kind    sm.Kind
	verdict sm.Verdict
	code    string // reason prefix
	state   sm.State
}

func applied(k sm.Kind, s sm.State) expect { return expect{k, sm.VerdictApplied, "", s} }

func pay(v sm.Verdict, code string, s sm.State) expect { return expect{sm.KindPayment, v, code, s} }

type step struct {
	body func(n int) []byte
	want []expect
}

const payID = "469670e2-31e3-4700-b9f2-abee99418dc4"

func TestSequences(t *testing.T) {
	t.Parallel()
	refundOK := applied(sm.KindRefund, sm.Succeeded)
	cases := []struct {
		name  string
		steps []step
		final sm.State
		amts  [3]int64 // authorized, captured, refunded
	}{
		{"challenge, authorized, captured, refunded by a child in part then the rest", []step{
			{own(payID, "CHALLENGE", "95"), []expect{applied(sm.KindPayment, sm.Challenge)}},
			{own(payID, "AUTHORIZED", "95"), []expect{applied(sm.KindPayment, sm.Authorized)}},
			{own(payID, "CAPTURED", "95"), []expect{applied(sm.KindPayment, sm.Captured)}},
			{child("refund-1", payID, "REFUNDED", "30"), []expect{refundOK, applied(sm.KindPayment, sm.PartiallyRefunded)}},
			{child("refund-2", payID, "REFUNDED", "65.00"), []expect{refundOK, applied(sm.KindPayment, sm.Refunded)}},
		}, sm.Refunded, [3]int64{9500, 9500, 9500}},
		{"captured before authorized is applied at once; the late authorization is stale", []step{
			{own(payID, "CAPTURED", "95"), []expect{pay(sm.VerdictApplied, "jumped: passed through authorized", sm.Captured)}},
			{own(payID, "AUTHORIZED", "95"), []expect{pay(sm.VerdictRejected, "stale", sm.Captured)}},
			{child("refund-1", payID, "REFUNDED", "20"), []expect{refundOK, applied(sm.KindPayment, sm.PartiallyRefunded)}},
		}, sm.PartiallyRefunded, [3]int64{9500, 9500, 2000}},
		{"challenge then declined; an authorization after it is stale", []step{
			{own(payID, "CHALLENGE", "95"), []expect{applied(sm.KindPayment, sm.Challenge)}},
			{own(payID, "DECLINED", "95"), []expect{applied(sm.KindPayment, sm.Declined)}},
			{own(payID, "AUTHORIZED", "95"), []expect{pay(sm.VerdictRejected, "stale", sm.Declined)}},
		}, sm.Declined, [3]int64{0, 0, 0}},
		{"challenge then authorized", []step{
			{own(payID, "CHALLENGE", "95"), []expect{applied(sm.KindPayment, sm.Challenge)}},
			{own(payID, "AUTHORIZED", "95"), []expect{applied(sm.KindPayment, sm.Authorized)}},
			{own(payID, "CHALLENGE", "95"), []expect{pay(sm.VerdictRejected, "stale", sm.Authorized)}},
		}, sm.Authorized, [3]int64{9500, 0, 0}},
		{"voided after captured is stale: the payment has moved past authorized", []step{
			{own(payID, "AUTHORIZED", "95"), []expect{applied(sm.KindPayment, sm.Authorized)}},
			{own(payID, "CAPTURED", "95"), []expect{applied(sm.KindPayment, sm.Captured)}},
			{own(payID, "VOIDED", "95"), []expect{pay(sm.VerdictRejected, "stale: captured has moved past authorized", sm.Captured)}},
			{child("void-1", payID, "VOIDED", "95"), []expect{pay(sm.VerdictRejected, "stale", sm.Captured)}},
		}, sm.Captured, [3]int64{9500, 9500, 0}},
		// VOIDED is "voided before capture": nothing leads from captured to
		// voided, so a CAPTURED reported after VOIDED is the newer status,
		// money moved, and it is applied; the void reported again after it
		// is stale.
		{"authorized then voided; a capture after it is the newer status", []step{
			{own(payID, "AUTHORIZED", "95"), []expect{applied(sm.KindPayment, sm.Authorized)}},
			{own(payID, "VOIDED", "95"), []expect{applied(sm.KindPayment, sm.Voided)}},
			{own(payID, "CAPTURED", "95"), []expect{applied(sm.KindPayment, sm.Captured)}},
			{own(payID, "VOIDED", "95"), []expect{pay(sm.VerdictRejected, "stale", sm.Captured)}},
		}, sm.Captured, [3]int64{9500, 9500, 0}},
		{"declined then captured: the capture is the newer status", []step{
			{own(payID, "CHALLENGE", "95"), []expect{applied(sm.KindPayment, sm.Challenge)}},
			{own(payID, "DECLINED", "95"), []expect{applied(sm.KindPayment, sm.Declined)}},
			{own(payID, "CAPTURED", "95"), []expect{applied(sm.KindPayment, sm.Captured)}},
			{own(payID, "DECLINED", "95"), []expect{pay(sm.VerdictRejected, "stale", sm.Captured)}},
		}, sm.Captured, [3]int64{9500, 9500, 0}},
		{"a child voids its payment", []step{
			{own(payID, "AUTHORIZED", "95"), []expect{applied(sm.KindPayment, sm.Authorized)}},
			{child("void-1", payID, "VOIDED", "95"), []expect{applied(sm.KindPayment, sm.Voided)}},
		}, sm.Voided, [3]int64{9500, 0, 0}},
		{"a child captures part; the payment's own CAPTURED after it is its status catching up, never counted twice", []step{
			{own(payID, "AUTHORIZED", "95"), []expect{applied(sm.KindPayment, sm.Authorized)}},
			{child("capture-1", payID, "CAPTURED", "50"), []expect{applied(sm.KindPayment, sm.PartiallyCaptured)}},
			{own(payID, "CAPTURED", "95"), []expect{pay(sm.VerdictApplied, "already partially_captured", sm.PartiallyCaptured)}},
			{child("refund-1", payID, "REFUNDED", "20"), []expect{refundOK, applied(sm.KindPayment, sm.PartiallyRefunded)}},
			{child("refund-2", payID, "REFUNDED", "30"), []expect{refundOK, applied(sm.KindPayment, sm.Refunded)}},
		}, sm.Refunded, [3]int64{9500, 5000, 5000}},
		{"a capture above the authorization is rejected", []step{
			{own(payID, "AUTHORIZED", "95"), []expect{applied(sm.KindPayment, sm.Authorized)}},
			{child("capture-1", payID, "CAPTURED", "95.01"), []expect{pay(sm.VerdictRejected, "amount", sm.Authorized)}},
		}, sm.Authorized, [3]int64{9500, 0, 0}},
		{"a refund larger than captured is rejected on the payment", []step{
			{own(payID, "AUTHORIZED", "95"), []expect{applied(sm.KindPayment, sm.Authorized)}},
			{own(payID, "CAPTURED", "95"), []expect{applied(sm.KindPayment, sm.Captured)}},
			{child("refund-1", payID, "REFUNDED", "120"), []expect{refundOK,
				pay(sm.VerdictRejected, "amount: refunded 12000 would exceed captured 9500", sm.Captured)}},
			{child("refund-2", payID, "REFUNDED", "60"), []expect{refundOK, applied(sm.KindPayment, sm.PartiallyRefunded)}},
			{child("refund-3", payID, "REFUNDED", "35.01"), []expect{refundOK, pay(sm.VerdictRejected, "amount", sm.PartiallyRefunded)}},
		}, sm.PartiallyRefunded, [3]int64{9500, 9500, 6000}},
		// Refunded in full by child refunds alone, the payment's own
		// status never said REFUNDED, so no snapshot total can hold a
		// further child refund: it asks for more than was captured
		// (amount), as in event mode, not late (stale).
		{"refunded in full by children; one more child refund is too much, not late", []step{
			{own(payID, "AUTHORIZED", "95"), []expect{applied(sm.KindPayment, sm.Authorized)}},
			{own(payID, "CAPTURED", "95"), []expect{applied(sm.KindPayment, sm.Captured)}},
			{child("refund-1", payID, "REFUNDED", "95"), []expect{refundOK, applied(sm.KindPayment, sm.Refunded)}},
			{child("refund-2", payID, "REFUNDED", "1"), []expect{refundOK,
				pay(sm.VerdictRejected, "amount: refunded 9600 would exceed captured 9500", sm.Refunded)}},
			// The whole amount again under another child id is another
			// refund object: a double refund, too much, not late.
			{child("refund-3", payID, "REFUNDED", "95"), []expect{refundOK,
				pay(sm.VerdictRejected, "amount: refunded 19000 would exceed captured 9500", sm.Refunded)}},
			// The first child reported again (another created time) is
			// the same refund: stale.
			{child("refund-1", payID, "REFUNDED", "95"), []expect{{sm.KindRefund, sm.VerdictRejected, "stale", sm.Succeeded},
				pay(sm.VerdictRejected, "stale", sm.Refunded)}},
		}, sm.Refunded, [3]int64{9500, 9500, 9500}},
		{"a child refund past the int64 total is an overflow, not late", []step{
			{own(payID, "CAPTURED", "92233720368547758.07"), []expect{pay(sm.VerdictApplied, "jumped", sm.Captured)}},
			{child("refund-1", payID, "REFUNDED", "92233720368547758.07"), []expect{refundOK, applied(sm.KindPayment, sm.Refunded)}},
			{child("refund-2", payID, "REFUNDED", "0.01"), []expect{refundOK,
				pay(sm.VerdictRejected, "amount: refunded 9223372036854775807 \\+ 1 overflows", sm.Refunded)}},
		}, sm.Refunded, [3]int64{9223372036854775807, 9223372036854775807, 9223372036854775807}},
		{"the payment's own REFUNDED refunds the rest", []step{
			{own(payID, "AUTHORIZED", "95"), []expect{applied(sm.KindPayment, sm.Authorized)}},
			{own(payID, "CAPTURED", "95"), []expect{applied(sm.KindPayment, sm.Captured)}},
			{child("refund-1", payID, "REFUNDED", "30"), []expect{refundOK, applied(sm.KindPayment, sm.PartiallyRefunded)}},
			{own(payID, "REFUNDED", "95"), []expect{applied(sm.KindPayment, sm.Refunded)}},
			// A child refund reported after the payment's full refund is
			// one it may have counted: applied in place, using up the rest
			// it took; one more is money on top.
			{child("refund-2", payID, "REFUNDED", "65"), []expect{refundOK, pay(sm.VerdictApplied, "inside the refund in full", sm.Refunded)}},
			{child("refund-3", payID, "REFUNDED", "1"), []expect{refundOK,
				pay(sm.VerdictRejected, "amount: refunded 9600 would exceed captured 9500", sm.Refunded)}},
		}, sm.Refunded, [3]int64{9500, 9500, 9500}},
		// CAPTURED webhooks not enabled (or late): the refund implies the
		// capture it refunds, and the authorization says how much that was.
		{"a child refund on an authorized payment implies its capture", []step{
			{own(payID, "AUTHORIZED", "95"), []expect{applied(sm.KindPayment, sm.Authorized)}},
			{child("refund-1", payID, "REFUNDED", "30"), []expect{refundOK, pay(sm.VerdictApplied, "jumped: passed through captured", sm.PartiallyRefunded)}},
			{own(payID, "CAPTURED", "95"), []expect{pay(sm.VerdictRejected, "stale", sm.PartiallyRefunded)}},
		}, sm.PartiallyRefunded, [3]int64{9500, 9500, 3000}},
		// Nothing of the payment seen: the refund is applied, proving a
		// capture of at least its amount; the totals say "not fully known"
		// (TestChildRefundFirstLeavesAmountsNotFullyKnown).
		{"a child refund before anything of its payment is applied", []step{
			{child("refund-1", payID, "REFUNDED", "30"), []expect{refundOK, pay(sm.VerdictApplied, "jumped: passed through authorized, captured", sm.PartiallyRefunded)}},
			{own(payID, "AUTHORIZED", "95"), []expect{pay(sm.VerdictRejected, "stale", sm.PartiallyRefunded)}},
		}, sm.PartiallyRefunded, [3]int64{3000, 3000, 3000}},
		// The refund object is Inyo's word about itself and is kept as
		// such; the payment rejects what cannot have happened to it (see
		// doc.go, "When a child and its payment disagree").
		{"a child refund of a voided payment: the refund succeeded, the payment rejects it", []step{
			{own(payID, "AUTHORIZED", "95"), []expect{applied(sm.KindPayment, sm.Authorized)}},
			{own(payID, "VOIDED", "95"), []expect{applied(sm.KindPayment, sm.Voided)}},
			{child("refund-1", payID, "REFUNDED", "30"), []expect{refundOK, pay(sm.VerdictRejected, "illegal", sm.Voided)}},
		}, sm.Voided, [3]int64{9500, 0, 0}},
		{"a child refund of a declined payment: the refund succeeded, the payment rejects it", []step{
			{own(payID, "CHALLENGE", "95"), []expect{applied(sm.KindPayment, sm.Challenge)}},
			{own(payID, "DECLINED", "95"), []expect{applied(sm.KindPayment, sm.Declined)}},
			{child("refund-1", payID, "REFUNDED", "30"), []expect{refundOK, pay(sm.VerdictRejected, "illegal", sm.Declined)}},
			// Reported again under another created time: the same refund,
			// stale for the refund and so for the payment.
			{child("refund-1", payID, "REFUNDED", "30"), []expect{
				{sm.KindRefund, sm.VerdictRejected, "stale", sm.Succeeded}, pay(sm.VerdictRejected, "stale", sm.Declined)}},
		}, sm.Declined, [3]int64{0, 0, 0}},
		{"a declined child is recorded and leaves its payment alone", []step{
			{own(payID, "AUTHORIZED", "95"), []expect{applied(sm.KindPayment, sm.Authorized)}},
			{own(payID, "CAPTURED", "95"), []expect{applied(sm.KindPayment, sm.Captured)}},
			{child("refund-1", payID, "DECLINED", "500"), []expect{{"", sm.VerdictRecorded, "no_lifecycle", ""}}},
		}, sm.Captured, [3]int64{9500, 9500, 0}},
		{"a status Inyo adds later is recorded", []step{
			{own(payID, "AUTHORIZED", "95"), []expect{applied(sm.KindPayment, sm.Authorized)}},
			{own(payID, "SETTLED", "95"), []expect{pay(sm.VerdictRecorded, "unknown_event", sm.Authorized)}},
		}, sm.Authorized, [3]int64{9500, 0, 0}},
		// The payment's amount is part of its status: AUTHORIZED for another
		// amount is not the authorization paystate holds, told again
		// (DESIGN, Verdicts: a duplicate is the same event; an amount
		// mismatch is rejected). The same amount under another created
		// time is the repeat it always was.
		{"the payment's own status again with another amount is amount, not a duplicate", []step{
			{own(payID, "AUTHORIZED", "100.10"), []expect{applied(sm.KindPayment, sm.Authorized)}},
			{own(payID, "AUTHORIZED", "999.99"), []expect{pay(sm.VerdictRejected,
				"amount: AUTHORIZED again with amount 99999; already in status AUTHORIZED with amount 10010, authorized 10010$", sm.Authorized)}},
			{own(payID, "AUTHORIZED", "100.10"), []expect{pay(sm.VerdictDuplicate, "already in status AUTHORIZED$", sm.Authorized)}},
		}, sm.Authorized, [3]int64{10010, 0, 0}},
		// A capture for less than the authorization: the payment's own
		// CAPTURED again may state the captured total or the payment's
		// amount; any other figure disagrees with both.
		{"the payment's own CAPTURED again agrees with the capture or the payment's amount", []step{
			{own(payID, "AUTHORIZED", "95"), []expect{applied(sm.KindPayment, sm.Authorized)}},
			{own(payID, "CAPTURED", "50"), []expect{applied(sm.KindPayment, sm.PartiallyCaptured)}},
			{own(payID, "CAPTURED", "50"), []expect{pay(sm.VerdictDuplicate, "already in status CAPTURED", sm.PartiallyCaptured)}},
			{own(payID, "CAPTURED", "95"), []expect{pay(sm.VerdictDuplicate, "already in status CAPTURED", sm.PartiallyCaptured)}},
			{own(payID, "CAPTURED", "60"), []expect{pay(sm.VerdictRejected,
				"amount: CAPTURED again with amount 6000; already in status CAPTURED with amount 9500, captured 5000$", sm.PartiallyCaptured)}},
		}, sm.PartiallyCaptured, [3]int64{9500, 5000, 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := enginetest.New(t, inyo.New(inyo.Config{}))
			for i, s := range tc.steps {
				out := h.Deliver(s.body(i))
				require.Len(t, out, len(s.want), "step %d", i+1)
				for j, w := range s.want {
					o := out[j]
					require.Equal(t, string(w.kind), o.Key.Kind, "step %d outcome %d", i+1, j+1)
					require.Equal(t, w.verdict, o.Verdict, "step %d outcome %d %s: %s", i+1, j+1, o.Event, o.Reason)
					require.Regexp(t, "^"+w.code, o.Reason, "step %d outcome %d %s", i+1, j+1, o.Event)
					require.Equal(t, string(w.state), o.StateAfter, "step %d outcome %d %s", i+1, j+1, o.Event)
				}
			}
			a := h.Aggregate(sm.KindPayment, payID)
			require.Equal(t, string(tc.final), a.State)
			require.Equal(t, tc.amts, [3]int64{a.Authorized, a.Captured, a.Refunded})
			require.Equal(t, "USD", a.Currency)
			h.Verify()
		})
	}
}

func journal(t *testing.T, h *enginetest.Harness, kind sm.Kind, id string) []storage.JournalEntry {
	t.Helper()
	key := storage.AggregateKey{Provider: inyo.Name, Kind: string(kind), ID: id}
	entries, err := h.Store.Journal(t.Context(), &key, 0, 100)
	require.NoError(t, err)
	return entries
}

// A status ahead is applied at once and the states it passed are recorded
// on its journal entry; the late status behind it is stale.
func TestStatusAheadRecordsSkippedStates(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, inyo.New(inyo.Config{}))
	o := h.DeliverOne(own(payID, "CAPTURED", "95")(1))
	require.Equal(t, sm.VerdictApplied, o.Verdict)
	require.Equal(t, string(sm.Captured), o.StateAfter)
	late := h.DeliverOne(own(payID, "AUTHORIZED", "95")(0))
	require.Equal(t, sm.VerdictRejected, late.Verdict)
	require.Regexp(t, "^stale", late.Reason)

	entries := journal(t, h, sm.KindPayment, payID)
	require.Len(t, entries, 2)
	require.Equal(t, "CAPTURED", entries[0].Event)
	require.Equal(t, []string{"authorized"}, entries[0].Skipped)
	require.Equal(t, "new", entries[0].StateBefore)
	require.Equal(t, "AUTHORIZED", entries[1].Event)
	require.Empty(t, entries[1].Skipped)
	require.Equal(t, "captured", entries[1].StateAfter)

	// A payment whose first report is VOIDED passed through authorized.
	o = h.DeliverOne(own("voided-first", "VOIDED", "95")(2))
	require.Equal(t, sm.VerdictApplied, o.Verdict)
	require.Equal(t, []string{"authorized"}, journal(t, h, sm.KindPayment, "voided-first")[0].Skipped)

	// A payment whose first report is its own REFUNDED passed through
	// authorized and a captured state. Which of captured and
	// partially_captured the path names is the statemachine's choice (it
	// currently names partially_captured, the first of the pair): both are
	// sources of REFUNDED and the amounts are unknown on a jump.
	o = h.DeliverOne(own("refunded-first", "REFUNDED", "95")(3))
	require.Equal(t, sm.VerdictApplied, o.Verdict)
	require.Equal(t, string(sm.Refunded), o.StateAfter)
	skipped := journal(t, h, sm.KindPayment, "refunded-first")[0].Skipped
	require.Len(t, skipped, 2)
	require.Equal(t, "authorized", skipped[0])
	require.Contains(t, []string{"captured", "partially_captured"}, skipped[1])
	h.Verify()
}

// A child refund produces a refund aggregate linked to its payment, listed
// under it.
func TestChildRefundsAreRefundAggregates(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, inyo.New(inyo.Config{}))
	h.DeliverOne(own(payID, "CAPTURED", "95")(0))
	h.Deliver(child("refund-1", payID, "REFUNDED", "30")(1))
	h.Deliver(child("refund-2", payID, "REFUNDED", "10.50")(2))

	r := h.Aggregate(sm.KindRefund, "refund-1")
	require.Equal(t, string(sm.Succeeded), r.State)
	require.Equal(t, "REFUNDED", r.ProviderStatus)
	require.Equal(t, int64(3000), r.Amount)
	require.Equal(t, "USD", r.Currency)
	require.Equal(t, storage.AggregateKey{Provider: inyo.Name, Kind: string(sm.KindPayment), ID: payID}, r.Parent)
	require.Equal(t, "ORD-"+payID, r.MerchantReference)

	kids, err := h.Store.Children(t.Context(), storage.AggregateKey{Provider: inyo.Name, Kind: string(sm.KindPayment), ID: payID})
	require.NoError(t, err)
	require.Len(t, kids, 2)
	require.Equal(t, "refund-1", kids[0].Key.ID)
	require.Equal(t, "refund-2", kids[1].Key.ID)
	require.Equal(t, int64(1050), kids[1].Amount)

	p := h.Aggregate(sm.KindPayment, payID)
	require.Equal(t, string(sm.PartiallyRefunded), p.State)
	require.Equal(t, int64(4050), p.Refunded)
	h.Verify()
}

func TestDuplicatesConflictsAndRestart(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, inyo.New(inyo.Config{}))
	auth := own(payID, "AUTHORIZED", "95")(0)
	require.Equal(t, sm.VerdictApplied, h.DeliverOne(auth).Verdict)
	require.Equal(t, sm.VerdictDuplicate, h.DeliverOne(auth).Verdict)

	capture := own(payID, "CAPTURED", "95")(1)
	require.Equal(t, sm.VerdictApplied, h.DeliverOne(capture).Verdict)

	refund := child("refund-1", payID, "REFUNDED", "30")(2)
	out := h.Deliver(refund)
	require.Len(t, out, 2)
	require.Equal(t, sm.VerdictApplied, out[0].Verdict)
	require.Equal(t, sm.VerdictApplied, out[1].Verdict)

	h.Restart()
	// The payment's own objects are snapshots: CAPTURED is still its
	// status (the child refund moved the payment, not Inyo's status of
	// it), so a retry is a duplicate; AUTHORIZED is behind it, stale.
	require.Equal(t, sm.VerdictDuplicate, h.DeliverOne(capture).Verdict, "dedupe survives a restart")
	o := h.DeliverOne(auth)
	require.Equal(t, sm.VerdictRejected, o.Verdict)
	require.Regexp(t, "^stale", o.Reason)
	out = h.Deliver(refund)
	require.Len(t, out, 2)
	require.Equal(t, sm.VerdictDuplicate, out[0].Verdict, "the refund aggregate's event")
	require.Equal(t, sm.VerdictDuplicate, out[1].Verdict, "the parent's event")

	// The same identifying fields with another body: a conflict, recorded,
	// never applied twice.
	var m map[string]any
	require.NoError(t, json.Unmarshal(refund, &m))
	m["message"] = "Refund Approved"
	changed, err := json.Marshal(m)
	require.NoError(t, err)
	out = h.Deliver(changed)
	require.Len(t, out, 2)
	for _, o := range out {
		require.Equal(t, sm.VerdictRejected, o.Verdict)
		require.Regexp(t, "^conflict", o.Reason)
	}

	p := h.Aggregate(sm.KindPayment, payID)
	require.Equal(t, string(sm.PartiallyRefunded), p.State)
	require.Equal(t, int64(3), p.Version)
	require.Equal(t, int64(3000), p.Refunded)
	require.Equal(t, int64(1), h.Aggregate(sm.KindRefund, "refund-1").Version)
	h.Verify()
}

// The fixtures, delivered in the order their stories happen, end where
// their documents say.
func TestFixturesThroughTheEngine(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, inyo.New(inyo.Config{}))
	deliver := func(name string) []engine.Outcome {
		body, err := os.ReadFile(filepath.Join("testdata", name))
		require.NoError(t, err)
		out := h.Deliver(body)
		for _, o := range out {
			require.Contains(t, []sm.Verdict{sm.VerdictApplied, sm.VerdictRecorded}, o.Verdict, "%s %s: %s", name, o.Event, o.Reason)
		}
		return out
	}
	for _, name := range []string{
		"sample_authorized.json",
		"status_AUTHORIZED.json", "child_capture.json",
		"status_CAPTURED.json", "child_refund.json", "child_declined.json",
		"status_CHALLENGE.json", "status_DECLINED.json", "status_VOIDED.json", "status_REFUNDED.json",
		"challenge_authorized_1_CHALLENGE.json", "challenge_authorized_2_AUTHORIZED.json", "child_void.json",
		"challenge_declined_1_CHALLENGE.json", "challenge_declined_2_DECLINED.json",
	} {
		deliver(name)
	}
	states := map[string]sm.State{
		"469670e2-31e3-4700-b9f2-abee99418dc4": sm.Authorized,
		"7c1e2f0a-5b9d-4c3e-8a61-2f4d9b0e1a11": sm.PartiallyCaptured,
		"3b8f6d24-91a7-4e0c-b5d2-6c0a8e7f4b22": sm.PartiallyRefunded,
		"a4f7e1b9-6c2d-4b08-93ae-7d5c0f8e2b55": sm.Challenge,
		"c9b2a6e0-3f18-4d7c-a5e9-0b6d4f1c8e66": sm.Declined,
		"1f6e3c8a-b4d9-4a27-8e0f-5c2b9d7a3f77": sm.Voided,
		"8e3d7b1c-4a6f-49d0-b2c8-3f1e6a9d0c88": sm.Refunded,
		"e2a94c17-0f3b-4d86-9c5e-1b7d3a6f8c33": sm.Voided,
		"5d0c8b3e-2a7f-41e9-8b64-9e3f1c2a7d44": sm.Declined,
	}
	for id, s := range states {
		require.Equal(t, string(s), h.Aggregate(sm.KindPayment, id).State, id)
	}
	a := h.Aggregate(sm.KindPayment, "7c1e2f0a-5b9d-4c3e-8a61-2f4d9b0e1a11")
	require.Equal(t, [2]int64{12050, 5000}, [2]int64{a.Authorized, a.Captured})
	c := h.Aggregate(sm.KindPayment, "3b8f6d24-91a7-4e0c-b5d2-6c0a8e7f4b22")
	require.Equal(t, [2]int64{10010, 2500}, [2]int64{c.Captured, c.Refunded})
	require.Equal(t, string(sm.Succeeded), h.Aggregate(sm.KindRefund, "0d9a4e6b-7c3f-4e81-a0d5-2b8c6f1e9a99").State)
	h.Restart()
	h.Verify()
}

// TestEveryStatusHasAVerdict sends each status to a fresh payment: every
// one is applied (reached along the legal path), none is recorded as
// unknown.
func TestEveryStatusHasAVerdict(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, inyo.New(inyo.Config{}))
	m := h.Machines.Machine(inyo.Name, sm.KindPayment)
	for i, st := range m.Events() {
		o := h.DeliverOne(own("fresh-"+st, st, "95")(i))
		require.Equal(t, sm.VerdictApplied, o.Verdict, "%s: %s", st, o.Reason)
	}
	h.Verify()
}

// A refund of a payment nothing is known of is applied; the payment's
// totals are marked not fully known, and a second refund is not rejected
// for the capture nobody reported.
func TestChildRefundFirstLeavesAmountsNotFullyKnown(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, inyo.New(inyo.Config{}))
	for i, c := range []struct{ id, amount string }{{"refund-1", "30"}, {"refund-2", "20"}} {
		out := h.Deliver(child(c.id, payID, "REFUNDED", c.amount)(i))
		require.Len(t, out, 2)
		for _, o := range out {
			require.Equal(t, sm.VerdictApplied, o.Verdict, o.Reason)
		}
	}
	p := h.Aggregate(sm.KindPayment, payID)
	require.Equal(t, string(sm.PartiallyRefunded), p.State)
	require.True(t, p.AmountsUnknown, "the capture was never reported")
	require.Equal(t, int64(5000), p.Refunded)
	require.Equal(t, int64(5000), p.Captured, "at least what was refunded")
	h.Verify()

	// A payment whose amounts were all reported is not marked.
	h.Deliver(own("pay-2", "AUTHORIZED", "95")(0))
	h.Deliver(own("pay-2", "CAPTURED", "95")(1))
	require.False(t, h.Aggregate(sm.KindPayment, "pay-2").AmountsUnknown)
}
