package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/api/apitest"
	"github.com/paystate/paystate/engine/enginetest"
	pb "github.com/paystate/paystate/proto/paystate/v1"
	"github.com/paystate/paystate/providers"
	"github.com/paystate/paystate/providers/ngenius"
	"github.com/paystate/paystate/reqid"
	"github.com/paystate/paystate/storage"
)

// restStatus calls the REST route the role matrix pins for method as
// token (none when empty), the way apitest.Grant.Probe does.
func restStatus(t *testing.T, base, method, token string) int {
	t.Helper()
	g, ok := apitest.Grants(method)
	require.True(t, ok, "%s is not in apitest.RoleMatrix", method)
	req, err := g.Probe(t.Context(), base, token)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	return resp.StatusCode
}

// gatewaySetup serves a Server over a fresh store, wrapped by wrap when it
// is not nil; opts names the tokens and may set Log and Metrics.
func gatewaySetup(t *testing.T, opts Options, wrap func(storage.Store) storage.Store) (*hardServer, storage.Store) {
	t.Helper()
	p := hardNGenius()
	h := enginetest.New(t, p)
	opts.Store, opts.Machines, opts.Engine = h.Store, h.Machines, h.Engine
	if wrap != nil {
		opts.Store = wrap(h.Store)
	}
	opts.Providers = map[string]providers.Provider{ngenius.Name: p}
	if opts.Log == nil {
		opts.Log = hardQuiet
	}
	return serveLoopback(t, opts), h.Store
}

// TestRESTRoutesEnforceTheMatrix calls the REST route of every RPC (the
// unary ones served in-process, Watch over loopback) with no token, an
// unknown token and every role's token: 401, 401, then 403 exactly for the
// roles the documented matrix does not name. A route that skipped the
// interceptors would answer something else (200, 400, 404).
func TestRESTRoutesEnforceTheMatrix(t *testing.T) {
	t.Parallel()
	roles := append(slices.Clone(apitest.Roles), nobody)
	var opts Options
	for _, r := range roles {
		opts.Tokens = append(opts.Tokens, Token{Name: string(r), Role: r, SHA256: HashToken("tok-" + string(r))})
	}
	s, _ := gatewaySetup(t, opts, nil)

	for _, m := range paystateMethods(t) {
		require.Equal(t, http.StatusUnauthorized, restStatus(t, s.http, m, ""), "%s without a token", m)
		require.Equal(t, http.StatusUnauthorized, restStatus(t, s.http, m, "wrong"), "%s with an unknown token", m)
		for _, r := range roles {
			got := restStatus(t, s.http, m, "tok-"+string(r))
			if apitest.Allowed(m, r) {
				require.NotContains(t, []int{http.StatusUnauthorized, http.StatusForbidden}, got, "%s as %s", m, r)
			} else {
				require.Equal(t, http.StatusForbidden, got, "%s as %s", m, r)
			}
		}
	}
}

// panickyStore panics when asked for the aggregate "boom".
type panickyStore struct{ storage.Store }

func (s panickyStore) AggregateView(ctx context.Context, key storage.AggregateKey) (storage.AggregateView, error) {
	if key.ID == "boom" {
		panic("boom")
	}
	return s.Store.AggregateView(ctx, key)
}

