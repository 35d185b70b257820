package ngenius_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/engine/enginetest"
	"github.com/paystate/paystate/providers/ngenius"
	sm "github.com/paystate/paystate/statemachine"
)

// A later event naming another order.reference is decided as usual and
// the order keeps its first reference (neither document says a reference
// changes), but the entry names the other one, so that an auditor sees it.
func TestAnotherMerchantReferenceIsNamedInTheEntry(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, ngenius.New(ngenius.Config{}))
	require.Equal(t, sm.VerdictApplied, h.DeliverOne(fromSample(t, "ord-ref", "AUTHORISED", 10000, 1)).Verdict)
	other := bytes.Replace(fromSample(t, "ord-ref", "CAPTURED", 10000, 2), []byte(`"ORD-123456"`), []byte(`"ORD-999"`), 1)
	o := h.DeliverOne(other)
	require.Equal(t, sm.VerdictApplied, o.Verdict, o.Reason)
	require.Contains(t, o.Reason, `names merchant reference "ORD-999"; the aggregate keeps "ORD-123456"`)
	require.Equal(t, "ORD-123456", h.Aggregate(sm.KindPayment, "ord-ref").MerchantReference)

	same := h.DeliverOne(fromSample(t, "ord-ref", "REFUNDED", 5000, 3))
	require.NotContains(t, same.Reason, "merchant reference")
	h.Verify()
}
