package api

import (
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/metadata"

	"github.com/paystate/paystate/checkpoint"
	pb "github.com/paystate/paystate/proto/paystate/v1"
	"github.com/paystate/paystate/storage"
)

// VerifyJournal's head names the newest stored checkpoint it verified, as
// GetChainHead's names the newest signed: the one an auditor can export,
// knowing the journal held it just now. A newer stored checkpoint that
// fails is a problem, not the head's; a range, which checks none, names
// none.
func TestVerifyJournalHeadNamesTheNewestVerifiedCheckpoint(t *testing.T) {
	key, other := newCheckpointKey(t), newCheckpointKey(t)
	s, store := gatewaySetup(t, Options{CheckpointKeyID: key.ID,
		Tokens: []Token{{Name: "ops", Role: "admin", SHA256: HashToken(hardAdmin)}}}, nil)
	ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+hardAdmin)
	audit := pb.NewAuditServiceClient(s.conn)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	webhook := func(event string) {
		t.Helper()
		require.Equal(t, http.StatusOK, s.do(t, http.MethodPost, "/webhooks/ngenius", hardBody(event),
			http.Header{"Content-Type": {"application/json"}, hardHeader: {hardSecret}}))
	}
	sign := func(k *checkpoint.Key) storage.Checkpoint {
		t.Helper()
		c, err := checkpoint.SignHead(t.Context(), store, k, t0)
		require.NoError(t, err)
		return c
	}
	restVerify := func(body string) map[string]any {
		t.Helper()
		return s.adminJSON(t, http.MethodPost, "/v1/journal:verify", body)
	}

	// Nothing signed yet: no checkpoint, as GetChainHead says.
	webhook("AUTHORISED")
	v, err := audit.VerifyJournal(ctx, &pb.VerifyJournalRequest{})
	require.NoError(t, err)
	require.True(t, v.GetOk(), v.GetProblem())
	require.Nil(t, v.GetHead().GetCheckpoint())

	older := sign(key)
	webhook("CAPTURED")
	newest := sign(key)
	webhook("PARTIALLY_REFUNDED") // the head moves past the newest checkpoint
	require.Less(t, older.Head.Seq, newest.Head.Seq)

	for _, req := range []*pb.VerifyJournalRequest{{}, {ChainOnly: true}} {
		v, err = audit.VerifyJournal(ctx, req)
		require.NoError(t, err)
		require.True(t, v.GetOk(), v.GetProblem())
		require.Equal(t, int64(2), v.GetCheckpointsChecked())
		require.Greater(t, v.GetHead().GetSequence(), newest.Head.Seq)
		require.Equal(t, ToSignedCheckpoint(newest).String(), v.GetHead().GetCheckpoint().String(), "chain_only %v", req.GetChainOnly())
	}
	r := restVerify(`{}`)
	require.Equal(t, true, r["ok"])
	cp, ok := r["head"].(map[string]any)["checkpoint"].(map[string]any)
	require.True(t, ok, "REST head.checkpoint: %v", r["head"])
	require.Equal(t, jsonInt(newest.Head.Seq), cp["sequence"])
	require.Equal(t, newest.Head.Hash, cp["hash"])
	require.Equal(t, key.ID, cp["keyId"])

	// A range checks no checkpoint: it names none.
	r = restVerify(`{"fromSequence":"1","toSequence":"2"}`)
	require.Equal(t, true, r["ok"])
	require.Nil(t, r["head"].(map[string]any)["checkpoint"])

	// A newer checkpoint stored under a key this server does not sign
	// with fails; the head names the newest that verified.
	webhook("REFUNDED")
	foreign := sign(other)
	require.Greater(t, foreign.Head.Seq, newest.Head.Seq)
	v, err = audit.VerifyJournal(ctx, &pb.VerifyJournalRequest{})
	require.NoError(t, err)
	require.False(t, v.GetOk())
	require.Equal(t, foreign.Head.Seq, v.GetFirstBadSequence())
	require.Contains(t, v.GetProblem(), "not the configured key")
	require.Equal(t, ToSignedCheckpoint(newest).String(), v.GetHead().GetCheckpoint().String())
}

func newCheckpointKey(t *testing.T) *checkpoint.Key {
	t.Helper()
	_, private, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	return checkpoint.NewKey(private)
}

// jsonInt is n as protojson writes an int64: a string.
func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
