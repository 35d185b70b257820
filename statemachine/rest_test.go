package statemachine

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// walk decides ins one after another from a new aggregate, each applied
// event's decision becoming the next snapshot; it fails the test on any
// verdict but applied and returns the last snapshot.
func walk(t *testing.T, m *Machine, ins ...Input) Snapshot {
	t.Helper()
	cur := Snapshot{State: StateNew}
	for _, in := range ins {
		d := Decide(m, cur, in)
		require.Equal(t, VerdictApplied, d.Verdict, "%s %d: %s", in.Event, in.Amount, d.Reason())
		cur = Snapshot{State: d.To, Amounts: d.Amounts}
	}
	return cur
}

func op(ev string, n int64) Input {
	return Input{Event: ev, Amount: n, HasAmount: true, Currency: "AED"}
}

// TestPartAsLargeAsTheWholeAfterAFullOperationIsStale: a capture (refund)
// in full without an amount took the whole authorization (capture). A
// part reported after it with the whole amount is not one of the parts
// it completed but the same operation told again (Amounts.CapturedRest,
// heldByRest): stale, the aggregate unchanged.
func TestPartAsLargeAsTheWholeAfterAFullOperationIsStale(t *testing.T) {
	t.Parallel()
	m := mustBuild(t, cardTable())

	captured := walk(t, m, op("AUTH", 100), Input{Event: "CAPTURE"})
	require.Equal(t, Captured, captured.State)
	require.Equal(t, int64(100), captured.Amounts.Captured)
	d := Decide(m, captured, op("PARTIAL_CAPTURE", 100))
	require.Equal(t, VerdictRejected, d.Verdict, d.Reason())
	require.Equal(t, ReasonStale, d.Code, d.Reason())
	// One smaller than the whole is a part the full capture completed.
	d = Decide(m, captured, op("PARTIAL_CAPTURE", 99))
	require.Equal(t, VerdictApplied, d.Verdict, d.Reason())
	require.Equal(t, Captured, d.To)
	require.Equal(t, int64(100), d.Amounts.Captured)

	refunded := walk(t, m, op("AUTH", 100), Input{Event: "CAPTURE"}, Input{Event: "REFUND"})
	require.Equal(t, Refunded, refunded.State)
	d = Decide(m, refunded, op("PARTIAL_REFUND", 100))
	require.Equal(t, VerdictRejected, d.Verdict, d.Reason())
	require.Equal(t, ReasonStale, d.Code, d.Reason())
	d = Decide(m, refunded, op("PARTIAL_REFUND", 99))
	require.Equal(t, VerdictApplied, d.Verdict, d.Reason())
	require.Equal(t, int64(100), d.Amounts.Refunded)
}

// TestPartThatFitsOnTopOfTheRestIsDecidedAsUsual: after a capture in full
// without an amount and a void of part of the captures, there is room
// again. A part reported then that fits in that room exactly is decided
// as usual, added to the total (heldByRest: "a part that fits on top (the
// rest was voided since, say) is decided as usual"), not swallowed by the
// rest the full capture took.
func TestPartThatFitsOnTopOfTheRestIsDecidedAsUsual(t *testing.T) {
	t.Parallel()
	m := mustBuild(t, cardTable())
	cur := walk(t, m, op("AUTH", 100), op("PARTIAL_CAPTURE", 10), Input{Event: "CAPTURE"}, op("VOID_CAPTURE", 20))
	require.Equal(t, PartiallyCaptured, cur.State)
	require.Equal(t, int64(80), cur.Amounts.Captured)

	d := Decide(m, cur, op("PARTIAL_CAPTURE", 20))
	require.Equal(t, VerdictApplied, d.Verdict, d.Reason())
	require.Equal(t, Captured, d.To, "the room filled: captured in full")
	require.Equal(t, int64(100), d.Amounts.Captured)
}

