package statemachine

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDecide(t *testing.T) {
	t.Parallel()
	m := mustBuild(t, cardTable())
	auth := Amounts{Currency: "AED", Amount: 100, Authorized: 100}
	capt := Amounts{Currency: "AED", Amount: 100, Authorized: 100, Captured: 100}
	amt := func(n int64) Input { return Input{Amount: n, HasAmount: true, Currency: "AED"} }
	flag := func(a Amounts, set func(*Amounts)) Amounts { set(&a); return a }
	with := func(in Input, ev string) Input { in.Event = ev; return in }

	cases := []struct {
		name    string
		cur     Snapshot
		in      Input
		verdict Verdict
		code    ReasonCode
		to      State
		amounts Amounts
	}{
		{"first authorisation", Snapshot{State: StateNew}, with(amt(100), "AUTH"),
			VerdictApplied, "", Authorized, flag(auth, func(a *Amounts) { a.AmountKnown = true })},
		{"full capture without amount takes the rest", Snapshot{State: Authorized, Amounts: auth}, Input{Event: "CAPTURE"},
			VerdictApplied, "", Captured, flag(capt, func(a *Amounts) { a.CapturedRest = 100 })},
		{"partial capture by amount", Snapshot{State: Authorized, Amounts: auth}, with(amt(40), "PARTIAL_CAPTURE"),
			VerdictApplied, "", PartiallyCaptured, Amounts{Currency: "AED", Amount: 100, Authorized: 100, Captured: 40, Refunded: 0}},
		{"partial captures adding up become captured", Snapshot{State: PartiallyCaptured, Amounts: Amounts{Currency: "AED", Amount: 100, Authorized: 100, Captured: 40, Refunded: 0}}, with(amt(60), "PARTIAL_CAPTURE"),
			VerdictApplied, "", Captured, capt},
		{"capture above authorization is rejected", Snapshot{State: Authorized, Amounts: auth}, with(amt(101), "CAPTURE"),
			VerdictRejected, ReasonAmount, Authorized, auth},
		{"a failure stays put", Snapshot{State: PartiallyCaptured, Amounts: Amounts{Currency: "AED", Amount: 100, Authorized: 100, Captured: 40, Refunded: 0}}, Input{Event: "CAPTURE_FAILED"},
			VerdictApplied, "", PartiallyCaptured, Amounts{Currency: "AED", Amount: 100, Authorized: 100, Captured: 40, Refunded: 0}},
		{"partial refund", Snapshot{State: Captured, Amounts: capt}, with(amt(30), "PARTIAL_REFUND"),
			VerdictApplied, "", PartiallyRefunded, Amounts{Currency: "AED", Amount: 100, Authorized: 100, Captured: 100, Refunded: 30}},
		{"partial refunds adding up become refunded", Snapshot{State: PartiallyRefunded, Amounts: Amounts{Currency: "AED", Amount: 100, Authorized: 100, Captured: 100, Refunded: 30}}, with(amt(70), "PARTIAL_REFUND"),
			VerdictApplied, "", Refunded, Amounts{Currency: "AED", Amount: 100, Authorized: 100, Captured: 100, Refunded: 100}},
		{"refund without amount refunds the rest", Snapshot{State: PartiallyRefunded, Amounts: Amounts{Currency: "AED", Amount: 100, Authorized: 100, Captured: 100, Refunded: 30}}, Input{Event: "REFUND"},
			VerdictApplied, "", Refunded, Amounts{Currency: "AED", Amount: 100, Authorized: 100, Captured: 100, Refunded: 100, RefundedRest: 70}},
		{"refund above captured is rejected", Snapshot{State: Captured, Amounts: capt}, with(amt(150), "REFUND"),
			VerdictRejected, ReasonAmount, Captured, capt},
		{"void of a capture returns to authorized", Snapshot{State: Captured, Amounts: capt}, Input{Event: "VOID_CAPTURE"},
			VerdictApplied, "", Authorized, auth},
		{"void of part of a capture leaves it partial", Snapshot{State: Captured, Amounts: capt}, with(amt(30), "VOID_CAPTURE"),
			VerdictApplied, "", PartiallyCaptured, Amounts{Currency: "AED", Amount: 100, Authorized: 100, Captured: 70, Refunded: 0}},
		{"a refund on a payment refunded in full is too much, not late", Snapshot{State: Refunded, Amounts: Amounts{Currency: "AED", Amount: 100, Authorized: 100, Captured: 100, Refunded: 100}}, with(amt(10), "PARTIAL_REFUND"),
			VerdictRejected, ReasonAmount, Refunded, Amounts{Currency: "AED", Amount: 100, Authorized: 100, Captured: 100, Refunded: 100}},
		{"a full refund without amount on a refunded payment is late", Snapshot{State: Refunded, Amounts: Amounts{Currency: "AED", Amount: 100, Authorized: 100, Captured: 100, Refunded: 100}}, Input{Event: "REFUND"},
			VerdictRejected, ReasonStale, Refunded, Amounts{Currency: "AED", Amount: 100, Authorized: 100, Captured: 100, Refunded: 100}},
		{"a capture on a payment captured in full is too much, not late", Snapshot{State: Captured, Amounts: capt}, with(amt(1), "PARTIAL_CAPTURE"),
			VerdictRejected, ReasonAmount, Captured, capt},
		{"the whole capture reported again is late, not too much", Snapshot{State: Captured, Amounts: capt}, with(amt(100), "PARTIAL_CAPTURE"),
			VerdictRejected, ReasonStale, Captured, capt},
		{"the whole refund reported again is late, not too much", Snapshot{State: Refunded, Amounts: Amounts{Currency: "AED", Amount: 100, Authorized: 100, Captured: 100, Refunded: 100}}, with(amt(100), "PARTIAL_REFUND"),
			VerdictRejected, ReasonStale, Refunded, Amounts{Currency: "AED", Amount: 100, Authorized: 100, Captured: 100, Refunded: 100}},
		{"capture before authorization is deferred", Snapshot{State: StateNew}, Input{Event: "CAPTURE"},
			VerdictDeferred, ReasonEarly, StateNew, Amounts{}},
		{"capture during fraud review is deferred", Snapshot{State: FraudReview, Amounts: auth}, Input{Event: "CAPTURE"},
			VerdictDeferred, ReasonEarly, FraudReview, auth},
		{"refund before capture is deferred", Snapshot{State: Authorized, Amounts: auth}, with(amt(10), "PARTIAL_REFUND"),
			VerdictDeferred, ReasonEarly, Authorized, auth},
		{"late authorization is stale", Snapshot{State: Captured, Amounts: capt}, with(amt(100), "AUTH"),
			VerdictRejected, ReasonStale, Captured, capt},
		{"late review after capture is stale, not deferred through the revert", Snapshot{State: Captured, Amounts: capt}, Input{Event: "REVIEW"},
			VerdictRejected, ReasonStale, Captured, capt},
		{"capture after close is stale", Snapshot{State: Closed, Amounts: capt}, Input{Event: "CAPTURE"},
			VerdictRejected, ReasonStale, Closed, capt},
		{"refund of a voided payment is illegal", Snapshot{State: Voided, Amounts: auth}, Input{Event: "REFUND"},
			VerdictRejected, ReasonIllegal, Voided, auth},
		{"currency mismatch", Snapshot{State: Authorized, Amounts: auth}, Input{Event: "CAPTURE", Currency: "USD"},
			VerdictRejected, ReasonCurrency, Authorized, auth},
		{"record-only word", Snapshot{State: Authorized, Amounts: auth}, Input{Event: "NOTE"},
			VerdictRecorded, ReasonNoLifecycle, Authorized, auth},
		{"unknown word is recorded", Snapshot{State: Authorized, Amounts: auth}, Input{Event: "SHIPPED"},
			VerdictRecorded, ReasonUnknown, Authorized, auth},
		{"same key, same body", Snapshot{State: Authorized, Amounts: auth}, Input{Event: "CAPTURE", BodySHA256: "a", Prior: "a"},
			VerdictDuplicate, "", Authorized, auth},
		{"same key, different body", Snapshot{State: Authorized, Amounts: auth}, Input{Event: "CAPTURE", BodySHA256: "b", Prior: "a"},
			VerdictRejected, ReasonConflict, Authorized, auth},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := Decide(m, tc.cur, tc.in)
			require.Equal(t, tc.verdict, d.Verdict, d.Reason())
			require.Equal(t, tc.code, d.Code, d.Reason())
			require.Equal(t, tc.to, d.To)
			require.Equal(t, tc.amounts, d.Amounts)
		})
	}
}

