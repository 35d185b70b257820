package ngenius_test

import (
	"fmt"
	"slices"
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
		{"refunded in full without an amount", 0, []step{
			{"AUTHORISED", -1, sm.VerdictApplied, "", sm.Authorized},
			{"CAPTURED", -1, sm.VerdictApplied, "", sm.Captured},
			{"REFUNDED", -1, sm.VerdictApplied, "", sm.Refunded},
			{"PARTIALLY_REFUNDED", 100, sm.VerdictRejected, "amount", sm.Refunded},
		}, [3]int64{0, 0, 0}, false},
		{"with its amount 0", 0, []step{
			{"AUTHORISED", -1, sm.VerdictApplied, "", sm.Authorized},
			{"CAPTURED", 0, sm.VerdictApplied, "", sm.Captured},
			{"REFUNDED", 100, sm.VerdictRejected, "amount", sm.Captured},
		}, [3]int64{0, 0, 0}, false},
	})
}

// PARTIALLY_CAPTURED is "for any value that does not meet or exceed the
// original authorization amount", PARTIALLY_REFUNDED "for an amount less
// than the original CAPTURE". An amount-less partial capture, or refund
// void, leaves the capture or refund split not fully known, not the
// authorisation AUTHORISED reported: a refund may prove more captured, up
// to that authorisation, never above it.
func TestAReportedAuthorisationLimitsAmountsNotFullyKnown(t *testing.T) {
	t.Parallel()
	runLimitCases(t, []limitCase{
		{"a partial capture without an amount, a refund above the authorisation", 10000, []step{
			{"AUTHORISED", -1, sm.VerdictApplied, "", sm.Authorized},
			{"PARTIALLY_CAPTURED", -1, sm.VerdictApplied, "", sm.PartiallyCaptured},
			{"PARTIALLY_REFUNDED", 20000, sm.VerdictRejected, "amount", sm.PartiallyCaptured},
			{"PARTIALLY_REFUNDED", 10000, sm.VerdictApplied, "", sm.PartiallyRefunded},
			{"PARTIALLY_REFUNDED", 1, sm.VerdictRejected, "amount", sm.PartiallyRefunded},
		}, [3]int64{10000, 10000, 10000}, true},
		{"a refund voided without an amount, a refund above the authorisation", 10000, []step{
			{"AUTHORISED", -1, sm.VerdictApplied, "", sm.Authorized},
			{"CAPTURED", -1, sm.VerdictApplied, "", sm.Captured},
			{"REFUNDED", -1, sm.VerdictApplied, "", sm.Refunded},
			{"REFUND_VOIDED", -1, sm.VerdictApplied, "", sm.Captured},
			{"PARTIALLY_REFUNDED", 20000, sm.VerdictRejected, "amount", sm.Captured},
			{"PARTIALLY_REFUNDED", 4000, sm.VerdictApplied, "", sm.PartiallyRefunded},
		}, [3]int64{10000, 10000, 4000}, true},
		{"a capture above the authorisation after a partial capture without an amount", 10000, []step{
			{"AUTHORISED", -1, sm.VerdictApplied, "", sm.Authorized},
			{"PARTIALLY_CAPTURED", -1, sm.VerdictApplied, "", sm.PartiallyCaptured},
			{"PARTIALLY_CAPTURED", 12000, sm.VerdictRejected, "amount", sm.PartiallyCaptured},
			{"PARTIALLY_CAPTURED", 6000, sm.VerdictApplied, "", sm.PartiallyCaptured},
		}, [3]int64{10000, 6000, 0}, true},
		{"a part reported after the rest, above the authorisation", 10000, []step{
			{"AUTHORISED", -1, sm.VerdictApplied, "", sm.Authorized},
			{"PARTIALLY_CAPTURED", -1, sm.VerdictApplied, "", sm.PartiallyCaptured},
			{"CAPTURED", -1, sm.VerdictApplied, "", sm.Captured},
			{"PARTIALLY_CAPTURED", 12000, sm.VerdictRejected, "amount", sm.Captured},
			{"PARTIALLY_CAPTURED", 4000, sm.VerdictApplied, "", sm.Captured},
		}, [3]int64{10000, 10000, 0}, true},
		{"a card check captured in part without an amount, then a refund", 0, []step{
			{"AUTHORISED", -1, sm.VerdictApplied, "", sm.Authorized},
			{"PARTIALLY_CAPTURED", -1, sm.VerdictApplied, "", sm.PartiallyCaptured},
			{"PARTIALLY_REFUNDED", 100, sm.VerdictRejected, "amount", sm.PartiallyCaptured},
		}, [3]int64{0, 0, 0}, true},
	})
}

// PURCHASE_REVERSED is "triggered when a previous PURCHASE has been
// reversed": the whole purchase, the order voided. A reversal stating less
// than the purchase would leave a voided order with money captured, and
// refunds of that money rejected as late: it is rejected (amount) and the
// order stays captured, its refunds still apply.
func TestAPurchaseIsReversedWhole(t *testing.T) {
	t.Parallel()
	runLimitCases(t, []limitCase{
		{"a reversal of part of the purchase", 10000, []step{
			{"PURCHASED", -1, sm.VerdictApplied, "", sm.Captured},
			{"PURCHASE_REVERSED", 4000, sm.VerdictRejected, "amount", sm.Captured},
			{"REFUNDED", -1, sm.VerdictApplied, "", sm.Refunded},
		}, [3]int64{10000, 10000, 10000}, false},
		{"a reversal of the whole purchase, with its amount", 10000, []step{
			{"PURCHASED", -1, sm.VerdictApplied, "", sm.Captured},
			{"PURCHASE_REVERSED", 10000, sm.VerdictApplied, "", sm.Voided},
		}, [3]int64{10000, 0, 0}, false},
		{"a reversal of more than the purchase", 10000, []step{
			{"PURCHASED", -1, sm.VerdictApplied, "", sm.Captured},
			{"PURCHASE_REVERSED", 12000, sm.VerdictRejected, "amount", sm.Captured},
		}, [3]int64{10000, 10000, 0}, false},
	})
}

