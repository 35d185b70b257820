package statemachine

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// honourCard is a card machine with every amount effect the rules of this
// release tightened: a requested capture, a purchase reversed (a void that
// ends the payment), refunds from a payment captured in part.
func honourCard(t *testing.T) *Machine {
	return mustBuild(t, Table{
		Provider: "test", Kind: KindPayment,
		Transitions: []Transition{
			{Event: "AUTH", From: []State{StateNew}, To: Authorized, Effect: Authorize},
			{Event: "PURCHASE", From: []State{StateNew}, To: Captured, Effect: Purchase},
			{Event: "REQUEST_CAPTURE", From: []State{Authorized}, To: CaptureRequested, Effect: RequestCapture},
			{Event: "CAPTURE", From: []State{Authorized, PartiallyCaptured, CaptureRequested}, To: Captured, Effect: Capture},
			{Event: "PARTIAL_CAPTURE", From: []State{Authorized, PartiallyCaptured}, To: PartiallyCaptured, Effect: Capture},
			{Event: "PURCHASE_REVERSED", From: []State{Captured}, To: Voided, Effect: VoidCapture},
			{Event: "REFUND", From: []State{Captured, PartiallyRefunded}, To: Refunded, Effect: Refund},
			{Event: "PARTIAL_REFUND", From: []State{Captured, PartiallyRefunded, PartiallyCaptured}, To: PartiallyRefunded, Effect: Refund},
		},
	})
}

// TestHonourReproducesTheRulesBeforeTheirBounds: an event the rules of the
// previous release applied and this release's bounds reject, honoured to
// the state its entry recorded, has the amounts those rules gave it. Each
// case's before, state and amounts are what Decide gave at the parent of
// the commit that added the bound (and at the last commit of Rules 11),
// run from the same events.
func TestHonourReproducesTheRulesBeforeTheirBounds(t *testing.T) {
	t.Parallel()
	card, status := honourCard(t), statusCard(t)
	zero := Amounts{Currency: "EUR", AmountKnown: true}
	split := Amounts{Currency: "EUR", Amount: 10000, AmountKnown: true, Authorized: 10000, Unknown: true}
	full := Amounts{Currency: "EUR", Amount: 10000, AmountKnown: true, Authorized: 10000, Captured: 10000}
	cases := []struct {
		name string
		m    *Machine
		cur  Snapshot
		in   Input
		to   State
		want Amounts
	}{
		{"d063c5f: a capture above an authorization of 0 raised it", card,
			Snapshot{State: Authorized, Amounts: zero}, Input{Event: "CAPTURE", Amount: 10, HasAmount: true},
			PartiallyCaptured, Amounts{Currency: "EUR", AmountKnown: true, Authorized: 10, Captured: 10}},
		{"d063c5f: a capture requested above an authorization of 0 raised it, not fully known", card,
			Snapshot{State: Authorized, Amounts: zero}, Input{Event: "REQUEST_CAPTURE", Amount: 10, HasAmount: true},
			CaptureRequested, Amounts{Currency: "EUR", AmountKnown: true, Authorized: 10, Unknown: true}},
		{"0b85f5e: a purchase reversed in part took its amount off", card,
			Snapshot{State: Captured, Amounts: full}, Input{Event: "PURCHASE_REVERSED", Amount: 4000, HasAmount: true},
			Voided, Amounts{Currency: "EUR", Amount: 10000, AmountKnown: true, Authorized: 10000, Captured: 6000}},
		{"a7d9175: a refund above the authorization, split unknown, raised it", card,
			Snapshot{State: PartiallyCaptured, Amounts: split}, Input{Event: "PARTIAL_REFUND", Amount: 20000, HasAmount: true},
			PartiallyRefunded, Amounts{Currency: "EUR", Amount: 10000, AmountKnown: true, Authorized: 20000, Captured: 20000, Refunded: 20000, Unknown: true}},
		{"a7d9175: a capture above the authorization, split unknown, raised it", card,
			Snapshot{State: PartiallyCaptured, Amounts: split}, Input{Event: "PARTIAL_CAPTURE", Amount: 20000, HasAmount: true},
			PartiallyCaptured, Amounts{Currency: "EUR", Amount: 10000, AmountKnown: true, Authorized: 20000, Captured: 20000, Unknown: true}},
		{"a7d9175: the same after a capture in full", card,
			Snapshot{State: Captured, Amounts: Amounts{Currency: "EUR", Amount: 10000, AmountKnown: true, Authorized: 10000, Captured: 10000, Unknown: true, CapturedRest: 10000}},
			Input{Event: "PARTIAL_REFUND", Amount: 20000, HasAmount: true},
			PartiallyRefunded, Amounts{Currency: "EUR", Amount: 10000, AmountKnown: true, Authorized: 20000, Captured: 20000, Refunded: 20000, Unknown: true, CapturedRest: 10000}},
		{"3a71eac: an own REFUNDED of part of the capture refunded that part", status,
			Snapshot{State: Captured, Status: "CAPTURED", Amounts: full}, Input{Event: "REFUNDED", Amount: 4000, HasAmount: true, Snapshot: true},
			PartiallyRefunded, Amounts{Currency: "EUR", Amount: 10000, AmountKnown: true, Authorized: 10000, Captured: 10000, Refunded: 4000}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.in.Currency = "EUR"
			today := Decide(c.m, c.cur, c.in)
			require.False(t, today.Verdict == VerdictApplied && today.To == c.to, "today's rules agree: nothing to honour")
			d := Honour(c.m, c.cur, c.in, nil, c.to)
			require.Equal(t, VerdictApplied, d.Verdict)
			require.Equal(t, c.to, d.To)
			require.Equal(t, c.want, d.Amounts)
			require.Empty(t, d.Detail)
		})
	}
}

