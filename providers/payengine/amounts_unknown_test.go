package payengine_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/engine/enginetest"
	"github.com/paystate/paystate/providers/payengine"
	sm "github.com/paystate/paystate/statemachine"
)

// OFFLINE_SALE's documented sample has no amount: the payment is captured
// with its amounts marked not fully known, refunds against it apply, and a
// sale with an amount is not marked.
func TestOfflineSaleWithoutAmount(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, payengine.New(payengine.Config{}))
	require.Equal(t, sm.VerdictApplied, h.DeliverOne(txn("e1", "OFFLINE_SALE", "t1", "", "", "")).Verdict)
	a := h.Aggregate(sm.KindPayment, "t1")
	require.True(t, a.AmountsUnknown)
	require.Zero(t, a.Captured)

	for i, amount := range []string{"1.00", "2.50"} {
		out := h.Deliver(refund("r"+amount, "PAYMENT_REFUNDED", "r"+amount, "t1", "PASS", amount))
		require.Len(t, out, 2)
		for _, o := range out {
			require.Equal(t, sm.VerdictApplied, o.Verdict, "refund %d: %s", i+1, o.Reason)
		}
	}
	a = h.Aggregate(sm.KindPayment, "t1")
	require.Equal(t, int64(350), a.Refunded)
	require.Equal(t, int64(350), a.Captured, "at least what was refunded")
	require.True(t, a.AmountsUnknown)

	require.Equal(t, sm.VerdictApplied, h.DeliverOne(sale("e9", "t2", "75.48")).Verdict)
	require.False(t, h.Aggregate(sm.KindPayment, "t2").AmountsUnknown)
	h.Verify()
}
