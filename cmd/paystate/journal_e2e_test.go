package main

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/paystate/paystate/proto/paystate/v1"
	sm "github.com/paystate/paystate/statemachine"
)

// TestAuditorsJournalAndMachines: the global journal with filters and
// paging, chain verification over a range, and the machines described.
func TestAuditorsJournalAndMachines(t *testing.T) {
	s := startServer(t, t.TempDir())
	ctx := s.authed(t.Context())
	start := timestamppb.New(time.Now().Add(-time.Second))
	for i, ev := range []string{"AUTHORISED", "AUTHORISED", "CAPTURED", "CAPTURED", "AUTHORISED"} {
		body := ngeniusOrder("j1", ev, i/2) // pairs share a timestamp: a duplicate each
		if i == 4 {
			body = ngeniusOrder("j1", ev, 9) // a late authorisation: stale
		}
		s.webhook(t, body)
	}

	dups, err := s.audit.ListJournal(ctx, &pb.ListJournalRequest{Verdicts: []pb.Verdict{pb.Verdict_VERDICT_DUPLICATE}})
	require.NoError(t, err)
	require.Len(t, dups.GetEntries(), 2)
	rejected, err := s.audit.ListJournal(ctx, &pb.ListJournalRequest{Provider: "ngenius", Verdicts: []pb.Verdict{pb.Verdict_VERDICT_REJECTED}, ReceivedSince: start})
	require.NoError(t, err)
	require.Len(t, rejected.GetEntries(), 1)
	require.Contains(t, rejected.GetEntries()[0].GetReason(), "stale")
	none, err := s.audit.ListJournal(ctx, &pb.ListJournalRequest{ReceivedUntil: start})
	require.NoError(t, err)
	require.Empty(t, none.GetEntries())

	var seqs []int64
	req := &pb.ListJournalRequest{PageSize: 2}
	for {
		page, err := s.audit.ListJournal(ctx, req)
		require.NoError(t, err)
		for _, e := range page.GetEntries() {
			seqs = append(seqs, e.GetSequence())
		}
		if page.GetNextPageToken() == "" {
			break
		}
		req.PageToken = page.GetNextPageToken()
	}
	require.Equal(t, []int64{1, 2, 3, 4, 5}, seqs)
	_, err = s.audit.ListJournal(ctx, &pb.ListJournalRequest{PageSize: 2, Provider: "inyo", PageToken: req.GetPageToken()})
	require.Equal(t, codes.InvalidArgument, status.Code(err), "a token is bound to its filter")

	v, err := s.audit.VerifyJournal(ctx, &pb.VerifyJournalRequest{FromSequence: 2, ToSequence: 4})
	require.NoError(t, err)
	require.True(t, v.GetOk(), v.GetProblem())
	require.Equal(t, int64(3), v.GetEntriesChecked())
	v, err = s.audit.VerifyJournal(ctx, &pb.VerifyJournalRequest{FromSequence: 2, ToSequence: 99})
	require.NoError(t, err)
	require.False(t, v.GetOk())

	// Machines, over REST: the rules the engine enforces.
	hreq, _ := http.NewRequest(http.MethodGet, s.http+"/v1/machines?provider=ngenius", nil)
	hreq.Header.Set("Authorization", "Bearer "+s.dev.APIToken)
	resp, err := http.DefaultClient.Do(hreq)
	require.NoError(t, err)
	defer resp.Body.Close()
	var ms struct {
		Machines []struct {
			Provider    string `json:"provider"`
			Mode        string `json:"mode"`
			Mermaid     string `json:"mermaid"`
			Version     string `json:"version"`
			Transitions []struct {
				Event string `json:"event"`
			} `json:"transitions"`
		} `json:"machines"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&ms))
	require.Len(t, ms.Machines, 1)
	require.Equal(t, "event", ms.Machines[0].Mode)
	require.Contains(t, ms.Machines[0].Mermaid, "stateDiagram-v2")
	require.Greater(t, len(ms.Machines[0].Transitions), 30)

	// Every verdict names the table that decided it, and the listing shows
	// the version each table is at.
	reg, err := registry()
	require.NoError(t, err)
	version := reg.Machine("ngenius", sm.KindPayment).Version()
	require.Equal(t, version, ms.Machines[0].Version)
	require.Equal(t, version, rejected.GetEntries()[0].GetMachineVersion())
	require.Zero(t, rejected.GetEntries()[0].GetRevisesSequence())
}
