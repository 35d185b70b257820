package generic_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/engine"
	"github.com/paystate/paystate/engine/enginetest"
	"github.com/paystate/paystate/providers/generic"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
)

// webhook builds a body in the accepted shape. A nil amount leaves amount
// and currency out; an empty evID leaves the envelope id out.
func webhook(evID, typ string, created int64, data map[string]any) []byte {
	env := map[string]any{"type": typ, "created": created, "data": data}
	if evID != "" {
		env["id"] = evID
	}
	b, err := json.Marshal(env)
	if err != nil {
		panic(err)
	}
	return b
}

func paymentBody(evID, typ, id string, amount any) []byte {
	data := map[string]any{"id": id, "status": typ, "merchant_reference": "ORD-" + id}
	if amount != nil {
		data["amount"], data["currency"] = amount, "USD"
	}
	return webhook(evID, typ, 1741944000, data)
}

func refundBody(evID, typ, id, paymentID string, amount any) []byte {
	data := map[string]any{"id": id}
	if paymentID != "" {
		data["payment_id"] = paymentID
	}
	if amount != nil {
		data["amount"], data["currency"] = amount, "USD"
	}
	return webhook(evID, typ, 1741945000, data)
}

// out is an expected outcome: the aggregate, its verdict, the reason's
// leading code and the state after.
type out struct {
	kind    sm.Kind
	id      string
	verdict sm.Verdict
	code    string
	state   sm.State
}

func requireOutcomes(t *testing.T, label string, want []out, got []engine.Outcome) {
	t.Helper()
	require.Len(t, got, len(want), "%s: %+v", label, got)
	for i, w := range want {
		o := got[i]
		require.Equal(t, string(w.kind), o.Key.Kind, "%s #%d", label, i)
		require.Equal(t, w.id, o.Key.ID, "%s #%d", label, i)
		require.Equal(t, w.verdict, o.Verdict, "%s #%d: %s", label, i, o.Reason)
		require.Regexp(t, "^"+w.code, o.Reason, "%s #%d", label, i)
		if w.state != "" {
			require.Equal(t, string(w.state), o.StateAfter, "%s #%d", label, i)
		}
	}
}

type step struct {
	body     []byte
	want     []out
	resolved []out // deferred events this step released, in order
}

func resolvedOf(outs []engine.Outcome) []engine.Outcome {
	var r []engine.Outcome
	for _, o := range outs {
		r = append(r, o.Resolved...)
	}
	return r
}

const (
	pay    = sm.KindPayment
	refund = sm.KindRefund
)