func TestDecideWithoutMachineRecords(t *testing.T) {
	t.Parallel()
	d := Decide(nil, Snapshot{State: StateNew}, Input{Event: "customer.created"})
	require.Equal(t, VerdictRecorded, d.Verdict)
	require.Equal(t, ReasonNoLifecycle, d.Code)
}

func TestDecideStatusModeWalksThePath(t *testing.T) {
	t.Parallel()
	m := mustBuild(t, Table{
		Provider: "snap",
		Kind:     KindPayment,
		Mode:     ModeStatus,
		Transitions: []Transition{
			{Event: "PENDING", From: []State{StateNew}, To: Pending},
			{Event: "AUTHORIZED", From: []State{StateNew, Pending}, To: Authorized, Effect: Authorize},
			{Event: "SETTLEMENT_REQUESTED", From: []State{Authorized}, To: CaptureRequested},
			{Event: "SETTLEMENT_COMPLETED", From: []State{CaptureRequested}, To: Captured, Effect: Capture},
			{Event: "DECLINED", From: []State{StateNew, Pending}, To: Declined},
		},
	})
	d := Decide(m, Snapshot{State: Pending}, Input{Event: "SETTLEMENT_COMPLETED", Amount: 500, HasAmount: true, Currency: "EUR", Snapshot: true})
	require.Equal(t, VerdictApplied, d.Verdict, d.Reason())
	require.Equal(t, Captured, d.To)
	require.Equal(t, Amounts{Currency: "EUR", Amount: 500, Authorized: 500, Captured: 500, AmountKnown: true}, d.Amounts,
		"the snapshot's amount went with the skipped authorization")
	require.Equal(t, []State{Authorized, CaptureRequested}, d.Skipped)
	require.Equal(t, ReasonSkipped, d.Code)

	// The recorded path follows declared targets (captured), not their
	// amount twins (partially_captured).
	m2 := mustBuild(t, Table{
		Provider: "snap2", Kind: KindPayment, Mode: ModeStatus,
		Transitions: []Transition{
			{Event: "AUTHORIZED", From: []State{StateNew}, To: Authorized, Effect: Authorize},
			{Event: "CAPTURED", From: []State{Authorized}, To: Captured, Effect: Capture},
			{Event: "REFUNDED", From: []State{PartiallyCaptured, Captured}, To: Refunded, Effect: Refund},
		},
	})
	d = Decide(m2, Snapshot{State: StateNew}, Input{Event: "REFUNDED"})
	require.Equal(t, VerdictApplied, d.Verdict, d.Reason())
	require.Equal(t, []State{Authorized, Captured}, d.Skipped)

	d = Decide(m, Snapshot{State: Captured}, Input{Event: "PENDING"})
	require.Equal(t, VerdictRejected, d.Verdict)
	require.Equal(t, ReasonStale, d.Code)

	d = Decide(m, Snapshot{State: Declined}, Input{Event: "SETTLEMENT_COMPLETED"})
	require.Equal(t, VerdictRejected, d.Verdict)
	require.Equal(t, ReasonIllegal, d.Code)
}

// A repriced link takes the event's amount as its face amount; an update
// without an amount keeps the one it had.
func TestRepriceSetsTheFaceAmount(t *testing.T) {
	t.Parallel()
	m := mustBuild(t, Table{Provider: "p", Kind: KindLink, Transitions: []Transition{
		{Event: "CREATED", From: []State{StateNew}, To: Created},
		{Event: "UPDATED", From: []State{Created}, To: Created, Effect: Reprice},
	}})
	cur := Snapshot{State: Created, Amounts: Amounts{Currency: "USD", Amount: 1800}}
	d := Decide(m, cur, Input{Event: "UPDATED", Amount: 2000, HasAmount: true, Currency: "USD"})
	require.Equal(t, VerdictApplied, d.Verdict, d.Reason())
	require.Equal(t, Amounts{Currency: "USD", Amount: 2000, AmountKnown: true}, d.Amounts)
	require.Equal(t, "amount changed from 1800 to 2000", d.Reason(), "the journal shows the old figure beside the new")
	d = Decide(m, cur, Input{Event: "UPDATED"})
	require.Equal(t, VerdictApplied, d.Verdict, d.Reason())
	require.Equal(t, cur.Amounts, d.Amounts)
	require.Empty(t, d.Reason())

	// The same amount, or a first one, is no change.
	d = Decide(m, cur, Input{Event: "UPDATED", Amount: 1800, HasAmount: true, Currency: "USD"})
	require.Empty(t, d.Reason())
	d = Decide(m, Snapshot{State: StateNew}, Input{Event: "CREATED", Amount: 1800, HasAmount: true, Currency: "USD"})
	require.Empty(t, d.Reason())
}

