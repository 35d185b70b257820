package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/paystate/paystate/proto/paystate/v1"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
)

// maxBatchGet bounds BatchGetOrders.
const maxBatchGet = 100

// listToken is the opaque cursor of a listing: the last key returned and a
// fingerprint of the filter, so a token cannot be replayed under another
// filter and silently skip or repeat rows.
type listToken struct {
	V      int    `json:"v"`
	P      string `json:"p"`
	K      string `json:"k"`
	I      string `json:"i"`
	Filter string `json:"f"`
}

func filterPrint(f storage.AggregateFilter) string {
	return strings.Join([]string{f.Provider, f.Kind, f.State, f.UpdatedSince.UTC().Format(time.RFC3339Nano),
		f.UpdatedUntil.UTC().Format(time.RFC3339Nano)}, "|")
}

func encodeListToken(last storage.AggregateKey, f storage.AggregateFilter) string {
	b, _ := json.Marshal(listToken{V: 1, P: last.Provider, K: last.Kind, I: last.ID, Filter: filterPrint(f)})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeListToken(tok string, f storage.AggregateFilter) (storage.AggregateKey, error) {
	if tok == "" {
		return storage.AggregateKey{}, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	var t listToken
	if err != nil || json.Unmarshal(raw, &t) != nil || t.V != 1 {
		return storage.AggregateKey{}, status.Error(codes.InvalidArgument, "invalid page_token")
	}
	if t.Filter != filterPrint(f) {
		return storage.AggregateKey{}, status.Error(codes.InvalidArgument, "page_token belongs to a different filter")
	}
	return storage.AggregateKey{Provider: t.P, Kind: t.K, ID: t.I}, nil
}

// pageSize applies the default and the cap.
func pageSize(n int32) (int, error) {
	switch {
	case n < 0:
		return 0, status.Error(codes.InvalidArgument, "page_size must not be negative")
	case n == 0:
		return defaultPageSize, nil
	case n > maxPageSize:
		return maxPageSize, nil
	}
	return int(n), nil
}

func timeFilter(ts *timestamppb.Timestamp, name string) (time.Time, error) {
	if ts == nil {
		return time.Time{}, nil
	}
	if err := ts.CheckValid(); err != nil {
		return time.Time{}, status.Errorf(codes.InvalidArgument, "%s is not a valid time", name)
	}
	return ts.AsTime(), nil
}

// listPage runs one page of a listing.
func listPage(ctx context.Context, r storage.Reader, f storage.AggregateFilter, size int32, token string) ([]storage.HeldAggregate, string, error) {
	n, err := pageSize(size)
	if err != nil {
		return nil, "", err
	}
	after, err := decodeListToken(token, f)
	if err != nil {
		return nil, "", err
	}
	aggs, err := listAfter(ctx, r, f, after, n+1)
	if err != nil {
		return nil, "", err
	}
	var next string
	if len(aggs) > n {
		aggs = aggs[:n]
		next = encodeListToken(aggs[n-1].Key, f)
	}
	return aggs, next, nil
}

// listAfter reads up to limit aggregates matching f after the key after.
// The store searches its state index only when the kind is fixed too; a
// state alone it would answer by reading every aggregate until the page is
// full, which for a rare state is all of them. So a state without a kind
// is asked once per kind that has the state and the pages merged in key
// order: the first limit rows after the cursor are among each kind's first
// limit. (A kind without the state has no aggregate in it: machines are
// built only with canonical states.)
func listAfter(ctx context.Context, r storage.Reader, f storage.AggregateFilter, after storage.AggregateKey, limit int) ([]storage.HeldAggregate, error) {
	if f.State == "" || f.Kind != "" {
		return r.ListAggregates(ctx, f, after, limit)
	}
	var merged []storage.HeldAggregate
	for _, k := range sm.Kinds {
		if !sm.IsCanonical(k, sm.State(f.State)) {
			continue
		}
		byKind := f
		byKind.Kind = string(k)
		page, err := r.ListAggregates(ctx, byKind, after, limit)
		if err != nil {
			return nil, err
		}
		merged = append(merged, page...)
	}
	slices.SortFunc(merged, func(a, b storage.HeldAggregate) int { return a.Key.Compare(b.Key) })
	return merged[:min(len(merged), limit)], nil
}

// listFilter validates a listing's filter (filters.go) and reads it into
// the store's form.
func listFilter(ctx context.Context, machines *sm.Registry, r storage.Reader, provider, kind, state string, since, until *timestamppb.Timestamp) (storage.AggregateFilter, error) {
	f := storage.AggregateFilter{Provider: provider}
	var kinds []string
	if kind != "" {
		k, err := parseKind(kind)
		if err != nil {
			return f, err
		}
		f.Kind, kinds = string(k), []string{string(k)}
	}
	var err error
	if state != "" {
		if f.State, err = parseState(state, kinds); err != nil {
			return f, err
		}
	}
	if f.UpdatedSince, err = timeFilter(since, "updated_since"); err != nil {
		return f, err
	}
	if f.UpdatedUntil, err = timeFilter(until, "updated_until"); err != nil {
		return f, err
	}
	return f, checkProvider(ctx, machines, r, provider)
}

// ListOrders pages through payment orders.
func (s *Orders) ListOrders(ctx context.Context, req *pb.ListOrdersRequest) (*pb.ListOrdersResponse, error) {
	f, err := listFilter(ctx, s.Machines, s.Store, req.GetProvider(), string(sm.KindPayment), req.GetState(), req.GetUpdatedSince(), req.GetUpdatedUntil())
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	aggs, next, err := listPage(ctx, s.Store, f, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	resp := &pb.ListOrdersResponse{NextPageToken: next}
	for _, a := range aggs {
		resp.Orders = append(resp.Orders, toOrder(a.Aggregate, a.Pending))
	}
	return resp, nil
}

// BatchGetOrders returns several orders in one call.
func (s *Orders) BatchGetOrders(ctx context.Context, req *pb.BatchGetOrdersRequest) (*pb.BatchGetOrdersResponse, error) {
	refs := req.GetOrders()
	if len(refs) == 0 || len(refs) > maxBatchGet {
		return nil, status.Errorf(codes.InvalidArgument, "ask for 1 to %d orders", maxBatchGet)
	}
	resp := &pb.BatchGetOrdersResponse{}
	for _, ref := range refs {
		if ref.GetProvider() == "" || ref.GetOrderId() == "" {
			return nil, status.Error(codes.InvalidArgument, "every order needs provider and order_id")
		}
		o, err := s.order(ctx, storage.AggregateKey{Provider: ref.GetProvider(), Kind: string(sm.KindPayment), ID: s.IDKey.ID(ref.GetOrderId())})
		if status.Code(err) == codes.NotFound {
			resp.Missing = append(resp.Missing, ref)
			continue
		}
		if err != nil {
			return nil, err
		}
		resp.Orders = append(resp.Orders, o)
	}
	return resp, nil
}

// ListAggregates pages through aggregates of any kind.
func (s *Aggregates) ListAggregates(ctx context.Context, req *pb.ListAggregatesRequest) (*pb.ListAggregatesResponse, error) {
	f, err := listFilter(ctx, s.Machines, s.Store, req.GetProvider(), req.GetKind(), req.GetState(), req.GetUpdatedSince(), req.GetUpdatedUntil())
	if err != nil {
		return nil, toStatus(ctx, orDefault(s.Log), err)
	}
	aggs, next, err := listPage(ctx, s.Store, f, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, toStatus(ctx, orDefault(s.Log), err)
	}
	resp := &pb.ListAggregatesResponse{NextPageToken: next}
	for _, a := range aggs {
		resp.Aggregates = append(resp.Aggregates, toAggregate(a.Aggregate, a.Pending))
	}
	return resp, nil
}