// CAPTURED with its amount on an order refunded, in part or in full,
// after its capture asks for more than the authorisation has left: it is
// rejected for its amount, as on the order captured in full before the
// refund; only the captured total again is the same capture told again
// (stale), and so is CAPTURED without an amount ("the rest", nothing).
func TestACaptureAfterARefundIsDecidedByItsAmount(t *testing.T) {
	t.Parallel()
	runLimitCases(t, []limitCase{
		{"refunded in full", 10000, []step{
			{"AUTHORISED", -1, sm.VerdictApplied, "", sm.Authorized},
			{"CAPTURED", 10000, sm.VerdictApplied, "", sm.Captured},
			{"REFUNDED", -1, sm.VerdictApplied, "", sm.Refunded},
			{"CAPTURED", 5000, sm.VerdictRejected, "amount", sm.Refunded},
			{"CAPTURED", 20000, sm.VerdictRejected, "amount", sm.Refunded},
			{"CAPTURED", 10000, sm.VerdictRejected, "stale", sm.Refunded},
			{"CAPTURED", -1, sm.VerdictRejected, "stale", sm.Refunded},
		}, [3]int64{10000, 10000, 10000}, false},
		{"refunded in part", 10000, []step{
			{"AUTHORISED", -1, sm.VerdictApplied, "", sm.Authorized},
			{"CAPTURED", -1, sm.VerdictApplied, "", sm.Captured},
			{"PARTIALLY_REFUNDED", 3000, sm.VerdictApplied, "", sm.PartiallyRefunded},
			{"CAPTURED", 5000, sm.VerdictRejected, "amount", sm.PartiallyRefunded},
			{"CAPTURED", 10000, sm.VerdictRejected, "stale", sm.PartiallyRefunded},
		}, [3]int64{10000, 10000, 3000}, false},
	})
}

// An authorisation "can be captured in parts" and a part refunded before
// the next is captured (doc.go, "Captures in parts"). The capture "in
// full" that completes it after such a refund is money captured: applied
// when the authorisation has room for it, the order staying partially
// refunded; the captured total again with nothing left is stale, an amount
// above what is left is amount.
func TestCapturedAfterARefundOfAnEarlierPart(t *testing.T) {
	t.Parallel()
	parts := []step{
		{"AUTHORISED", 10000, sm.VerdictApplied, "", sm.Authorized},
		{"PARTIALLY_CAPTURED", 5000, sm.VerdictApplied, "", sm.PartiallyCaptured},
		{"PARTIALLY_REFUNDED", 2000, sm.VerdictApplied, "", sm.PartiallyRefunded},
	}
	then := func(more ...step) []step { return append(slices.Clone(parts), more...) }
	runLimitCases(t, []limitCase{
		{"with an amount that fits", 10000, then(
			step{"CAPTURED", 3000, sm.VerdictApplied, "", sm.PartiallyRefunded},
		), [3]int64{10000, 8000, 2000}, false},
		{"without an amount: the rest", 10000, then(
			step{"CAPTURED", -1, sm.VerdictApplied, "", sm.PartiallyRefunded},
			step{"CAPTURED", -1, sm.VerdictRejected, "stale", sm.PartiallyRefunded},
		), [3]int64{10000, 10000, 2000}, false},
		{"the captured total again, with room left", 10000, then(
			step{"CAPTURED", 5000, sm.VerdictApplied, "", sm.PartiallyRefunded},
			step{"CAPTURED", 10000, sm.VerdictRejected, "stale", sm.PartiallyRefunded},
		), [3]int64{10000, 10000, 2000}, false},
		{"more than is left", 10000, then(
			step{"CAPTURED", 6000, sm.VerdictRejected, "amount", sm.PartiallyRefunded},
		), [3]int64{10000, 5000, 2000}, false},
		{"after the part was refunded in full", 10000, []step{
			{"AUTHORISED", 10000, sm.VerdictApplied, "", sm.Authorized},
			{"PARTIALLY_CAPTURED", 5000, sm.VerdictApplied, "", sm.PartiallyCaptured},
			{"REFUNDED", -1, sm.VerdictApplied, "", sm.Refunded},
			{"CAPTURED", 5000, sm.VerdictApplied, "", sm.PartiallyRefunded},
		}, [3]int64{10000, 10000, 5000}, false},
		{"after a capture in full", 10000, []step{
			{"AUTHORISED", 10000, sm.VerdictApplied, "", sm.Authorized},
			{"CAPTURED", -1, sm.VerdictApplied, "", sm.Captured},
			{"PARTIALLY_REFUNDED", 2000, sm.VerdictApplied, "", sm.PartiallyRefunded},
			{"CAPTURED", -1, sm.VerdictRejected, "stale", sm.PartiallyRefunded},
			{"CAPTURED", 10000, sm.VerdictRejected, "stale", sm.PartiallyRefunded},
		}, [3]int64{10000, 10000, 2000}, false},
	})
}
