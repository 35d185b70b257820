package api

import (
	"context"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/paystate/paystate/api/apitest"
	"github.com/paystate/paystate/config"
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

// fullMethod is m's name as gRPC and the policy spell it.
func fullMethod(m protoreflect.MethodDescriptor) string {
	return "/" + string(m.Parent().FullName()) + "/" + string(m.Name())
}

// nobody is a role no token is meant to hold: the policy grants it nothing.
const nobody config.Role = "nobody"

// restRule is m's route from its google.api.http option, as "VERB path".
func restRule(t *testing.T, m protoreflect.MethodDescriptor) string {
	t.Helper()
	rule, _ := proto.GetExtension(m.Options(), annotations.E_Http).(*annotations.HttpRule)
	require.NotNil(t, rule, "%s has no REST route", fullMethod(m))
	switch p := rule.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		return http.MethodGet + " " + p.Get
	case *annotations.HttpRule_Post:
		return http.MethodPost + " " + p.Post
	case *annotations.HttpRule_Put:
		return http.MethodPut + " " + p.Put
	case *annotations.HttpRule_Patch:
		return http.MethodPatch + " " + p.Patch
	case *annotations.HttpRule_Delete:
		return http.MethodDelete + " " + p.Delete
	}
	t.Fatalf("%s: unexpected REST rule %v", fullMethod(m), rule)
	return ""
}

// TestPolicyIsTheDocumentedMatrix holds the policy to the matrix written
// out in apitest: every RPC the services declare has a row there (with
// the route its proto declares), and the policy grants each exactly the
// roles of its row, no more, no fewer.
func TestPolicyIsTheDocumentedMatrix(t *testing.T) {
	t.Parallel()
	declared := map[string]bool{}
	for _, m := range paystateMethodDescriptors(t) {
		full := fullMethod(m)
		declared[full] = true
		g, ok := apitest.Grants(full)
		require.True(t, ok, "RPC %s is not in apitest.RoleMatrix: decide who may call it, there and in the README", full)
		require.Equal(t, g.REST, restRule(t, m), "%s: the REST route", full)
		require.Equal(t, g.Stream, m.IsStreamingServer(), "%s: a server stream?", full)
	}
	for _, g := range apitest.RoleMatrix {
		require.True(t, declared[g.Method], "apitest.RoleMatrix names %s, which no service declares", g.Method)
	}
	for m := range policy {
		require.True(t, declared[m], "the policy names %s, which no service declares", m)
	}
	for _, g := range apitest.RoleMatrix {
		for _, r := range append(slices.Clone(apitest.Roles), nobody) {
			require.Equal(t, apitest.Allowed(g.Method, r), slices.Contains(policy[g.Method], r),
				"may %s call %s? the policy and the documented matrix disagree", r, g.Method)
		}
	}
}

// TestREADMEHasTheMatrix: the README's API table states the same RPCs,
// routes and roles as apitest.RoleMatrix.
func TestREADMEHasTheMatrix(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	row := regexp.MustCompile("(?m)^\\| `(\\w+)\\.(\\w+)`[^|]*\\| `(\\w+ [^`?]+)[^|]*\\| ([a-z, ]+) \\|$")
	documented := map[string]apitest.Grant{}
	for _, m := range row.FindAllStringSubmatch(string(readme), -1) {
		g := apitest.Grant{Method: "/paystate.v1." + m[1] + "/" + m[2], REST: m[3]}
		for _, r := range strings.Split(m[4], ", ") {
			g.Roles = append(g.Roles, config.Role(r))
		}
		documented[g.Method] = g
	}
	require.Len(t, documented, len(apitest.RoleMatrix), "the README's API table has one row per RPC")
	for _, g := range apitest.RoleMatrix {
		d, ok := documented[g.Method]
		require.True(t, ok, "the README's API table has no row for %s", g.Method)
		require.Equal(t, g.REST, d.REST, "%s: the README's route", g.Method)
		require.ElementsMatch(t, g.Roles, d.Roles, "%s: the README's roles", g.Method)
	}
}

func TestAuthorizeRolesMatrix(t *testing.T) {
	t.Parallel()
	var tokens []Token
	for _, r := range append(slices.Clone(apitest.Roles), nobody) {
		tokens = append(tokens, Token{Name: string(r), Role: r, SHA256: HashToken("secret-" + string(r))})
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
		for _, r := range append(slices.Clone(apitest.Roles), nobody) {
			want := codes.PermissionDenied
			if apitest.Allowed(m, r) {
				want = codes.OK
			}
			require.Equal(t, want, call(m, "Bearer secret-"+string(r)), "%s as %s", m, r)
		}
	}
	require.Equal(t, codes.PermissionDenied, call("/paystate.v1.NoSuch/Method", "Bearer secret-admin"),
		"an RPC without a policy is denied even to admin")
	require.Equal(t, codes.OK, call("/grpc.health.v1.Health/Check", ""))
}

// A configured hash is matched whatever the case of its hex digits; one
// that is not 64 hex digits matches nothing (and breaks nothing).
func TestAuthorizeHashSpellings(t *testing.T) {
	t.Parallel()
	a := NewAuthenticator([]Token{
		{Name: "upper", Role: config.RoleAdmin, SHA256: strings.ToUpper(HashToken("upper-secret"))},
		{Name: "short", Role: config.RoleAdmin, SHA256: HashToken("short-secret")[:62]},
		{Name: "long", Role: config.RoleAdmin, SHA256: HashToken("long-secret") + "00"},
		{Name: "nothex", Role: config.RoleAdmin, SHA256: "zz" + HashToken("nothex-secret")[2:]},
	})
	call := func(secret string) (Principal, codes.Code) {
		ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+secret))
		p, err := a.Authorize(ctx, "/paystate.v1.OrderService/GetOrder")
		return p, status.Code(err)
	}
	p, code := call("upper-secret")
	require.Equal(t, codes.OK, code)
	require.Equal(t, "upper", p.Name)
	for _, s := range []string{"short-secret", "long-secret", "nothex-secret"} {
		_, code := call(s)
		require.Equal(t, codes.Unauthenticated, code, s)
	}
}