// TestAnAmountReportedBeforeAmountKnownStays: an aggregate stored before
// Amounts.AmountKnown existed has its face amount without the flag; a
// later event reporting an amount of its own (an authorization of part of
// it) does not replace the face amount, only marks it known (setAmount).
func TestAnAmountReportedBeforeAmountKnownStays(t *testing.T) {
	t.Parallel()
	m := mustBuild(t, cardTable())
	d := Decide(m, Snapshot{State: StateNew, Amounts: Amounts{Currency: "AED", Amount: 100}}, op("AUTH", 60))
	require.Equal(t, VerdictApplied, d.Verdict, d.Reason())
	require.Equal(t, int64(100), d.Amounts.Amount)
	require.True(t, d.Amounts.AmountKnown)
	require.Equal(t, int64(60), d.Amounts.Authorized)
}

// TestAVoidShrinksTheRestWithTheTotal: the rest a capture (refund) in full
// took is a part of the captured (refunded) total (Amounts.CapturedRest),
// so a void that brings the total below it brings the rest down too.
// Late parts are then taken in only up to what is left of that smaller
// rest; one past it is decided as usual, and on top of the total it is
// too much money (amount), as the N-Genius document's "late parts summing
// to more than the rest are not all taken in" asks.
func TestAVoidShrinksTheRestWithTheTotal(t *testing.T) {
	t.Parallel()
	tb := cardTable()
	tb.Transitions = append(tb.Transitions, Transition{Event: "VOID_REFUND", From: []State{PartiallyRefunded, Refunded},
		To: PartiallyRefunded, Effect: VoidRefund, Revert: true})
	m := mustBuild(t, tb)
	late := func(cur Snapshot, ev string, last int64, parts ...int64) Decision {
		t.Helper()
		for _, n := range parts {
			d := Decide(m, cur, op(ev, n))
			require.Equal(t, VerdictApplied, d.Verdict, "%s %d: %s", ev, n, d.Reason())
			require.Equal(t, cur.Amounts.Captured, d.Amounts.Captured, "inside the rest: totals as they were")
			require.Equal(t, cur.Amounts.Refunded, d.Amounts.Refunded, "inside the rest: totals as they were")
			cur = Snapshot{State: d.To, Amounts: d.Amounts}
		}
		return Decide(m, cur, op(ev, last))
	}

	// Captured 10, then in full (a rest of 90), then 20 of it voided:
	// captured 80, of which at most 80 is that rest. 25 and 30 fit in
	// it, a further 30 does not.
	cur := walk(t, m, op("AUTH", 100), op("PARTIAL_CAPTURE", 10), Input{Event: "CAPTURE"}, op("VOID_CAPTURE", 20))
	require.LessOrEqual(t, cur.Amounts.CapturedRest, cur.Amounts.Captured)
	d := late(cur, "PARTIAL_CAPTURE", 30, 25, 30)
	require.Equal(t, VerdictRejected, d.Verdict, d.Reason())
	require.Equal(t, ReasonAmount, d.Code, d.Reason())

	// Refunded in full (a rest of 100), then 30 of it voided: refunded
	// 70, all of it that rest. 40 fits, 35 after it does not (30 would:
	// it fits on top of the refunded total).
	cur = walk(t, m, op("AUTH", 100), Input{Event: "CAPTURE"}, Input{Event: "REFUND"}, op("VOID_REFUND", 30))
	require.Equal(t, int64(70), cur.Amounts.Refunded)
	require.LessOrEqual(t, cur.Amounts.RefundedRest, cur.Amounts.Refunded)
	d = late(cur, "PARTIAL_REFUND", 35, 40)
	require.Equal(t, VerdictRejected, d.Verdict, d.Reason())
	require.Equal(t, ReasonAmount, d.Code, d.Reason())
}