// A snapshot states its object's amount now: on a status machine whose rows
// reprice (Magnius refunds and chargebacks), a later status with another
// amount replaces it, also along a jump, and the reason says so.
func TestRepricingSnapshotNamesTheChange(t *testing.T) {
	t.Parallel()
	m := mustBuild(t, Table{Provider: "snap", Kind: KindRefund, Mode: ModeStatus, Transitions: []Transition{
		{Event: "PENDING", From: []State{StateNew}, To: Pending, Effect: Reprice},
		{Event: "HOLD", From: []State{Pending}, To: OnHold, Effect: Reprice},
		{Event: "PROCESSED", From: []State{OnHold}, To: Succeeded, Effect: Reprice},
	}})
	snap := func(ev string, n int64) Input { return Input{Event: ev, Amount: n, HasAmount: true, Snapshot: true} }
	pending := Snapshot{State: Pending, Status: "PENDING", Amounts: Amounts{Amount: 100, AmountKnown: true}}

	d := Decide(m, pending, snap("HOLD", 80))
	require.Equal(t, VerdictApplied, d.Verdict, d.Reason())
	require.Equal(t, "amount changed from 100 to 80", d.Reason())
	require.Equal(t, Amounts{Amount: 80, AmountKnown: true}, d.Amounts)

	d = Decide(m, pending, snap("PROCESSED", 80))
	require.Equal(t, VerdictApplied, d.Verdict, d.Reason())
	require.Equal(t, "jumped: passed through on_hold; amount changed from 100 to 80", d.Reason())
	require.Equal(t, int64(80), d.Amounts.Amount)
}

// A snapshot equal to the current status is a duplicate; one seen before
// but legal from the current state is applied; one behind is stale.
func TestDecideSnapshotRevisits(t *testing.T) {
	t.Parallel()
	m := mustBuild(t, Table{
		Provider: "snap", Kind: KindSubscription, Mode: ModeStatus,
		Transitions: []Transition{
			{Event: "CREATED", From: []State{StateNew}, To: Created},
			{Event: "ACTIVE", From: []State{Created}, To: Active},
			{Event: "PAST_DUE", From: []State{Active}, To: PastDue},
			{Event: "ACTIVE", From: []State{PastDue}, To: Active, Revert: true},
		},
	})
	snap := func(status string) Input { return Input{Event: status, Snapshot: true} }

	d := Decide(m, Snapshot{State: PastDue, Status: "PAST_DUE"}, snap("ACTIVE"))
	require.Equal(t, VerdictApplied, d.Verdict, d.Reason())
	require.Equal(t, Active, d.To)

	d = Decide(m, Snapshot{State: Active, Status: "ACTIVE"}, snap("ACTIVE"))
	require.Equal(t, VerdictDuplicate, d.Verdict, d.Reason())
	require.Equal(t, "already in status ACTIVE", d.Reason())

	d = Decide(m, Snapshot{State: Active, Status: "ACTIVE"}, snap("CREATED"))
	require.Equal(t, VerdictRejected, d.Verdict)
	require.Equal(t, ReasonStale, d.Code)

	// The provider status, not the canonical state, is what repeats.
	d = Decide(m, Snapshot{State: Active, Status: "ACTIVE"}, Input{Event: "ACTIVE", Status: "Active", Snapshot: true})
	require.NotEqual(t, VerdictDuplicate, d.Verdict)

	// An event that is not a snapshot is never a repeat of the status.
	d = Decide(m, Snapshot{State: PastDue, Status: "ACTIVE"}, Input{Event: "ACTIVE"})
	require.Equal(t, VerdictApplied, d.Verdict, d.Reason())
}

// statusCard is a status-mode payment machine shaped like Inyo's and
// Magnius': one word per status, partial and full picked by the amounts.
func statusCard(t *testing.T) *Machine {
	return mustBuild(t, Table{
		Provider: "snap", Kind: KindPayment, Mode: ModeStatus,
		Transitions: []Transition{
			{Event: "AUTHORIZED", From: []State{StateNew}, To: Authorized, Effect: Authorize},
			{Event: "SETTLING", From: []State{Authorized}, To: CaptureRequested, Effect: RequestCapture},
			{Event: "CAPTURED", From: []State{Authorized, CaptureRequested}, To: Captured, Effect: Capture},
			{Event: "REFUNDED", From: []State{Captured, PartiallyCaptured, PartiallyRefunded}, To: Refunded, Effect: Refund},
		},
	})
}

// A status that lies ahead implies what the states it passes through imply.
func TestDecideJumpCarriesThePathsAmounts(t *testing.T) {
	t.Parallel()
	m := statusCard(t)
	auth := Amounts{Currency: "USD", Amount: 9500, Authorized: 9500}
	refund := func(n int64) Input {
		return Input{Event: "REFUNDED", Amount: n, HasAmount: true, Currency: "USD"}
	}

	// A refund operation on an authorized payment whose capture was never
	// reported: the skipped full capture captures the authorization.
	d := Decide(m, Snapshot{State: Authorized, Amounts: auth}, refund(3000))
	require.Equal(t, VerdictApplied, d.Verdict, d.Reason())
	require.Equal(t, PartiallyRefunded, d.To)
	require.Equal(t, []State{Captured}, d.Skipped)
	// The skipped capture took the rest without an amount of its own.
	require.Equal(t, Amounts{Currency: "USD", Amount: 9500, Authorized: 9500, Captured: 9500, Refunded: 3000, CapturedRest: 9500}, d.Amounts)

	// Nothing known of the payment: the refund proves a capture of at
	// least its amount; the totals say so and are marked not fully known.
	d = Decide(m, Snapshot{State: StateNew}, refund(3000))
	require.Equal(t, VerdictApplied, d.Verdict, d.Reason())
	require.Equal(t, PartiallyRefunded, d.To, "only a part is known to be refunded")
	require.Equal(t, Amounts{Currency: "USD", Authorized: 3000, Captured: 3000, Refunded: 3000, Unknown: true}, d.Amounts)
	// A second refund is not rejected for the unknown capture either.
	d = Decide(m, Snapshot{State: d.To, Amounts: d.Amounts}, refund(2000))
	require.Equal(t, VerdictApplied, d.Verdict, d.Reason())
	require.Equal(t, Amounts{Currency: "USD", Authorized: 5000, Captured: 5000, Refunded: 5000, Unknown: true}, d.Amounts)

	// With every amount known, a refund above the capture is still
	// rejected, also when the capture was skipped.
	d = Decide(m, Snapshot{State: Authorized, Amounts: auth}, refund(9501))
	require.Equal(t, VerdictRejected, d.Verdict)
	require.Equal(t, ReasonAmount, d.Code)
}

