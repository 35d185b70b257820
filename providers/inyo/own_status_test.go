package inyo_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/engine/enginetest"
	"github.com/paystate/paystate/providers/inyo"
	sm "github.com/paystate/paystate/statemachine"
)

// The payment's own Inyo status is what its own objects last said
// (doc.go, "Children"): a child's status is the child's, also when the
// child is the first thing paystate hears of its payment. So the payment's
// own REFUNDED after a child refund is news, not a repeat of the child.
// This is the acceptance report's reproduction, bodies as it sent them.
func TestChildFirstLeavesThePaymentWithoutAnInyoStatus(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, inyo.New(inyo.Config{}))
	out := h.Deliver([]byte(`{"paymentId":"rA1","parentPaymentId":"pA","amount":30,"created":"2025-01-21 16:31:00","status":"REFUNDED"}`))
	require.Len(t, out, 2)
	require.Equal(t, sm.VerdictApplied, out[1].Verdict, out[1].Reason)
	p := h.Aggregate(sm.KindPayment, "pA")
	require.Equal(t, string(sm.PartiallyRefunded), p.State)
	require.Empty(t, p.ProviderStatus, "no object of the payment's own has said anything yet")

	o := h.DeliverOne([]byte(`{"paymentId":"pA","parentPaymentId":"pA","amount":100,"created":"2025-01-21 16:40:00","status":"REFUNDED"}`))
	require.Equal(t, sm.VerdictApplied, o.Verdict, o.Reason)
	require.Equal(t, string(sm.Refunded), o.StateAfter)
	p = h.Aggregate(sm.KindPayment, "pA")
	require.Equal(t, "REFUNDED", p.ProviderStatus)
	// Refunded in full, of a payment of 100: a capture and a refund of at
	// least that much, still not fully known (the child proved only 30).
	require.Equal(t, [3]int64{10000, 10000, 10000}, [3]int64{p.Authorized, p.Captured, p.Refunded})
	require.True(t, p.AmountsUnknown)
	h.Verify()
}

// The payment's own REFUNDED says all of it was refunded (doc.go,
// "Amounts"): Inyo's statuses have no partial refund, parts are child
// objects. Its amount is the payment's; one that disagrees with what was
// captured does not make it a part, it marks the totals not fully known.
func TestOwnRefundedRefundsInFull(t *testing.T) {
	t.Parallel()
	type want struct {
		state   sm.State
		amts    [3]int64 // authorized, captured, refunded
		unknown bool
	}
	cases := []struct {
		name  string
		steps []func(n int) []byte
		want  want
	}{
		{"captured, then REFUNDED of the captured amount", []func(int) []byte{
			own(payID, "CAPTURED", "95"), own(payID, "REFUNDED", "95"),
		}, want{sm.Refunded, [3]int64{9500, 9500, 9500}, false}},
		{"captured, then REFUNDED for less: in full, the disagreement marked", []func(int) []byte{
			own(payID, "CAPTURED", "95"), own(payID, "REFUNDED", "40"),
		}, want{sm.Refunded, [3]int64{9500, 9500, 9500}, true}},
		{"captured, then REFUNDED for more: what was captured, the disagreement marked", []func(int) []byte{
			own(payID, "CAPTURED", "95"), own(payID, "REFUNDED", "140"),
		}, want{sm.Refunded, [3]int64{9500, 9500, 9500}, true}},
		{"authorized, captured in part by a child, REFUNDED of the payment's amount", []func(int) []byte{
			own(payID, "AUTHORIZED", "95"), child("capture-1", payID, "CAPTURED", "50"), own(payID, "REFUNDED", "95"),
		}, want{sm.Refunded, [3]int64{9500, 5000, 5000}, false}},
		{"authorized, then REFUNDED: through the capture", []func(int) []byte{
			own(payID, "AUTHORIZED", "95"), own(payID, "REFUNDED", "95"),
		}, want{sm.Refunded, [3]int64{9500, 9500, 9500}, false}},
		{"REFUNDED first", []func(int) []byte{
			own(payID, "REFUNDED", "95"),
		}, want{sm.Refunded, [3]int64{9500, 9500, 9500}, false}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := enginetest.New(t, inyo.New(inyo.Config{}))
			for i, body := range c.steps {
				for _, o := range h.Deliver(body(i)) {
					require.Equal(t, sm.VerdictApplied, o.Verdict, "step %d %s: %s", i+1, o.Event, o.Reason)
				}
			}
			p := h.Aggregate(sm.KindPayment, payID)
			require.Equal(t, string(c.want.state), p.State)
			require.Equal(t, c.want.amts, [3]int64{p.Authorized, p.Captured, p.Refunded})
			require.Equal(t, c.want.unknown, p.AmountsUnknown)
			h.Verify()
		})
	}
}

