package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/paystate/paystate/proto/paystate/v1"
)

// ngeniusOrder builds a documented-shape body for another order id.
func ngeniusOrder(id, event string, n int) []byte {
	b, _ := json.Marshal(map[string]any{
		"event":       event,
		"order":       map[string]any{"id": id, "reference": "REF-" + id, "amount": map[string]any{"currencyCode": "AED", "value": 500}},
		"transaction": map[string]any{"id": fmt.Sprintf("t%d", n), "state": event},
		"timestamp":   fmt.Sprintf("2025-01-01T00:00:%02dZ", n%60),
	})
	return b
}

// TestListingAndBatchGet: the fraud team's "who is in review now", paging
// that visits every order once, filters that refuse nonsense, and batch get.
func TestListingAndBatchGet(t *testing.T) {
	s := startServer(t, t.TempDir())
	ctx := s.authed(t.Context())
	for i := range 7 {
		id := fmt.Sprintf("o%d", i)
		s.webhook(t, ngeniusOrder(id, "AUTHORISED", i*3))
		if i%2 == 0 {
			s.webhook(t, ngeniusOrder(id, "POST_AUTH_FRAUD_CHECK_REVIEW", i*3+1))
		}
	}
	review, err := s.orders.ListOrders(ctx, &pb.ListOrdersRequest{State: "fraud_review"})
	require.NoError(t, err)
	var ids []string
	for _, o := range review.GetOrders() {
		ids = append(ids, o.GetProviderOrderId())
	}
	require.Equal(t, []string{"o0", "o2", "o4", "o6"}, ids)

	var seen []string
	req := &pb.ListOrdersRequest{Provider: "ngenius", PageSize: 2}
	for {
		page, err := s.orders.ListOrders(ctx, req)
		require.NoError(t, err)
		for _, o := range page.GetOrders() {
			seen = append(seen, o.GetProviderOrderId())
		}
		if page.GetNextPageToken() == "" {
			break
		}
		req.PageToken = page.GetNextPageToken()
	}
	require.Equal(t, []string{"o0", "o1", "o2", "o3", "o4", "o5", "o6"}, seen)

	_, err = s.orders.ListOrders(ctx, &pb.ListOrdersRequest{PageToken: "garbage"})
	require.Equal(t, codes.InvalidArgument, status.Code(err))
	first, err := s.orders.ListOrders(ctx, &pb.ListOrdersRequest{PageSize: 1})
	require.NoError(t, err)
	_, err = s.orders.ListOrders(ctx, &pb.ListOrdersRequest{PageSize: 1, State: "authorized", PageToken: first.GetNextPageToken()})
	require.Equal(t, codes.InvalidArgument, status.Code(err), "a token is bound to its filter")
	_, err = s.orders.ListOrders(ctx, &pb.ListOrdersRequest{State: "shipped"})
	require.Equal(t, codes.InvalidArgument, status.Code(err))
	_, err = s.orders.ListOrders(ctx, &pb.ListOrdersRequest{PageSize: -1})
	require.Equal(t, codes.InvalidArgument, status.Code(err))

	batch, err := s.orders.BatchGetOrders(ctx, &pb.BatchGetOrdersRequest{Orders: []*pb.OrderRef{
		{Provider: "ngenius", OrderId: "o3"}, {Provider: "ngenius", OrderId: "nope"}, {Provider: "ngenius", OrderId: "o0"}}})
	require.NoError(t, err)
	require.Len(t, batch.GetOrders(), 2)
	require.Equal(t, "o3", batch.GetOrders()[0].GetProviderOrderId())
	require.Equal(t, "nope", batch.GetMissing()[0].GetOrderId())
	_, err = s.orders.BatchGetOrders(ctx, &pb.BatchGetOrdersRequest{})
	require.Equal(t, codes.InvalidArgument, status.Code(err))

	aggs, err := pb.NewAggregateServiceClient(s.grpc).ListAggregates(ctx, &pb.ListAggregatesRequest{Kind: "payment", State: "authorized"})
	require.NoError(t, err)
	require.Len(t, aggs.GetAggregates(), 3)

	// The same over REST.
	req2, _ := http.NewRequest(http.MethodGet, s.http+"/v1/orders?state=fraud_review", nil)
	req2.Header.Set("Authorization", "Bearer "+s.dev.APIToken)
	resp, err := http.DefaultClient.Do(req2)
	require.NoError(t, err)
	defer resp.Body.Close()
	var rest struct {
		Orders []map[string]any `json:"orders"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&rest))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Len(t, rest.Orders, 4)
}