// TestDistinctOperationOfTheWholeTotal: an operation with an object of its
// own that moved (Input.Distinct) cannot be one already counted, told
// again. Of exactly the total already moved, it is more money like any
// other amount: amount, or an overflow, not stale; after a full operation
// without an amount it is the one part that operation's rest was.
func TestDistinctOperationOfTheWholeTotal(t *testing.T) {
	t.Parallel()
	m := mustBuild(t, cardTable())
	distinct := func(ev string, n int64) Input { in := op(ev, n); in.Distinct = true; return in }

	refunded := walk(t, m, op("AUTH", 100), op("CAPTURE", 100), op("PARTIAL_REFUND", 100))
	require.Equal(t, Refunded, refunded.State)
	d := Decide(m, refunded, distinct("PARTIAL_REFUND", 100))
	require.Equal(t, VerdictRejected, d.Verdict, d.Reason())
	require.Equal(t, "amount: refunded 200 would exceed captured 100", d.Reason())
	require.Equal(t, refunded.Amounts, d.Amounts)
	d = Decide(m, refunded, op("PARTIAL_REFUND", 100))
	require.Equal(t, ReasonStale, d.Code, "without an object of its own it is the same refund again: %s", d.Reason())

	captured := walk(t, m, op("AUTH", 100), op("PARTIAL_CAPTURE", 100))
	require.Equal(t, Captured, captured.State)
	d = Decide(m, captured, distinct("PARTIAL_CAPTURE", 100))
	require.Equal(t, "amount: captured 200 would exceed authorized 100", d.Reason())

	// Totals never wrap: a second refund of the int64 maximum overflows.
	const most = int64(1<<63 - 1)
	top := walk(t, m, op("AUTH", most), op("CAPTURE", most), op("PARTIAL_REFUND", most))
	d = Decide(m, top, distinct("PARTIAL_REFUND", most))
	require.Equal(t, VerdictRejected, d.Verdict, d.Reason())
	require.Equal(t, ReasonAmount, d.Code, d.Reason())
	require.Contains(t, d.Reason(), "overflows")

	// A refund in full without an amount took the rest, 100: the one
	// refund object reporting 100 after it is that rest, applied in place.
	rest := walk(t, m, op("AUTH", 100), op("CAPTURE", 100), Input{Event: "REFUND"})
	d = Decide(m, rest, distinct("PARTIAL_REFUND", 100))
	require.Equal(t, VerdictApplied, d.Verdict, d.Reason())
	require.Equal(t, Refunded, d.To)
	require.Equal(t, int64(100), d.Amounts.Refunded)
	require.Zero(t, d.Amounts.RefundedRest)

	// Status mode: a payment refunded in full by operations alone.
	sm := statusCard(t)
	full := Amounts{Currency: "USD", Amount: 9500, Authorized: 9500, Captured: 9500, Refunded: 9500}
	in := Input{Event: "REFUNDED", Amount: 9500, HasAmount: true, Currency: "USD", Distinct: true}
	d = Decide(sm, Snapshot{State: Refunded, Status: "CAPTURED", Amounts: full}, in)
	require.Equal(t, "amount: refunded 19000 would exceed captured 9500", d.Reason())
	// While its own status says REFUNDED and that snapshot's refund in
	// full took the rest, its total may hold the operation: applied in
	// place, using up that rest, so that one more is money on top.
	took := full
	took.RefundedRest = 9500
	d = Decide(sm, Snapshot{State: Refunded, Status: "REFUNDED", Amounts: took}, in)
	require.Equal(t, VerdictApplied, d.Verdict, d.Reason())
	require.Equal(t, Refunded, d.To)
	require.Equal(t, full, d.Amounts)
	d = Decide(sm, Snapshot{State: Refunded, Status: "REFUNDED", Amounts: d.Amounts}, Input{Event: "REFUNDED", Amount: 1, HasAmount: true, Currency: "USD", Distinct: true})
	require.Equal(t, "amount: refunded 9501 would exceed captured 9500", d.Reason())
	// Not distinct, it may be one already counted here, told again: stale.
	d = Decide(sm, Snapshot{State: Refunded, Status: "REFUNDED", Amounts: took}, Input{Event: "REFUNDED", Amount: 9500, HasAmount: true, Currency: "USD"})
	require.Equal(t, ReasonStale, d.Code, d.Reason())
	// Said only after operations had refunded it all, it took nothing.
	d = Decide(sm, Snapshot{State: Refunded, Status: "REFUNDED", Amounts: full}, in)
	require.Equal(t, "amount: refunded 19000 would exceed captured 9500", d.Reason())
}

