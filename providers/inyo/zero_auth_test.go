package inyo_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/engine/enginetest"
	"github.com/paystate/paystate/providers/inyo"
	sm "github.com/paystate/paystate/statemachine"
)

// An authorization of 0 is a reported authorization (a card check): a
// capture above it is rejected for its amount, as a capture of 60 on an
// authorization of 50 is, and the authorized total stays 0. This is the
// acceptance report's reproduction, bodies as it sent them.
func TestCaptureAboveAZeroAuthorizationIsRejected(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, inyo.New(inyo.Config{}))
	o := h.DeliverOne([]byte(`{"paymentId":"pC","parentPaymentId":"pC","amount":0,"created":"2025-01-21 16:29:00","status":"AUTHORIZED"}`))
	require.Equal(t, sm.VerdictApplied, o.Verdict, o.Reason)
	o = h.DeliverOne([]byte(`{"paymentId":"pC","parentPaymentId":"pC","amount":10,"created":"2025-01-21 16:30:00","status":"CAPTURED"}`))
	require.Equal(t, sm.VerdictRejected, o.Verdict, o.Reason)
	require.Equal(t, "amount: captured 1000 would exceed authorized 0", o.Reason)
	p := h.Aggregate(sm.KindPayment, "pC")
	require.Equal(t, string(sm.Authorized), p.State)
	require.Equal(t, [3]int64{0, 0, 0}, [3]int64{p.Authorized, p.Captured, p.Refunded})
	require.False(t, p.AmountsUnknown)

	// A capture first still authorizes what it captures on the way.
	o = h.DeliverOne([]byte(`{"paymentId":"pC2","parentPaymentId":"pC2","amount":10,"created":"2025-01-21 16:30:00","status":"CAPTURED"}`))
	require.Equal(t, sm.VerdictApplied, o.Verdict, o.Reason)
	require.EqualValues(t, 1000, h.Aggregate(sm.KindPayment, "pC2").Authorized)
	h.Verify()
}