// A snapshot's amount is its object's at every status: the first applied
// snapshot that carries one gives the order its amount, whichever effect
// it has (Magnius: AUTHORIZED without amount, then SETTLEMENT_COMPLETED
// 1000; Inyo's own payment object alike). An operation's amount is what it
// moves, not the order's.
func TestDecideSnapshotAmountIsTheOrdersAmount(t *testing.T) {
	t.Parallel()
	m := statusCard(t)
	snap := func(ev string, n int64) Input { return Input{Event: ev, Amount: n, HasAmount: n >= 0, Snapshot: true} }
	walk := func(ins ...Input) Snapshot {
		cur := Snapshot{State: StateNew}
		for _, in := range ins {
			d := Decide(m, cur, in)
			require.Equal(t, VerdictApplied, d.Verdict, "%s: %s", in.Event, d.Reason())
			cur = Snapshot{State: d.To, Amounts: d.Amounts, Status: in.Event}
		}
		return cur
	}

	for name, path := range map[string][]Input{
		"captured":            {snap("AUTHORIZED", -1), snap("CAPTURED", 1000)},
		"settling, then done": {snap("AUTHORIZED", -1), snap("SETTLING", 1000), snap("CAPTURED", 1000)},
		"settling skipped":    {snap("AUTHORIZED", -1), snap("REFUNDED", 1000)},
	} {
		cur := walk(path...)
		require.True(t, cur.Amounts.AmountKnown, name)
		require.Equal(t, int64(1000), cur.Amounts.Amount, name)
	}

	// The first applied amount stays: a settlement of less is a partial
	// capture of the order, not a new order amount.
	cur := walk(snap("AUTHORIZED", -1), snap("SETTLING", 1000), snap("CAPTURED", 600))
	require.Equal(t, int64(1000), cur.Amounts.Amount)
	require.Equal(t, PartiallyCaptured, cur.State)

	// An operation reported by another object (not a snapshot) moves the
	// totals only.
	op := Input{Event: "CAPTURED", Amount: 400, HasAmount: true}
	cur = walk(snap("AUTHORIZED", -1), op)
	require.False(t, cur.Amounts.AmountKnown)
	require.Equal(t, int64(400), cur.Amounts.Captured)
}

// A capture requested above the authorization is rejected, also when a
// jump passes through the request; the request never changes the
// authorization.
func TestDecideRequestedCaptureStaysWithinTheAuthorization(t *testing.T) {
	t.Parallel()
	m := statusCard(t)
	auth := Amounts{Amount: 2500, Authorized: 2500, AmountKnown: true}
	snap := func(ev string, n int64) Input { return Input{Event: ev, Amount: n, HasAmount: true, Snapshot: true} }

	d := Decide(m, Snapshot{State: Authorized, Amounts: auth}, snap("SETTLING", 3000))
	require.Equal(t, VerdictRejected, d.Verdict)
	require.Equal(t, ReasonAmount, d.Code)

	d = Decide(m, Snapshot{State: Authorized, Amounts: auth}, snap("SETTLING", 2000))
	require.Equal(t, VerdictApplied, d.Verdict, d.Reason())
	require.Equal(t, auth, d.Amounts, "a request moves no money and keeps the authorization")

	// The authorization first seen through the request itself.
	d = Decide(m, Snapshot{State: StateNew}, snap("SETTLING", 2500))
	require.Equal(t, VerdictApplied, d.Verdict, d.Reason())
	require.Equal(t, Amounts{Amount: 2500, Authorized: 2500, AmountKnown: true}, d.Amounts)

	// CAPTURED from authorized is a direct edge here; a machine where the
	// request must be passed through rejects the over-settlement on the
	// way (see TestDecideStatusModeWalksThePath's machine).
	m2 := mustBuild(t, Table{
		Provider: "snap", Kind: KindPayment, Mode: ModeStatus,
		Transitions: []Transition{
			{Event: "AUTHORIZED", From: []State{StateNew}, To: Authorized, Effect: Authorize},
			{Event: "SETTLING", From: []State{Authorized}, To: CaptureRequested, Effect: RequestCapture},
			{Event: "SETTLED", From: []State{CaptureRequested}, To: Captured, Effect: Capture},
		},
	})
	d = Decide(m2, Snapshot{State: Authorized, Amounts: auth}, snap("SETTLED", 3000))
	require.Equal(t, VerdictRejected, d.Verdict)
	require.Equal(t, ReasonAmount, d.Code)
	require.Contains(t, d.Detail, "passing capture_requested")
}

