package generic

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDedupeKeyPinned pins keys computed before the hashing moved to
// providers.HashFields: a stored key must never change.
func TestDedupeKeyPinned(t *testing.T) {
	t.Parallel()
	evs, err := New(Config{}).Parse([]byte(`{"type":"payment.completed","created":1700000000,"data":{"id":"pay_1","status":"succeeded","amount":1250,"currency":"usd"}}`))
	require.NoError(t, err)
	require.Len(t, evs, 1)
	require.Equal(t, "sha256:2564b4cd78bf55b6c81134ca3ecf7554e016b4d926ba71c534f08aa287026ecd", evs[0].DedupeKey)

	evs, err = New(Config{}).Parse([]byte(`{"type":"refund.completed","created":"2024-05-06T07:08:09Z","data":{"object":{"id":"re_1","payment_id":"pay_1","amount":"5.00","currency":"EUR"}}}`))
	require.NoError(t, err)
	require.Len(t, evs, 2)
	require.Equal(t, "sha256:8c5abfc239196b6a73d436aecceddeb56dc2fff20e05817d9768c98a2aea3096", evs[0].DedupeKey)
	require.Equal(t, "sha256:8c5abfc239196b6a73d436aecceddeb56dc2fff20e05817d9768c98a2aea3096/payment", evs[1].DedupeKey)

	require.Equal(t, "sha256:56a8d5fb8a09c9b5fa9ccbf22dd65d068c6c80e95b97964b9839e6372cd8924e", dedupeKey("", "payment.failed", "pay_2", "failed", "", ""))
	require.Equal(t, "id:evt_1", dedupeKey("evt_1", "payment.failed", "pay_2", "failed", "", ""))
}