// The acceptance report's reproduction of a REFUNDED for less than was
// captured taken as a partial refund that the full REFUNDED could never
// complete.
func TestOwnRefundedForLessStillReachesRefunded(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, inyo.New(inyo.Config{}))
	h.DeliverOne([]byte(`{"paymentId":"pB","parentPaymentId":"pB","amount":100,"created":"2025-01-21 16:29:00","status":"CAPTURED"}`))
	o := h.DeliverOne([]byte(`{"paymentId":"pB","parentPaymentId":"pB","amount":40,"created":"2025-01-21 16:30:00","status":"REFUNDED"}`))
	require.Equal(t, sm.VerdictApplied, o.Verdict, o.Reason)
	require.Equal(t, string(sm.Refunded), o.StateAfter)
	require.Equal(t, "refunded in full; its amount 4000 is neither the captured 10000 nor the order's 10000, so the amounts are no longer fully known", o.Reason)
	o = h.DeliverOne([]byte(`{"paymentId":"pB","parentPaymentId":"pB","amount":100,"created":"2025-01-21 16:40:00","status":"REFUNDED"}`))
	require.Equal(t, sm.VerdictDuplicate, o.Verdict, "already refunded in full: %s", o.Reason)
	p := h.Aggregate(sm.KindPayment, "pB")
	require.Equal(t, string(sm.Refunded), p.State)
	require.Equal(t, [3]int64{10000, 10000, 10000}, [3]int64{p.Authorized, p.Captured, p.Refunded})
	require.True(t, p.AmountsUnknown, "40 of a payment captured for 100: Inyo's figures disagree")
	h.Verify()
}

// The payment's own status after child operations moved it (doc.go,
// "Children"): a VOIDED, REFUNDED or CAPTURED of the payment's own object
// whose status ends where the children already took the payment is not
// late. It is applied in place, state and totals unchanged, and the
// payment's Inyo status says it from then on; said again, it is a
// duplicate. A status that ends elsewhere is still stale.
func TestOwnStatusCatchesUpWithItsChildren(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		before []func(n int) []byte
		own    string
		state  sm.State
		amts   [3]int64
	}{
		{"voided by a child, then VOIDED", []func(int) []byte{
			own(payID, "AUTHORIZED", "95"), child("void-1", payID, "VOIDED", "95"),
		}, "VOIDED", sm.Voided, [3]int64{9500, 0, 0}},
		{"refunded in full by children, then REFUNDED", []func(int) []byte{
			own(payID, "CAPTURED", "95"), child("refund-1", payID, "REFUNDED", "30"), child("refund-2", payID, "REFUNDED", "65"),
		}, "REFUNDED", sm.Refunded, [3]int64{9500, 9500, 9500}},
		{"captured in full by a child, then CAPTURED", []func(int) []byte{
			own(payID, "AUTHORIZED", "95"), child("capture-1", payID, "CAPTURED", "95"),
		}, "CAPTURED", sm.Captured, [3]int64{9500, 9500, 0}},
		{"captured in part by a child, then CAPTURED: never counted twice", []func(int) []byte{
			own(payID, "AUTHORIZED", "95"), child("capture-1", payID, "CAPTURED", "50"),
		}, "CAPTURED", sm.PartiallyCaptured, [3]int64{9500, 5000, 0}},
		{"voided by a child that came first, then VOIDED", []func(int) []byte{
			child("void-1", payID, "VOIDED", "95"),
		}, "VOIDED", sm.Voided, [3]int64{0, 0, 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := enginetest.New(t, inyo.New(inyo.Config{}))
			n := 0
			for _, body := range c.before {
				for _, o := range h.Deliver(body(n)) {
					require.Equal(t, sm.VerdictApplied, o.Verdict, "%s: %s", o.Event, o.Reason)
				}
				n++
			}
			before := h.Aggregate(sm.KindPayment, payID)
			require.NotEqual(t, c.own, before.ProviderStatus)

			o := h.DeliverOne(own(payID, c.own, "95")(n))
			require.Equal(t, sm.VerdictApplied, o.Verdict, o.Reason)
			require.Equal(t, string(c.state), o.StateAfter)
			p := h.Aggregate(sm.KindPayment, payID)
			require.Equal(t, c.own, p.ProviderStatus)
			require.Equal(t, c.amts, [3]int64{p.Authorized, p.Captured, p.Refunded})
			require.Equal(t, before.AmountsUnknown, p.AmountsUnknown)

			require.Equal(t, sm.VerdictDuplicate, h.DeliverOne(own(payID, c.own, "95")(n+1)).Verdict, "said again")
			late := h.DeliverOne(own(payID, "AUTHORIZED", "95")(n + 2))
			require.Equal(t, sm.VerdictRejected, late.Verdict)
			require.Regexp(t, "^stale", late.Reason)
			h.Restart()
			h.Verify()
		})
	}
}

