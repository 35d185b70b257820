package api

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/paystate/paystate/engine/enginetest"
	pb "github.com/paystate/paystate/proto/paystate/v1"
	"github.com/paystate/paystate/providers/inyo"
	"github.com/paystate/paystate/storage"
)

// ngeniusSample is N-Genius' documented webhook sample as event, with
// edit applied to it.
func ngeniusSample(t *testing.T, event string, edit func([]byte) []byte) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "providers", "ngenius", "testdata", "sample_captured.json"))
	require.NoError(t, err)
	raw = bytes.ReplaceAll(raw, []byte(`"CAPTURED"`), []byte(`"`+event+`"`))
	if edit != nil {
		raw = edit(raw)
	}
	return raw
}

// An order service reads an order's own amount from GetOrder, over gRPC
// and REST alike, beside its totals; an order no event has given an amount
// answers zero with amount_known false (and amounts_unknown saying the
// figures are not known), a zero-amount order zero with amount_known true.
func TestGetOrderServesTheOrderAmount(t *testing.T) {
	s := hardSetup(t, Options{})
	ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+hardAdmin)
	orders := pb.NewOrderServiceClient(s.conn)
	webhook := func(body []byte) {
		t.Helper()
		require.Equal(t, http.StatusOK, s.do(t, http.MethodPost, "/webhooks/ngenius", body,
			http.Header{"Content-Type": {"application/json"}, hardHeader: {hardSecret}}))
	}
	rest := func(id string) map[string]any {
		t.Helper()
		return s.adminJSON(t, http.MethodGet, "/v1/providers/ngenius/orders/"+id, "")
	}

	// The sample's authorisation, then a partial refund of 2500: the
	// amount stays what was authorised while the totals move.
	webhook(ngeniusSample(t, "AUTHORISED", nil))
	webhook(ngeniusSample(t, "CAPTURED", nil))
	authorized := timestamppb.Now()
	webhook(ngeniusSample(t, "PARTIALLY_REFUNDED", func(b []byte) []byte {
		return bytes.Replace(b, []byte(`"state": "PARTIALLY_REFUNDED",`),
			[]byte(`"state": "PARTIALLY_REFUNDED", "amount": {"currencyCode": "AED", "value": 2500},`), 1)
	}))
	o, err := orders.GetOrder(ctx, &pb.GetOrderRequest{Provider: "ngenius", OrderId: "abc123xyz"})
	require.NoError(t, err)
	require.Equal(t, "partially_refunded", o.GetStateName())
	require.Equal(t, int64(10000), o.GetAmountMinor())
	require.True(t, o.GetAmountKnown())
	require.Equal(t, "AED", o.GetCurrency())
	require.Equal(t, int64(2500), o.GetRefundedMinor())
	r := rest("abc123xyz")
	require.Equal(t, "10000", r["amountMinor"])
	require.Equal(t, true, r["amountKnown"])
	require.Equal(t, "AED", r["currency"])
	require.Equal(t, "2500", r["refundedMinor"])
	// The state as of a past time carries its amount too (a replay).
	then, err := orders.GetOrder(ctx, &pb.GetOrderRequest{Provider: "ngenius", OrderId: "abc123xyz", AsOfTime: authorized})
	require.NoError(t, err)
	require.Equal(t, "captured", then.GetStateName())
	require.Equal(t, int64(10000), then.GetAmountMinor())
	require.True(t, then.GetAmountKnown())

	// An authorisation that carries no amount: the amount is unknown, and
	// says so as zero (REST: "0", never left out), with amounts_unknown.
	webhook(ngeniusSample(t, "AUTHORISED", func(b []byte) []byte {
		b = bytes.Replace(b, []byte(`"id": "abc123xyz",`), []byte(`"id": "no-amount-1",`), 1)
		return bytes.Replace(b, []byte(`"amount": {
"currencyCode": "AED",
"value": 10000
}`), []byte(`"note": "no amount"`), 1)
	}))
	o, err = orders.GetOrder(ctx, &pb.GetOrderRequest{Provider: "ngenius", OrderId: "no-amount-1"})
	require.NoError(t, err)
	require.Equal(t, "authorized", o.GetStateName())
	require.Zero(t, o.GetAmountMinor())
	require.False(t, o.GetAmountKnown())
	require.True(t, o.GetAmountsUnknown())
	r = rest("no-amount-1")
	require.Equal(t, "0", r["amountMinor"])
	require.Equal(t, false, r["amountKnown"], "REST: false, never left out")
	require.Equal(t, true, r["amountsUnknown"])

	// A card check: an authorisation of zero. The amount is known, and
	// zero.
	webhook(ngeniusSample(t, "AUTHORISED", func(b []byte) []byte {
		b = bytes.Replace(b, []byte(`"id": "abc123xyz",`), []byte(`"id": "card-check-1",`), 1)
		return bytes.Replace(b, []byte(`"value": 10000`), []byte(`"value": 0`), 1)
	}))
	o, err = orders.GetOrder(ctx, &pb.GetOrderRequest{Provider: "ngenius", OrderId: "card-check-1"})
	require.NoError(t, err)
	require.Equal(t, "authorized", o.GetStateName())
	require.Zero(t, o.GetAmountMinor())
	require.True(t, o.GetAmountKnown())
	require.False(t, o.GetAmountsUnknown())
	r = rest("card-check-1")
	require.Equal(t, "0", r["amountMinor"])
	require.Equal(t, true, r["amountKnown"])
}

// An order asked for by the id of the provider's refund is not found as
// an order, and the answer says what the id is.
func TestMissingOrderNamesTheKindItIs(t *testing.T) {
	h := enginetest.New(t, inyo.New(inyo.Config{}))
	at := time.Now()
	require.NoError(t, h.Store.Update(t.Context(), func(tx storage.Tx) error {
		return tx.PutAggregate(t.Context(), storage.Aggregate{
			Key:   storage.AggregateKey{Provider: inyo.Name, Kind: "refund", ID: "r-1"},
			State: "succeeded", Version: 1, CreatedAt: at, UpdatedAt: at,
		})
	}))
	orders := &Orders{Store: h.Store, Machines: h.Machines}
	_, err := orders.GetOrder(t.Context(), &pb.GetOrderRequest{Provider: inyo.Name, OrderId: "r-1"})
	require.Equal(t, codes.NotFound, status.Code(err))
	require.Equal(t, "payment r-1 at inyo: not found (the id names a refund there: GetAggregate with kind refund reads it)",
		status.Convert(err).Message())
	_, err = orders.GetOrder(t.Context(), &pb.GetOrderRequest{Provider: inyo.Name, OrderId: "nothing"})
	require.Equal(t, "payment nothing at inyo: not found", status.Convert(err).Message())

	aggregates := &Aggregates{Store: h.Store, Machines: h.Machines}
	a, err := aggregates.GetAggregate(t.Context(), &pb.GetAggregateRequest{Provider: inyo.Name, Kind: "KIND_REFUND", ProviderId: "r-1"})
	require.NoError(t, err)
	require.Equal(t, "succeeded", a.GetState())
}
