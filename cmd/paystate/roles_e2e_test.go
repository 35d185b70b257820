package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/paystate/paystate/api/apitest"
	"github.com/paystate/paystate/config"
	pb "github.com/paystate/paystate/proto/paystate/v1"
)

// TestRolesMatrixOverLoopback calls every RPC of every paystate.v1 service
// on a real server, over gRPC and over REST, with no token, a wrong token
// and each role's token: Unauthenticated, Unauthenticated, and
// PermissionDenied exactly where the documented matrix (apitest.RoleMatrix)
// says (any other answer means the call got past authorization).
func TestRolesMatrixOverLoopback(t *testing.T) {
	cfg := config.Defaults()
	cfg.HTTPAddr, cfg.GRPCAddr, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", t.TempDir()
	for _, r := range apitest.Roles {
		cfg.APITokens = append(cfg.APITokens, config.APIToken{Name: string(r), Role: r, Token: "tok-" + string(r)})
	}
	dev, err := config.FillDev(&cfg)
	require.NoError(t, err)
	s := startServerWith(t, cfg, dev)

	call := func(method protoreflect.MethodDescriptor, token string) codes.Code {
		ctx := t.Context()
		if token != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
		}
		full := fmt.Sprintf("/%s/%s", method.Parent().FullName(), method.Name())
		req := dynamicpb.NewMessage(method.Input())
		if !method.IsStreamingServer() {
			return status.Code(s.grpc.Invoke(ctx, full, req, dynamicpb.NewMessage(method.Output())))
		}
		// Resuming beyond the journal's end, an admitted stream ends at
		// once (OutOfRange), as a refused one does: no clock decides.
		cursor := method.Input().Fields().ByName("after_sequence")
		require.NotNil(t, cursor, "%s: no after_sequence to make an admitted stream answer at once", full)
		req.Set(cursor, protoreflect.ValueOfInt64(apitest.FarCursor))
		stream, err := s.grpc.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, full)
		if err != nil {
			return status.Code(err)
		}
		if err := stream.SendMsg(req); err != nil {
			return status.Code(err)
		}
		require.NoError(t, stream.CloseSend())
		return status.Code(stream.RecvMsg(dynamicpb.NewMessage(method.Output())))
	}
	rest := func(method, token string) int {
		g, _ := apitest.Grants(method)
		req, err := g.Probe(t.Context(), s.http, token)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	walked := 0
	protoregistry.GlobalFiles.RangeFilesByPackage("paystate.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := 0; i < fd.Services().Len(); i++ {
			svc := fd.Services().Get(i)
			for j := 0; j < svc.Methods().Len(); j++ {
				m := svc.Methods().Get(j)
				full := fmt.Sprintf("/%s/%s", svc.FullName(), m.Name())
				_, pinned := apitest.Grants(full)
				require.True(t, pinned, "%s is not in apitest.RoleMatrix", full)
				walked++
				require.Equal(t, codes.Unauthenticated, call(m, ""), full)
				require.Equal(t, codes.Unauthenticated, call(m, "wrong"), full)
				require.Equal(t, http.StatusUnauthorized, rest(full, ""), full)
				require.Equal(t, http.StatusUnauthorized, rest(full, "wrong"), full)
				for _, r := range apitest.Roles {
					got, gotREST := call(m, "tok-"+string(r)), rest(full, "tok-"+string(r))
					if apitest.Allowed(full, r) {
						require.NotContains(t, []codes.Code{codes.PermissionDenied, codes.Unauthenticated, codes.DeadlineExceeded, codes.Canceled}, got, "%s as %s", full, r)
						require.NotContains(t, []int{http.StatusUnauthorized, http.StatusForbidden}, gotREST, "REST %s as %s", full, r)
					} else {
						require.Equal(t, codes.PermissionDenied, got, "%s as %s", full, r)
						require.Equal(t, http.StatusForbidden, gotREST, "REST %s as %s", full, r)
					}
				}
			}
		}
		return true
	})
	require.Len(t, apitest.RoleMatrix, walked, "every RPC of the matrix walked")
}

// tamper edits the SQLite store in dir behind paystate's back (the server
// must be stopped).
func tamper(t *testing.T, dir, statement string) {
	t.Helper()
	db, err := sql.Open("sqlite3", filepath.Join(dir, "paystate.db"))
	require.NoError(t, err)
	_, err = db.Exec(statement)
	require.NoError(t, err)
	require.NoError(t, db.Close())
}