func TestSequences(t *testing.T) {
	t.Parallel()
	type amounts struct{ captured, refunded int64 }
	cases := []struct {
		name  string
		steps []step
		final sm.State // of payment p1
		amts  amounts
		// refunds lists refund aggregates that must exist, with their state.
		refunds map[string]sm.State
	}{
		{"completed, refund initiated, refund completed in full", []step{
			{paymentBody("e1", "payment.completed", "p1", 10000), []out{{pay, "p1", sm.VerdictApplied, "", sm.Captured}}, nil},
			{refundBody("e2", "refund.initiated", "r1", "p1", 10000), []out{{refund, "r1", sm.VerdictApplied, "", sm.Pending}}, nil},
			{refundBody("e3", "refund.completed", "r1", "p1", 10000), []out{
				{refund, "r1", sm.VerdictApplied, "", sm.Succeeded},
				{pay, "p1", sm.VerdictApplied, "", sm.Refunded},
			}, nil},
		}, sm.Refunded, amounts{10000, 10000}, map[string]sm.State{"r1": sm.Succeeded}},

		{"partial refunds add up to a full refund; decimal strings and integers mix", []step{
			{paymentBody("e1", "payment.completed", "p1", "100.00"), []out{{pay, "p1", sm.VerdictApplied, "", sm.Captured}}, nil},
			{refundBody("e2", "refund.initiated", "r1", "p1", "25.00"), []out{{refund, "r1", sm.VerdictApplied, "", sm.Pending}}, nil},
			{refundBody("e3", "refund.completed", "r1", "p1", 2500), []out{
				{refund, "r1", sm.VerdictApplied, "", sm.Succeeded},
				{pay, "p1", sm.VerdictApplied, "", sm.PartiallyRefunded},
			}, nil},
			{refundBody("e4", "refund.completed", "r2", "p1", "75.00"), []out{
				{refund, "r2", sm.VerdictApplied, "", sm.Succeeded},
				{pay, "p1", sm.VerdictApplied, "", sm.Refunded},
			}, nil},
		}, sm.Refunded, amounts{10000, 10000}, map[string]sm.State{"r1": sm.Succeeded, "r2": sm.Succeeded}},

		{"refund completed before the payment: the payment side is deferred, then applied", []step{
			{refundBody("e2", "refund.completed", "r1", "p1", 4000), []out{
				{refund, "r1", sm.VerdictApplied, "", sm.Succeeded},
				{pay, "p1", sm.VerdictDeferred, "early", sm.StateNew},
			}, nil},
			{paymentBody("e1", "payment.completed", "p1", 10000), []out{{pay, "p1", sm.VerdictApplied, "", sm.Captured}},
				[]out{{pay, "p1", sm.VerdictApplied, "", sm.PartiallyRefunded}}},
		}, sm.PartiallyRefunded, amounts{10000, 4000}, map[string]sm.State{"r1": sm.Succeeded}},

		{"refund completed before initiated: the late initiated is stale", []step{
			{paymentBody("e1", "payment.completed", "p1", 10000), []out{{pay, "p1", sm.VerdictApplied, "", sm.Captured}}, nil},
			{refundBody("e3", "refund.completed", "r1", "p1", 3000), []out{
				{refund, "r1", sm.VerdictApplied, "", sm.Succeeded},
				{pay, "p1", sm.VerdictApplied, "", sm.PartiallyRefunded},
			}, nil},
			{refundBody("e2", "refund.initiated", "r1", "p1", 3000), []out{{refund, "r1", sm.VerdictRejected, "stale", sm.Succeeded}}, nil},
		}, sm.PartiallyRefunded, amounts{10000, 3000}, map[string]sm.State{"r1": sm.Succeeded}},

		{"refund larger than the payment is rejected on the payment", []step{
			{paymentBody("e1", "payment.completed", "p1", 5000), []out{{pay, "p1", sm.VerdictApplied, "", sm.Captured}}, nil},
			{refundBody("e2", "refund.completed", "r1", "p1", 5001), []out{
				{refund, "r1", sm.VerdictApplied, "", sm.Succeeded},
				{pay, "p1", sm.VerdictRejected, "amount", sm.Captured},
			}, nil},
		}, sm.Captured, amounts{5000, 0}, map[string]sm.State{"r1": sm.Succeeded}},

		{"refunds beyond what is left are rejected", []step{
			{paymentBody("e1", "payment.completed", "p1", 10000), []out{{pay, "p1", sm.VerdictApplied, "", sm.Captured}}, nil},
			{refundBody("e2", "refund.completed", "r1", "p1", 6000), []out{
				{refund, "r1", sm.VerdictApplied, "", sm.Succeeded},
				{pay, "p1", sm.VerdictApplied, "", sm.PartiallyRefunded},
			}, nil},
			{refundBody("e3", "refund.completed", "r2", "p1", 6000), []out{
				{refund, "r2", sm.VerdictApplied, "", sm.Succeeded},
				{pay, "p1", sm.VerdictRejected, "amount", sm.PartiallyRefunded},
			}, nil},
		}, sm.PartiallyRefunded, amounts{10000, 6000}, map[string]sm.State{"r1": sm.Succeeded, "r2": sm.Succeeded}},

		{"refund in another currency is rejected on the payment", []step{
			{paymentBody("e1", "payment.completed", "p1", 10000), []out{{pay, "p1", sm.VerdictApplied, "", sm.Captured}}, nil},
			{webhook("e2", "refund.completed", 1741945000, map[string]any{"id": "r1", "payment_id": "p1", "amount": 100, "currency": "EUR"}), []out{
				{refund, "r1", sm.VerdictApplied, "", sm.Succeeded},
				{pay, "p1", sm.VerdictRejected, "currency", sm.Captured},
			}, nil},
		}, sm.Captured, amounts{10000, 0}, map[string]sm.State{"r1": sm.Succeeded}},

		{"failed attempts, then completed; a late failure is stale", []step{
			{paymentBody("e1", "payment.failed", "p1", 10000), []out{{pay, "p1", sm.VerdictApplied, "", sm.Failed}}, nil},
			{paymentBody("e2", "payment.failed", "p1", nil), []out{{pay, "p1", sm.VerdictApplied, "", sm.Failed}}, nil},
			{paymentBody("e3", "payment.completed", "p1", 10000), []out{{pay, "p1", sm.VerdictApplied, "", sm.Captured}}, nil},
			{paymentBody("e4", "payment.failed", "p1", 10000), []out{{pay, "p1", sm.VerdictRejected, "stale", sm.Captured}}, nil},
			{paymentBody("e5", "payment.completed", "p1", 10000), []out{{pay, "p1", sm.VerdictRejected, "stale", sm.Captured}}, nil},
		}, sm.Captured, amounts{10000, 0}, nil},

		{"refund of a failed payment waits for a completed attempt", []step{
			{paymentBody("e1", "payment.failed", "p1", nil), []out{{pay, "p1", sm.VerdictApplied, "", sm.Failed}}, nil},
			{refundBody("e3", "refund.completed", "r1", "p1", 10000), []out{
				{refund, "r1", sm.VerdictApplied, "", sm.Succeeded},
				{pay, "p1", sm.VerdictDeferred, "early", sm.Failed},
			}, nil},
			{paymentBody("e2", "payment.completed", "p1", 10000), []out{{pay, "p1", sm.VerdictApplied, "", sm.Captured}},
				[]out{{pay, "p1", sm.VerdictApplied, "", sm.Refunded}}},
		}, sm.Refunded, amounts{10000, 10000}, map[string]sm.State{"r1": sm.Succeeded}},

		{"a refund without payment_id stands alone", []step{
			{paymentBody("e1", "payment.completed", "p1", 10000), []out{{pay, "p1", sm.VerdictApplied, "", sm.Captured}}, nil},
			{refundBody("e2", "refund.completed", "r1", "", 10000), []out{{refund, "r1", sm.VerdictApplied, "", sm.Succeeded}}, nil},
		}, sm.Captured, amounts{10000, 0}, map[string]sm.State{"r1": sm.Succeeded}},

		{"customer events and unknown types are recorded", []step{
			{paymentBody("e1", "payment.completed", "p1", 10000), []out{{pay, "p1", sm.VerdictApplied, "", sm.Captured}}, nil},
			{webhook("e2", "customer.created", 1741944000, map[string]any{"id": "c1", "email": "a@example.com"}), []out{{"", "c1", sm.VerdictRecorded, "no_lifecycle", ""}}, nil},
			{webhook("e3", "customer.updated", 1741944001, map[string]any{"object": map[string]any{"id": "c1"}}), []out{{"", "c1", sm.VerdictRecorded, "no_lifecycle", ""}}, nil},
			{webhook("e4", "payment.disputed", 1741944002, map[string]any{"id": "p1"}), []out{{pay, "p1", sm.VerdictRecorded, "unknown_event", sm.Captured}}, nil},
			{webhook("e5", "refund.failed", 1741944003, map[string]any{"id": "r9", "payment_id": "p1"}), []out{{refund, "r9", sm.VerdictRecorded, "unknown_event", sm.StateNew}}, nil},
			{webhook("e6", "payout.paid", 1741944004, map[string]any{"id": "po_1"}), []out{{"", "po_1", sm.VerdictRecorded, "no_lifecycle", ""}}, nil},
		}, sm.Captured, amounts{10000, 0}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := enginetest.New(t, generic.New(generic.Config{}))
			for i, s := range tc.steps {
				got := h.Deliver(s.body)
				label := fmt.Sprintf("step %d", i+1)
				requireOutcomes(t, label, s.want, got)
				requireOutcomes(t, label+" resolved", s.resolved, resolvedOf(got))
			}
			a := h.Aggregate(pay, "p1")
			require.Equal(t, string(tc.final), a.State)
			require.Equal(t, tc.amts, amounts{a.Captured, a.Refunded})
			require.Equal(t, "USD", a.Currency)
			require.Equal(t, "ORD-p1", a.MerchantReference)
			for id, state := range tc.refunds {
				r := h.Aggregate(refund, id)
				require.Equal(t, string(state), r.State, id)
				if id != "r1" || tc.name != "a refund without payment_id stands alone" {
					require.Equal(t, storage.AggregateKey{Provider: generic.Name, Kind: string(pay), ID: "p1"}, r.Parent, id)
				} else {
					require.Equal(t, storage.AggregateKey{}, r.Parent)
				}
			}
			h.Verify()
		})
	}
}

