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
	h.Verify()
}
