package storage

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func pinnedEntry() JournalEntry {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 678000, time.UTC)
	return JournalEntry{
		Seq: 7, Key: AggregateKey{Provider: "acme", Kind: "payment", ID: "pay_1"},
		Event: "REFUNDED", Verdict: "rejected", Reason: "illegal: REFUNDED is not legal from authorized",
		StateBefore: "authorized", StateAfter: "authorized", VersionAfter: 2,
		DedupeKey: "evt_7", BodySHA256: "ab", RedactedBody: []byte(`{"a":1}`), Payload: []byte(`{"name":"REFUNDED"}`),
		ReceivedAt: t0, OccurredAt: t0.Add(-time.Second), ResolvesSeq: 3, Skipped: []string{"captured"}, Actor: "webhook",
	}
}

// TestEntryHashOfAnEntryWithoutVersionIsUnchanged pins the hash of an entry
// written before entries carried a machine version: journals written then
// must verify now.
func TestEntryHashOfAnEntryWithoutVersionIsUnchanged(t *testing.T) {
	t.Parallel()
	e := pinnedEntry()
	require.Equal(t, "8d6adbc2ae990f0d691706d58e96a04b7f903f1b13a1d1da4a1a79e10e646a82", EntryHash(&e, GenesisHash))
}

// TestEntryHashCoversVersionAndRevision: the version that decided an entry
// and the entry it revises are part of what the chain proves.
func TestEntryHashCoversVersionAndRevision(t *testing.T) {
	t.Parallel()
	base := pinnedEntry()
	seen := map[string]string{EntryHash(&base, GenesisHash): "no version"}
	for name, mutate := range map[string]func(*JournalEntry){
		"a version":        func(e *JournalEntry) { e.MachineVersion = "51b23f5d1620" },
		"another version":  func(e *JournalEntry) { e.MachineVersion = "51b23f5d1621" },
		"a revision":       func(e *JournalEntry) { e.RevisesSeq = 3 },
		"both":             func(e *JournalEntry) { e.MachineVersion, e.RevisesSeq = "51b23f5d1620", 3 },
		"the actor longer": func(e *JournalEntry) { e.Actor = "webhook\x00\x00\x00\x00\x00\x00\x00\x0c51b23f5d1620" },
	} {
		e := pinnedEntry()
		mutate(&e)
		h := EntryHash(&e, GenesisHash)
		prev, dup := seen[h]
		require.False(t, dup, "%s hashes as %s", name, prev)
		seen[h] = name
	}
}

// TestEntryHashOfAnEntryWithVersionIsUnchanged pins the hash of entries
// with a machine version and a revision, with and without bodies and
// skipped states (values from the hash written field by field, before it
// was laid out in one buffer).
func TestEntryHashOfAnEntryWithVersionIsUnchanged(t *testing.T) {
	e := pinnedEntry()
	e.MachineVersion, e.RevisesSeq = "mv-1", 5
	require.Equal(t, "0ab35551415b29405868f58349f4d0753fef4063058a8d102bc2f5c3f746d33e", EntryHash(&e, GenesisHash))
	e.Skipped, e.RedactedBody, e.Payload = nil, nil, nil
	require.Equal(t, "9d073109681b637c94176f9e9a619d9a25a7abbc14969f47c3369fe1cbb56ef9", EntryHash(&e, "prev"))
}