// The gateway retries until it gets a 2xx: the same delivery again is a
// duplicate, before and after a restart, for both events of a refund.
func TestRetriedDeliveryIsADuplicate(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, generic.New(generic.Config{}))
	payment := paymentBody("e1", "payment.completed", "p1", 10000)
	refunded := refundBody("e2", "refund.completed", "r1", "p1", 2500)
	requireOutcomes(t, "first", []out{{pay, "p1", sm.VerdictApplied, "", sm.Captured}}, h.Deliver(payment))
	requireOutcomes(t, "retry", []out{{pay, "p1", sm.VerdictDuplicate, "", sm.Captured}}, h.Deliver(payment))
	requireOutcomes(t, "refund", []out{
		{refund, "r1", sm.VerdictApplied, "", sm.Succeeded},
		{pay, "p1", sm.VerdictApplied, "", sm.PartiallyRefunded},
	}, h.Deliver(refunded))
	requireOutcomes(t, "refund retry", []out{
		{refund, "r1", sm.VerdictDuplicate, "", sm.Succeeded},
		{pay, "p1", sm.VerdictDuplicate, "", sm.PartiallyRefunded},
	}, h.Deliver(refunded))
	h.Restart()
	requireOutcomes(t, "retry after restart", []out{{pay, "p1", sm.VerdictDuplicate, "", sm.PartiallyRefunded}}, h.Deliver(payment))
	requireOutcomes(t, "refund retry after restart", []out{
		{refund, "r1", sm.VerdictDuplicate, "", sm.Succeeded},
		{pay, "p1", sm.VerdictDuplicate, "", sm.PartiallyRefunded},
	}, h.Deliver(refunded))
	a := h.Aggregate(pay, "p1")
	require.Equal(t, int64(2), a.Version)
	require.Equal(t, int64(2500), a.Refunded, "a retried refund never refunds twice")
	h.Verify()
}

