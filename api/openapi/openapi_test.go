package openapi_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/paystate/paystate/api/apitest"
	"github.com/paystate/paystate/api/openapi"
	_ "github.com/paystate/paystate/proto/paystate/v1"
)

// TestDocumentIsValidOpenAPI3: what /openapi.json serves passes an
// OpenAPI 3 validator, declares bearer authentication, and describes every
// error answer the routes give.
func TestDocumentIsValidOpenAPI3(t *testing.T) {
	t.Parallel()
	doc, err := openapi3.NewLoader().LoadFromData(openapi.JSON)
	require.NoError(t, err)
	require.NoError(t, doc.Validate(t.Context()))
	require.Equal(t, "http", doc.Components.SecuritySchemes["bearerAuth"].Value.Type)
	require.Equal(t, "bearer", doc.Components.SecuritySchemes["bearerAuth"].Value.Scheme)
	require.Len(t, doc.Security, 1)

	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if strings.HasPrefix(path, "/v1/") {
				for _, code := range []string{"200", "401", "429", "503"} {
					require.NotNil(t, op.Responses.Value(code), "%s %s: no %s answer", method, path, code)
				}
				// 403 exactly where some role may not call it.
				svc, name, _ := strings.Cut(op.OperationID, "_")
				full := "/paystate.v1." + svc + "/" + name
				g, ok := apitest.Grants(full)
				require.True(t, ok, "%s: not in the role matrix", full)
				require.Equal(t, len(g.Roles) < len(apitest.Roles), op.Responses.Value("403") != nil, "%s %s: 403", method, path)
				require.Equal(t, len(op.Parameters) > 0 || op.RequestBody != nil, op.Responses.Value("400") != nil, "%s %s: 400 where there is input", method, path)
				require.Equal(t, strings.Contains(path, "{"), op.Responses.Value("404") != nil, "%s %s: 404 for a route that names one thing", method, path)
				require.Nil(t, op.Security, "%s %s: the API needs the bearer token", method, path)
			} else {
				require.NotNil(t, op.Security, "%s %s: no API token", method, path)
			}
		}
	}
	webhook := doc.Paths.Find("/webhooks/{provider}").Post
	require.NotNil(t, webhook.RequestBody)
	for _, code := range []string{"200", "400", "401", "404", "413", "415", "503"} {
		a := webhook.Responses.Value(code)
		require.NotNil(t, a, "webhook %s", code)
		require.Equal(t, "#/components/schemas/WebhookReply", a.Value.Content.Get("application/json").Schema.Ref)
	}
}

// TestEveryRouteIsDescribed: each HTTP binding of the proto contract (the
// routes the gateway registers) and each route the server adds by hand is
// in the document.
func TestEveryRouteIsDescribed(t *testing.T) {
	t.Parallel()
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(openapi.JSON, &doc))
	params := regexp.MustCompile(`\{[^}]*\}`)
	described := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			described[strings.ToUpper(method)+" "+params.ReplaceAllString(path, "{}")] = true
		}
	}
	var routes []string
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		if fd.Package() != "paystate.v1" {
			return true
		}
		for i := range fd.Services().Len() {
			ms := fd.Services().Get(i).Methods()
			for j := range ms.Len() {
				rule, _ := proto.GetExtension(ms.Get(j).Options(), annotations.E_Http).(*annotations.HttpRule)
				for _, r := range append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...) {
					if r == nil {
						continue
					}
					method, path := httpBinding(r)
					if path != "" {
						routes = append(routes, method+" "+path)
					}
				}
			}
		}
		return true
	})
	require.NotEmpty(t, routes)
	routes = append(routes, "POST /webhooks/{provider}", "GET /healthz", "GET /readyz", "GET /metrics", "GET /version", "GET /openapi.json")
	for _, r := range routes {
		require.True(t, described[params.ReplaceAllString(r, "{}")], "%s is served but not described", r)
	}
}

func httpBinding(r *annotations.HttpRule) (string, string) {
	switch p := r.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		return "GET", p.Get
	case *annotations.HttpRule_Post:
		return "POST", p.Post
	case *annotations.HttpRule_Put:
		return "PUT", p.Put
	case *annotations.HttpRule_Patch:
		return "PATCH", p.Patch
	case *annotations.HttpRule_Delete:
		return "DELETE", p.Delete
	}
	return "", ""
}
