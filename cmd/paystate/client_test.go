package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/paystate/paystate/proto/paystate/v1"
)

// cli points client commands at s with its admin token and captures what
// they print, until the test ends.
func (s *server) cli(t *testing.T) (env func(string) string, out *bytes.Buffer) {
	t.Helper()
	grpcAddr := s.grpc.Target()
	env = func(k string) string {
		return map[string]string{"PAYSTATE_GRPC_ADDR": grpcAddr, "PAYSTATE_TOKEN": s.dev.APIToken}[k]
	}
	out = new(bytes.Buffer)
	stdout = out
	t.Cleanup(func() { stdout = os.Stdout })
	return env, out
}

// waitFor is a stdout that closes seen once what was written holds want.
type waitFor struct {
	want string
	seen chan struct{}
	mu   sync.Mutex
	buf  bytes.Buffer
}

func (w *waitFor) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	had := strings.Contains(w.buf.String(), w.want)
	w.buf.Write(p)
	if !had && strings.Contains(w.buf.String(), w.want) {
		close(w.seen)
	}
	return len(p), nil
}

func (w *waitFor) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// watchUntil runs `paystate watch args...` until what it printed holds
// want, then cancels it, and returns what it printed: the line, not a
// deadline, ends it, so that a loaded machine only makes it slower.
func watchUntil(t *testing.T, env func(string) string, want string, args ...string) string {
	t.Helper()
	printed := &waitFor{want: want, seen: make(chan struct{})}
	saved := stdout
	stdout = printed
	defer func() { stdout = saved }()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	watched := make(chan error, 1)
	go func() { watched <- run(ctx, append([]string{"watch"}, args...), env) }()
	select {
	case <-printed.seen:
	case err := <-watched:
		t.Fatalf("watch ended (%v) before printing %q: %q", err, want, printed.String())
	case <-time.After(time.Minute):
		t.Fatalf("watch printed no %q within a minute: %q", want, printed.String())
	}
	cancel()
	require.NoError(t, <-watched)
	return printed.String()
}

// TestClientCommands runs get, history, verify and watch against a real
// server, as a user at a terminal would.
func TestClientCommands(t *testing.T) {
	s := startServer(t, t.TempDir())
	for _, ev := range []string{"AUTHORISED", "POST_AUTH_FRAUD_CHECK_REVIEW"} {
		code, _ := s.webhook(t, sample(t, ev))
		require.Equal(t, http.StatusOK, code)
	}
	grpcAddr := s.grpc.Target()
	env, out := s.cli(t)

	require.NoError(t, run(t.Context(), []string{"get", "-o", "json", "ngenius", "abc123xyz"}, env))
	// protojson varies its spacing on purpose: match the value, not the layout.
	require.Regexp(t, `"stateName":\s*"fraud_review"`, out.String())
	out.Reset()
	require.NoError(t, run(t.Context(), []string{"history", "ngenius", "abc123xyz"}, env))
	require.Equal(t, 2, strings.Count(out.String(), "APPLIED"))
	out.Reset()
	require.NoError(t, run(t.Context(), []string{"list", "--state", "fraud_review"}, env))
	require.Contains(t, out.String(), "abc123xyz")
	out.Reset()
	require.NoError(t, run(t.Context(), []string{"verify", "-o", "json"}, env))
	require.Regexp(t, `"ok":\s*true`, out.String())
	out.Reset()
	watchUntil(t, env, "authorized -> fraud_review", "--states", "fraud_review")

	bad := func(k string) string {
		return map[string]string{"PAYSTATE_GRPC_ADDR": grpcAddr, "PAYSTATE_TOKEN": "wrong"}[k]
	}
	require.ErrorContains(t, run(t.Context(), []string{"get", "ngenius", "abc123xyz"}, bad), "Unauthenticated")
	require.Error(t, run(t.Context(), []string{"get", "ngenius"}, env), "wrong number of arguments")
}

// The server can reset a watch for the caller's deadline a moment before
// the caller's context reports it (gRPC then says DeadlineExceeded while
// ctx.Err() is still nil): that is the caller's own end, not a failure.
func TestWatchEndsCleanlyAtTheCallersDeadline(t *testing.T) {
	deadlined, cancel := context.WithTimeout(t.Context(), time.Hour)
	defer cancel()
	reset := status.Error(codes.DeadlineExceeded, "stream terminated by RST_STREAM with error code: CANCEL")
	require.True(t, callerDeadline(deadlined, reset))
	require.False(t, callerDeadline(t.Context(), reset), "without a deadline of the caller's, it is the server's failure")
	require.False(t, callerDeadline(deadlined, status.Error(codes.Unavailable, "gone")))
}

// TestPrintVerifySaysWhyNothingWasChecked: a broken chain ends the check
// before the derived tables and the checkpoints, and verify says so rather
// than blaming a flag that was not given or counting no checkpoints.
func TestPrintVerifySaysWhyNothingWasChecked(t *testing.T) {
	broken := &pb.VerifyJournalResponse{Ok: false, FirstBadSequence: 4, Problem: "entry 4 was changed after it was written",
		Head: &pb.ChainHead{Sequence: 3}}
	for _, tc := range []struct {
		name      string
		r         *pb.VerifyJournalResponse
		chainOnly bool
		want      []string
	}{
		{"broken", broken, false, []string{`derived tables\s+not checked \(the hash chain is broken\)`,
			`checkpoints checked\s+not checked \(the hash chain is broken\)`}},
		{"broken, chain only", broken, true, []string{`derived tables\s+not checked \(the hash chain is broken\)`}},
		{"chain only", &pb.VerifyJournalResponse{Ok: true, CheckpointsChecked: 2, Head: &pb.ChainHead{Sequence: 9}}, true,
			[]string{`derived tables\s+not checked \(--chain-only\)`, `checkpoints checked\s+2\n`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			require.NoError(t, printVerify(&out, tc.r, tc.chainOnly))
			for _, w := range tc.want {
				require.Regexp(t, w, out.String())
			}
		})
	}
}