// One refund moves its payment once, whatever envelope it comes in: the
// same refund completed again under another event id (or, without one, at
// another created time) is stale for the refund, and so for its effect on
// the payment: the refunded total stays.
func TestRefundUnderAnotherEventIDNeverMovesMoneyTwice(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, generic.New(generic.Config{}))
	requireOutcomes(t, "payment", []out{{pay, "p1", sm.VerdictApplied, "", sm.Captured}},
		h.Deliver(paymentBody("e1", "payment.completed", "p1", 10000)))
	requireOutcomes(t, "refund", []out{
		{refund, "r1", sm.VerdictApplied, "", sm.Succeeded},
		{pay, "p1", sm.VerdictApplied, "", sm.PartiallyRefunded},
	}, h.Deliver(refundBody("e2", "refund.completed", "r1", "p1", 3000)))
	again := []out{
		{refund, "r1", sm.VerdictRejected, "stale", sm.Succeeded},
		{pay, "p1", sm.VerdictRejected, "stale", sm.PartiallyRefunded},
	}
	requireOutcomes(t, "the same refund under another id", again, h.Deliver(refundBody("e3", "refund.completed", "r1", "p1", 3000)))
	noID := webhook("", "refund.completed", 1741946000, map[string]any{"id": "r1", "payment_id": "p1", "amount": 3000, "currency": "USD"})
	requireOutcomes(t, "the same refund without an id", again, h.Deliver(noID))
	require.Equal(t, int64(3000), h.Aggregate(pay, "p1").Refunded)
	h.Verify()
}

// The same refund reported again after the payment was refunded in full is
// still the same refund: its effect on the payment restates that the
// refund was stale, rather than being judged as a third refund of more
// than is left (an amount rejection would tell an auditor of money that
// was never asked for).
func TestRefundUnderAnotherEventIDAfterAFullRefundIsStale(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, generic.New(generic.Config{}))
	requireOutcomes(t, "payment", []out{{pay, "p1", sm.VerdictApplied, "", sm.Captured}},
		h.Deliver(paymentBody("e1", "payment.completed", "p1", 10000)))
	requireOutcomes(t, "first refund", []out{
		{refund, "r1", sm.VerdictApplied, "", sm.Succeeded},
		{pay, "p1", sm.VerdictApplied, "", sm.PartiallyRefunded},
	}, h.Deliver(refundBody("e2", "refund.completed", "r1", "p1", 3000)))
	requireOutcomes(t, "second refund, the rest", []out{
		{refund, "r2", sm.VerdictApplied, "", sm.Succeeded},
		{pay, "p1", sm.VerdictApplied, "", sm.Refunded},
	}, h.Deliver(refundBody("e3", "refund.completed", "r2", "p1", 7000)))
	requireOutcomes(t, "the first refund under another id", []out{
		{refund, "r1", sm.VerdictRejected, "stale", sm.Succeeded},
		{pay, "p1", sm.VerdictRejected, "stale", sm.Refunded},
	}, h.Deliver(refundBody("e4", "refund.completed", "r1", "p1", 3000)))
	a := h.Aggregate(pay, "p1")
	require.Equal(t, int64(10000), a.Refunded)
	require.Equal(t, int64(3), a.Version)
	h.Verify()
}

