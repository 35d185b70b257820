package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/paystate/paystate/config"
	pb "github.com/paystate/paystate/proto/paystate/v1"
	"github.com/paystate/paystate/storage"
)

// TestReevaluateIsAdminOnly: re-evaluation appends to the journal, so only
// an admin token may ask for it, over gRPC and over REST; every other role,
// auditors included, is refused before anything runs.
func TestReevaluateIsAdminOnly(t *testing.T) {
	t.Parallel()
	var opts Options
	roles := []config.Role{config.RoleReader, config.RoleAuditor, config.RoleFraud, config.RoleAdmin}
	for _, r := range roles {
		opts.Tokens = append(opts.Tokens, Token{Name: string(r), Role: r, SHA256: HashToken("tok-" + string(r))})
	}
	s, _ := gatewaySetup(t, opts, nil)
	client := pb.NewMachineServiceClient(s.conn)

	// One call, a page resumed after a key, and a token this server never
	// gave: the role decides before the request is looked at.
	resume := encodeReevalToken(storage.AggregateKey{Provider: "acme", Kind: "payment", ID: "o1"})
	calls := []struct {
		req     *pb.ReevaluateRequest
		rest    map[string]any
		invalid bool
	}{
		{&pb.ReevaluateRequest{DryRun: true}, map[string]any{"dryRun": true}, false},
		{&pb.ReevaluateRequest{DryRun: true, PageSize: 1, PageToken: resume}, map[string]any{"dryRun": true, "pageSize": 1, "pageToken": resume}, false},
		{&pb.ReevaluateRequest{DryRun: true, PageSize: 1, PageToken: "not-a-token"}, map[string]any{"dryRun": true, "pageSize": 1, "pageToken": "not-a-token"}, true},
	}
	for _, r := range roles {
		for _, c := range calls {
			ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer tok-"+string(r))
			resp, err := client.Reevaluate(ctx, c.req)

			body, _ := json.Marshal(c.rest)
			req, rerr := http.NewRequestWithContext(t.Context(), http.MethodPost, s.http+"/v1/machines:reevaluate", bytes.NewReader(body))
			require.NoError(t, rerr)
			req.Header.Set("Authorization", "Bearer tok-"+string(r))
			req.Header.Set("Content-Type", "application/json")
			hresp, rerr := http.DefaultClient.Do(req)
			require.NoError(t, rerr)
			var got map[string]any
			require.NoError(t, json.NewDecoder(hresp.Body).Decode(&got))
			hresp.Body.Close()

			switch {
			case r != config.RoleAdmin:
				require.Equal(t, codes.PermissionDenied, status.Code(err), "gRPC as %s: %v", r, c.rest)
				require.Equal(t, http.StatusForbidden, hresp.StatusCode, "REST as %s: %v", r, c.rest)
			case c.invalid:
				require.Equal(t, codes.InvalidArgument, status.Code(err), "gRPC: %v", c.rest)
				require.Equal(t, http.StatusBadRequest, hresp.StatusCode, "REST: %v", got)
			default:
				require.NoError(t, err)
				require.True(t, resp.GetDryRun())
				require.Empty(t, resp.GetNextPageToken(), "nothing to re-decide: no next page")
				require.Equal(t, http.StatusOK, hresp.StatusCode, "REST as admin: %v", got)
				require.Equal(t, true, got["dryRun"], "the gateway passes the body on")
			}
		}
	}
}
