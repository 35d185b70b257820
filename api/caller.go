package api

import (
	"context"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/paystate/paystate/config"
	pb "github.com/paystate/paystate/proto/paystate/v1"
)

// Callers serves paystate.v1.CallerService: whom a token speaks for and
// what it may call, read from the same policy that authorises every call.
type Callers struct {
	pb.UnimplementedCallerServiceServer
}

// GetCaller returns the authenticated caller and the methods its role may
// call.
func (Callers) GetCaller(ctx context.Context, _ *pb.GetCallerRequest) (*pb.Caller, error) {
	p, ok := principalFrom(ctx)
	if !ok {
		// The authenticator puts the caller in the context of every call
		// it lets through; without one, the call did not pass it.
		return nil, status.Error(codes.Unauthenticated, "no authenticated caller")
	}
	return &pb.Caller{Name: p.Name, Role: string(p.Role), Methods: methodsOf(p.Role)}, nil
}

// methodsOf lists the full method names the policy lets role call, sorted.
func methodsOf(role config.Role) []string {
	var out []string
	for method, roles := range policy {
		if slices.Contains(roles, role) {
			out = append(out, method)
		}
	}
	slices.Sort(out)
	return out
}