// refund.initiated is "a refund is initiated", refund.completed "a refund
// is successfully processed": the completed amount is what was refunded,
// the initiated one what was asked for. The refund takes the completed
// amount, as its payment's refunded total does, and the entry says what
// it was before; the two never tell different stories.
func TestCompletedRefundAmountIsTheRefundsAmount(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, generic.New(generic.Config{}))
	requireOutcomes(t, "payment", []out{{pay, "p1", sm.VerdictApplied, "", sm.Captured}},
		h.Deliver(paymentBody("e1", "payment.completed", "p1", 10000)))
	requireOutcomes(t, "initiated", []out{{refund, "r1", sm.VerdictApplied, "$", sm.Pending}},
		h.Deliver(refundBody("e2", "refund.initiated", "r1", "p1", 3000)))
	require.Equal(t, int64(3000), h.Aggregate(refund, "r1").Amount)
	requireOutcomes(t, "completed for more", []out{
		{refund, "r1", sm.VerdictApplied, "amount changed from 3000 to 5000$", sm.Succeeded},
		{pay, "p1", sm.VerdictApplied, "$", sm.PartiallyRefunded},
	}, h.Deliver(refundBody("e3", "refund.completed", "r1", "p1", 5000)))
	r, p := h.Aggregate(refund, "r1"), h.Aggregate(pay, "p1")
	require.Equal(t, int64(5000), r.Amount)
	require.Equal(t, r.Amount, p.Refunded, "the refund and its payment agree")

	// Completed without an amount: the refund keeps the initiated one,
	// and its payment is refunded by it (doc.go), the entry saying whose
	// amount it is.
	requireOutcomes(t, "initiated", []out{{refund, "r2", sm.VerdictApplied, "$", sm.Pending}},
		h.Deliver(refundBody("e4", "refund.initiated", "r2", "p1", 1000)))
	requireOutcomes(t, "completed without amount", []out{
		{refund, "r2", sm.VerdictApplied, "$", sm.Succeeded},
		{pay, "p1", sm.VerdictApplied, "amount 1000 is refund r2's: the event reported none$", sm.PartiallyRefunded},
	}, h.Deliver(refundBody("e5", "refund.completed", "r2", "p1", nil)))
	r, p = h.Aggregate(refund, "r2"), h.Aggregate(pay, "p1")
	require.Equal(t, int64(1000), r.Amount)
	require.Equal(t, int64(6000), p.Refunded, "the refunds and their payment agree")
	require.False(t, p.AmountsUnknown)

	// Without an amount ever reported, the refund's is not known either:
	// the payment's totals are marked not fully known.
	requireOutcomes(t, "completed, no amount anywhere", []out{
		{refund, "r3", sm.VerdictApplied, "$", sm.Succeeded},
		{pay, "p1", sm.VerdictApplied, "$", sm.PartiallyRefunded},
	}, h.Deliver(refundBody("e6", "refund.completed", "r3", "p1", nil)))
	require.True(t, h.Aggregate(pay, "p1").AmountsUnknown)
	h.Restart()
	h.Verify()
}

// A refund.completed without an amount whose payment has not completed
// yet: its effect waits with the refund's amount, and is applied with it.
func TestCompletedRefundWithoutAmountWaitsWithTheRefundsAmount(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, generic.New(generic.Config{}))
	h.Deliver(refundBody("e1", "refund.initiated", "r1", "p1", 2500))
	out := h.Deliver(refundBody("e2", "refund.completed", "r1", "p1", nil))
	require.Len(t, out, 2)
	require.Equal(t, sm.VerdictDeferred, out[1].Verdict, out[1].Reason)
	h.Deliver(paymentBody("e3", "payment.completed", "p1", 10000))
	p := h.Aggregate(pay, "p1")
	require.Equal(t, string(sm.PartiallyRefunded), p.State)
	require.Equal(t, int64(2500), p.Refunded)
	require.False(t, p.AmountsUnknown)
	h.Restart()
	h.Verify()
}

