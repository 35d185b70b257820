package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/paystate/paystate/engine"
	pb "github.com/paystate/paystate/proto/paystate/v1"
	"github.com/paystate/paystate/providers"
	"github.com/paystate/paystate/providers/ngenius"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/faulty"
	"github.com/paystate/paystate/storage/sqlite"
)

// engineServer serves a real engine over wrap(a fresh SQLite store).
func engineServer(t *testing.T, log *slog.Logger, wrap func(storage.Store) storage.Store) *hardServer {
	t.Helper()
	under, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "paystate.db"))
	require.NoError(t, err)
	store := wrap(under)
	p := hardNGenius()
	machines, err := sm.NewRegistry(p.Tables()...)
	require.NoError(t, err)
	eng := engine.New(store, machines, engine.Config{SweepEvery: time.Hour})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); eng.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done; under.Close() })
	return serveLoopback(t, Options{
		Store: store, Machines: machines, Engine: eng, Ready: eng.Ready, Log: log,
		Providers: map[string]providers.Provider{ngenius.Name: p},
		Tokens:    []Token{{Name: "ops", Role: "admin", SHA256: HashToken(hardAdmin)}},
	})
}

// readyz asks /readyz and requires an answer within a generous bound
// (it must answer, not hang; it aims at under a second).
func (s *hardServer) readyz(t *testing.T) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(s.http + "/readyz")
	require.NoError(t, err, "readyz did not answer")
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, strings.TrimSpace(string(body))
}

func (s *hardServer) ngeniusWebhook(t *testing.T, event string) int {
	t.Helper()
	return s.do(t, http.MethodPost, "/webhooks/ngenius", hardBody(event),
		http.Header{hardHeader: {hardSecret}, "Content-Type": {"application/json"}})
}

// While commits fail, every webhook gets 503 and /readyz must say not
// ready — though the store still answers reads — so that a load balancer
// stops sending webhooks here (a full disk). Once the store can commit
// again, /readyz recovers by itself: no webhook needs to try first.
func TestReadyzFollowsCommits(t *testing.T) {
	t.Parallel()
	var store *faulty.Store
	s := engineServer(t, hardQuiet, func(under storage.Store) storage.Store {
		store = faulty.New(under, faulty.Config{Seed: 1})
		return store
	})
	require.Equal(t, http.StatusOK, s.ngeniusWebhook(t, "AUTHORISED"))
	code, body := s.readyz(t)
	require.Equal(t, http.StatusOK, code, body)

	store.Set(faulty.Config{BeforeCommit: 1})
	require.Equal(t, http.StatusServiceUnavailable, s.ngeniusWebhook(t, "CAPTURED"))
	code, body = s.readyz(t)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, "not ready: the last commits failed", body)
	// Still failing: the probe fails too, and readyz stays not ready.
	before := store.Counts().Updates
	require.Eventually(t, func() bool {
		code, _ := s.readyz(t)
		require.Equal(t, http.StatusServiceUnavailable, code)
		return store.Counts().Updates > before
	}, time.Minute, 20*time.Millisecond, "readyz probes the store")

	store.Set(faulty.Config{})
	require.Eventually(t, func() bool { code, _ := s.readyz(t); return code == http.StatusOK },
		time.Minute, 20*time.Millisecond, "readyz recovers once commits succeed")
	require.Equal(t, http.StatusOK, s.ngeniusWebhook(t, "CAPTURED"))
}

// corruptStore is a database found damaged once broken is set: every
// write and every chain head read says ErrCorrupt.
type corruptStore struct {
	storage.Store
	broken *atomic.Bool
}

var errDamaged = fmt.Errorf("test: page 7 is malformed: %w", storage.ErrCorrupt)

func (c corruptStore) Update(ctx context.Context, fn func(storage.Tx) error) error {
	if c.broken.Load() {
		return errDamaged
	}
	return c.Store.Update(ctx, fn)
}

func (c corruptStore) Head(ctx context.Context) (storage.ChainHead, error) {
	if c.broken.Load() {
		return storage.ChainHead{}, errDamaged
	}
	return c.Store.Head(ctx)
}

// A corrupted database is reported as corruption everywhere — logged as
// an error, DATA_LOSS over gRPC, 500 "storage corrupted" to a webhook,
// "the database is corrupted" on /readyz — never as "unavailable, retry".
func TestCorruptionIsReportedAsSuch(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	var broken atomic.Bool
	s := engineServer(t, slog.New(slog.NewJSONHandler(&logs, nil)), func(under storage.Store) storage.Store {
		return corruptStore{Store: under, broken: &broken}
	})
	code, ready := s.readyz(t) // serving: Serve has read the head
	require.Equal(t, http.StatusOK, code, ready)
	broken.Store(true)
	req, err := http.NewRequest(http.MethodPost, s.http+"/webhooks/ngenius", strings.NewReader(string(hardBody("AUTHORISED"))))
	require.NoError(t, err)
	req.Header = http.Header{hardHeader: {hardSecret}, "Content-Type": {"application/json"}}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	require.Contains(t, string(body), "storage corrupted")
	require.Empty(t, resp.Header.Get("Retry-After"))

	code, ready = s.readyz(t)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, "not ready: the database is corrupted", ready)

	ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+hardAdmin)
	_, err = pb.NewAuditServiceClient(s.conn).GetChainHead(ctx, &pb.GetChainHeadRequest{})
	require.Equal(t, codes.DataLoss, status.Code(err), "%v", err)
	require.NotContains(t, status.Convert(err).Message(), "retry")

	errors := logs.lines(t, "database corrupted: an operator must repair or restore it; retrying will not help")
	require.NotEmpty(t, errors)
	require.Equal(t, "ERROR", errors[0]["level"])
	require.NotEmpty(t, logs.lines(t, "webhook not committed: database corrupted; an operator must repair or restore it"))
}
