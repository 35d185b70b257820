package main

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/paystate/paystate/api"
	"github.com/paystate/paystate/config"
	pb "github.com/paystate/paystate/proto/paystate/v1"
)

// TestRolesMatrixOverLoopback calls every RPC of every paystate.v1 service
// on a real server, with no token, a wrong token and each role's token:
// Unauthenticated, Unauthenticated, and PermissionDenied exactly where the
// policy says (any other answer means the call got past authorization).
func TestRolesMatrixOverLoopback(t *testing.T) {
	cfg := config.Defaults()
	cfg.HTTPAddr, cfg.GRPCAddr, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", t.TempDir()
	roles := []string{config.RoleReader, config.RoleAuditor, config.RoleFraud, config.RoleAdmin}
	for _, r := range roles {
		cfg.APITokens = append(cfg.APITokens, config.APIToken{Name: r, Role: r, Token: "tok-" + r})
	}
	dev, err := config.FillDev(&cfg)
	require.NoError(t, err)
	s := startServerWith(t, cfg, dev)

	call := func(method protoreflect.MethodDescriptor, token string) codes.Code {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		if token != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
		}
		full := fmt.Sprintf("/%s/%s", method.Parent().FullName(), method.Name())
		req := dynamicpb.NewMessage(method.Input())
		if method.IsStreamingServer() {
			// An authorized stream waits for its first message; a denied
			// one fails at once. A short deadline tells them apart.
			var cancelStream context.CancelFunc
			ctx, cancelStream = context.WithTimeout(ctx, 300*time.Millisecond)
			defer cancelStream()
			stream, err := s.grpc.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, full)
			if err != nil {
				return status.Code(err)
			}
			if err := stream.SendMsg(req); err != nil {
				return status.Code(err)
			}
			stream.CloseSend()
			err = stream.RecvMsg(dynamicpb.NewMessage(method.Output()))
			return status.Code(err)
		}
		return status.Code(s.grpc.Invoke(ctx, full, req, dynamicpb.NewMessage(method.Output())))
	}
	methods := 0
	protoregistry.GlobalFiles.RangeFilesByPackage("paystate.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := 0; i < fd.Services().Len(); i++ {
			svc := fd.Services().Get(i)
			for j := 0; j < svc.Methods().Len(); j++ {
				m := svc.Methods().Get(j)
				full := fmt.Sprintf("/%s/%s", svc.FullName(), m.Name())
				methods++
				require.Equal(t, codes.Unauthenticated, call(m, ""), full)
				require.Equal(t, codes.Unauthenticated, call(m, "wrong"), full)
				for _, r := range roles {
					got := call(m, "tok-"+r)
					if slices.Contains(api.Policy[full], r) {
						require.NotEqual(t, codes.PermissionDenied, got, "%s as %s", full, r)
						require.NotEqual(t, codes.Unauthenticated, got, "%s as %s", full, r)
					} else {
						require.Equal(t, codes.PermissionDenied, got, "%s as %s", full, r)
					}
				}
			}
		}
		return true
	})
	require.Equal(t, len(api.Policy), methods, "every RPC walked")
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
	db, err := sql.Open("sqlite3", filepath.Join(dir, "paystate.db"))
	require.NoError(t, err)
	_, err = db.Exec(`UPDATE journal SET reason = 'nothing to see here' WHERE seq = 2`)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	s2 := startServer(t, dir)
	v, err := s2.audit.VerifyJournal(s2.authed(t.Context()), &pb.VerifyJournalRequest{})
	require.NoError(t, err)
	require.False(t, v.GetOk())
	require.Equal(t, int64(2), v.GetFirstBadSequence())
	require.Contains(t, v.GetProblem(), "changed")
}
