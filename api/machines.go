package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/paystate/paystate/engine"
	pb "github.com/paystate/paystate/proto/paystate/v1"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
)

// Reevaluator re-decides what older tables judged (the engine does).
type Reevaluator interface {
	Reevaluate(ctx context.Context, opt engine.ReevaluateOptions) (engine.ReevaluateReport, error)
}

// Machines serves paystate.v1.MachineService from the registry the
// engine runs.
type Machines struct {
	pb.UnimplementedMachineServiceServer
	Registry *sm.Registry
	// Engine runs re-evaluations; nil answers them Unimplemented.
	Engine Reevaluator
	Log    *slog.Logger
}

// Reevaluate re-decides, under the current tables, the aggregates older
// versions judged; see engine.Engine.Reevaluate.
func (s *Machines) Reevaluate(ctx context.Context, req *pb.ReevaluateRequest) (*pb.ReevaluateResponse, error) {
	if s.Engine == nil {
		return nil, status.Error(codes.Unimplemented, "this server runs no engine")
	}
	opt := engine.ReevaluateOptions{Provider: req.GetProvider(), DryRun: req.GetDryRun()}
	if req.GetSince() != nil {
		if err := req.GetSince().CheckValid(); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "since: %v", err)
		}
		opt.Since = req.GetSince().AsTime()
	}
	if req.GetPageSize() < 0 {
		return nil, status.Errorf(codes.InvalidArgument, "page_size %d: want 0 (all) or more", req.GetPageSize())
	}
	opt.Limit = int(req.GetPageSize())
	if tok := req.GetPageToken(); tok != "" {
		after, err := decodeReevalToken(tok)
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, "page_token: not one this server gave")
		}
		opt.After = after
	}
	rep, err := s.Engine.Reevaluate(ctx, opt)
	if err != nil {
		return nil, toStatus(ctx, orDefault(s.Log), err)
	}
	resp := &pb.ReevaluateResponse{Examined: int32(rep.Examined), DryRun: opt.DryRun, Total: int32(rep.Total)}
	if rep.More {
		resp.NextPageToken = encodeReevalToken(rep.Last)
	}
	for _, r := range rep.Aggregates {
		out := &pb.Reevaluation{Before: toAggregate(r.Before, 0), After: toAggregate(r.After, 0), Refused: r.Refused}
		for _, c := range r.Changes {
			out.Changes = append(out.Changes, &pb.VerdictChange{
				RevisesSequence: c.Seq, Event: c.Event,
				WasVerdict: verdictEnum(string(c.Was)), WasReason: c.WasReason, WasVersion: c.WasVersion,
				Verdict: verdictEnum(string(c.Now)), Reason: c.NowReason, Version: c.Version,
			})
		}
		for _, o := range r.Appended {
			out.AppendedSequences = append(out.AppendedSequences, o.Seq)
		}
		resp.Aggregates = append(resp.Aggregates, out)
	}
	return resp, nil
}

// encodeReevalToken is the page token that resumes a re-evaluation after
// key: the key, opaque to clients.
func encodeReevalToken(key storage.AggregateKey) string {
	b, _ := json.Marshal([3]string{key.Provider, key.Kind, key.ID})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeReevalToken(tok string) (storage.AggregateKey, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return storage.AggregateKey{}, err
	}
	var k [3]string
	if err := json.Unmarshal(b, &k); err != nil {
		return storage.AggregateKey{}, err
	}
	return storage.AggregateKey{Provider: k[0], Kind: k[1], ID: k[2]}, nil
}

// ListMachines describes every machine, or one provider's.
func (s *Machines) ListMachines(_ context.Context, req *pb.ListMachinesRequest) (*pb.ListMachinesResponse, error) {
	resp := &pb.ListMachinesResponse{}
	if s.Registry == nil {
		return resp, nil
	}
	for _, m := range s.Registry.All() {
		if req.GetProvider() != "" && m.Provider() != req.GetProvider() {
			continue
		}
		t := m.Table()
		out := &pb.Machine{Provider: m.Provider(), Kind: kindEnum(string(m.Kind())), Mode: "event",
			RecordOnly: t.RecordOnly, Mermaid: m.Mermaid(), Version: m.Version()}
		if t.Mode == sm.ModeStatus {
			out.Mode = "status"
		}
		for _, st := range m.States() {
			out.States = append(out.States, string(st))
		}
		for _, tr := range t.Transitions {
			row := &pb.Transition{Event: tr.Event, To: string(tr.To), Effect: tr.Effect.String(), Revert: tr.Revert, Note: tr.Note}
			for _, f := range tr.From {
				row.From = append(row.From, string(f))
			}
			out.Transitions = append(out.Transitions, row)
		}
		resp.Machines = append(resp.Machines, out)
	}
	return resp, nil
}

// reevaluator is the engine's re-evaluation, when the submitter the server
// was given can run one.
func reevaluator(e Submitter) Reevaluator {
	r, _ := e.(Reevaluator)
	return r
}
