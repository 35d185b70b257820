package statemachine

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A void after a capture of part of the authorization (PayEngine's
// PAYMENT_VOIDED) releases what is still authorized: the authorized total
// comes down to the captures, which stay captured and refundable, and
// nothing more can be captured.
func TestReleaseEndsTheAuthorizationAtItsCaptures(t *testing.T) {
	t.Parallel()
	tb := cardTable()
	tb.Transitions = append(tb.Transitions,
		Transition{Event: "VOID", From: []State{PartiallyCaptured}, To: Captured, Effect: Release})
	m := mustBuild(t, tb)
	cur := walk(t, m, op("AUTH", 100), op("PARTIAL_CAPTURE", 40), Input{Event: "VOID", Currency: "AED"})
	require.Equal(t, Captured, cur.State)
	require.Equal(t, Amounts{Currency: "AED", Amount: 100, AmountKnown: true, Authorized: 40, Captured: 40}, cur.Amounts)

	d := Decide(m, cur, op("PARTIAL_CAPTURE", 1))
	require.Equal(t, VerdictRejected, d.Verdict)
	require.Equal(t, ReasonAmount, d.Code, d.Reason())

	cur = walk(t, m, op("AUTH", 100), op("PARTIAL_CAPTURE", 40), Input{Event: "VOID", Currency: "AED"}, op("REFUND", 40))
	require.Equal(t, Refunded, cur.State)
}
