package magnius

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDedupeKeyPinned pins keys computed before the hashing moved to
// providers.HashFields: a stored key must never change.
func TestDedupeKeyPinned(t *testing.T) {
	t.Parallel()
	p, err := New(Config{})
	require.NoError(t, err)
	evs, err := p.Parse([]byte(`{"type":"transaction","id":"t1","status":"AUTHORIZED","amount":100}`))
	require.NoError(t, err)
	require.Len(t, evs, 1)
	require.Equal(t, "magnius:94be449c38ea517225fc19fe7a86c035b57bd878c31bfdf49741583ad60ccf00", evs[0].DedupeKey)
	require.Equal(t, "magnius:2a0101606e2b0b078242539a8633567da3d337d127f6e7d0a77c92e3264aa3b6", dedupeKey("refund", "r1", ""))
}