// TestVerifyJournalDetectsAnEditedRow: an entry edited in the database
// behind paystate's back is found by VerifyJournal over the API.
func TestVerifyJournalDetectsAnEditedRow(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	for _, ev := range []string{"AUTHORISED", "CAPTURED", "PARTIALLY_REFUNDED"} {
		s.webhook(t, sample(t, ev))
	}
	s.shutdown()
	tamper(t, dir, `UPDATE journal SET reason = 'nothing to see here' WHERE seq = 2`)

	s2 := startServer(t, dir)
	v, err := s2.audit.VerifyJournal(s2.authed(t.Context()), &pb.VerifyJournalRequest{})
	require.NoError(t, err)
	require.False(t, v.GetOk())
	require.Equal(t, int64(2), v.GetFirstBadSequence())
	require.Contains(t, v.GetProblem(), "changed")
}

// TestVerifyJournalChecksDerivedTables: rows of the derived tables deleted
// or invented behind paystate's back, with the chain intact, are reported
// by VerifyJournal over gRPC and REST (audit T8, T9, T10); chain_only
// still answers the chain alone.
func TestVerifyJournalChecksDerivedTables(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	// CAPTURED before AUTHORISED: held, then released.
	for _, ev := range []string{"CAPTURED", "AUTHORISED", "PARTIALLY_REFUNDED"} {
		s.webhook(t, sample(t, ev))
	}
	v, err := s.audit.VerifyJournal(s.authed(t.Context()), &pb.VerifyJournalRequest{})
	require.NoError(t, err)
	require.True(t, v.GetOk(), v.GetProblem())
	require.Positive(t, v.GetDerivedTables().GetReceipts())
	require.Positive(t, v.GetDerivedTables().GetAggregates())
	s.shutdown()

	db, err := sql.Open("sqlite3", filepath.Join(dir, "paystate.db"))
	require.NoError(t, err)
	for _, q := range []string{
		`DELETE FROM receipts WHERE seq = (SELECT MAX(seq) FROM receipts)`,
		`INSERT INTO aggregates SELECT provider, kind, 'phantom', merchant_reference, parent_provider, parent_kind, parent_id,
			state, provider_status, currency, amount, authorized, captured, refunded, version, created_at, updated_at,
			amounts_unknown, amount_known, captured_rest, refunded_rest
			FROM aggregates LIMIT 1`,
		`INSERT INTO deferred (seq, provider, kind, aggregate_id, dedupe_key, payload, body_sha256, received_at, expires_at)
			SELECT seq, provider, kind, aggregate_id, dedupe_key, payload, body_sha256, received_at, received_at + 1 FROM journal WHERE seq = 1`,
	} {
		_, err = db.Exec(q)
		require.NoError(t, err, q)
	}
	require.NoError(t, db.Close())

	s2 := startServer(t, dir)
	v, err = s2.audit.VerifyJournal(s2.authed(t.Context()), &pb.VerifyJournalRequest{})
	require.NoError(t, err)
	require.False(t, v.GetOk())
	require.Equal(t, int64(3), v.GetDerivedTables().GetProblemCount(), "%v", v.GetTableProblems())
	tables := map[string]bool{}
	for _, p := range v.GetTableProblems() {
		tables[p.GetTable()] = true
		require.True(t, p.GetFixable(), p.GetProblem())
	}
	require.Equal(t, map[string]bool{"receipts": true, "aggregates": true, "deferred": true}, tables)
	require.NotEmpty(t, v.GetProblem())

	chain, err := s2.audit.VerifyJournal(s2.authed(t.Context()), &pb.VerifyJournalRequest{ChainOnly: true})
	require.NoError(t, err)
	require.True(t, chain.GetOk(), "the chain itself is intact")
	require.Nil(t, chain.GetDerivedTables())

	req, err := http.NewRequest(http.MethodPost, s2.http+"/v1/journal:verify", strings.NewReader(`{}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+s2.dev.APIToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var rest struct {
		Ok            bool
		Problem       string
		DerivedTables struct{ ProblemCount string }
		TableProblems []struct{ Table, Row string }
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&rest))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.False(t, rest.Ok)
	require.Equal(t, "3", rest.DerivedTables.ProblemCount)
	require.Len(t, rest.TableProblems, 3)
}
