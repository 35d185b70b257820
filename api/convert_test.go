package api

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/storage"
)

// An order service must see that totals are not fully known, on both the
// order and the aggregate messages.
func TestAmountsUnknownIsServed(t *testing.T) {
	t.Parallel()
	for _, unknown := range []bool{false, true} {
		a := storage.Aggregate{Key: storage.AggregateKey{Provider: "inyo", Kind: "payment", ID: "p-1"},
			State: "partially_refunded", Captured: 3000, Refunded: 3000, AmountsUnknown: unknown}
		require.Equal(t, unknown, toOrder(a, 0).GetAmountsUnknown())
		require.Equal(t, unknown, toAggregate(a, 0).GetAmountsUnknown())
	}
}
