package api

import (
	"context"

	pb "github.com/paystate/paystate/proto/paystate/v1"
	sm "github.com/paystate/paystate/statemachine"
)

// Machines serves paystate.v1.MachineService from the registry the
// engine runs.
type Machines struct {
	pb.UnimplementedMachineServiceServer
	Registry *sm.Registry
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
