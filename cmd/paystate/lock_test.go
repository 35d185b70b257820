package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestStoreLockRefusesASecondWriter: a second server on one data directory
// refuses to start and says who holds it; rebuild --fix refuses while the
// server runs unless forced, and runs once the server has stopped.
func TestStoreLockRefusesASecondWriter(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	s.webhook(t, sample(t, "AUTHORISED"))

	// Were it to start, it would serve until cancelled: fail then.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	err := runServer(ctx, s.cfg, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), func(string, string) {
		t.Error("a second server started on the same data directory")
		cancel()
	})
	require.ErrorIs(t, err, errStoreInUse)
	require.ErrorContains(t, err, "pid ")
	require.ErrorContains(t, err, "paystate serve")
	require.ErrorContains(t, err, "its own --data-dir")

	var out bytes.Buffer
	stdout = &out
	t.Cleanup(func() { stdout = os.Stdout })
	env := func(k string) string { return map[string]string{"PAYSTATE_DATA_DIR": dir}[k] }
	require.NoError(t, run(t.Context(), []string{"rebuild"}, env), "checking is harmless under a server")
	err = run(t.Context(), []string{"rebuild", "--fix"}, env)
	require.ErrorIs(t, err, errStoreInUse)
	require.ErrorContains(t, err, "--force")
	require.NoError(t, run(t.Context(), []string{"rebuild", "--fix", "--force"}, env), out.String())

	s.shutdown()
	require.NoError(t, run(t.Context(), []string{"rebuild", "--fix"}, env), "the lock goes with the server")
	startServer(t, dir).shutdown()
}