// Events without the amount that matters: what the word implies, or
// "not fully known" and checks that raise instead of rejecting.
func TestDecideUnknownAmounts(t *testing.T) {
	t.Parallel()
	m := mustBuild(t, cardTable())
	auth := Amounts{Currency: "AED", Amount: 100, Authorized: 100}
	none := func(ev string) Input { return Input{Event: ev} }
	amt := func(ev string, n int64) Input { return Input{Event: ev, Amount: n, HasAmount: true} }

	// A partial capture without an amount: the word is the state, the
	// total is not known.
	d := Decide(m, Snapshot{State: Authorized, Amounts: auth}, none("PARTIAL_CAPTURE"))
	require.Equal(t, VerdictApplied, d.Verdict, d.Reason())
	require.Equal(t, PartiallyCaptured, d.To)
	require.True(t, d.Amounts.Unknown)
	require.Zero(t, d.Amounts.Captured)
	// A refund of a known amount is then not rejected for the unknown
	// capture: it proves one of at least its amount.
	d = Decide(m, Snapshot{State: Captured, Amounts: d.Amounts}, amt("PARTIAL_REFUND", 40))
	require.Equal(t, VerdictApplied, d.Verdict, d.Reason())
	require.Equal(t, int64(40), d.Amounts.Captured)
	require.Equal(t, int64(40), d.Amounts.Refunded)
	require.True(t, d.Amounts.Unknown)

	// An authorization without an amount.
	d = Decide(m, Snapshot{State: StateNew}, none("AUTH"))
	require.Equal(t, VerdictApplied, d.Verdict, d.Reason())
	require.True(t, d.Amounts.Unknown)

	// The full words imply their amount: no unknown.
	d = Decide(m, Snapshot{State: Authorized, Amounts: auth}, none("CAPTURE"))
	require.False(t, d.Amounts.Unknown)
	require.Equal(t, int64(100), d.Amounts.Captured)

	// With every figure known, the checks still reject.
	d = Decide(m, Snapshot{State: Authorized, Amounts: auth}, amt("PARTIAL_CAPTURE", 101))
	require.Equal(t, VerdictRejected, d.Verdict)
	require.Equal(t, ReasonAmount, d.Code)
}

// TestDecideMoneyMovedHereIsNeverEarly: a table where a capture is also
// legal after a refund (N-Genius captures in parts) puts the refund states
// ahead of captured among the capture's sources. A capture on a payment
// captured in full is still not held for a refund, which gives no room
// back to capture: amount with its amount, stale without.
func TestDecideMoneyMovedHereIsNeverEarly(t *testing.T) {
	t.Parallel()
	m := mustBuild(t, Table{
		Provider: "p",
		Kind:     KindPayment,
		Mode:     ModeEvent,
		Transitions: []Transition{
			{Event: "AUTH", From: []State{StateNew}, To: Authorized, Effect: Authorize},
			{Event: "PARTIAL_CAPTURE", From: []State{Authorized, PartiallyCaptured}, To: PartiallyCaptured, Effect: Capture},
			{Event: "PARTIAL_CAPTURE", From: []State{PartiallyRefunded}, To: PartiallyRefunded, Effect: Capture},
			{Event: "PARTIAL_REFUND", From: []State{PartiallyCaptured, Captured, PartiallyRefunded}, To: PartiallyRefunded, Effect: Refund},
		},
	})
	capt := Amounts{Currency: "AED", Amount: 100, Authorized: 100, Captured: 100}
	cur := Snapshot{State: Captured, Amounts: capt}

	d := Decide(m, cur, Input{Event: "PARTIAL_CAPTURE", Amount: 10, HasAmount: true, Currency: "AED"})
	require.Equal(t, VerdictRejected, d.Verdict, d.Reason())
	require.Equal(t, ReasonAmount, d.Code)

	d = Decide(m, cur, Input{Event: "PARTIAL_CAPTURE"})
	require.Equal(t, VerdictRejected, d.Verdict, d.Reason())
	require.Equal(t, ReasonStale, d.Code)

	// Where the capture's own edges do not end, it is still early.
	d = Decide(m, Snapshot{State: StateNew}, Input{Event: "PARTIAL_CAPTURE", Amount: 10, HasAmount: true})
	require.Equal(t, VerdictDeferred, d.Verdict, d.Reason())
	// And after a refund it applies, staying partially refunded.
	d = Decide(m, Snapshot{State: PartiallyRefunded, Amounts: Amounts{Currency: "AED", Amount: 100, Authorized: 100, Captured: 40, Refunded: 10}},
		Input{Event: "PARTIAL_CAPTURE", Amount: 60, HasAmount: true, Currency: "AED"})
	require.Equal(t, VerdictApplied, d.Verdict, d.Reason())
	require.Equal(t, PartiallyRefunded, d.To)
	require.Equal(t, int64(100), d.Amounts.Captured)
}

// TestDecideInsideAFullOperationWithUnknownAmounts: on a payment captured
// (refunded) in full whose amounts are not fully known, a capture (refund)
// with its amount reported late is inside the full one — "in full" leaves
// nothing after it, so it happened before — and it is applied, not thrown
// away as stale: the state stays, and the totals, lower bounds while the
// amounts are unknown, become at least what it proves (never its amount
// added on top of a total that already holds it).
func TestDecideInsideAFullOperationWithUnknownAmounts(t *testing.T) {
	t.Parallel()
	m := mustBuild(t, cardTable())
	amt := func(ev string, n int64) Input { return Input{Event: ev, Amount: n, HasAmount: true, Currency: "AED"} }

	// Captured in full by the word, the rest of a known authorization,
	// after an earlier part whose amount was never reported.
	full := Snapshot{State: Captured, Amounts: Amounts{Currency: "AED", Amount: 100, Authorized: 100, Captured: 100, Unknown: true}}
	d := Decide(m, full, amt("PARTIAL_CAPTURE", 40))
	require.Equal(t, VerdictApplied, d.Verdict, d.Reason())
	require.Equal(t, Captured, d.To)
	require.Equal(t, full.Amounts, d.Amounts, "inside the total: nothing added")
	require.Contains(t, d.Detail, "inside")

	// Captured in full of an authorization never reported: the capture
	// proves the totals.
	none := Snapshot{State: Captured, Amounts: Amounts{Currency: "AED", Unknown: true}}
	d = Decide(m, none, amt("PARTIAL_CAPTURE", 40))
	require.Equal(t, VerdictApplied, d.Verdict, d.Reason())
	require.Equal(t, Captured, d.To)
	require.Equal(t, Amounts{Currency: "AED", Authorized: 40, Captured: 40, Unknown: true}, d.Amounts)

	// The same for a refund on a payment refunded in full.
	refunded := Snapshot{State: Refunded, Amounts: Amounts{Currency: "AED", Amount: 100, Authorized: 100, Captured: 100, Refunded: 100, Unknown: true}}
	d = Decide(m, refunded, amt("PARTIAL_REFUND", 30))
	require.Equal(t, VerdictApplied, d.Verdict, d.Reason())
	require.Equal(t, Refunded, d.To)
	require.Equal(t, refunded.Amounts, d.Amounts)
	d = Decide(m, Snapshot{State: Refunded, Amounts: Amounts{Currency: "AED", Unknown: true}}, amt("PARTIAL_REFUND", 30))
	require.Equal(t, VerdictApplied, d.Verdict, d.Reason())
	require.Equal(t, Amounts{Currency: "AED", Authorized: 30, Captured: 30, Refunded: 30, Unknown: true}, d.Amounts)

	// Without an amount it proves nothing the full word did not: stale.
	d = Decide(m, full, Input{Event: "PARTIAL_CAPTURE"})
	require.Equal(t, VerdictRejected, d.Verdict, d.Reason())
	require.Equal(t, ReasonStale, d.Code)
	// With every figure known the amount rule still decides (Rules 6).
	known := full
	known.Amounts.Unknown = false
	d = Decide(m, known, amt("PARTIAL_CAPTURE", 40))
	require.Equal(t, ReasonAmount, d.Code, d.Reason())
	d = Decide(m, known, amt("PARTIAL_CAPTURE", 100))
	require.Equal(t, ReasonStale, d.Code, d.Reason())
	// A partial state is not "in full": an operation its edges cannot
	// take from there is decided as before.
	d = Decide(m, Snapshot{State: FraudReview, Amounts: full.Amounts}, amt("PARTIAL_CAPTURE", 40))
	require.Equal(t, VerdictDeferred, d.Verdict, d.Reason())
}

