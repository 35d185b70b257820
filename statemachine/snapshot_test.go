package statemachine

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A snapshot of the current status is a duplicate only when it restates
// what the aggregate holds there (DESIGN, Verdicts: duplicate is the same
// event; an amount or currency mismatch is rejected).
func TestDecideSnapshotAtCurrentStatusComparesAmounts(t *testing.T) {
	t.Parallel()
	m := mustBuild(t, Table{
		Provider: "snap", Kind: KindPayment, Mode: ModeStatus,
		Transitions: []Transition{
			{Event: "AUTHORIZED", From: []State{StateNew}, To: Authorized, Effect: Authorize},
			{Event: "CAPTURED", From: []State{Authorized}, To: Captured, Effect: Capture},
			{Event: "REFUNDED", From: []State{Captured, PartiallyCaptured}, To: Refunded, Effect: Refund},
		},
	})
	snap := func(status string, amount int64) Input {
		return Input{Event: status, Snapshot: true, Amount: amount, HasAmount: true, Currency: "USD"}
	}
	authorized := Snapshot{State: Authorized, Status: "AUTHORIZED",
		Amounts: Amounts{Currency: "USD", Amount: 10010, AmountKnown: true, Authorized: 10010}}

	d := Decide(m, authorized, snap("AUTHORIZED", 10010))
	require.Equal(t, VerdictDuplicate, d.Verdict, d.Reason())

	d = Decide(m, authorized, snap("AUTHORIZED", 99999))
	require.Equal(t, VerdictRejected, d.Verdict, d.Reason())
	require.Equal(t, "amount: AUTHORIZED again with amount 99999; already in status AUTHORIZED with amount 10010, authorized 10010", d.Reason())
	require.Equal(t, authorized.Amounts, d.Amounts)
	require.Equal(t, Authorized, d.To)

	other := snap("AUTHORIZED", 10010)
	other.Currency = "EUR"
	d = Decide(m, authorized, other)
	require.Equal(t, VerdictRejected, d.Verdict, d.Reason())
	require.Equal(t, ReasonCurrency, d.Code)

	noAmount := snap("AUTHORIZED", 0)
	noAmount.HasAmount = false
	require.Equal(t, VerdictDuplicate, Decide(m, authorized, noAmount).Verdict)

	// Figures that are only lower bounds prove no disagreement.
	unknown := authorized
	unknown.Amounts.Unknown = true
	require.Equal(t, VerdictDuplicate, Decide(m, unknown, snap("AUTHORIZED", 99999)).Verdict)

	// A refund in full: the refunded (= captured) total, or the face amount.
	refunded := Snapshot{State: Refunded, Status: "REFUNDED",
		Amounts: Amounts{Currency: "USD", Amount: 100, AmountKnown: true, Authorized: 100, Captured: 80, Refunded: 80}}
	require.Equal(t, VerdictDuplicate, Decide(m, refunded, snap("REFUNDED", 80)).Verdict)
	require.Equal(t, VerdictDuplicate, Decide(m, refunded, snap("REFUNDED", 100)).Verdict)
	d = Decide(m, refunded, snap("REFUNDED", 40))
	require.Equal(t, ReasonAmount, d.Code, d.Reason())
	require.Equal(t, "amount: REFUNDED again with amount 40; already in status REFUNDED with amount 100, captured 80, refunded 80", d.Reason())
}

// A status whose amount may change (Reprice: a refund processed for less
// than requested) is not held to the amount it had.
func TestDecideSnapshotAtCurrentStatusRepriceKeepsDuplicate(t *testing.T) {
	t.Parallel()
	m := mustBuild(t, Table{
		Provider: "snap", Kind: KindRefund, Mode: ModeStatus,
		Transitions: []Transition{
			{Event: "PENDING", From: []State{StateNew}, To: Pending, Effect: Reprice},
			{Event: "PROCESSED", From: []State{Pending}, To: Succeeded, Effect: Reprice},
		},
	})
	cur := Snapshot{State: Pending, Status: "PENDING", Amounts: Amounts{Currency: "USD", Amount: 100, AmountKnown: true}}
	d := Decide(m, cur, Input{Event: "PENDING", Snapshot: true, Amount: 80, HasAmount: true})
	require.Equal(t, VerdictDuplicate, d.Verdict, d.Reason())
}
