package ngenius_test

import (
	"fmt"
	"testing"

	"github.com/paystate/paystate/engine/enginetest"
	"github.com/paystate/paystate/providers/ngenius"
	sm "github.com/paystate/paystate/statemachine"
)

// TestOrderDoesNotMatter: random legal N-Genius sequences, shuffled,
// duplicated and interrupted by restarts, end where in-order delivery ends.
func TestOrderDoesNotMatter(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, ngenius.New(ngenius.Config{}))
	partial := map[string]int64{"PARTIALLY_CAPTURED": 4000, "PARTIALLY_REFUNDED": 1500}
	enginetest.OrderIndependence(t, h, sm.KindPayment, func(id, event string, n int) []byte {
		amount, ok := partial[event]
		if !ok {
			amount = -1
		}
		return webhook(id, event, 10000, amount, fmt.Sprintf("2025-03-14T12:%02d:00Z", n))
	})
}
