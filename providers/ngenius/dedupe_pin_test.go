package ngenius

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDedupeKeyPinned pins keys computed before the hashing moved to
// providers.HashFields: a stored key must never change.
func TestDedupeKeyPinned(t *testing.T) {
	t.Parallel()
	evs, err := New(Config{}).Parse([]byte(`{"eventName":"CAPTURED","order":{"id":"o-1","reference":"r-1","amount":{"currencyCode":"AED","value":1000}},"transaction":{"id":"t-1","state":"SUCCESS","date":"2024-01-02T03:04:05Z"},"timestamp":"2024-01-02T03:04:06Z"}`))
	require.NoError(t, err)
	require.Len(t, evs, 1)
	require.Equal(t, "ngenius:9b33eeef2f911f53e9a8d50200758b1c03bcaf0c48283291d263b07d228f3fa4", evs[0].DedupeKey)
	require.Equal(t, "ngenius:10b9b483ac5381e1ab68019c302cd661fc05441edf2ca2f651a7551363095ee5", dedupeKey("o-1", "AUTHORISED", "", "", ""))
}
