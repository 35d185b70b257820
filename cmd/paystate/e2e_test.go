package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/paystate/paystate/config"
	pb "github.com/paystate/paystate/proto/paystate/v1"
)

// server is a real paystate on loopback ports.
type server struct {
	t      *testing.T
	cfg    config.Config
	dev    *config.DevCredentials
	http   string
	grpc   *grpc.ClientConn
	stop   context.CancelFunc
	done   chan error
	orders pb.OrderServiceClient
	audit  pb.AuditServiceClient
}

func startServer(t *testing.T, dataDir string) *server {
	t.Helper()
	cfg := config.Defaults()
	cfg.HTTPAddr, cfg.GRPCAddr, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", dataDir
	dev, err := config.FillDev(&cfg)
	require.NoError(t, err)
	return startServerWith(t, cfg, dev)
}

// startServerWith runs a server with a prepared configuration (dev holds
// the credentials the test signs and calls with).
func startServerWith(t *testing.T, cfg config.Config, dev *config.DevCredentials) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{t: t, cfg: cfg, dev: dev, stop: cancel, done: make(chan error, 1)}
	addrs := make(chan [2]string, 1)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() {
		// dev is not passed on: the banner is for people, not test logs.
		s.done <- runServer(ctx, cfg, nil, log, func(h, g string) { addrs <- [2]string{h, g} })
	}()
	select {
	case a := <-addrs:
		s.http = "http://" + a[0]
		conn, err := grpc.NewClient(a[1], grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(t, err)
		s.grpc = conn
	case err := <-s.done:
		t.Fatalf("server did not start: %v", err)
	}
	s.orders, s.audit = pb.NewOrderServiceClient(s.grpc), pb.NewAuditServiceClient(s.grpc)
	t.Cleanup(s.shutdown)
	return s
}

func (s *server) shutdown() {
	if s.stop == nil {
		return
	}
	s.grpc.Close()
	s.stop()
	s.stop = nil // before a failing check: the cleanup's shutdown must not wait for done again
	require.NoError(s.t, <-s.done)
}

func (s *server) authed(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+s.dev.APIToken)
}

func (s *server) post(t *testing.T, body []byte, header map[string]string, path string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.http+path, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out
}

func (s *server) webhook(t *testing.T, body []byte) (int, map[string]any) {
	return s.post(t, body, map[string]string{s.dev.NGeniusHeaderName: s.dev.NGeniusHeaderValue}, "/webhooks/ngenius")
}

func verdictOf(t *testing.T, reply map[string]any) string {
	t.Helper()
	results, ok := reply["results"].([]any)
	require.True(t, ok, "reply has results: %v", reply)
	return results[0].(map[string]any)["verdict"].(string)
}

func sample(t *testing.T, event string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "providers", "ngenius", "testdata", "sample_captured.json"))
	require.NoError(t, err)
	return bytes.ReplaceAll(raw, []byte(`"CAPTURED"`), []byte(`"`+event+`"`))
}

