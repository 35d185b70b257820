package storagetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/storage"
)

// replayView is what ReplayJournal promises of an entry read by Journal.
func replayView(e storage.JournalEntry) storage.JournalEntry {
	return storage.JournalEntry{Seq: e.Seq, Key: e.Key, Verdict: e.Verdict, StateBefore: e.StateBefore,
		StateAfter: e.StateAfter, Payload: e.Payload, ReceivedAt: e.ReceivedAt}
}

// testReplayJournal: ReplayJournal pages exactly as Journal does and
// returns the fields a replay reads, equal to Journal's, and nothing else.
func testReplayJournal(t *testing.T, b Backend) {
	s, ctx := b.Store, t.Context()
	full := entry(refundKey, "refund.succeeded")
	full.Reason, full.StateBefore, full.StateAfter, full.VersionAfter = "jumped: passed through x", "refund_pending", "refunded", 3
	full.RedactedBody = []byte(`{"card":"[redacted]"}`)
	full.Payload = []byte("{\"name\":\"refund.succeeded\",\"amount\":1250,\"bin\":\"\x00\xff\"}")
	full.OccurredAt, full.ResolvesSeq, full.Skipped, full.Actor = t0.Add(-time.Second), 1, []string{"captured"}, "engine"
	bare := storage.JournalEntry{Key: storage.AggregateKey{Provider: "acme"}, Verdict: "rejected", Actor: "webhook"}
	nanos := entry(payKey, "nanos")
	nanos.ReceivedAt = t0.Add(789 * time.Nanosecond)
	appendEntries(t, s, entry(payKey, "a"), full, bare)
	appendEntries(t, s, nanos, entry(refundKey, "b"), entry(payKey, "c"))

	for _, key := range []*storage.AggregateKey{nil, &payKey, &refundKey, {Provider: "acme", Kind: "payment", ID: "none"}} {
		for _, limit := range []int{1, 2, 4, 100} {
			for after := int64(0); after <= 6; after++ {
				want, err := s.Journal(ctx, key, after, limit)
				require.NoError(t, err)
				got, err := s.ReplayJournal(ctx, key, after, limit)
				require.NoError(t, err)
				var views []storage.JournalEntry
				for _, e := range want {
					views = append(views, replayView(e))
				}
				require.Equal(t, normEntries(views), normEntries(got), "key %v after %d limit %d", key, after, limit)
			}
		}
	}
	got, err := s.ReplayJournal(ctx, nil, 0, 0)
	require.NoError(t, err)
	require.Empty(t, got, "a limit below one returns nothing")
}
