package ngenius_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/engine/enginetest"
	"github.com/paystate/paystate/providers/ngenius"
	sm "github.com/paystate/paystate/statemachine"
)

// N-Genius's machine has cycles through its revert rows (a capture voided
// and captured again, a refund voided and made again, a second fraud
// review). Its events are events, not snapshots: each is its own delivery
// (its own transaction and time in the dedupe key), so an event seen
// before is applied again when it is legal, and only a retry of the same
// delivery is a duplicate.
func TestCyclesRevisitThroughReverts(t *testing.T) {
	t.Parallel()
	type step struct {
		event  string
		amount int64
		state  sm.State
	}
	cases := []struct {
		name   string
		steps  []step
		totals [3]int64
	}{
		{"captured, voided, captured again", []step{
			{"AUTHORISED", -1, sm.Authorized},
			{"CAPTURED", -1, sm.Captured},
			{"CAPTURE_VOIDED", -1, sm.Authorized},
			{"CAPTURED", -1, sm.Captured},
		}, [3]int64{10000, 10000, 0}},
		{"refunded, voided, refunded again", []step{
			{"AUTHORISED", -1, sm.Authorized},
			{"CAPTURED", -1, sm.Captured},
			{"PARTIALLY_REFUNDED", 1000, sm.PartiallyRefunded},
			{"REFUND_VOIDED", 1000, sm.Captured},
			{"PARTIALLY_REFUNDED", 1000, sm.PartiallyRefunded},
		}, [3]int64{10000, 10000, 1000}},
		{"reviewed twice", []step{
			{"AUTHORISED", -1, sm.Authorized},
			{"POST_AUTH_FRAUD_CHECK_REVIEW", -1, sm.FraudReview},
			{"POST_AUTH_FRAUD_CHECK_ACCEPTED", -1, sm.Authorized},
			{"POST_AUTH_FRAUD_CHECK_REVIEW", -1, sm.FraudReview},
			{"POST_AUTH_FRAUD_CHECK_ACCEPTED", -1, sm.Authorized},
		}, [3]int64{10000, 0, 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := enginetest.New(t, ngenius.New(ngenius.Config{}))
			for i, s := range tc.steps {
				body := webhook("o1", s.event, 10000, s.amount, fmt.Sprintf("2026-01-01T00:00:%02dZ", i))
				o := h.DeliverOne(body)
				require.Equal(t, sm.VerdictApplied, o.Verdict, "step %d %s: %s", i+1, s.event, o.Reason)
				require.Equal(t, string(s.state), o.StateAfter, "step %d %s", i+1, s.event)
				require.Equal(t, sm.VerdictDuplicate, h.DeliverOne(body).Verdict, "step %d %s retried", i+1, s.event)
			}
			a := h.Aggregate(sm.KindPayment, "o1")
			require.Equal(t, tc.totals, [3]int64{a.Authorized, a.Captured, a.Refunded})
			require.False(t, a.AmountsUnknown)
			h.Verify()
		})
	}
}
