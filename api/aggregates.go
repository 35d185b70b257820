package api

import (
	"context"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/paystate/paystate/engine"
	pb "github.com/paystate/paystate/proto/paystate/v1"
	"github.com/paystate/paystate/redact"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
)

// Aggregates serves paystate.v1.AggregateService: every kind of aggregate,
// with its children.
type Aggregates struct {
	pb.UnimplementedAggregateServiceServer
	Store    storage.Reader
	Machines *sm.Registry
	Log      *slog.Logger
	// IDKey masks the ids asked for as the engine masked them (Options).
	IDKey redact.IDKey
}

func (s *Aggregates) key(provider, kind, id string) (storage.AggregateKey, error) {
	if provider == "" || id == "" {
		return storage.AggregateKey{}, status.Error(codes.InvalidArgument, "provider and provider_id are required")
	}
	k, err := parseKind(kind)
	if err != nil {
		return storage.AggregateKey{}, err
	}
	return storage.AggregateKey{Provider: provider, Kind: string(k), ID: s.IDKey.ID(id)}, nil
}

// GetAggregate returns one aggregate with its children.
func (s *Aggregates) GetAggregate(ctx context.Context, req *pb.GetAggregateRequest) (*pb.Aggregate, error) {
	key, err := s.key(req.GetProvider(), req.GetKind(), req.GetProviderId())
	if err != nil {
		return nil, err
	}
	if req.GetAsOfTime() != nil {
		a, err := stateAt(ctx, s.Store, s.Machines, key, req.GetAsOfTime())
		if err != nil {
			return nil, toStatus(ctx, orDefault(s.Log), err)
		}
		return toAggregate(a, 0), nil
	}
	a, err := loadAggregate(ctx, s.Store, key)
	if err != nil {
		return nil, whyMissing(ctx, orDefault(s.Log), s.Store, s.Machines, key, req.GetProviderId(), err)
	}
	return a, nil
}

// ListAggregateEvents pages through one aggregate's journal.
func (s *Aggregates) ListAggregateEvents(ctx context.Context, req *pb.ListAggregateEventsRequest) (*pb.ListAggregateEventsResponse, error) {
	key, err := s.key(req.GetProvider(), req.GetKind(), req.GetProviderId())
	if err != nil {
		return nil, err
	}
	entries, next, err := journalPage(ctx, s.Store, key, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, toStatus(ctx, orDefault(s.Log), noEvents(s.Machines, key.Provider, err))
	}
	return &pb.ListAggregateEventsResponse{Entries: entries, NextPageToken: next}, nil
}

// stateAt rebuilds key as it stood at the given time from its journal.
func stateAt(ctx context.Context, r storage.Reader, machines *sm.Registry, key storage.AggregateKey, at *timestamppb.Timestamp) (storage.Aggregate, error) {
	if err := at.CheckValid(); err != nil {
		return storage.Aggregate{}, status.Error(codes.InvalidArgument, "as_of_time is not a valid time")
	}
	a, ok, err := engine.StateAt(ctx, r, machines, key, at.AsTime())
	if err != nil {
		return a, err
	}
	if !ok {
		return a, status.Error(codes.NotFound, "nothing had been applied by then")
	}
	return a, nil
}

// loadAggregate reads an aggregate with its children and held counts in
// one read.
func loadAggregate(ctx context.Context, r storage.Reader, key storage.AggregateKey) (*pb.Aggregate, error) {
	v, err := r.AggregateView(ctx, key)
	if err != nil {
		return nil, err
	}
	out := toAggregate(v.Aggregate, v.Pending)
	out.Children = toChildren(v.Children)
	return out, nil
}