// A refund names its payment through payment_id, and a refund belongs to
// one payment: a refund.completed naming another payment than the
// refund.initiated did is conflicting data. It is rejected, so is its
// effect on the payment it names, and nothing moves: the refund stays
// pending on its payment, neither payment's refunded total changes. The
// completion naming the refund's own payment is applied as usual.
func TestRefundNamingAnotherPaymentIsAConflict(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, generic.New(generic.Config{}))
	for _, id := range []string{"p1", "p2"} {
		requireOutcomes(t, "payment", []out{{pay, id, sm.VerdictApplied, "", sm.Captured}},
			h.Deliver(paymentBody("e-"+id, "payment.completed", id, 10000)))
	}
	requireOutcomes(t, "initiated on p1", []out{{refund, "r1", sm.VerdictApplied, "", sm.Pending}},
		h.Deliver(refundBody("e2", "refund.initiated", "r1", "p1", 1000)))
	requireOutcomes(t, "completed on p2", []out{
		{refund, "r1", sm.VerdictRejected, "conflict: names payment p2 as its parent; it belongs to payment p1$", sm.Pending},
		{pay, "p2", sm.VerdictRejected, "conflict: its refund r1 was rejected here", sm.Captured},
	}, h.Deliver(refundBody("e3", "refund.completed", "r1", "p2", 1000)))
	r := h.Aggregate(refund, "r1")
	require.Equal(t, storage.AggregateKey{Provider: generic.Name, Kind: string(pay), ID: "p1"}, r.Parent)
	require.Equal(t, int64(1), r.Version)
	for _, id := range []string{"p1", "p2"} {
		p := h.Aggregate(pay, id)
		require.Equal(t, int64(0), p.Refunded, id)
		require.Equal(t, int64(1), p.Version, id)
	}

	requireOutcomes(t, "completed on p1", []out{
		{refund, "r1", sm.VerdictApplied, "", sm.Succeeded},
		{pay, "p1", sm.VerdictApplied, "", sm.PartiallyRefunded},
	}, h.Deliver(refundBody("e4", "refund.completed", "r1", "p1", 1000)))
	require.Equal(t, int64(1000), h.Aggregate(pay, "p1").Refunded)
	h.Verify()
}

// Without an envelope id the derived key still makes a retry a duplicate.
func TestRetryWithoutEventID(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, generic.New(generic.Config{}))
	body := paymentBody("", "payment.completed", "p1", "100.00")
	require.Equal(t, sm.VerdictApplied, h.DeliverOne(body).Verdict)
	require.Equal(t, sm.VerdictDuplicate, h.DeliverOne(body).Verdict)
	h.Verify()
}

// The same event id with a different body is a conflict, never a silent
// duplicate, and changes nothing.
func TestSameIDDifferentBodyIsAConflict(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, generic.New(generic.Config{}))
	require.Equal(t, sm.VerdictApplied, h.DeliverOne(paymentBody("e1", "payment.completed", "p1", 10000)).Verdict)
	o := h.DeliverOne(paymentBody("e1", "payment.completed", "p1", 20000))
	require.Equal(t, sm.VerdictRejected, o.Verdict)
	require.Regexp(t, "^conflict", o.Reason)
	// A different event reusing the id is a conflict too, even on another aggregate.
	o = h.DeliverOne(paymentBody("e1", "payment.failed", "p2", nil))
	require.Equal(t, sm.VerdictRejected, o.Verdict)
	require.Regexp(t, "^conflict", o.Reason)

	a := h.Aggregate(pay, "p1")
	require.Equal(t, int64(10000), a.Captured)
	require.Equal(t, int64(1), a.Version)
	h.Verify()
}

// A deferred payment-side refund survives a restart and is applied when
// the payment completes afterwards.
func TestDeferredSurvivesRestart(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, generic.New(generic.Config{}))
	requireOutcomes(t, "refund", []out{
		{refund, "r1", sm.VerdictApplied, "", sm.Succeeded},
		{pay, "p1", sm.VerdictDeferred, "early", sm.StateNew},
	}, h.Deliver(refundBody("e2", "refund.completed", "r1", "p1", 10000)))
	h.Restart()
	got := h.Deliver(paymentBody("e1", "payment.completed", "p1", 10000))
	requireOutcomes(t, "payment", []out{{pay, "p1", sm.VerdictApplied, "", sm.Captured}}, got)
	requireOutcomes(t, "resolved", []out{{pay, "p1", sm.VerdictApplied, "", sm.Refunded}}, resolvedOf(got))
	h.Restart()
	require.Equal(t, string(sm.Refunded), h.Aggregate(pay, "p1").State)
	h.Verify()
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

