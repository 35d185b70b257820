package api

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	_ "github.com/paystate/paystate/proto/paystate/v1" // registers the services
)

// paystateMethods lists every RPC of every paystate.v1 service, from the
// descriptors the server is built from.
func paystateMethods(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, m := range paystateMethodDescriptors(t) {
		out = append(out, fullMethod(m))
	}
	return out
}

func paystateMethodDescriptors(t *testing.T) []protoreflect.MethodDescriptor {
	t.Helper()
	var out []protoreflect.MethodDescriptor
	protoregistry.GlobalFiles.RangeFilesByPackage("paystate.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := 0; i < fd.Services().Len(); i++ {
			svc := fd.Services().Get(i)
			for j := 0; j < svc.Methods().Len(); j++ {
				out = append(out, svc.Methods().Get(j))
			}
		}
		return true
	})
	require.NotEmpty(t, out)
	return out
}

// fullMethod is m's name as gRPC and Policy spell it.
func fullMethod(m protoreflect.MethodDescriptor) string {
	return "/" + string(m.Parent().FullName()) + "/" + string(m.Name())
}

// TestEveryRPCHasAPolicy fails the build for an RPC nobody may call by
// mistake, and for a policy naming an RPC that does not exist.
func TestEveryRPCHasAPolicy(t *testing.T) {
	t.Parallel()
	methods := paystateMethods(t)
	for _, m := range methods {
		require.NotEmpty(t, Policy[m], "RPC %s has no policy: add it to api.Policy", m)
	}
	require.Len(t, Policy, len(methods), "api.Policy names an RPC that does not exist")
}

func TestAuthorizeRolesMatrix(t *testing.T) {
	t.Parallel()
	roles := []string{"reader", "auditor", "fraud", "admin"}
	var tokens []Token
	for _, r := range roles {
		tokens = append(tokens, Token{Name: r, Role: r, SHA256: HashToken("secret-" + r)})
	}
	a := NewAuthenticator(tokens)
	call := func(method, header string) codes.Code {
		ctx := context.Background()
		if header != "" {
			ctx = metadata.NewIncomingContext(ctx, metadata.Pairs("authorization", header))
		}
		_, err := a.Authorize(ctx, method)
		return status.Code(err)
	}
	for _, m := range paystateMethods(t) {
		require.Equal(t, codes.Unauthenticated, call(m, ""), m)
		require.Equal(t, codes.Unauthenticated, call(m, "Bearer wrong"), m)
		require.Equal(t, codes.Unauthenticated, call(m, "Basic c2VjcmV0LWFkbWlu"), m)
		for _, r := range roles {
			want := codes.PermissionDenied
			for _, allowed := range Policy[m] {
				if allowed == r {
					want = codes.OK
				}
			}
			require.Equal(t, want, call(m, "Bearer secret-"+r), "%s as %s", m, r)
		}
	}
	require.Equal(t, codes.PermissionDenied, call("/paystate.v1.NoSuch/Method", "Bearer secret-admin"),
		"an RPC without a policy is denied even to admin")
	require.Equal(t, codes.OK, call("/grpc.health.v1.Health/Check", ""))
}
