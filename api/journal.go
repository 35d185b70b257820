package api

import (
	"context"
	"slices"
	"strings"

	pb "github.com/paystate/paystate/proto/paystate/v1"
	"github.com/paystate/paystate/storage"
)

// journalScan bounds how many entries one ListJournal call reads while
// looking for matches, so a narrow filter over a long journal answers in
// bounded time with a token to go on.
const journalScan = 20000

// ListJournal pages through the global journal with filters. The page
// token carries the last sequence examined, so paging never skips or
// repeats an entry even when a page ends before it is full.
func (s *Audit) ListJournal(ctx context.Context, req *pb.ListJournalRequest) (*pb.ListJournalResponse, error) {
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	var kind string
	if req.GetKind() != "" {
		k, err := parseKind(req.GetKind())
		if err != nil {
			return nil, err
		}
		kind = string(k)
	}
	if err := checkProvider(ctx, s.Machines, s.Store, req.GetProvider()); err != nil {
		return nil, toStatus(ctx, s.log(), err)
	}
	since, err := timeFilter(req.GetReceivedSince(), "received_since")
	if err != nil {
		return nil, err
	}
	until, err := timeFilter(req.GetReceivedUntil(), "received_until")
	if err != nil {
		return nil, err
	}
	// The token binds to the filter through the same fingerprint listings use.
	fp := storage.AggregateFilter{Provider: req.GetProvider(), Kind: kind, State: verdictsPrint(req.GetVerdicts()),
		UpdatedSince: since, UpdatedUntil: until}
	cursor, err := decodeListToken(req.GetPageToken(), fp)
	if err != nil {
		return nil, err
	}
	var after int64
	if cursor.ID != "" {
		after, err = parsePageToken(cursor.ID)
		if err != nil {
			return nil, err
		}
	}
	match := func(e *storage.JournalEntry) bool {
		switch {
		case req.GetProvider() != "" && e.Key.Provider != req.GetProvider(),
			kind != "" && e.Key.Kind != kind,
			len(req.GetVerdicts()) > 0 && !slices.Contains(req.GetVerdicts(), verdictEnum(e.Verdict)),
			!since.IsZero() && e.ReceivedAt.Before(since),
			!until.IsZero() && !e.ReceivedAt.Before(until):
			return false
		}
		return true
	}
	// Without a filter every entry read is returned: read just the page.
	// With one, read ahead in bigger pages to find matches.
	batch := 1000
	if req.GetProvider() == "" && kind == "" && len(req.GetVerdicts()) == 0 && since.IsZero() && until.IsZero() {
		batch = size
	}
	resp := &pb.ListJournalResponse{}
	for scanned := 0; scanned < journalScan && len(resp.Entries) < size; {
		entries, err := s.Store.Journal(ctx, nil, after, batch)
		if err != nil {
			return nil, toStatus(ctx, s.log(), err)
		}
		for i := range entries {
			e := &entries[i]
			after = e.Seq
			scanned++
			if match(e) {
				resp.Entries = append(resp.Entries, toEntry(*e, false))
				if len(resp.Entries) == size {
					break
				}
			}
		}
		if len(entries) < batch && len(resp.Entries) < size {
			return resp, nil // the end of the journal: no next page
		}
	}
	resp.NextPageToken = encodeListToken(storage.AggregateKey{ID: pageToken(after)}, fp)
	return resp, nil
}

func verdictsPrint(vs []pb.Verdict) string {
	var parts []string
	for _, v := range vs {
		parts = append(parts, v.String())
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}
