package ngenius_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/engine/enginetest"
	"github.com/paystate/paystate/providers/ngenius"
	sm "github.com/paystate/paystate/statemachine"
)

type limitCase struct {
	name        string
	orderAmount int64
	steps       []step   // see TestSequences
	totals      [3]int64 // authorized, captured, refunded
	unknown     bool
}

func runLimitCases(t *testing.T, cases []limitCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := enginetest.New(t, ngenius.New(ngenius.Config{}))
			for i, s := range tc.steps {
				at := fmt.Sprintf("2026-02-01T00:00:%02dZ", i)
				o := h.DeliverOne(webhook("o1", s.event, tc.orderAmount, s.amount, at))
				require.Equal(t, s.verdict, o.Verdict, "step %d %s: %s", i+1, s.event, o.Reason)
				require.Regexp(t, "^"+s.code, o.Reason, "step %d %s", i+1, s.event)
				require.Equal(t, string(s.state), o.StateAfter, "step %d %s", i+1, s.event)
			}
			a := h.Aggregate(sm.KindPayment, "o1")
			require.Equal(t, tc.totals, [3]int64{a.Authorized, a.Captured, a.Refunded})
			require.Equal(t, tc.unknown, a.AmountsUnknown)
			h.Verify()
		})
	}
}

// CAPTURED is the capture "in full": without an amount it captures the
// rest of the authorisation, and the rest of an authorisation reported as
// 0 (a card check) is 0, a figure known like any other. A refund of such
// an order asks for money that was never captured.
func TestFullCaptureOfAZeroAuthorisation(t *testing.T) {
	t.Parallel()
	runLimitCases(t, []limitCase{
		{"without an amount", 0, []step{
			{"AUTHORISED", -1, sm.VerdictApplied, "", sm.Authorized},
			{"CAPTURED", -1, sm.VerdictApplied, "", sm.Captured},
			{"PARTIALLY_REFUNDED", 100, sm.VerdictRejected, "amount", sm.Captured},
			{"REFUNDED", 50, sm.VerdictRejected, "amount", sm.Captured},
		}, [3]int64{0, 0, 0}, false},
		{"with its amount 0", 0, []step{
			{"AUTHORISED", -1, sm.VerdictApplied, "", sm.Authorized},
			{"CAPTURED", 0, sm.VerdictApplied, "", sm.Captured},
			{"REFUNDED", 100, sm.VerdictRejected, "amount", sm.Captured},
		}, [3]int64{0, 0, 0}, false},
	})
}
