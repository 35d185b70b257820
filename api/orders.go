package api

import (
	"context"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/paystate/paystate/proto/paystate/v1"
	"github.com/paystate/paystate/redact"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
)

// Orders serves paystate.v1.OrderService from the store's read side.
type Orders struct {
	pb.UnimplementedOrderServiceServer
	Store    storage.Reader
	Machines *sm.Registry
	Log      *slog.Logger
	// IDKey masks the ids asked for as the engine masked them (Options).
	IDKey redact.IDKey
}

// GetOrder returns one payment order.
func (s *Orders) GetOrder(ctx context.Context, req *pb.GetOrderRequest) (*pb.Order, error) {
	if req.GetProvider() == "" || req.GetOrderId() == "" {
		return nil, status.Error(codes.InvalidArgument, "provider and order_id are required")
	}
	key := storage.AggregateKey{Provider: req.GetProvider(), Kind: string(sm.KindPayment), ID: s.IDKey.ID(req.GetOrderId())}
	if req.GetAsOfTime() != nil {
		a, err := stateAt(ctx, s.Store, s.Machines, key, req.GetAsOfTime())
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		return toOrder(a, 0), nil
	}
	o, err := s.order(ctx, key)
	if err != nil {
		return nil, whyMissing(ctx, s.log(), s.Store, s.Machines, key, req.GetOrderId(), err)
	}
	return o, nil
}

// order reads the order with its children and held counts in one read.
func (s *Orders) order(ctx context.Context, key storage.AggregateKey) (*pb.Order, error) {
	v, err := s.Store.AggregateView(ctx, key)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	o := toOrder(v.Aggregate, v.Pending)
	o.Children = toChildren(v.Children)
	return o, nil
}

// LookupOrders returns the payment orders carrying a merchant reference.
func (s *Orders) LookupOrders(ctx context.Context, req *pb.LookupOrdersRequest) (*pb.LookupOrdersResponse, error) {
	if req.GetMerchantReference() == "" {
		return nil, status.Error(codes.InvalidArgument, "merchant_reference is required")
	}
	aggs, err := s.Store.AggregatesByReference(ctx, s.IDKey.ID(req.GetMerchantReference()))
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	resp := &pb.LookupOrdersResponse{}
	for _, a := range aggs {
		if a.Key.Kind != string(sm.KindPayment) {
			continue
		}
		o, err := s.order(ctx, a.Key)
		if err != nil {
			return nil, err
		}
		resp.Orders = append(resp.Orders, o)
	}
	return resp, nil
}

func (s *Orders) fail(ctx context.Context, err error) error { return toStatus(ctx, s.log(), err) }

func (s *Orders) log() *slog.Logger { return orDefault(s.Log) }