// TestDecideStatusModeOperationBeyondItsAmount: an operation (not a
// snapshot) on a status-mode payment refunded in full. While the payment's
// own status is the operation's word, its snapshot total may hold the
// operation: stale. Where the payment's own status never said so (refunded
// by operations alone), nothing can hold it: too much money, or an
// overflow, is amount, as in event mode.
func TestDecideStatusModeOperationBeyondItsAmount(t *testing.T) {
	t.Parallel()
	m := statusCard(t)
	full := Amounts{Currency: "USD", Amount: 9500, Authorized: 9500, Captured: 9500, Refunded: 9500}
	op := Input{Event: "REFUNDED", Amount: 100, HasAmount: true, Currency: "USD"}

	// The payment's own REFUNDED took the rest: its total may hold the
	// refund reported after it.
	took := full
	took.RefundedRest = 9500
	d := Decide(m, Snapshot{State: Refunded, Status: "REFUNDED", Amounts: took}, op)
	require.Equal(t, ReasonStale, d.Code, d.Reason())
	// It said REFUNDED only after operations had refunded it all: it took
	// nothing that could hold one more.
	d = Decide(m, Snapshot{State: Refunded, Status: "REFUNDED", Amounts: full}, op)
	require.Equal(t, ReasonAmount, d.Code, d.Reason())

	d = Decide(m, Snapshot{State: Refunded, Status: "CAPTURED", Amounts: full}, op)
	require.Equal(t, VerdictRejected, d.Verdict, d.Reason())
	require.Equal(t, ReasonAmount, d.Code, d.Reason())

	// The exact total again is the same refund reported again.
	op.Amount = 9500
	d = Decide(m, Snapshot{State: Refunded, Status: "CAPTURED", Amounts: full}, op)
	require.Equal(t, ReasonStale, d.Code, d.Reason())

	// "In full" is an event-mode word: on unknown amounts the operation is
	// not taken inside, it stays stale.
	unknown := full
	unknown.Unknown = true
	op.Amount = 100
	d = Decide(m, Snapshot{State: Refunded, Status: "CAPTURED", Amounts: unknown}, op)
	require.Equal(t, ReasonStale, d.Code, d.Reason())

	// A snapshot is not decided by its amount: its own status catching
	// up with where operations moved the payment is applied in place
	// (TestDecideSnapshotCatchesUp), totals unchanged.
	op.Snapshot = true
	d = Decide(m, Snapshot{State: Refunded, Status: "CAPTURED", Amounts: full}, op)
	require.Equal(t, VerdictApplied, d.Verdict, d.Reason())
	require.Equal(t, [3]int64{9500, 9500, 9500}, [3]int64{d.Amounts.Authorized, d.Amounts.Captured, d.Amounts.Refunded})
}