// TestRESTInProcessRunsTheInterceptors: an in-process REST call is
// recovered from a panic (500, and the server goes on), logged with its
// request id, and counted in the gRPC metrics, as a gRPC call is; the call
// that panicked too, as Internal.
func TestRESTInProcessRunsTheInterceptors(t *testing.T) {
	t.Parallel()
	logs := &logBuffer{}
	s, _ := gatewaySetup(t, Options{
		Tokens: []Token{{Name: "ops", Role: "admin", SHA256: HashToken(hardAdmin)}},
		// As serve wraps it: lines logged with a call's context carry its id.
		Log: slog.New(reqid.Handler(slog.NewJSONHandler(logs, nil))),
	}, func(s storage.Store) storage.Store { return panickyStore{s} })
	o := &obs{http: s.http}

	resp, body := o.get(t, "/v1/providers/ngenius/orders/boom", map[string]string{
		"Authorization": "Bearer " + hardAdmin, "X-Request-Id": "rest-boom"})
	require.Equal(t, http.StatusInternalServerError, resp.StatusCode, string(body))
	var answer struct{ Message string }
	require.NoError(t, json.Unmarshal(body, &answer))
	require.Equal(t, "internal error", answer.Message, "no panic text for the client")
	panics := logs.lines(t, "panic in handler")
	require.Len(t, panics, 1)
	require.Equal(t, "/paystate.v1.OrderService/GetOrder", panics[0]["method"])

	resp, _ = o.get(t, "/v1/providers/ngenius/orders/absent", map[string]string{
		"Authorization": "Bearer " + hardAdmin, "X-Request-Id": "rest-absent"})
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "the server goes on")
	resp, _ = o.get(t, "/v1/providers/ngenius/orders/absent", map[string]string{"X-Request-Id": "rest-anonymous"})
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	codes := map[string]string{}
	for _, l := range logs.lines(t, "rpc") {
		codes[l["request_id"].(string)] = l["code"].(string)
	}
	require.Equal(t, map[string]string{"rest-boom": "Internal", "rest-absent": "NotFound", "rest-anonymous": "Unauthenticated"}, codes,
		"each call's log line carries its request id")
	require.Equal(t, "rest-boom", panics[0]["request_id"], "the panic's own line says which call it was")

	fams := o.scrape(t)
	for _, code := range []string{"Internal", "NotFound", "Unauthenticated"} {
		requireValue(t, fams, 1, "grpc_server_handled_total", map[string]string{
			"grpc_service": "paystate.v1.OrderService", "grpc_method": "GetOrder", "grpc_type": "unary", "grpc_code": code})
	}
}

// TestRESTKeepsTheGRPCMessageLimits: a REST request whose message is over
// the gRPC server's receive limit, or whose answer is over its send limit,
// is refused as ResourceExhausted (429), as when REST went over loopback.
func TestRESTKeepsTheGRPCMessageLimits(t *testing.T) {
	t.Parallel()
	s, store := gatewaySetup(t, Options{Tokens: []Token{{Name: "ops", Role: "admin", SHA256: HashToken(hardAdmin)}}}, nil)
	auth := http.Header{"Authorization": {"Bearer " + hardAdmin}}

	big := `{"orders":[{"provider":"ngenius","order_id":"` + strings.Repeat("x", maxRecvMsg) + `"}]}`
	require.Equal(t, http.StatusTooManyRequests, s.do(t, http.MethodPost, "/v1/orders:batchGet", []byte(big), auth))
	require.Equal(t, http.StatusTooManyRequests, s.do(t, http.MethodPost, "/v1/orders:batchGet", []byte(big), nil),
		"refused before authentication, as gRPC refuses it before the interceptors")
	small := `{"orders":[{"provider":"ngenius","order_id":"o-1"}]}`
	require.Equal(t, http.StatusOK, s.do(t, http.MethodPost, "/v1/orders:batchGet", []byte(small), auth))

	// 80 events of 64 KiB each: their page is over the 4 MiB send limit.
	key := storage.AggregateKey{Provider: ngenius.Name, Kind: "payment", ID: "o-big"}
	body := []byte(`"` + strings.Repeat("b", 64<<10) + `"`)
	require.NoError(t, store.Update(t.Context(), func(tx storage.Tx) error {
		for i := range 80 {
			e := storage.JournalEntry{Key: key, Event: "AUTHORISED", Verdict: "recorded", DedupeKey: fmt.Sprint(i),
				BodySHA256: strings.Repeat("0", 64), RedactedBody: body, ReceivedAt: time.Now(), Actor: "webhook"}
			if err := tx.Append(t.Context(), &e); err != nil {
				return err
			}
		}
		return nil
	}))
	require.Equal(t, http.StatusTooManyRequests, s.do(t, http.MethodGet, "/v1/providers/ngenius/orders/o-big/events?page_size=100", nil, auth))
	require.Equal(t, http.StatusOK, s.do(t, http.MethodGet, "/v1/providers/ngenius/orders/o-big/events?page_size=10", nil, auth))
}

