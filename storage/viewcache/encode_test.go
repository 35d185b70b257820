package viewcache

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/storage"
)

func TestEncodeRoundTrip(t *testing.T) {
	at := time.UnixMicro(1_765_000_000_123_456).UTC()
	pay := storage.AggregateKey{Provider: "acme", Kind: "payment", ID: "p\u00e9-1"}
	v := storage.AggregateView{
		HeldAggregate: storage.HeldAggregate{Pending: 3, Aggregate: storage.Aggregate{
			Key: pay, MerchantReference: "ref", State: "captured", ProviderStatus: "CAPTURED", Currency: "EUR",
			Amount: 1 << 40, Authorized: -5, Captured: 0, Refunded: 7, AmountsUnknown: true, Version: 300,
			CreatedAt: at, UpdatedAt: at.Add(time.Microsecond),
		}},
		Children: []storage.HeldAggregate{
			{Aggregate: storage.Aggregate{Key: storage.AggregateKey{Provider: "acme", Kind: "refund", ID: "r1"}, Parent: pay, Version: 1}},
			{Pending: 1, Aggregate: storage.Aggregate{Key: storage.AggregateKey{Provider: "acme", Kind: "refund", ID: ""}, Parent: pay, CreatedAt: time.Unix(-86400, 999).UTC()}},
		},
	}
	e, ok := encode(v)
	require.True(t, ok)
	require.Equal(t, v, decode(e))
	alone := storage.AggregateView{HeldAggregate: v.HeldAggregate}
	e, ok = encode(alone)
	require.True(t, ok)
	require.Equal(t, alone, decode(e), "no children: a nil slice, as the store returns")

	local := alone
	local.CreatedAt = at.In(time.FixedZone("x", 3600))
	_, ok = encode(local)
	require.False(t, ok, "a time not in UTC is not cached (it would come back in UTC)")
}