func TestEndToEnd(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	ctx := t.Context()

	// The documented sample is a CAPTURED: early, so held.
	code, reply := s.webhook(t, sample(t, "CAPTURED"))
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "deferred", verdictOf(t, reply))
	_, err := s.orders.GetOrder(s.authed(ctx), &pb.GetOrderRequest{Provider: "ngenius", OrderId: "abc123xyz"})
	require.Equal(t, codes.NotFound, status.Code(err))
	require.ErrorContains(t, err, "payment abc123xyz at ngenius has no state yet: 1 event(s) are held", "not a bare not found")
	_, err = pb.NewAggregateServiceClient(s.grpc).GetAggregate(s.authed(ctx), &pb.GetAggregateRequest{Provider: "ngenius", Kind: "payment", ProviderId: "abc123xyz"})
	require.ErrorContains(t, err, "has no state yet")
	_, err = s.orders.GetOrder(s.authed(ctx), &pb.GetOrderRequest{Provider: "ngenuis", OrderId: "abc123xyz"})
	require.Equal(t, codes.InvalidArgument, status.Code(err), "a misspelt provider is not a missing order")
	require.ErrorContains(t, err, `unknown provider "ngenuis": this server knows generic, inyo, magnius, ngenius, payengine`)
	_, err = s.orders.GetOrder(s.authed(ctx), &pb.GetOrderRequest{Provider: "ngenius", OrderId: "no-such-order"})
	require.Equal(t, codes.NotFound, status.Code(err))
	require.NotContains(t, err.Error(), "held")

	// Its predecessor lands and takes it along.
	code, reply = s.webhook(t, sample(t, "AUTHORISED"))
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "applied", verdictOf(t, reply))

	order, err := s.orders.GetOrder(s.authed(ctx), &pb.GetOrderRequest{Provider: "ngenius", OrderId: "abc123xyz"})
	require.NoError(t, err)
	require.Equal(t, pb.PaymentState_PAYMENT_STATE_CAPTURED, order.GetState())
	require.Equal(t, "captured", order.GetStateName())
	require.Equal(t, "ORD-123456", order.GetMerchantReference())
	require.Equal(t, "AED", order.GetCurrency())
	require.Equal(t, int64(10000), order.GetAmountMinor())
	require.Equal(t, int64(10000), order.GetAuthorizedMinor())
	require.Equal(t, int64(10000), order.GetCapturedMinor())
	require.Equal(t, int64(2), order.GetVersion())
	require.Equal(t, "providers/ngenius/orders/abc123xyz", order.GetName())

	// The same over REST.
	req, _ := http.NewRequest(http.MethodGet, s.http+"/v1/providers/ngenius/orders/abc123xyz", nil)
	req.Header.Set("Authorization", "Bearer "+s.dev.APIToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var rest map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&rest))
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "PAYMENT_STATE_CAPTURED", rest["state"])
	require.Equal(t, "captured", rest["stateName"])
	require.Equal(t, "10000", rest["capturedMinor"])
	require.Equal(t, "10000", rest["amountMinor"])

	agg, err := pb.NewAggregateServiceClient(s.grpc).GetAggregate(s.authed(ctx),
		&pb.GetAggregateRequest{Provider: "ngenius", Kind: "payment", ProviderId: "abc123xyz"})
	require.NoError(t, err)
	require.Equal(t, "captured", agg.GetState())
	require.Equal(t, "providers/ngenius/aggregates/payment/abc123xyz", agg.GetName())
	_, err = pb.NewAggregateServiceClient(s.grpc).GetAggregate(s.authed(ctx),
		&pb.GetAggregateRequest{Provider: "ngenius", Kind: "shipment", ProviderId: "abc123xyz"})
	require.Equal(t, codes.InvalidArgument, status.Code(err))

	looked, err := s.orders.LookupOrders(s.authed(ctx), &pb.LookupOrdersRequest{MerchantReference: "ORD-123456"})
	require.NoError(t, err)
	require.Len(t, looked.GetOrders(), 1)

	// Duplicates and stale events are answered 200 and change nothing.
	code, reply = s.webhook(t, sample(t, "AUTHORISED"))
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "duplicate", verdictOf(t, reply))
	late := bytes.Replace(sample(t, "AUTHORISED"), []byte(`"timestamp": "2024-12-01T13:22:45Z"`), []byte(`"timestamp": "2024-12-01T13:30:00Z"`), 1)
	code, reply = s.webhook(t, late)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "rejected", verdictOf(t, reply))

	t.Run("one event and state as of a past time", func(t *testing.T) {
		ev, err := s.audit.GetEvent(s.authed(ctx), &pb.GetEventRequest{Sequence: 1})
		require.NoError(t, err)
		require.Equal(t, pb.Verdict_VERDICT_DEFERRED, ev.GetVerdict())
		require.Contains(t, ev.GetRedactedBody(), `"CAPTURED"`)
		_, err = s.audit.GetEvent(s.authed(ctx), &pb.GetEventRequest{Sequence: 999})
		require.Equal(t, codes.NotFound, status.Code(err))

		before := timestamppb.New(time.Now())
		time.Sleep(2 * time.Millisecond)
		refund := bytes.Replace(sample(t, "PARTIALLY_REFUNDED"), []byte(`"state": "PARTIALLY_REFUNDED",`),
			[]byte(`"state": "PARTIALLY_REFUNDED", "amount": {"currencyCode": "AED", "value": 2500},`), 1)
		code, reply := s.webhook(t, refund)
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, "applied", verdictOf(t, reply))

		then, err := s.orders.GetOrder(s.authed(ctx), &pb.GetOrderRequest{Provider: "ngenius", OrderId: "abc123xyz", AsOfTime: before})
		require.NoError(t, err)
		require.Equal(t, "captured", then.GetStateName())
		require.Equal(t, int64(2), then.GetVersion())
		now, err := s.orders.GetOrder(s.authed(ctx), &pb.GetOrderRequest{Provider: "ngenius", OrderId: "abc123xyz"})
		require.NoError(t, err)
		require.Equal(t, "partially_refunded", now.GetStateName())
		require.Equal(t, int64(2500), now.GetRefundedMinor())
		_, err = s.orders.GetOrder(s.authed(ctx), &pb.GetOrderRequest{Provider: "ngenius", OrderId: "abc123xyz",
			AsOfTime: timestamppb.New(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))})
		require.Equal(t, codes.NotFound, status.Code(err))
		order = now
	})

	t.Run("history and chain", func(t *testing.T) {
		events, err := s.audit.ListOrderEvents(s.authed(ctx), &pb.ListOrderEventsRequest{Provider: "ngenius", OrderId: "abc123xyz"})
		require.NoError(t, err)
		var verdicts []pb.Verdict
		for _, e := range events.GetEntries() {
			verdicts = append(verdicts, e.GetVerdict())
		}
		require.Equal(t, []pb.Verdict{pb.Verdict_VERDICT_DEFERRED, pb.Verdict_VERDICT_APPLIED, pb.Verdict_VERDICT_APPLIED,
			pb.Verdict_VERDICT_DUPLICATE, pb.Verdict_VERDICT_REJECTED, pb.Verdict_VERDICT_APPLIED}, verdicts)
		v, err := s.audit.VerifyJournal(s.authed(ctx), &pb.VerifyJournalRequest{})
		require.NoError(t, err)
		require.True(t, v.GetOk(), v.GetProblem())
		require.Equal(t, int64(6), v.GetEntriesChecked())
	})

	t.Run("bad input", func(t *testing.T) {
		code, _ := s.post(t, sample(t, "AUTHORISED"), map[string]string{s.dev.NGeniusHeaderName: "wrong"}, "/webhooks/ngenius")
		require.Equal(t, http.StatusUnauthorized, code)
		code, _ = s.post(t, sample(t, "AUTHORISED"), nil, "/webhooks/ngenius")
		require.Equal(t, http.StatusUnauthorized, code)
		code, reply := s.webhook(t, []byte(`{"event": "CAPTURED", "order": `))
		require.Equal(t, http.StatusBadRequest, code)
		require.Equal(t, "rejected", verdictOf(t, reply), "malformed bodies are recorded")
		code, _ = s.webhook(t, bytes.Repeat([]byte(" "), 65<<10))
		require.Equal(t, http.StatusRequestEntityTooLarge, code)
		code, _ = s.post(t, sample(t, "AUTHORISED"), nil, "/webhooks/nosuchprovider")
		require.Equal(t, http.StatusNotFound, code)
		code, reply = s.webhook(t, bytes.ReplaceAll(sample(t, "AUTHORISED"), []byte("AUTHORISED"), []byte("SOMETHING_NEW")))
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, "recorded", verdictOf(t, reply))
	})

	t.Run("api needs a token", func(t *testing.T) {
		_, err := s.orders.GetOrder(ctx, &pb.GetOrderRequest{Provider: "ngenius", OrderId: "abc123xyz"})
		require.Equal(t, codes.Unauthenticated, status.Code(err))
		bad := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer nope")
		_, err = s.orders.GetOrder(bad, &pb.GetOrderRequest{Provider: "ngenius", OrderId: "abc123xyz"})
		require.Equal(t, codes.Unauthenticated, status.Code(err))
		resp, err := http.Get(s.http + "/v1/providers/ngenius/orders/abc123xyz")
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		h, err := healthpb.NewHealthClient(s.grpc).Check(ctx, &healthpb.HealthCheckRequest{})
		require.NoError(t, err)
		require.Equal(t, healthpb.HealthCheckResponse_SERVING, h.GetStatus())
		_, err = s.orders.GetOrder(s.authed(ctx), &pb.GetOrderRequest{Provider: "ngenius"})
		require.Equal(t, codes.InvalidArgument, status.Code(err))
	})

	// Restart on the same data directory: everything acknowledged is there.
	s.shutdown()
	s2 := startServer(t, dir)
	order2, err := s2.orders.GetOrder(s2.authed(ctx), &pb.GetOrderRequest{Provider: "ngenius", OrderId: "abc123xyz"})
	require.NoError(t, err)
	require.Equal(t, order.GetVersion(), order2.GetVersion())
	require.Equal(t, order.GetState(), order2.GetState())
	v, err := s2.audit.VerifyJournal(s2.authed(ctx), &pb.VerifyJournalRequest{})
	require.NoError(t, err)
	require.True(t, v.GetOk())
	require.Equal(t, s.dev.APIToken, s2.dev.APIToken, "development credentials survive a restart")
	code, reply = s2.webhook(t, sample(t, "CAPTURED"))
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "duplicate", verdictOf(t, reply))
}