// The sequence fixtures, delivered in their numbered order.
func TestFixtureSequences(t *testing.T) {
	t.Parallel()
	t.Run("partial refund", func(t *testing.T) {
		t.Parallel()
		h := enginetest.New(t, generic.New(generic.Config{}))
		requireOutcomes(t, "1", []out{{pay, "pay_9a8b7c6d5e", sm.VerdictApplied, "", sm.Captured}},
			h.Deliver(fixture(t, "partial_refund_1_payment.completed.json")))
		requireOutcomes(t, "2", []out{{refund, "re_0f1e2d3c", sm.VerdictApplied, "", sm.Pending}},
			h.Deliver(fixture(t, "partial_refund_2_refund.initiated.json")))
		requireOutcomes(t, "3", []out{
			{refund, "re_0f1e2d3c", sm.VerdictApplied, "", sm.Succeeded},
			{pay, "pay_9a8b7c6d5e", sm.VerdictApplied, "", sm.PartiallyRefunded},
		}, h.Deliver(fixture(t, "partial_refund_3_refund.completed.json")))
		a := h.Aggregate(pay, "pay_9a8b7c6d5e")
		require.Equal(t, "KWD", a.Currency)
		require.Equal(t, [2]int64{120500, 20250}, [2]int64{a.Captured, a.Refunded})
		require.Equal(t, "ORD-2025-0004", a.MerchantReference)
		r := h.Aggregate(refund, "re_0f1e2d3c")
		require.Equal(t, "pay_9a8b7c6d5e", r.Parent.ID)
		require.Equal(t, int64(20250), r.Amount)
		h.Verify()
	})
	t.Run("refund before payment", func(t *testing.T) {
		t.Parallel()
		h := enginetest.New(t, generic.New(generic.Config{}))
		requireOutcomes(t, "1", []out{
			{refund, "re_77d2b6f1", sm.VerdictApplied, "", sm.Succeeded},
			{pay, "pay_4c0de5e7aa", sm.VerdictDeferred, "early", sm.StateNew},
		}, h.Deliver(fixture(t, "refund_before_payment_1_refund.completed.json")))
		got := h.Deliver(fixture(t, "refund_before_payment_2_payment.completed.json"))
		requireOutcomes(t, "2", []out{{pay, "pay_4c0de5e7aa", sm.VerdictApplied, "", sm.Captured}}, got)
		requireOutcomes(t, "2 resolved", []out{{pay, "pay_4c0de5e7aa", sm.VerdictApplied, "", sm.Refunded}}, resolvedOf(got))
		a := h.Aggregate(pay, "pay_4c0de5e7aa")
		require.Equal(t, [2]int64{7500, 7500}, [2]int64{a.Captured, a.Refunded})
		h.Verify()
	})
	t.Run("every documented event, in document order", func(t *testing.T) {
		t.Parallel()
		h := enginetest.New(t, generic.New(generic.Config{}))
		for _, name := range []string{"customer.created", "payment.completed", "payment.failed", "refund.initiated", "refund.completed", "customer.updated"} {
			for _, o := range h.Deliver(fixture(t, "event_"+name+".json")) {
				require.NotEqual(t, sm.VerdictRejected, o.Verdict, "%s: %s", name, o.Reason)
			}
		}
		a := h.Aggregate(pay, "pay_8f3c2a91d4")
		require.Equal(t, string(sm.PartiallyRefunded), a.State)
		require.Equal(t, string(sm.Failed), h.Aggregate(pay, "pay_1e9b7c3a55").State)
		require.Equal(t, string(sm.Succeeded), h.Aggregate(refund, "re_3a71c0e2").State)
		h.Verify()
	})
}

// Completed events without an amount are applied with the payment's totals
// marked not fully known, never refused (the gateway would retry, then give
// up): the payment is captured, a refund with an amount proves a capture of
// at least that much, and a refund without one is one refund, not all.
func TestCompletedWithoutAmount(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, generic.New(generic.Config{}))
	o := h.DeliverOne(paymentBody("e1", generic.EventPaymentCompleted, "p1", nil))
	require.Equal(t, sm.VerdictApplied, o.Verdict, o.Reason)
	require.Equal(t, string(sm.Captured), o.StateAfter)
	require.True(t, h.Aggregate(sm.KindPayment, "p1").AmountsUnknown)

	out := h.Deliver(refundBody("e2", generic.EventRefundCompleted, "r1", "p1", 500))
	require.Len(t, out, 2)
	for _, o := range out {
		require.Equal(t, sm.VerdictApplied, o.Verdict, o.Reason)
	}
	p := h.Aggregate(sm.KindPayment, "p1")
	require.Equal(t, string(sm.PartiallyRefunded), p.State)
	require.Equal(t, [2]int64{500, 500}, [2]int64{p.Captured, p.Refunded})

	// A known payment: a refund without an amount leaves it partially
	// refunded and marks its totals.
	h.DeliverOne(paymentBody("e3", generic.EventPaymentCompleted, "p2", 1000))
	require.False(t, h.Aggregate(sm.KindPayment, "p2").AmountsUnknown)
	h.Deliver(refundBody("e4", generic.EventRefundCompleted, "r2", "p2", nil))
	p = h.Aggregate(sm.KindPayment, "p2")
	require.Equal(t, string(sm.PartiallyRefunded), p.State)
	require.True(t, p.AmountsUnknown)
	h.Verify()
}

