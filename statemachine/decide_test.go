package statemachine

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDecide(t *testing.T) {
	t.Parallel()
	m := mustBuild(t, cardTable())
	auth := Amounts{Currency: "AED", Amount: 100, Authorized: 100}
	capt := Amounts{Currency: "AED", Amount: 100, Authorized: 100, Captured: 100}
	amt := func(n int64) Input { return Input{Amount: n, HasAmount: true, Currency: "AED"} }
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
			VerdictApplied, "", Authorized, auth},
		{"full capture without amount takes the rest", Snapshot{State: Authorized, Amounts: auth}, Input{Event: "CAPTURE"},
			VerdictApplied, "", Captured, capt},
		{"partial capture by amount", Snapshot{State: Authorized, Amounts: auth}, with(amt(40), "PARTIAL_CAPTURE"),
			VerdictApplied, "", PartiallyCaptured, Amounts{"AED", 100, 100, 40, 0}},
		{"partial captures adding up become captured", Snapshot{State: PartiallyCaptured, Amounts: Amounts{"AED", 100, 100, 40, 0}}, with(amt(60), "PARTIAL_CAPTURE"),
			VerdictApplied, "", Captured, capt},
		{"capture above authorization is rejected", Snapshot{State: Authorized, Amounts: auth}, with(amt(101), "CAPTURE"),
			VerdictRejected, ReasonAmount, Authorized, auth},
		{"a failure stays put", Snapshot{State: PartiallyCaptured, Amounts: Amounts{"AED", 100, 100, 40, 0}}, Input{Event: "CAPTURE_FAILED"},
			VerdictApplied, "", PartiallyCaptured, Amounts{"AED", 100, 100, 40, 0}},
		{"partial refund", Snapshot{State: Captured, Amounts: capt}, with(amt(30), "PARTIAL_REFUND"),
			VerdictApplied, "", PartiallyRefunded, Amounts{"AED", 100, 100, 100, 30}},
		{"partial refunds adding up become refunded", Snapshot{State: PartiallyRefunded, Amounts: Amounts{"AED", 100, 100, 100, 30}}, with(amt(70), "PARTIAL_REFUND"),
			VerdictApplied, "", Refunded, Amounts{"AED", 100, 100, 100, 100}},
		{"refund without amount refunds the rest", Snapshot{State: PartiallyRefunded, Amounts: Amounts{"AED", 100, 100, 100, 30}}, Input{Event: "REFUND"},
			VerdictApplied, "", Refunded, Amounts{"AED", 100, 100, 100, 100}},
		{"refund above captured is rejected", Snapshot{State: Captured, Amounts: capt}, with(amt(150), "REFUND"),
			VerdictRejected, ReasonAmount, Captured, capt},
		{"void of a capture returns to authorized", Snapshot{State: Captured, Amounts: capt}, Input{Event: "VOID_CAPTURE"},
			VerdictApplied, "", Authorized, auth},
		{"void of part of a capture leaves it partial", Snapshot{State: Captured, Amounts: capt}, with(amt(30), "VOID_CAPTURE"),
			VerdictApplied, "", PartiallyCaptured, Amounts{"AED", 100, 100, 70, 0}},
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
	d := Decide(m, Snapshot{State: Pending}, Input{Event: "SETTLEMENT_COMPLETED", Amount: 500, HasAmount: true, Currency: "EUR"})
	require.Equal(t, VerdictApplied, d.Verdict, d.Reason())
	require.Equal(t, Captured, d.To)
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
	require.Equal(t, Amounts{Currency: "USD", Amount: 2000}, d.Amounts)
	d = Decide(m, cur, Input{Event: "UPDATED"})
	require.Equal(t, VerdictApplied, d.Verdict, d.Reason())
	require.Equal(t, cur.Amounts, d.Amounts)
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
