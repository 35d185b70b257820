package api

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	pb "github.com/paystate/paystate/proto/paystate/v1"
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

// The enum maps made once answer what the naming rule answers, for every
// name of every enum in any spelling, and for names that are none.
func TestEnumNamesFollowTheNamingRule(t *testing.T) {
	for _, e := range []struct {
		values map[string]int32
		prefix string
		names  enumNames
	}{
		{pb.Kind_value, "KIND_", kindNames},
		{pb.Verdict_value, "VERDICT_", verdictNames},
		{pb.PaymentState_value, "PAYMENT_STATE_", stateNames},
	} {
		for k := range e.values {
			rest := strings.TrimPrefix(k, e.prefix)
			for _, name := range []string{strings.ToLower(rest), rest, strings.ToUpper(rest[:1]) + strings.ToLower(rest[1:]), k, "x" + rest, ""} {
				require.Equal(t, enumValue(e.values, e.prefix, name), e.names.value(name), "%s %q", e.prefix, name)
			}
		}
	}
	require.Equal(t, int32(pb.PaymentState_PAYMENT_STATE_FRAUD_REVIEW), stateNames.value("fraud_review"))
}
