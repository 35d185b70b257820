package inyo_test

import (
	"testing"

	"github.com/paystate/paystate/engine/enginetest"
	"github.com/paystate/paystate/providers/inyo"
	sm "github.com/paystate/paystate/statemachine"
)

// TestPaymentStatusOrderDoesNotMatter: forward paths of the payment's own
// statuses, delivered shuffled, duplicated and across restarts, end in the
// state of the furthest status; a status is applied exactly when it is
// further along than every status delivered before it, stale otherwise.
func TestPaymentStatusOrderDoesNotMatter(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, inyo.New(inyo.Config{}))
	enginetest.StatusOrderIndependence(t, h, sm.KindPayment, func(id, status string, n int) []byte {
		return object(id, id, status, "95", n)
	})
}

// TestRefundStatusOrderDoesNotMatter runs the same property on the refund
// machine, through child REFUNDED objects. The refund machine has one
// status, so its paths are one long; the property still checks that every
// redelivery of both events of a child refund is a duplicate across
// restarts. The amount is zero because the property's parent payments are
// never captured: a positive refund would be rejected on the parent for
// its amount (see TestSequences), and the property wants every first
// delivery applied.
func TestRefundStatusOrderDoesNotMatter(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, inyo.New(inyo.Config{}))
	enginetest.StatusOrderIndependence(t, h, sm.KindRefund, func(id, status string, n int) []byte {
		return object(id, "parent-of-"+id, status, "0", n)
	})
}
