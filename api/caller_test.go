package api

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/paystate/paystate/api/apitest"
	pb "github.com/paystate/paystate/proto/paystate/v1"
)

// TestGetCallerSaysWhatTheRoleMayCall: each role's answer names the token
// and lists exactly the methods the documented matrix grants the role.
func TestGetCallerSaysWhatTheRoleMayCall(t *testing.T) {
	t.Parallel()
	var tokens []Token
	for _, r := range apitest.Roles {
		tokens = append(tokens, Token{Name: "tok-" + string(r), Role: r, SHA256: HashToken("secret-" + string(r))})
	}
	auth := NewAuthenticator(tokens)
	info := &grpc.UnaryServerInfo{FullMethod: pb.CallerService_GetCaller_FullMethodName}
	call := func(ctx context.Context) (*pb.Caller, error) {
		out, err := auth.Unary(ctx, &pb.GetCallerRequest{}, info, func(ctx context.Context, req any) (any, error) {
			return Callers{}.GetCaller(ctx, req.(*pb.GetCallerRequest))
		})
		if err != nil {
			return nil, err
		}
		return out.(*pb.Caller), nil
	}
	for _, r := range apitest.Roles {
		ctx := metadata.NewIncomingContext(t.Context(), metadata.Pairs("authorization", "Bearer secret-"+string(r)))
		c, err := call(ctx)
		require.NoError(t, err, r)
		require.Equal(t, "tok-"+string(r), c.GetName())
		require.Equal(t, string(r), c.GetRole())
		var want []string
		for _, g := range apitest.RoleMatrix {
			if apitest.Allowed(g.Method, r) {
				want = append(want, g.Method)
			}
		}
		require.ElementsMatch(t, want, c.GetMethods(), r)
		require.IsIncreasing(t, c.GetMethods(), "sorted")
	}
	_, err := call(t.Context())
	require.Equal(t, codes.Unauthenticated, status.Code(err))
	// Reached without the authenticator, it answers nobody.
	_, err = Callers{}.GetCaller(t.Context(), &pb.GetCallerRequest{})
	require.Equal(t, codes.Unauthenticated, status.Code(err))
}
