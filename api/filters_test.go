package api

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/paystate/paystate/proto/paystate/v1"
	"github.com/paystate/paystate/storage"
)

// restAnswer is a REST call as admin: its status and the message of its
// error answer ("" on success), with the body for the caller to decode.
func (s *hardServer) restAnswer(t *testing.T, path string) (int, string, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.http+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+hardAdmin)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK && strings.HasPrefix(path, watchRoute) {
		// A watch answers 200 and stays open: its first line is enough.
		line, err := bufio.NewReader(resp.Body).ReadBytes('\n')
		require.NoError(t, err)
		return resp.StatusCode, "", line
	}
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	// A unary route's error is a status; a stream's, {"error": status}.
	var e struct {
		Message string
		Error   struct{ Message string }
	}
	if resp.StatusCode != http.StatusOK {
		require.NoError(t, json.Unmarshal(body, &e), string(body))
	}
	return resp.StatusCode, e.Message + e.Error.Message, body
}

func (s *hardServer) webhookFor(t *testing.T, order, event string, n int) {
	t.Helper()
	require.Equal(t, http.StatusOK, s.do(t, http.MethodPost, "/webhooks/ngenius", ngeniusBody(order, event, n),
		http.Header{"Content-Type": {"application/json"}, hardHeader: {hardSecret}}))
}

// A filter value that can match nothing is refused the same way by every
// route that takes it (the listings, the journal, Watch over gRPC and
// REST), naming what it would take: before, Watch accepted it and sent
// heartbeats forever, and the listings answered an empty page for an
// unknown provider.
func TestFiltersThatMatchNothingAreRefused(t *testing.T) {
	s := hardSetup(t, Options{})
	s.webhookFor(t, "o-1", "AUTHORISED", 1)

	for _, tc := range []struct{ path, says string }{
		{"/v1/orders?provider=NGENIUS", `unknown provider "NGENIUS": this server knows ngenius`},
		{"/v1/aggregates?provider=nosuch", `unknown provider "nosuch"`},
		{"/v1/journal?provider=nosuch", `unknown provider "nosuch"`},
		{"/v1/aggregates?kind=bogus", `unknown kind "bogus": one of payment, refund, chargeback`},
		{"/v1/orders?state=fraud-review", `"fraud-review" is not a canonical state of payment: one of `},
		{watchRoute + "?kinds=bogus", `unknown kind "bogus": one of payment, refund`},
		{watchRoute + "?states=fraud-review", `"fraud-review" is not a canonical state: one of `},
		{watchRoute + "?kinds=refund&states=fraud_review", `"fraud_review" is not a canonical state of refund: one of `},
		{watchRoute + "?providers=ngenius&providers=n-genius", `unknown provider "n-genius": this server knows ngenius`},
	} {
		code, msg, _ := s.restAnswer(t, tc.path)
		require.Equal(t, http.StatusBadRequest, code, tc.path)
		require.Contains(t, msg, tc.says, tc.path)
	}

	ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+hardAdmin), 5*time.Second)
	defer cancel()
	watch := pb.NewWatchServiceClient(s.conn)
	for _, req := range []*pb.WatchRequest{
		{Kinds: []string{"bogus"}},
		{States: []string{"fraud-review"}},
		{Providers: []string{"n-genius"}},
	} {
		stream, err := watch.Watch(ctx, req)
		require.NoError(t, err)
		_, err = stream.Recv()
		require.Equal(t, codes.InvalidArgument, status.Code(err), "%v", req)
	}
}

// The enum spelling of a kind, the one every answer carries in its kind
// field, is taken wherever a kind is: by the listings, the journal, Watch
// and the aggregate routes.
func TestKindEnumSpellingIsAnAlias(t *testing.T) {
	s := hardSetup(t, Options{})
	s.webhookFor(t, "o-1", "AUTHORISED", 1)

	code, _, body := s.restAnswer(t, "/v1/aggregates?kind=KIND_PAYMENT")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(body), `"providerId":"o-1"`)
	code, _, body = s.restAnswer(t, "/v1/journal?kind=KIND_PAYMENT")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(body), `"providerId":"o-1"`)
	code, _, _ = s.restAnswer(t, "/v1/providers/ngenius/aggregates/KIND_PAYMENT/o-1")
	require.Equal(t, http.StatusOK, code)
	code, _, body = s.restAnswer(t, watchRoute+"?kinds=KIND_PAYMENT&states=AUTHORIZED")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(body), `"providerId":"o-1"`, "the entry matches: the watch is not left silent")

	// A page token stays bound to the filter, whichever way the kind was
	// spelled.
	var page struct{ NextPageToken string }
	s.webhookFor(t, "o-2", "AUTHORISED", 2)
	code, _, body = s.restAnswer(t, "/v1/aggregates?kind=payment&page_size=1")
	require.Equal(t, http.StatusOK, code)
	require.NoError(t, json.Unmarshal(body, &page))
	code, _, _ = s.restAnswer(t, "/v1/aggregates?kind=KIND_PAYMENT&page_size=1&page_token="+page.NextPageToken)
	require.Equal(t, http.StatusOK, code)
}

// A provider this server has no machine for, but whose aggregates the
// store holds (one disabled since, its credentials taken out), is
// listed, not refused: its history stays readable.
func TestDisabledProviderWithHistoryIsListed(t *testing.T) {
	s, store := gatewaySetup(t, Options{Tokens: []Token{{Name: "ops", Role: "admin", SHA256: HashToken(hardAdmin)}}}, nil)
	at := time.Now()
	require.NoError(t, store.Update(t.Context(), func(tx storage.Tx) error {
		return tx.PutAggregate(t.Context(), storage.Aggregate{
			Key:   storage.AggregateKey{Provider: "inyo", Kind: "payment", ID: "old-1"},
			State: "captured", Version: 1, CreatedAt: at, UpdatedAt: at,
		})
	}))
	code, _, body := s.restAnswer(t, "/v1/orders?provider=inyo")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(body), `"providerOrderId":"old-1"`)
	code, _, _ = s.restAnswer(t, watchRoute+"?providers=inyo&heartbeat_seconds=1")
	require.Equal(t, http.StatusOK, code)
	code, _, _ = s.restAnswer(t, "/v1/orders?provider=magnius")
	require.Equal(t, http.StatusBadRequest, code)
}
