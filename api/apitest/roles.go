// Package apitest holds what the API's tests check the server against,
// written out rather than read from the code under test.
package apitest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/paystate/paystate/config"
)

// Grant is one row of the role matrix: an RPC, its REST route and the
// roles that may call it.
type Grant struct {
	// Method is the full gRPC method name.
	Method string
	// REST is the route's verb and path template, as in the proto's
	// google.api.http option.
	REST  string
	Roles []config.Role
	// Stream is set for a server-streaming RPC.
	Stream bool
}

// Roles lists every role a token can hold.
var Roles = []config.Role{config.RoleReader, config.RoleAuditor, config.RoleFraud, config.RoleAdmin}

var (
	everyone = Roles
	audit    = []config.Role{config.RoleAuditor, config.RoleAdmin}
	watchers = []config.Role{config.RoleFraud, config.RoleAuditor, config.RoleAdmin}
	admin    = []config.Role{config.RoleAdmin}
)

// RoleMatrix is the README's table of RPCs, routes and roles, as data. The
// tests compare the policy, the gRPC server and the REST gateway with it;
// an RPC the services declare but this matrix does not name fails them, so
// a new RPC is granted here, on purpose, before it can be served.
var RoleMatrix = []Grant{
	{"/paystate.v1.OrderService/GetOrder", "GET /v1/providers/{provider}/orders/{order_id}", everyone, false},
	{"/paystate.v1.OrderService/LookupOrders", "GET /v1/orders:lookup", everyone, false},
	{"/paystate.v1.OrderService/ListOrders", "GET /v1/orders", everyone, false},
	{"/paystate.v1.OrderService/BatchGetOrders", "POST /v1/orders:batchGet", everyone, false},
	{"/paystate.v1.AggregateService/ListAggregates", "GET /v1/aggregates", everyone, false},
	{"/paystate.v1.AggregateService/GetAggregate", "GET /v1/providers/{provider}/aggregates/{kind}/{provider_id}", everyone, false},
	{"/paystate.v1.AggregateService/ListAggregateEvents", "GET /v1/providers/{provider}/aggregates/{kind}/{provider_id}/events", audit, false},
	{"/paystate.v1.AuditService/ListOrderEvents", "GET /v1/providers/{provider}/orders/{order_id}/events", audit, false},
	{"/paystate.v1.AuditService/ListJournal", "GET /v1/journal", audit, false},
	{"/paystate.v1.AuditService/GetEvent", "GET /v1/journal/entries/{sequence}", audit, false},
	{"/paystate.v1.AuditService/GetChainHead", "GET /v1/journal/head", audit, false},
	{"/paystate.v1.AuditService/VerifyJournal", "POST /v1/journal:verify", audit, false},
	{"/paystate.v1.MachineService/ListMachines", "GET /v1/machines", everyone, false},
	{"/paystate.v1.MachineService/Reevaluate", "POST /v1/machines:reevaluate", admin, false},
	{"/paystate.v1.WatchService/Watch", "GET /v1/journal:watch", watchers, true},
	{"/paystate.v1.CallerService/GetCaller", "GET /v1/caller", everyone, false},
}

// Grants returns the matrix's row for method, if it has one.
func Grants(method string) (Grant, bool) {
	i := slices.IndexFunc(RoleMatrix, func(g Grant) bool { return g.Method == method })
	if i < 0 {
		return Grant{}, false
	}
	return RoleMatrix[i], true
}

// Allowed reports whether the matrix lets role call method.
func Allowed(method string, role config.Role) bool {
	g, ok := Grants(method)
	return ok && slices.Contains(g.Roles, role)
}

// FarCursor is a journal cursor beyond the end of any test's journal. A
// stream admitted with after_sequence set to it ends at once with
// OutOfRange, so a test tells admitted from refused by the answer rather
// than by how long the stream stays quiet.
const FarCursor = 1 << 40

// Probe returns a call of g's REST route on base as token (none when
// empty): every path variable set to "1" (which parses as any field type),
// a POST with an empty JSON object, and a stream asked to resume at
// FarCursor, so that an admitted call answers at once.
func (g Grant) Probe(ctx context.Context, base, token string) (*http.Request, error) {
	verb, path, _ := strings.Cut(g.REST, " ")
	path = pathVar.ReplaceAllString(path, "1")
	if g.Stream {
		path += fmt.Sprintf("?after_sequence=%d", FarCursor)
	}
	var body io.Reader
	if verb == http.MethodPost {
		body = strings.NewReader("{}")
	}
	req, err := http.NewRequestWithContext(ctx, verb, base+path, body)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req, nil
}

var pathVar = regexp.MustCompile(`\{[^}]*\}`)