// The acceptance report's reproduction: the payment's own VOIDED after a
// child void was rejected "stale: voided has moved past authorized" and
// its Inyo status stayed AUTHORIZED for good.
func TestOwnVoidedAfterAChildVoidIsRecorded(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, inyo.New(inyo.Config{}))
	h.DeliverOne([]byte(`{"paymentId":"pE","parentPaymentId":"pE","amount":100,"created":"2025-01-21 16:29:00","status":"AUTHORIZED"}`))
	h.DeliverOne([]byte(`{"paymentId":"vE","parentPaymentId":"pE","amount":100,"created":"2025-01-21 16:30:00","status":"VOIDED"}`))
	o := h.DeliverOne([]byte(`{"paymentId":"pE","parentPaymentId":"pE","amount":100,"created":"2025-01-21 16:31:00","status":"VOIDED"}`))
	require.Equal(t, sm.VerdictApplied, o.Verdict, o.Reason)
	p := h.Aggregate(sm.KindPayment, "pE")
	require.Equal(t, string(sm.Voided), p.State)
	require.Equal(t, "VOIDED", p.ProviderStatus)
	h.Verify()
}

// After child refunds of the whole capture, the payment's own REFUNDED
// catches up and took nothing, so a further child refund is an
// over-refund (amount), as it was before the own status said REFUNDED. A
// child refund after an own REFUNDED that did take the rest may be one it
// counted: applied in place.
func TestChildRefundAfterTheOwnStatusCaughtUpIsTooMuch(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, inyo.New(inyo.Config{}))
	for i, body := range []func(int) []byte{
		own(payID, "CAPTURED", "95"), child("refund-1", payID, "REFUNDED", "30"),
		child("refund-2", payID, "REFUNDED", "65"), own(payID, "REFUNDED", "95"),
	} {
		for _, o := range h.Deliver(body(i)) {
			require.Equal(t, sm.VerdictApplied, o.Verdict, "%s: %s", o.Event, o.Reason)
		}
	}
	out := h.Deliver(child("refund-3", payID, "REFUNDED", "1")(4))
	require.Len(t, out, 2)
	require.Equal(t, sm.VerdictRejected, out[1].Verdict)
	require.Equal(t, "amount: refunded 9600 would exceed captured 9500", out[1].Reason)

	h.Deliver(own("pay-2", "CAPTURED", "95")(0))
	h.Deliver(own("pay-2", "REFUNDED", "95")(1))
	out = h.Deliver(child("refund-4", "pay-2", "REFUNDED", "30")(2))
	require.Len(t, out, 2)
	require.Equal(t, sm.VerdictApplied, out[1].Verdict, out[1].Reason)
	require.Equal(t, string(sm.Refunded), out[1].StateAfter)
	h.Verify()
}