// TestCaptureAfterARefundIsDecidedAsWithoutIt: a table that captures
// after a refund (the next part of an authorization) decides the capture
// by the amounts, as on the payment without the refund: the rest fits,
// more is amount, and the whole captured total again with nothing left to
// capture is the same capture reported again (stale), as it is on a
// payment captured in full.
func TestCaptureAfterARefundIsDecidedAsWithoutIt(t *testing.T) {
	t.Parallel()
	tb := cardTable()
	tb.Transitions = append(tb.Transitions,
		Transition{Event: "PARTIAL_REFUND", From: []State{PartiallyCaptured}, To: PartiallyRefunded, Effect: Refund},
		Transition{Event: "PARTIAL_CAPTURE", From: []State{PartiallyRefunded}, To: PartiallyRefunded, Effect: Capture})
	m := mustBuild(t, tb)

	whole := walk(t, m, op("AUTH", 100), op("CAPTURE", 100), op("PARTIAL_REFUND", 10))
	require.Equal(t, PartiallyRefunded, whole.State)
	d := Decide(m, whole, op("PARTIAL_CAPTURE", 100))
	require.Equal(t, VerdictRejected, d.Verdict, d.Reason())
	require.Equal(t, ReasonStale, d.Code, d.Reason())
	d = Decide(m, walk(t, m, op("AUTH", 100), op("CAPTURE", 100)), op("PARTIAL_CAPTURE", 100))
	require.Equal(t, ReasonStale, d.Code, "the same without the refund: %s", d.Reason())
	d = Decide(m, whole, op("PARTIAL_CAPTURE", 1))
	require.Equal(t, "amount: captured 101 would exceed authorized 100", d.Reason())
	distinct := op("PARTIAL_CAPTURE", 100)
	distinct.Distinct = true
	d = Decide(m, whole, distinct)
	require.Equal(t, ReasonAmount, d.Code, "a capture object of its own is more money: %s", d.Reason())

	// Room left: a part of the size already captured is the next part.
	part := walk(t, m, op("AUTH", 100), op("PARTIAL_CAPTURE", 50), op("PARTIAL_REFUND", 10))
	d = Decide(m, part, op("PARTIAL_CAPTURE", 50))
	require.Equal(t, VerdictApplied, d.Verdict, d.Reason())
	require.Equal(t, PartiallyRefunded, d.To)
	require.Equal(t, int64(100), d.Amounts.Captured)
}

// TestZeroAuthorizationIsAReportedLimit: an authorization reported as 0 (a
// card check) holds captures to it like any other; an authorization nobody
// reported is proved by the capture instead.
func TestZeroAuthorizationIsAReportedLimit(t *testing.T) {
	t.Parallel()
	m := mustBuild(t, cardTable())

	zero := walk(t, m, op("AUTH", 0))
	require.Equal(t, Amounts{Currency: "AED", AmountKnown: true}, zero.Amounts)
	d := Decide(m, zero, op("PARTIAL_CAPTURE", 10))
	require.Equal(t, VerdictRejected, d.Verdict, d.Reason())
	require.Equal(t, "amount: captured 10 would exceed authorized 0", d.Reason())
	require.Equal(t, zero.Amounts, d.Amounts)
	d = Decide(m, zero, op("PARTIAL_CAPTURE", 0))
	require.Equal(t, VerdictApplied, d.Verdict, "a capture of nothing fits: %s", d.Reason())

	// Never reported: an authorization without an amount, or none at all
	// on an aggregate whose amounts predate AmountKnown.
	for name, a := range map[string]Amounts{
		"authorization without an amount": walk(t, m, Input{Event: "AUTH", Currency: "AED"}).Amounts,
		"nothing reported":                {Currency: "AED"},
	} {
		d := Decide(m, Snapshot{State: Authorized, Amounts: a}, op("PARTIAL_CAPTURE", 10))
		require.Equal(t, VerdictApplied, d.Verdict, "%s: %s", name, d.Reason())
		require.Equal(t, int64(10), d.Amounts.Authorized, name)
	}

	// A zero authorization whose capture was requested for more.
	tb := cardTable()
	tb.Transitions = append(tb.Transitions, Transition{Event: "SETTLING", From: []State{Authorized}, To: CaptureRequested, Effect: RequestCapture},
		Transition{Event: "SETTLED", From: []State{CaptureRequested}, To: Captured, Effect: Capture})
	rm := mustBuild(t, tb)
	d = Decide(rm, walk(t, rm, op("AUTH", 0)), op("SETTLING", 10))
	require.Equal(t, "amount: capture of 10 requested, above authorized 0", d.Reason())
}
