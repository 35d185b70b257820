package inyo

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDedupeKeyPinned pins keys computed before the hashing moved to
// providers.HashFields: a stored key must never change.
func TestDedupeKeyPinned(t *testing.T) {
	t.Parallel()
	p := New(Config{Bearer: []string{"tok"}})
	evs, err := p.Parse([]byte(`{"paymentId":"p-1","status":"CAPTURED","captured":true,"voided":false,"amount":95,"created":"2025-01-21 16:31:02"}`))
	require.NoError(t, err)
	require.Len(t, evs, 1)
	require.Equal(t, "inyo:payment:f6dc05eeeefc56c571235d94aa275ffe8ed2a4176dc1944dc86724a7143719ea", evs[0].DedupeKey)

	evs, err = p.Parse([]byte(`{"paymentId":"c-1","parentPaymentId":"p-1","status":"REFUNDED","amount":10.5,"created":"2025-01-21 16:35:00"}`))
	require.NoError(t, err)
	require.Len(t, evs, 2)
	require.Equal(t, "inyo:refund:61718ae8e70709900fda307ebd24ae35e23174ffff16d63d6877dd3eadb540a3", evs[0].DedupeKey)
	require.Equal(t, "inyo:parent:61718ae8e70709900fda307ebd24ae35e23174ffff16d63d6877dd3eadb540a3", evs[1].DedupeKey)
}
