package ngenius_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/engine/enginetest"
	"github.com/paystate/paystate/providers/ngenius"
	sm "github.com/paystate/paystate/statemachine"
)

// TestCaptureExpiredBeforeItsAuthorisationIsRevived: N-Genius sends each
// webhook once, in no promised order. The document's CAPTURED arrives
// first and is held; the deferral window passes and it expires; the
// AUTHORISED arrives after that. The provider captured the money, so the
// order must end captured: the expired capture is revived by an entry
// revising its expiry, not left behind as a rejection.
func TestCaptureExpiredBeforeItsAuthorisationIsRevived(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, ngenius.New(ngenius.Config{}))
	const order = "revive-1"
	capture := h.DeliverOne(fromSample(t, order, "CAPTURED", -1, 2))
	require.Equal(t, sm.VerdictDeferred, capture.Verdict, capture.Reason)

	expired, err := h.Engine.Sweep(t.Context(), time.Now().Add(25*time.Hour))
	require.NoError(t, err)
	require.Len(t, expired, 1)
	require.Equal(t, sm.VerdictRejected, expired[0].Verdict)
	require.Contains(t, expired[0].Reason, "expired")

	auth := h.DeliverOne(fromSample(t, order, "AUTHORISED", -1, 1))
	require.Equal(t, sm.VerdictApplied, auth.Verdict, auth.Reason)
	require.Len(t, auth.Resolved, 1, "the expired capture is re-decided")
	require.Equal(t, "CAPTURED", auth.Resolved[0].Event)
	require.Equal(t, sm.VerdictApplied, auth.Resolved[0].Verdict, auth.Resolved[0].Reason)

	a := h.Aggregate(sm.KindPayment, order)
	require.Equal(t, string(sm.Captured), a.State)
	require.Equal(t, int64(10000), a.Captured)
	h.Verify()
}