// TestDecideSnapshotCatchesUp: a snapshot whose word ends where the
// aggregate is, after operations of other objects moved it there past its
// own status, is that status catching up, not a late one: applied in
// place, state and totals unchanged. A word that does not end here, or an
// aggregate whose own status already leads here, keeps stale.
func TestDecideSnapshotCatchesUp(t *testing.T) {
	t.Parallel()
	m := statusCard(t)
	full := Amounts{Currency: "USD", Amount: 9500, AmountKnown: true, Authorized: 9500, Captured: 9500, Refunded: 9500}
	part := Amounts{Currency: "USD", Amount: 9500, AmountKnown: true, Authorized: 9500, Captured: 5000}
	snap := func(ev string, n int64) Input {
		return Input{Event: ev, Amount: n, HasAmount: true, Currency: "USD", Snapshot: true}
	}
	caught := []struct {
		name string
		cur  Snapshot
		in   Input
	}{
		{"refunded in full by operations, its own status still captured", Snapshot{State: Refunded, Status: "CAPTURED", Amounts: full}, snap("REFUNDED", 9500)},
		{"refunded by operations alone, no status of its own", Snapshot{State: Refunded, Amounts: full}, snap("REFUNDED", 9500)},
		{"captured in part by an operation, its own status authorized", Snapshot{State: PartiallyCaptured, Status: "AUTHORIZED", Amounts: part}, snap("CAPTURED", 9500)},
	}
	for _, c := range caught {
		t.Run(c.name, func(t *testing.T) {
			d := Decide(m, c.cur, c.in)
			require.Equal(t, VerdictApplied, d.Verdict, d.Reason())
			require.Empty(t, d.Code)
			require.Equal(t, c.cur.State, d.To)
			require.Equal(t, c.cur.Amounts, d.Amounts)
			require.Empty(t, d.Skipped)
		})
	}

	// Its amount is read as on its edge, never added on top: one that is
	// neither the captured total nor the order's amount marks known totals
	// no longer fully known; on totals not fully known it proves a capture
	// of at least it, up to a reported authorization.
	d := Decide(m, Snapshot{State: Refunded, Status: "CAPTURED", Amounts: full}, snap("REFUNDED", 4000))
	require.Equal(t, VerdictApplied, d.Verdict, d.Reason())
	require.Equal(t, Refunded, d.To)
	require.Equal(t, "already refunded, moved there by other objects; its own status catches up; refunded in full; its amount 4000 is neither the captured 9500 nor the order's 9500, so the amounts are no longer fully known", d.Reason())
	require.Equal(t, func() Amounts { a := full; a.Unknown = true; return a }(), d.Amounts)
	proved := Amounts{Currency: "USD", Authorized: 3000, Captured: 3000, Refunded: 3000, Unknown: true}
	d = Decide(m, Snapshot{State: Refunded, Amounts: proved}, snap("REFUNDED", 9500))
	require.Equal(t, VerdictApplied, d.Verdict, d.Reason())
	require.Equal(t, Amounts{Currency: "USD", Amount: 9500, AmountKnown: true, Authorized: 9500, Captured: 9500, Refunded: 9500, RefundedRest: 6500, Unknown: true}, d.Amounts)

	stale := []struct {
		name string
		cur  Snapshot
		in   Input
	}{
		{"a word that ends elsewhere", Snapshot{State: Refunded, Status: "CAPTURED", Amounts: full}, snap("AUTHORIZED", 9500)},
		{"an operation, not a snapshot", Snapshot{State: PartiallyCaptured, Status: "AUTHORIZED", Amounts: part},
			Input{Event: "CAPTURED", Currency: "USD"}},
	}
	for _, c := range stale {
		t.Run(c.name, func(t *testing.T) {
			d := Decide(m, c.cur, c.in)
			require.Equal(t, VerdictRejected, d.Verdict, d.Reason())
			require.Equal(t, ReasonStale, d.Code, d.Reason())
		})
	}

	// Two words that lead to one state: the aggregate's own status
	// already put it there, so the other word is late.
	twins := mustBuild(t, Table{
		Provider: "snap", Kind: KindPayment, Mode: ModeStatus,
		Transitions: []Transition{
			{Event: "INITIATED", From: []State{StateNew}, To: Pending},
			{Event: "PENDING", From: []State{StateNew}, To: Pending},
			{Event: "AUTHORIZED", From: []State{Pending}, To: Authorized, Effect: Authorize},
		},
	})
	d = Decide(twins, Snapshot{State: Pending, Status: "PENDING"}, Input{Event: "INITIATED", Snapshot: true})
	require.Equal(t, ReasonStale, d.Code, d.Reason())
}

// TestDecideJumpNeverEndsOnARevert: a status that is also a way out of an
// outcome (settled after a failure) is reached along its forward rows; a
// jump never invents the failure to take the way out of it.
func TestDecideJumpNeverEndsOnARevert(t *testing.T) {
	t.Parallel()
	m := mustBuild(t, Table{
		Provider: "snap", Kind: KindPayment, Mode: ModeStatus,
		Transitions: []Transition{
			{Event: "AUTHORIZED", From: []State{StateNew}, To: Authorized, Effect: Authorize},
			{Event: "FAILED", From: []State{Authorized, CaptureRequested}, To: Failed},
			{Event: "SETTLING", From: []State{Authorized}, To: CaptureRequested, Effect: RequestCapture},
			{Event: "SETTLED", From: []State{CaptureRequested}, To: Captured, Effect: Capture},
			{Event: "SETTLED", From: []State{Failed}, To: Captured, Effect: Capture, Revert: true},
		},
	})
	auth := Amounts{Currency: "USD", Amount: 100, Authorized: 100}
	d := Decide(m, Snapshot{State: Authorized, Status: "AUTHORIZED", Amounts: auth}, Input{Event: "SETTLED", Snapshot: true})
	require.Equal(t, VerdictApplied, d.Verdict, d.Reason())
	require.Equal(t, []State{CaptureRequested}, d.Skipped)
	// From the failure itself the way out applies.
	d = Decide(m, Snapshot{State: Failed, Status: "FAILED", Amounts: auth}, Input{Event: "SETTLED", Snapshot: true})
	require.Equal(t, VerdictApplied, d.Verdict, d.Reason())
	require.Equal(t, Captured, d.To)
	require.Equal(t, int64(100), d.Amounts.Captured)
}

// TestDecideUnlessAuthorized: an attempt's outcome marked UnlessAuthorized
// applies from a declined or failed attempt, but not while an
// authorization stands there (a successful attempt a fraud rejection took
// back): it reports an earlier attempt and is stale, at once.
func TestDecideUnlessAuthorized(t *testing.T) {
	t.Parallel()
	attempt := []State{StateNew, Declined, Failed}
	m := mustBuild(t, Table{
		Provider: "p",
		Kind:     KindPayment,
		Mode:     ModeEvent,
		Transitions: []Transition{
			{Event: "AUTH", From: attempt, To: Authorized, Effect: Authorize, UnlessAuthorized: true},
			{Event: "DECLINE", From: attempt, To: Declined, UnlessAuthorized: true},
			{Event: "FAIL", From: attempt, To: Failed, UnlessAuthorized: true},
			{Event: "FRAUD_REJECT", From: []State{Authorized}, To: Declined, Revert: true},
			{Event: "REVERSE", From: []State{Authorized, Declined}, To: Voided},
		},
	})
	plain := Snapshot{State: Declined, Amounts: Amounts{Currency: "AED", Amount: 100, AmountKnown: true}}
	for _, ev := range []string{"AUTH", "DECLINE", "FAIL"} {
		d := Decide(m, plain, Input{Event: ev, Amount: 100, HasAmount: true, Currency: "AED"})
		require.Equal(t, VerdictApplied, d.Verdict, "%s after a plain decline: %s", ev, d.Reason())
	}
	for name, a := range map[string]Amounts{
		"known":   {Currency: "AED", Amount: 100, AmountKnown: true, Authorized: 100},
		"unknown": {Currency: "AED", Unknown: true},
	} {
		rejected := Snapshot{State: Declined, Amounts: a}
		for _, ev := range []string{"AUTH", "DECLINE", "FAIL"} {
			d := Decide(m, rejected, Input{Event: ev, Currency: "AED"})
			require.Equal(t, VerdictRejected, d.Verdict, "%s (%s) after a fraud rejection: %s", ev, name, d.Reason())
			require.Equal(t, ReasonStale, d.Code, "%s (%s)", ev, name)
			require.Equal(t, Declined, d.To)
			require.Equal(t, a, d.Amounts)
		}
		d := Decide(m, rejected, Input{Event: "REVERSE"})
		require.Equal(t, VerdictApplied, d.Verdict, d.Reason())
		require.Equal(t, Voided, d.To)
	}
}

