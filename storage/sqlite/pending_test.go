package sqlite

import (
	"database/sql/driver"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/storage"
)

// The batch writes hand their values to the driver as they are, with
// nothing converting them on the way as database/sql did: every value must
// be of a type the driver binds (anything else fails the statement, or
// would be bound as something else), whatever fields are set or empty.
func TestPendingValuesAreDriverValues(t *testing.T) {
	t.Parallel()
	h := strings.Repeat("5d41402abc4b2a76", 4)
	now := time.Date(2026, 12, 6, 1, 2, 3, 0, time.UTC)
	entries := []storage.JournalEntry{
		{},
		{Seq: 7, Key: storage.AggregateKey{Provider: "p", Kind: "payment", ID: "o1"}, Event: "CAPTURED", Verdict: "applied",
			Reason: "r", StateBefore: "authorized", StateAfter: "captured", VersionAfter: 2, DedupeKey: "p:" + h, BodySHA256: h,
			RedactedBody: []byte(`{"a":1}`), Payload: []byte(`{"name":"CAPTURED"}`), ReceivedAt: now, OccurredAt: now,
			ResolvesSeq: 3, Skipped: []string{"x"}, Actor: "webhook", MachineVersion: "v1", RevisesSeq: 1, PrevHash: h, Hash: h},
	}
	aggregates := []storage.Aggregate{
		{},
		{Key: storage.AggregateKey{Provider: "p", Kind: "payment", ID: "o1"}, MerchantReference: "ref",
			Parent: storage.AggregateKey{Provider: "p", Kind: "order", ID: "o"}, State: "captured", ProviderStatus: "CAPTURED",
			Currency: "EUR", Amount: 1, Authorized: 1, Captured: 1, Refunded: 1, AmountsUnknown: true, AmountKnown: true,
			CapturedRest: 1, RefundedRest: 1, Version: 2, CreatedAt: now, UpdatedAt: now},
	}
	var values []driver.NamedValue
	for i := range entries {
		values = appendJournalArgs(values, &entries[i], "[]")
	}
	for i := range aggregates {
		values = appendAggregateArgs(values, &aggregates[i])
		values = appendAggregateUpdateArgs(values, &aggregates[i])
	}
	tx := &tx{}
	require.NoError(t, tx.PutReceipt(t.Context(), "p", "p:"+h, storage.Receipt{Seq: 7, BodySHA256: h}))
	require.NoError(t, tx.PutReceipt(t.Context(), "", "", storage.Receipt{}))
	values = append(values, tx.pending.receipts...)
	for i, v := range values {
		require.True(t, driver.IsValue(v.Value), "value %d is a %T", i, v.Value)
	}
}
