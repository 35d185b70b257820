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

	for _, r := range roles {
		ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer tok-"+string(r))
		resp, err := client.Reevaluate(ctx, &pb.ReevaluateRequest{DryRun: true})

		body, _ := json.Marshal(map[string]any{"dryRun": true})
		req, rerr := http.NewRequestWithContext(t.Context(), http.MethodPost, s.http+"/v1/machines:reevaluate", bytes.NewReader(body))
		require.NoError(t, rerr)
		req.Header.Set("Authorization", "Bearer tok-"+string(r))
		req.Header.Set("Content-Type", "application/json")
		hresp, rerr := http.DefaultClient.Do(req)
		require.NoError(t, rerr)
		var got map[string]any
		require.NoError(t, json.NewDecoder(hresp.Body).Decode(&got))
		hresp.Body.Close()

		if r != config.RoleAdmin {
			require.Equal(t, codes.PermissionDenied, status.Code(err), "gRPC as %s", r)
			require.Equal(t, http.StatusForbidden, hresp.StatusCode, "REST as %s", r)
			continue
		}
		require.NoError(t, err)
		require.True(t, resp.GetDryRun())
		require.Equal(t, http.StatusOK, hresp.StatusCode, "REST as admin: %v", got)
		require.Equal(t, true, got["dryRun"], "the gateway passes the body on")
	}
}
