package api

import "github.com/paystate/paystate/storage"

type storageEntry struct{ kind, provider, before, after, verdict string }

func (s *storageEntry) entry() *storage.JournalEntry {
	return &storage.JournalEntry{Key: storage.AggregateKey{Provider: s.provider, Kind: s.kind},
		StateBefore: s.before, StateAfter: s.after, Verdict: s.verdict}
}
