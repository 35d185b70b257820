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
	body := func(id, status string, n int) []byte { return object(id, id, status, "95", n) }
	enginetest.StatusOrderIndependence(t, h, sm.KindPayment, body)
	// Inyo's machines have no cycle; the cycle property still checks that
	// any order converges on the in-order state and totals.
	enginetest.StatusCyclesConverge(t, enginetest.New(t, inyo.New(inyo.Config{})), sm.KindPayment, body)
}

// TestRefundStatusOrderDoesNotMatter runs the same property on the refund
// machine, through child REFUNDED objects. The refund machine has one
// status, so its paths are one long; the property still checks that every
// redelivery of both events of a child refund is a duplicate across
// restarts. The property's parent payments are never seen otherwise: each
// refund is applied on its parent with the parent's amounts marked not
// fully known (TestChildRefundFirstLeavesAmountsNotFullyKnown).
func TestRefundStatusOrderDoesNotMatter(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, inyo.New(inyo.Config{}))
	body := func(id, status string, n int) []byte { return object(id, "parent-of-"+id, status, "30", n) }
	enginetest.StatusOrderIndependence(t, h, sm.KindRefund, body)
	enginetest.StatusCyclesConverge(t, enginetest.New(t, inyo.New(inyo.Config{})), sm.KindRefund, body)
}