// A second, different refund of the whole payment is a double refund: its
// refund id says it is not the first one reported again, so its effect is
// rejected for its amount, not as stale; the first one reported again
// stays stale. The same holds when both effects waited for the payment,
// and at the int64 maximum, where the sum would overflow.
func TestDistinctRefundOfTheWholeTotalIsTooMuch(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, generic.New(generic.Config{}))
	requireOutcomes(t, "payment", []out{{pay, "p1", sm.VerdictApplied, "", sm.Captured}},
		h.Deliver(paymentBody("e1", "payment.completed", "p1", 10000)))
	requireOutcomes(t, "first refund", []out{
		{refund, "r1", sm.VerdictApplied, "", sm.Succeeded},
		{pay, "p1", sm.VerdictApplied, "", sm.Refunded},
	}, h.Deliver(refundBody("e2", "refund.completed", "r1", "p1", 10000)))
	requireOutcomes(t, "another refund of it all", []out{
		{refund, "r2", sm.VerdictApplied, "", sm.Succeeded},
		{pay, "p1", sm.VerdictRejected, "amount: refunded 20000 would exceed captured 10000", sm.Refunded},
	}, h.Deliver(refundBody("e3", "refund.completed", "r2", "p1", 10000)))
	requireOutcomes(t, "the first refund under another id", []out{
		{refund, "r1", sm.VerdictRejected, "stale", sm.Succeeded},
		{pay, "p1", sm.VerdictRejected, "stale", sm.Refunded},
	}, h.Deliver(refundBody("e4", "refund.completed", "r1", "p1", 10000)))
	require.Equal(t, int64(10000), h.Aggregate(pay, "p1").Refunded)

	// Both effects held until the payment lands, then decided from what
	// was kept of them: the second is still a distinct refund.
	requireOutcomes(t, "held refund", []out{
		{refund, "r3", sm.VerdictApplied, "", sm.Succeeded},
		{pay, "p2", sm.VerdictDeferred, "early", sm.StateNew},
	}, h.Deliver(refundBody("e5", "refund.completed", "r3", "p2", 5000)))
	requireOutcomes(t, "another held refund", []out{
		{refund, "r4", sm.VerdictApplied, "", sm.Succeeded},
		{pay, "p2", sm.VerdictDeferred, "early", sm.StateNew},
	}, h.Deliver(refundBody("e6", "refund.completed", "r4", "p2", 5000)))
	h.Restart()
	got := h.Deliver(paymentBody("e7", "payment.completed", "p2", 5000))
	requireOutcomes(t, "payment", []out{{pay, "p2", sm.VerdictApplied, "", sm.Captured}}, got)
	requireOutcomes(t, "resolved", []out{
		{pay, "p2", sm.VerdictApplied, "", sm.Refunded},
		{pay, "p2", sm.VerdictRejected, "amount: refunded 10000 would exceed captured 5000", sm.Refunded},
	}, resolvedOf(got))

	const most = "92233720368547758.07"
	h.Deliver(paymentBody("e8", "payment.completed", "p3", most))
	requireOutcomes(t, "a refund of the int64 maximum", []out{
		{refund, "r5", sm.VerdictApplied, "", sm.Succeeded},
		{pay, "p3", sm.VerdictApplied, "", sm.Refunded},
	}, h.Deliver(refundBody("e9", "refund.completed", "r5", "p3", most)))
	requireOutcomes(t, "another one", []out{
		{refund, "r6", sm.VerdictApplied, "", sm.Succeeded},
		{pay, "p3", sm.VerdictRejected, "amount: refunded 9223372036854775807 \\+ 9223372036854775807 overflows", sm.Refunded},
	}, h.Deliver(refundBody("e10", "refund.completed", "r6", "p3", most)))
	h.Verify()
}
