// Command gen writes paystate.openapi.json, the OpenAPI 3 document served
// at /openapi.json, from paystate.swagger.json (what protoc-gen-openapiv2
// generates from the proto contract) and what the proto cannot say: bearer
// authentication, the error answers each route gives, and the routes the
// gateway does not generate (webhooks, health, metrics, version).
// scripts/generate.sh runs it; do not edit its output by hand.
//
// Usage: go run ./api/openapi/gen DIR   (DIR holds paystate.swagger.json)
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"

	"github.com/paystate/paystate/api/apitest"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gen DIR")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	raw, err := os.ReadFile(filepath.Join(dir, "paystate.swagger.json"))
	if err != nil {
		return err
	}
	out, err := Convert(raw)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "paystate.openapi.json"), out, 0o644)
}

// Convert turns the generated Swagger 2 document into the published
// OpenAPI 3 one.
func Convert(swagger []byte) ([]byte, error) {
	var v2 openapi2.T
	if err := json.Unmarshal(swagger, &v2); err != nil {
		return nil, fmt.Errorf("read swagger: %w", err)
	}
	v3, err := openapi2conv.ToV3(&v2)
	if err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	b, err := json.Marshal(v3)
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	decorate(doc)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

type obj = map[string]any

func ref(name string) obj { return obj{"$ref": "#/components/schemas/" + name} }

func jsonBody(schema obj) obj { return obj{"application/json": obj{"schema": schema}} }

func answer(desc string, content obj) obj {
	a := obj{"description": desc}
	if content != nil {
		a["content"] = content
	}
	return a
}

// noInput are the operations that take no parameters: they never answer
// 400.
var noInput = map[string]bool{"CallerService_GetCaller": true, "AuditService_GetChainHead": true}

// everyRole says whether every role may call the operation (so it never
// answers 403), by the role matrix the API enforces (apitest holds it to
// the policy). operationId is Service_Method.
func everyRole(operationID string) bool {
	svc, method, _ := strings.Cut(operationID, "_")
	full := "/paystate.v1." + svc + "/" + method
	for _, r := range apitest.Roles {
		if !apitest.Allowed(full, r) {
			return false
		}
	}
	return true
}

// decorate adds what the proto contract cannot say.
func decorate(doc obj) {
	doc["servers"] = []any{obj{"url": "/", "description": "the paystate HTTP address (http_addr)"}}
	comps := doc["components"].(obj)
	comps["securitySchemes"] = obj{"bearerAuth": obj{"type": "http", "scheme": "bearer",
		"description": "An API token from api_tokens (or the development token); its role decides which operations it may call."}}
	doc["security"] = []any{obj{"bearerAuth": []any{}}}
	schemas := comps["schemas"].(obj)
	schemas["WebhookResult"] = obj{"type": "object", "required": []any{"seq", "verdict"}, "properties": obj{
		"seq":      obj{"type": "integer", "format": "int64", "description": "the journal entry"},
		"kind":     obj{"type": "string"},
		"id":       obj{"type": "string"},
		"event":    obj{"type": "string"},
		"verdict":  obj{"type": "string", "enum": []any{"applied", "duplicate", "deferred", "rejected", "recorded", "malformed", "expired"}},
		"reason":   obj{"type": "string"},
		"state":    obj{"type": "string", "description": "the aggregate's state after the event"},
		"version":  obj{"type": "integer", "format": "int64"},
		"resolved": obj{"type": "array", "items": ref("WebhookResult"), "description": "held events this one released"},
	}}
	schemas["WebhookReply"] = obj{"type": "object", "properties": obj{
		"results": obj{"type": "array", "items": ref("WebhookResult")},
		"error":   obj{"type": "string"},
	}}

	status := jsonBody(ref("rpcStatus"))
	errs := obj{
		"400": answer("INVALID_ARGUMENT or FAILED_PRECONDITION: a parameter, page token or provider the server does not accept", status),
		"401": answer("UNAUTHENTICATED: no bearer token, or one the server does not know", status),
		"403": answer("PERMISSION_DENIED: the token's role may not call this operation", status),
		"429": answer("RESOURCE_EXHAUSTED: the token's rate limit or stream cap; retry later", status),
		"503": answer("UNAVAILABLE: the store cannot be reached or the server is shutting down; retry", status),
	}
	paths := doc["paths"].(obj)
	for path, item := range paths {
		for _, op := range item.(obj) {
			o, ok := op.(obj)
			if !ok {
				continue
			}
			rs := o["responses"].(obj)
			id, _ := o["operationId"].(string)
			for code, a := range errs {
				switch {
				case code == "400" && noInput[id]:
					continue // nothing to be wrong about
				case code == "403" && everyRole(id):
					continue // every role may call it
				}
				rs[code] = a
			}
			// A route that names one thing answers 404 when it does not
			// exist.
			if strings.Contains(path, "{") {
				rs["404"] = answer("NOT_FOUND: no such aggregate, order or journal entry (an order whose events are all held says so)", status)
			}
		}
	}

	text := func() obj { return obj{"text/plain": obj{"schema": obj{"type": "string"}}} }
	public := []any{} // no security: health checks and scrapers carry no token
	paths["/webhooks/{provider}"] = obj{"post": obj{
		"operationId": "Webhook_Receive", "tags": []any{"Webhooks"}, "security": public,
		"summary":     "Receive a provider's webhook",
		"description": "Authenticated by the provider's own scheme (signature, header or credentials: see the README's Providers), not by an API token. 2xx only after the event and its verdict are durably committed.",
		"parameters":  []any{obj{"name": "provider", "in": "path", "required": true, "schema": obj{"type": "string", "enum": []any{"ngenius", "magnius", "payengine", "inyo", "generic"}}}},
		"requestBody": obj{"required": true, "content": jsonBody(obj{"type": "object", "description": "the provider's webhook body, as it sends it"})},
		"responses": obj{
			"200": answer("every event's verdict (applied, duplicate, deferred, rejected, recorded)", jsonBody(ref("WebhookReply"))),
			"400": answer("malformed body: recorded in the journal, not applied", jsonBody(ref("WebhookReply"))),
			"401": answer("authentication failed: nothing stored", jsonBody(ref("WebhookReply"))),
			"404": answer("unknown or disabled provider", jsonBody(ref("WebhookReply"))),
			"413": answer("body larger than max_body_bytes", jsonBody(ref("WebhookReply"))),
			"415": answer("Content-Type is not JSON", jsonBody(ref("WebhookReply"))),
			"500": answer("the events could not be processed; what was recorded is listed", jsonBody(ref("WebhookReply"))),
			"503": answer("the store is unavailable: nothing committed, retry", jsonBody(ref("WebhookReply"))),
		},
	}}
	paths["/healthz"] = obj{"get": obj{"operationId": "Health_Live", "tags": []any{"Operations"}, "security": public,
		"summary":   "Liveness: the process answers",
		"responses": obj{"200": answer("alive", text())}}}
	paths["/readyz"] = obj{"get": obj{"operationId": "Health_Ready", "tags": []any{"Operations"}, "security": public,
		"summary": "Readiness: this replica's store answers",
		"responses": obj{"200": answer("ready", text()),
			"503": answer("store unavailable", text())}}}
	paths["/metrics"] = obj{"get": obj{"operationId": "Metrics_Scrape", "tags": []any{"Operations"}, "security": public,
		"summary":   "Prometheus metrics",
		"responses": obj{"200": answer("metrics in the Prometheus text format", text())}}}
	paths["/version"] = obj{"get": obj{"operationId": "Version_Get", "tags": []any{"Operations"}, "security": public,
		"summary": "The build: version, revision, Go version",
		"responses": obj{"200": answer("build information", jsonBody(obj{"type": "object",
			"additionalProperties": obj{"type": "string"}}))}}}
	paths["/openapi.json"] = obj{"get": obj{"operationId": "OpenAPI_Get", "tags": []any{"Operations"}, "security": public,
		"summary":   "This document",
		"responses": obj{"200": answer("the OpenAPI 3 document", jsonBody(obj{"type": "object"}))}}}

	tags, _ := doc["tags"].([]any)
	for _, t := range []string{"Webhooks", "Operations"} {
		tags = append(tags, obj{"name": t})
	}
	sort.SliceStable(tags, func(i, j int) bool { return tags[i].(obj)["name"].(string) < tags[j].(obj)["name"].(string) })
	doc["tags"] = tags
}