// spacedJSON stands for a build whose protojson writes ", " between fields
// (about half of all builds: protojson picks from a hash of the binary).
type spacedJSON struct{ runtime.Marshaler }

func (s spacedJSON) Marshal(v any) ([]byte, error) {
	b, err := s.Marshaler.Marshal(v)
	return bytes.ReplaceAll(b, []byte(`",`), []byte(`", `)), err
}

// The gateway answers the same compact JSON whatever the build: a build
// whose protojson adds spaces has them taken out, and the strings inside
// are left as they are; a build without them is answered unchanged.
func TestGatewayJSONIsCompactInEveryBuild(t *testing.T) {
	msg := &pb.ChainHead{Sequence: 7, Hash: "a, b"}
	spaced := spacedJSON{gatewayJSON}
	raw, err := spaced.Marshal(msg)
	require.NoError(t, err)
	require.Contains(t, string(raw), `", `, "the stand-in adds spaces")
	b, err := stableJSON{spaced, true}.Marshal(msg)
	require.NoError(t, err)
	require.Equal(t, `{"sequence":"7","hash":"a, b","checkpoint":null}`, string(b))

	b, err = stableJSON{gatewayJSON, protojsonAddsSpaces}.Marshal(msg)
	require.NoError(t, err)
	require.Equal(t, `{"sequence":"7","hash":"a, b","checkpoint":null}`, string(b), "this build's, as served")
	require.Equal(t, []byte("\n"), stableJSON{gatewayJSON, false}.Delimiter(), "a stream's messages stay one a line")
}

// Over REST an id is one path segment, percent-encoded: a "/" in it as
// %2F (either case), "%", spaces and non-ASCII letters too. The order and
// its history are found as over gRPC. A path that matches no route is
// 404 saying so, not read as an order that does not exist.
func TestRESTReadsAnyIDPercentEncoded(t *testing.T) {
	s := hardSetup(t, Options{})
	ids := []string{"ord/slash-1", "a/b/c", "ord%pct", "ord%2Fliteral", "ord space", "ordé-ü", "ord:colon"}
	for i, id := range ids {
		s.webhookFor(t, id, "AUTHORISED", i)
	}
	for _, id := range ids {
		escaped := url.PathEscape(id)
		for _, path := range []string{
			"/v1/providers/ngenius/orders/" + escaped,
			"/v1/providers/ngenius/orders/" + escaped + "/events",
			"/v1/providers/ngenius/aggregates/payment/" + escaped,
			"/v1/providers/ngenius/aggregates/payment/" + escaped + "/events",
		} {
			code, msg, body := s.restAnswer(t, path)
			require.Equal(t, http.StatusOK, code, "%s: %s", path, msg)
			require.Contains(t, string(body), `"`+id+`"`, path)
		}
	}
	// Lowercase hex is the same id; so is a ":" encoded, as the console's
	// encodeURIComponent writes it.
	for _, path := range []string{"ord%2fslash-1", "ord%c3%a9-%c3%bc", "ord%3Acolon"} {
		code, msg, _ := s.restAnswer(t, "/v1/providers/ngenius/orders/"+path)
		require.Equal(t, http.StatusOK, code, "%s: %s", path, msg)
	}

	code, msg, _ := s.restAnswer(t, "/v1/providers/ngenius/orders/ord/slash-1")
	require.Equal(t, http.StatusNotFound, code)
	require.Contains(t, msg, "no REST route matches", "not an order's miss")
	require.Contains(t, msg, "%2F")
	code, msg, _ = s.restAnswer(t, "/v1/providers/ngenius/orders/absent")
	require.Equal(t, http.StatusNotFound, code)
	require.Equal(t, "payment absent at ngenius: not found", msg)
}
