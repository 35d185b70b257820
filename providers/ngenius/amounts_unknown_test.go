package ngenius_test

import (
	"cmp"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/engine/enginetest"
	"github.com/paystate/paystate/providers/ngenius"
	sm "github.com/paystate/paystate/statemachine"
)

// Events without the amount that matters (the document's samples carry
// only order.amount): what their word implies, or amounts not fully known,
// never a later money event rejected for the missing figure.
func TestEventsWithoutTheirAmount(t *testing.T) {
	t.Parallel()
	type step struct {
		event  string
		amount int64 // transaction.amount; -1 for none
		state  sm.State
		// verdict is applied unless given.
		verdict sm.Verdict
	}
	cases := []struct {
		name    string
		steps   []step
		totals  [3]int64 // authorized, captured, refunded
		unknown bool
	}{
		// PARTIALLY_CAPTURED says part, not how much: unknown. The refund
		// then proves a capture of at least its amount.
		{"partial capture without amount, then a partial refund", []step{
			{"AUTHORISED", -1, sm.Authorized, ""},
			{"PARTIALLY_CAPTURED", -1, sm.PartiallyCaptured, ""},
			{"PARTIALLY_REFUNDED", 1000, sm.PartiallyRefunded, ""},
			{"PARTIALLY_REFUNDED", 500, sm.PartiallyRefunded, ""},
		}, [3]int64{10000, 1500, 1500}, true},
		// CAPTURED and REFUNDED say all: the rest, known.
		{"full capture and refund without amounts", []step{
			{"AUTHORISED", -1, sm.Authorized, ""},
			{"CAPTURED", -1, sm.Captured, ""},
			{"REFUNDED", -1, sm.Refunded, ""},
		}, [3]int64{10000, 10000, 10000}, false},
		// CAPTURE_VOIDED: "the payment will then return to an AUTHORISED
		// state": every capture is gone, known.
		{"capture voided without amount", []step{
			{"AUTHORISED", -1, sm.Authorized, ""},
			{"CAPTURED", -1, sm.Captured, ""},
			{"CAPTURE_VOIDED", -1, sm.Authorized, ""},
		}, [3]int64{10000, 0, 0}, false},
		// REFUND_VOIDED voids "a REFUND": which of two, it does not say.
		{"one of two refunds voided without amount", []step{
			{"AUTHORISED", -1, sm.Authorized, ""},
			{"CAPTURED", -1, sm.Captured, ""},
			{"PARTIALLY_REFUNDED", 2000, sm.PartiallyRefunded, ""},
			{"PARTIALLY_REFUNDED", 3000, sm.PartiallyRefunded, ""},
			{"REFUND_VOIDED", -1, sm.Captured, ""},
		}, [3]int64{10000, 10000, 0}, true},
		// A part with its amount overtaken by the full word ("the rest"),
		// in the "quick succession" the document warns of, on amounts not
		// fully known: the part is inside the full operation, applied (its
		// figure is kept), the state stays, the totals are at least what
		// it proves and not raised by adding it on top. Until Rules 7 it
		// was rejected as stale; before Rules 5 it was held for a refund
		// and then counted twice (14000 captured on a 10000 order).
		{"a part captured, the rest captured, the part reported late", []step{
			{"AUTHORISED", -1, sm.Authorized, ""},
			{"PARTIALLY_CAPTURED", -1, sm.PartiallyCaptured, ""},
			{"CAPTURED", -1, sm.Captured, ""},
			{"PARTIALLY_CAPTURED", 4000, sm.Captured, ""},
			{"PARTIALLY_REFUNDED", 1000, sm.PartiallyRefunded, ""},
		}, [3]int64{10000, 10000, 1000}, true},
		{"a part refunded, the rest refunded, the part reported late", []step{
			{"AUTHORISED", -1, sm.Authorized, ""},
			{"CAPTURED", -1, sm.Captured, ""},
			{"PARTIALLY_REFUNDED", -1, sm.PartiallyRefunded, ""},
			{"REFUNDED", -1, sm.Refunded, ""},
			{"PARTIALLY_REFUNDED", 3000, sm.Refunded, ""},
		}, [3]int64{10000, 10000, 10000}, true},
		// All amounts known: the full word without an amount captured (or
		// refunded) the rest, so a part with its amount reported after it
		// that fits in the total was one of the captures (refunds) the
		// full word completed: applied inside it, the totals stay. Until
		// Rules 10 it was rejected (amount), as if it came on top.
		{"amounts known: the rest captured, a part reported late", []step{
			{"AUTHORISED", -1, sm.Authorized, ""},
			{"CAPTURED", -1, sm.Captured, ""},
			{"PARTIALLY_CAPTURED", 4000, sm.Captured, ""},
		}, [3]int64{10000, 10000, 0}, false},
		{"amounts known: the rest refunded, a part reported late", []step{
			{"AUTHORISED", -1, sm.Authorized, ""},
			{"CAPTURED", -1, sm.Captured, ""},
			{"REFUNDED", -1, sm.Refunded, ""},
			{"PARTIALLY_REFUNDED", 3000, sm.Refunded, ""},
		}, [3]int64{10000, 10000, 10000}, false},
		{"amounts known: a part of the capture reported after a refund", []step{
			{"AUTHORISED", -1, sm.Authorized, ""},
			{"CAPTURED", -1, sm.Captured, ""},
			{"PARTIALLY_REFUNDED", 2000, sm.PartiallyRefunded, ""},
			{"PARTIALLY_CAPTURED", 4000, sm.PartiallyRefunded, ""},
		}, [3]int64{10000, 10000, 2000}, false},
		{"amounts known: a part of the capture reported after the refund in full", []step{
			{"AUTHORISED", -1, sm.Authorized, ""},
			{"CAPTURED", -1, sm.Captured, ""},
			{"REFUNDED", -1, sm.Refunded, ""},
			{"PARTIALLY_CAPTURED", 4000, sm.Refunded, ""},
		}, [3]int64{10000, 10000, 10000}, false},
		// The rest the full word took is what was left after the parts
		// already known: 7000 here. Parts reported after it fit inside
		// it only while they sum to no more than that.
		{"amounts known: late parts beyond the rest", []step{
			{"AUTHORISED", -1, sm.Authorized, ""},
			{"PARTIALLY_CAPTURED", 3000, sm.PartiallyCaptured, ""},
			{"CAPTURED", -1, sm.Captured, ""},
			{"PARTIALLY_CAPTURED", 4000, sm.Captured, ""},
			{"PARTIALLY_CAPTURED", 3500, sm.Captured, sm.VerdictRejected},
			{"PARTIALLY_CAPTURED", 3000, sm.Captured, ""},
			{"PARTIALLY_CAPTURED", 1000, sm.Captured, sm.VerdictRejected},
		}, [3]int64{10000, 10000, 0}, false},
		{"amounts known: late refund parts beyond the rest", []step{
			{"AUTHORISED", -1, sm.Authorized, ""},
			{"CAPTURED", -1, sm.Captured, ""},
			{"PARTIALLY_REFUNDED", 6000, sm.PartiallyRefunded, ""},
			{"REFUNDED", -1, sm.Refunded, ""},
			{"PARTIALLY_REFUNDED", 5000, sm.Refunded, sm.VerdictRejected},
			{"PARTIALLY_REFUNDED", 4000, sm.Refunded, ""},
		}, [3]int64{10000, 10000, 10000}, false},
		// A capture that said its amount holds no other: a part reported
		// after it is money on top, more than was authorised.
		{"amounts known: the whole captured with its amount, a part reported late", []step{
			{"AUTHORISED", -1, sm.Authorized, ""},
			{"CAPTURED", 10000, sm.Captured, ""},
			{"PARTIALLY_CAPTURED", 4000, sm.Captured, sm.VerdictRejected},
		}, [3]int64{10000, 10000, 0}, false},
		// A void without an amount takes every capture back, the rest
		// with them: a part reported later is a new capture.
		{"amounts known: the rest captured and voided, a part captured", []step{
			{"AUTHORISED", -1, sm.Authorized, ""},
			{"CAPTURED", -1, sm.Captured, ""},
			{"CAPTURE_VOIDED", -1, sm.Authorized, ""},
			{"PARTIALLY_CAPTURED", 4000, sm.PartiallyCaptured, ""},
		}, [3]int64{10000, 4000, 0}, false},
		// The late part without its amount proves nothing the full word
		// did not: stale, and recorded as such.
		{"the late part without its amount", []step{
			{"AUTHORISED", -1, sm.Authorized, ""},
			{"PARTIALLY_CAPTURED", -1, sm.PartiallyCaptured, ""},
			{"CAPTURED", -1, sm.Captured, ""},
			{"PARTIALLY_CAPTURED", -1, sm.Captured, sm.VerdictRejected},
		}, [3]int64{10000, 10000, 0}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := enginetest.New(t, ngenius.New(ngenius.Config{}))
			for i, s := range tc.steps {
				o := h.DeliverOne(webhook("o1", s.event, 10000, s.amount, fmt.Sprintf("2026-01-01T00:00:%02dZ", i)))
				require.Equal(t, cmp.Or(s.verdict, sm.VerdictApplied), o.Verdict, "step %d %s: %s", i+1, s.event, o.Reason)
				require.Equal(t, string(s.state), o.StateAfter, "step %d %s", i+1, s.event)
			}
			a := h.Aggregate(sm.KindPayment, "o1")
			require.Equal(t, tc.totals, [3]int64{a.Authorized, a.Captured, a.Refunded})
			require.Equal(t, tc.unknown, a.AmountsUnknown)
			h.Verify()
		})
	}
}