// A refund naming another payment than its own was applied before such an
// event became a conflict: honoured, it does what Decide does without the
// other parent.
func TestHonourAnotherParent(t *testing.T) {
	t.Parallel()
	m := mustBuild(t, Table{Provider: "p", Kind: KindRefund, Transitions: []Transition{
		{Event: "INITIATED", From: []State{StateNew}, To: Pending},
		{Event: "COMPLETED", From: []State{StateNew, Pending}, To: Succeeded, Effect: Reprice},
	}})
	cur := Snapshot{State: Pending, Parent: Parent{KindPayment, "pay_68"}, Amounts: Amounts{Currency: "EUR", Amount: 500, AmountKnown: true}}
	in := Input{Event: "COMPLETED", Amount: 400, HasAmount: true, Currency: "EUR", Parent: Parent{KindPayment, "pay_69b"}}
	require.Equal(t, VerdictRejected, Decide(m, cur, in).Verdict)
	d := Honour(m, cur, in, nil, Succeeded)
	in.Parent = Parent{}
	want := Decide(m, cur, in)
	require.Equal(t, VerdictApplied, want.Verdict)
	require.Equal(t, want.Amounts, d.Amounts)
	require.Equal(t, Succeeded, d.To)
}

// A jump the journal recorded carries what its skipped states imply, as
// Decide's does.
func TestHonourFollowsTheRecordedJump(t *testing.T) {
	t.Parallel()
	m := statusCard(t)
	in := Input{Event: "REFUNDED", Amount: 9500, HasAmount: true, Currency: "USD", Snapshot: true}
	today := Decide(m, Snapshot{State: StateNew}, in)
	require.Equal(t, VerdictApplied, today.Verdict, today.Reason())
	d := Honour(m, Snapshot{State: StateNew}, in, today.Skipped, today.To)
	require.Equal(t, today.Amounts, d.Amounts)
	require.Equal(t, today.Skipped, d.Skipped)
}

// What no release's rules allowed still moves nothing: a total that would
// overflow; a word today's table does not know records only the order's
// amount.
func TestHonourMovesNothingItCannotCount(t *testing.T) {
	t.Parallel()
	m := honourCard(t)
	cur := Snapshot{State: Captured, Amounts: Amounts{Currency: "EUR", Authorized: math.MaxInt64, Captured: math.MaxInt64, Refunded: 10}}
	d := Honour(m, cur, Input{Event: "PARTIAL_REFUND", Amount: math.MaxInt64, HasAmount: true}, nil, PartiallyRefunded)
	require.Equal(t, cur.Amounts, d.Amounts)
	require.Equal(t, PartiallyRefunded, d.To)
	require.Contains(t, d.Detail, "amounts unchanged where refunded 10 + ")

	d = Honour(m, Snapshot{State: Authorized}, Input{Event: "GONE", Amount: 70, HasAmount: true, Currency: "EUR"}, nil, Captured)
	require.Equal(t, Amounts{Currency: "EUR", Amount: 70, AmountKnown: true}, d.Amounts)
	require.Equal(t, Captured, d.To)
}