// The payment's own REFUNDED took the rest (doc.go, "When a child and its
// payment disagree"): each child refund reported after it may be one it
// counted, but only as much as that rest. Two children that together
// exceed it cannot both have been: the one that no longer fits asks for
// more than was captured (amount), and the entry says by how much.
func TestChildRefundsAfterTheOwnRefundedShareTheRestItTook(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, inyo.New(inyo.Config{}))
	for i, body := range []func(int) []byte{
		own(payID, "CAPTURED", "95"), child("refund-1", payID, "REFUNDED", "30"), own(payID, "REFUNDED", "95"),
	} {
		for _, o := range h.Deliver(body(i)) {
			require.Equal(t, sm.VerdictApplied, o.Verdict, "%s: %s", o.Event, o.Reason)
		}
	}
	out := h.Deliver(child("refund-2", payID, "REFUNDED", "50")(3))
	require.Len(t, out, 2)
	require.Equal(t, sm.VerdictApplied, out[1].Verdict, out[1].Reason)
	require.Equal(t, "inside the refund in full already applied, the aggregate's own REFUNDED, which took the rest; totals unchanged, 1500 of that rest not yet reported in parts", out[1].Reason)
	out = h.Deliver(child("refund-3", payID, "REFUNDED", "50")(4))
	require.Len(t, out, 2)
	require.Equal(t, sm.VerdictApplied, out[0].Verdict, "the refund object is Inyo's word about itself")
	require.Equal(t, sm.VerdictRejected, out[1].Verdict)
	require.Equal(t, "amount: refunded 14500 would exceed captured 9500", out[1].Reason)
	p := h.Aggregate(sm.KindPayment, payID)
	require.Equal(t, string(sm.Refunded), p.State)
	require.Equal(t, [3]int64{9500, 9500, 9500}, [3]int64{p.Authorized, p.Captured, p.Refunded})
	require.False(t, p.AmountsUnknown)
	h.Restart()
	h.Verify()
}

// The payment's own REFUNDED after child refunds refunded it in full is
// its status catching up (doc.go, "Children"), and its amount is read as
// on any own REFUNDED (doc.go, "Amounts"): never added on top of what the
// children moved, but one that is neither what was captured nor the
// payment's amount is Inyo's figures disagreeing, and the totals are no
// longer fully known.
func TestOwnRefundedCatchingUpReadsItsAmount(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, inyo.New(inyo.Config{}))
	for i, body := range []func(int) []byte{
		own(payID, "CAPTURED", "95"), child("refund-1", payID, "REFUNDED", "30"), child("refund-2", payID, "REFUNDED", "65"),
	} {
		for _, o := range h.Deliver(body(i)) {
			require.Equal(t, sm.VerdictApplied, o.Verdict, "%s: %s", o.Event, o.Reason)
		}
	}
	o := h.DeliverOne(own(payID, "REFUNDED", "40")(3))
	require.Equal(t, sm.VerdictApplied, o.Verdict, o.Reason)
	require.Equal(t, "already refunded, moved there by other objects; its own status catches up; refunded in full; its amount 4000 is neither the captured 9500 nor the order's 9500, so the amounts are no longer fully known", o.Reason)
	p := h.Aggregate(sm.KindPayment, payID)
	require.Equal(t, string(sm.Refunded), p.State)
	require.Equal(t, [3]int64{9500, 9500, 9500}, [3]int64{p.Authorized, p.Captured, p.Refunded})
	require.True(t, p.AmountsUnknown)
	h.Restart()
	h.Verify()
}

// An AUTHORIZED without its amount leaves the totals not fully known; the
// payment's CAPTURED 100 then reports its amount, which bounds what a
// later refund in full can prove captured. Its own REFUNDED for more is
// still the fact that it was refunded in full (doc.go, "Amounts"), but it
// does not prove a capture above that amount: the entry says where the
// figures disagree.
func TestOwnRefundedAboveTheAuthorizationOnTotalsNotFullyKnown(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, inyo.New(inyo.Config{}))
	o := h.DeliverOne([]byte(`{"paymentId":"pF","parentPaymentId":"pF","created":"2025-01-21 16:29:00","status":"AUTHORIZED"}`))
	require.Equal(t, sm.VerdictApplied, o.Verdict, o.Reason)
	o = h.DeliverOne([]byte(`{"paymentId":"pF","parentPaymentId":"pF","amount":100,"created":"2025-01-21 16:30:00","status":"CAPTURED"}`))
	require.Equal(t, sm.VerdictApplied, o.Verdict, o.Reason)
	require.True(t, h.Aggregate(sm.KindPayment, "pF").AmountsUnknown)
	o = h.DeliverOne([]byte(`{"paymentId":"pF","parentPaymentId":"pF","amount":120,"created":"2025-01-21 16:31:00","status":"REFUNDED"}`))
	require.Equal(t, sm.VerdictApplied, o.Verdict, o.Reason)
	require.Equal(t, string(sm.Refunded), o.StateAfter)
	require.Equal(t, "refunded in full; its amount 12000 is above the authorized 10000, which bounds the capture it proves", o.Reason)
	p := h.Aggregate(sm.KindPayment, "pF")
	require.Equal(t, [3]int64{10000, 10000, 10000}, [3]int64{p.Authorized, p.Captured, p.Refunded})
	require.True(t, p.AmountsUnknown)
	h.Restart()
	h.Verify()
}