// TestDecideSnapshotRefundedIsInFull: a snapshot whose word is the full
// refund says all of its object was refunded, whatever its amount: the
// refunded total reaches the captured one. Its amount is the object's: it
// raises totals not fully known, and on known totals an amount that is
// neither the captured total nor the face amount marks them not fully
// known instead of being taken as a part.
func TestDecideSnapshotRefundedIsInFull(t *testing.T) {
	t.Parallel()
	m := statusCard(t)
	captured := Amounts{Currency: "USD", Amount: 10000, AmountKnown: true, Authorized: 10000, Captured: 10000}
	partly := Amounts{Currency: "USD", Amount: 10000, AmountKnown: true, Authorized: 10000, Captured: 6000}
	proved := Amounts{Currency: "USD", Authorized: 3000, Captured: 3000, Refunded: 3000, Unknown: true}
	cases := []struct {
		name   string
		from   State
		before Amounts
		amount int64
		want   Amounts
	}{
		{"the captured total", Captured, captured, 10000,
			Amounts{Currency: "USD", Amount: 10000, AmountKnown: true, Authorized: 10000, Captured: 10000, Refunded: 10000, RefundedRest: 10000}},
		{"less than captured: in full all the same, the disagreement marked", Captured, captured, 4000,
			Amounts{Currency: "USD", Amount: 10000, AmountKnown: true, Authorized: 10000, Captured: 10000, Refunded: 10000, Unknown: true, RefundedRest: 10000}},
		{"more than captured: what was captured, the disagreement marked", Captured, captured, 14000,
			Amounts{Currency: "USD", Amount: 10000, AmountKnown: true, Authorized: 10000, Captured: 10000, Refunded: 10000, Unknown: true, RefundedRest: 10000}},
		{"the face amount of a payment captured in part", PartiallyCaptured, partly, 10000,
			Amounts{Currency: "USD", Amount: 10000, AmountKnown: true, Authorized: 10000, Captured: 6000, Refunded: 6000, RefundedRest: 6000}},
		{"after a part, on totals not fully known: raised to what it proves", PartiallyRefunded, proved, 10000,
			Amounts{Currency: "USD", Amount: 10000, AmountKnown: true, Authorized: 10000, Captured: 10000, Refunded: 10000, Unknown: true, RefundedRest: 7000}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := Decide(m, Snapshot{State: c.from, Status: "CAPTURED", Amounts: c.before},
				Input{Event: "REFUNDED", Amount: c.amount, HasAmount: true, Currency: "USD", Snapshot: true})
			require.Equal(t, VerdictApplied, d.Verdict, d.Reason())
			require.Equal(t, Refunded, d.To)
			require.Equal(t, c.want, d.Amounts)
			if c.want.Unknown && !c.before.Unknown {
				require.Equal(t, fmt.Sprintf("refunded in full; its amount %d is neither the captured 10000 nor the order's 10000, so the amounts are no longer fully known", c.amount), d.Reason())
			} else {
				require.Empty(t, d.Reason())
			}
		})
	}

	// A refund operation of the same amount is a part.
	d := Decide(m, Snapshot{State: Captured, Status: "CAPTURED", Amounts: captured},
		Input{Event: "REFUNDED", Amount: 4000, HasAmount: true, Currency: "USD"})
	require.Equal(t, PartiallyRefunded, d.To, d.Reason())
	require.Equal(t, int64(4000), d.Amounts.Refunded)
}

// A child's parent, once known, does not change: an event that names
// another of the same kind is conflicting data, rejected whatever it would
// have done; one that names none, the same, or one of another kind
// (another relation) is decided as usual.
func TestDecideAnotherParentIsAConflict(t *testing.T) {
	t.Parallel()
	m := mustBuild(t, Table{Provider: "p", Kind: KindRefund, Transitions: []Transition{
		{Event: "INITIATED", From: []State{StateNew}, To: Pending},
		{Event: "COMPLETED", From: []State{StateNew, Pending}, To: Succeeded},
	}})
	first := Parent{KindPayment, "pay_68"}
	cur := Snapshot{State: Pending, Parent: first}

	d := Decide(m, cur, Input{Event: "COMPLETED", Parent: Parent{KindPayment, "pay_69b"}})
	require.Equal(t, VerdictRejected, d.Verdict)
	require.Equal(t, "conflict: names payment pay_69b as its parent; it belongs to payment pay_68", d.Reason())
	require.Equal(t, Pending, d.To)

	for _, p := range []Parent{first, {}, {KindSubscription, "s1"}} {
		d = Decide(m, cur, Input{Event: "COMPLETED", Parent: p})
		require.Equal(t, VerdictApplied, d.Verdict, "%v: %s", p, d.Reason())
	}
	// A parent named for the first time is no conflict.
	d = Decide(m, Snapshot{State: Pending}, Input{Event: "COMPLETED", Parent: first})
	require.Equal(t, VerdictApplied, d.Verdict, d.Reason())

	// A payment's subscription is where it came from, not whose money it
	// moves: a capture naming another is money that moved, applied, the
	// first parent named as kept.
	pay := mustBuild(t, Table{Provider: "p", Kind: KindPayment, Transitions: []Transition{
		{Event: "AUTH", From: []State{StateNew}, To: Authorized, Effect: Authorize},
		{Event: "CAPTURE", From: []State{Authorized}, To: Captured, Effect: Capture},
	}})
	sub := Parent{KindSubscription, "s1"}
	cur = Snapshot{State: Authorized, Parent: sub, Amounts: Amounts{Authorized: 500, Amount: 500, AmountKnown: true}}
	d = Decide(pay, cur, Input{Event: "CAPTURE", HasAmount: true, Amount: 500, Parent: Parent{KindSubscription, "s2"}})
	require.Equal(t, VerdictApplied, d.Verdict, d.Reason())
	require.Equal(t, Captured, d.To)
	require.Equal(t, int64(500), d.Amounts.Captured)
	require.Equal(t, "names subscription s2 as its parent; keeps subscription s1", d.Detail)
}
