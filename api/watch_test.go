package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/paystate/paystate/engine"
	"github.com/paystate/paystate/engine/enginetest"
	pb "github.com/paystate/paystate/proto/paystate/v1"
	"github.com/paystate/paystate/providers"
	"github.com/paystate/paystate/providers/ngenius"
	"github.com/paystate/paystate/storage"
)

// watchSetup runs the Watch service over loopback gRPC against a real
// engine and store.
func watchSetup(t *testing.T) (*enginetest.Harness, pb.WatchServiceClient) {
	t.Helper()
	h := enginetest.New(t, ngenius.New(ngenius.Config{}))
	notifier := engine.NewNotifier()
	srv := grpc.NewServer()
	// Poll rarely: wake-ups must come from the notifier or the test's
	// own deliveries being read on the next poll.
	pb.RegisterWatchServiceServer(srv, &Watch{Store: h.Store, Subscribe: notifier.Subscribe, Poll: 50 * time.Millisecond})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(lis)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(); srv.Stop() })
	return h, pb.NewWatchServiceClient(conn)
}

func ngeniusBody(order, event string, n int) []byte {
	b, _ := json.Marshal(map[string]any{
		"event":       event,
		"order":       map[string]any{"id": order, "reference": "R-" + order, "amount": map[string]any{"currencyCode": "AED", "value": 100}},
		"transaction": map[string]any{"id": fmt.Sprintf("t%d", n), "state": event},
		"timestamp":   fmt.Sprintf("2025-01-01T00:00:%02dZ", n%60),
	})
	return b
}

// review sends one order into and out of fraud review, with noise around.
func review(h *enginetest.Harness, order string, n int) {
	for i, ev := range []string{"AUTHORISED", "POST_AUTH_FRAUD_CHECK_REVIEW", "POST_AUTH_FRAUD_CHECK_ACCEPTED", "CAPTURED"} {
		h.Deliver(ngeniusBody(order, ev, n*10+i))
	}
}

func TestWatchFraudReviewResumesWithoutGapsOrDuplicates(t *testing.T) {
	noLeaks(t)
	h, client := watchSetup(t)
	ctx := t.Context()
	for i := range 5 {
		review(h, fmt.Sprintf("o%d", i), i)
	}
	req := &pb.WatchRequest{States: []string{"fraud_review"}, HeartbeatSeconds: 1}

	// Read a few, then drop the connection mid-stream.
	var got []*pb.WatchResponse
	sctx, cancel := context.WithCancel(ctx)
	stream, err := client.Watch(sctx, req)
	require.NoError(t, err)
	for len(got) < 3 {
		m, err := stream.Recv()
		require.NoError(t, err)
		if !m.GetHeartbeat() {
			got = append(got, m)
		}
	}
	cancel()
	// More happens while the client is away.
	for i := 5; i < 8; i++ {
		review(h, fmt.Sprintf("o%d", i), i)
	}
	// Resume from the last cursor received.
	req.AfterSequence = got[len(got)-1].GetCursor()
	sctx, cancel = context.WithCancel(ctx)
	defer cancel()
	stream, err = client.Watch(sctx, req)
	require.NoError(t, err)
	for len(got) < 16 {
		m, err := stream.Recv()
		require.NoError(t, err)
		if !m.GetHeartbeat() {
			got = append(got, m)
		}
	}
	// 8 orders, each entering and leaving review once: 16 entries, in
	// journal order, no sequence twice.
	seen := map[int64]bool{}
	for i, m := range got {
		e := m.GetEntry()
		require.False(t, seen[e.GetSequence()], "sequence %d delivered twice", e.GetSequence())
		seen[e.GetSequence()] = true
		if i > 0 {
			require.Greater(t, e.GetSequence(), got[i-1].GetEntry().GetSequence())
		}
		require.Equal(t, e.GetSequence(), m.GetCursor())
		want := "fraud_review"
		if i%2 == 1 {
			require.Equal(t, want, e.GetStateBefore(), "leaving")
		} else {
			require.Equal(t, want, e.GetStateAfter(), "entering")
		}
	}

	// Live: a new review reaches the open stream.
	review(h, "live", 99)
	m, err := stream.Recv()
	for err == nil && m.GetHeartbeat() {
		m, err = stream.Recv()
	}
	require.NoError(t, err)
	require.Equal(t, "live", m.GetEntry().GetProviderId())
	cancel()
}

func TestWatchHeartbeatCarriesTheCursor(t *testing.T) {
	noLeaks(t)
	h, client := watchSetup(t)
	review(h, "o1", 1)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stream, err := client.Watch(ctx, &pb.WatchRequest{States: []string{"refunded"}, HeartbeatSeconds: 1})
	require.NoError(t, err)
	m, err := stream.Recv()
	require.NoError(t, err)
	require.True(t, m.GetHeartbeat())
	require.Equal(t, int64(4), m.GetCursor(), "the cursor moved past the four entries that did not match")
	cancel()
}

func TestWatchFilters(t *testing.T) {
	t.Parallel()
	e := func(kind, provider, before, after, verdict string) *storageEntry {
		return &storageEntry{kind, provider, before, after, verdict}
	}
	cases := []struct {
		name string
		f    watchFilter
		e    *storageEntry
		want bool
	}{
		{"no filter", watchFilter{}, e("payment", "ngenius", "new", "authorized", "applied"), true},
		{"entering", watchFilter{states: []string{"fraud_review"}, direction: pb.Direction_DIRECTION_ENTERING}, e("payment", "x", "authorized", "fraud_review", "applied"), true},
		{"entering is not leaving", watchFilter{states: []string{"fraud_review"}, direction: pb.Direction_DIRECTION_LEAVING}, e("payment", "x", "authorized", "fraud_review", "applied"), false},
		{"leaving", watchFilter{states: []string{"fraud_review"}, direction: pb.Direction_DIRECTION_LEAVING}, e("payment", "x", "fraud_review", "declined", "applied"), true},
		{"staying is neither", watchFilter{states: []string{"fraud_review"}}, e("payment", "x", "fraud_review", "fraud_review", "applied"), false},
		{"kind", watchFilter{kinds: []string{"refund"}}, e("payment", "x", "a", "b", "applied"), false},
		{"provider", watchFilter{providers: []string{"inyo"}}, e("payment", "inyo", "a", "b", "applied"), true},
		{"verdict", watchFilter{verdicts: []pb.Verdict{pb.Verdict_VERDICT_REJECTED}}, e("payment", "x", "a", "a", "applied"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, tc.f.match(tc.e.entry()))
		})
	}
}

func TestWatchRefusesACursorItCannotServe(t *testing.T) {
	h, client := watchSetup(t)
	review(h, "o1", 1)
	stream, err := client.Watch(t.Context(), &pb.WatchRequest{AfterSequence: 1000})
	require.NoError(t, err)
	_, err = stream.Recv()
	require.Equal(t, codes.OutOfRange, status.Code(err))
	stream, err = client.Watch(t.Context(), &pb.WatchRequest{HeartbeatSeconds: 9999})
	require.NoError(t, err)
	_, err = stream.Recv()
	require.Equal(t, codes.InvalidArgument, status.Code(err))
}

// noLeaks checks, after every other cleanup has run (servers stopped,
// connections closed), that the test left no goroutine behind: a watch
// stream that outlives its client is a leak.
func noLeaks(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

// serveShortWrites serves a Server on loopback over a fresh store (wrapped
// by wrap when it is not nil), its write timeout shortened to writeTimeout
// when that is not zero. It returns the HTTP base address and a stop that
// shuts the server down and returns what Serve returned.
func serveShortWrites(t *testing.T, writeTimeout time.Duration, wrap func(storage.Store) storage.Store) (base string, stop func() error) {
	t.Helper()
	return serveShortWritesTraced(t, writeTimeout, wrap, nil)
}

// serveShortWritesTraced is serveShortWrites with tracing through tp.
func serveShortWritesTraced(t *testing.T, writeTimeout time.Duration, wrap func(storage.Store) storage.Store, tp trace.TracerProvider) (base string, stop func() error) {
	t.Helper()
	p := hardNGenius()
	h := enginetest.New(t, p)
	store := storage.Store(h.Store)
	if wrap != nil {
		store = wrap(store)
	}
	srv := NewServer(Options{Store: store, Machines: h.Machines, Engine: h.Engine, Log: hardQuiet,
		Providers: map[string]providers.Provider{ngenius.Name: p},
		Tokens:    []Token{{Name: "ops", Role: "admin", SHA256: HashToken(hardAdmin)}}, TracerProvider: tp})
	if writeTimeout != 0 {
		srv.writeTimeout = writeTimeout
	}
	grpcLis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	httpLis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, grpcLis, httpLis) }()
	stop = sync.OnceValue(func() error { cancel(); return <-served })
	t.Cleanup(func() { _ = stop() })
	return "http://" + httpLis.Addr().String(), stop
}

// openRESTWatch opens a REST watch with one heartbeat a second on a
// server of serveShortWrites.
func openRESTWatch(t *testing.T, writeTimeout time.Duration) (lines *bufio.Scanner, stop func() error) {
	t.Helper()
	base, stop := serveShortWrites(t, writeTimeout, nil)
	req, err := http.NewRequest(http.MethodGet, base+"/v1/journal:watch?heartbeatSeconds=1", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+hardAdmin)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	require.Equal(t, http.StatusOK, resp.StatusCode)
	return bufio.NewScanner(resp.Body), stop
}

// TestShutdownEndsRESTWatches: a REST watch open when the server shuts
// down is ended by the server with Unavailable, so that its client knows
// to resume from its cursor elsewhere, instead of holding the shutdown
// for its whole grace period and then being cut off without a word.
func TestShutdownEndsRESTWatches(t *testing.T) {
	lines, stop := openRESTWatch(t, 0)
	require.True(t, lines.Scan(), "a heartbeat")
	require.Contains(t, lines.Text(), `"heartbeat":true`)

	done := make(chan error, 1)
	go func() { done <- stop() }()
	var last string
	for lines.Scan() {
		last = lines.Text()
	}
	var end struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	require.NoError(t, json.Unmarshal([]byte(last), &end), "the stream's last line: %q", last)
	require.Equal(t, int(codes.Unavailable), end.Error.Code, last)
	require.Contains(t, end.Error.Message, "resume from the last cursor")
	require.NoError(t, <-done)
}

// TestRESTWatchOutlivesTheWriteTimeout: the server's write timeout bounds
// each write of a REST watch, not the whole stream, which lives on past it
// for as long as its client reads.
func TestRESTWatchOutlivesTheWriteTimeout(t *testing.T) {
	lines, _ := openRESTWatch(t, 200*time.Millisecond)
	for i := range 3 {
		require.True(t, lines.Scan(), "heartbeat %d: %v", i, lines.Err())
		require.Contains(t, lines.Text(), `"heartbeat":true`)
	}
}

// slowHead answers slower than the test's write timeout, as
// a whole verification of millions of entries does.
type slowHead struct {
	storage.Store
	delay time.Duration
}

func (s slowHead) Head(ctx context.Context) (storage.ChainHead, error) {
	time.Sleep(s.delay)
	return s.Store.Head(ctx)
}

// TestRESTVerifyAnswersAfterTheWriteTimeout: a verification that takes
// longer than the HTTP write timeout still answers over REST.
func TestRESTVerifyAnswersAfterTheWriteTimeout(t *testing.T) {
	base, _ := serveShortWrites(t, 100*time.Millisecond, func(s storage.Store) storage.Store { return slowHead{s, 300 * time.Millisecond} })
	req, err := http.NewRequest(http.MethodPost, base+"/v1/journal:verify", strings.NewReader(`{}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+hardAdmin)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err, "the answer is lost")
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var rep struct{ Ok bool }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&rep))
	require.True(t, rep.Ok)
}

// TestRESTWatchAnswersAtOnce: a REST watch that has nothing to send yet
// (it starts at the head, and its heartbeat is minutes away) is answered
// 200 with its headers as soon as the server accepts it, so that its
// client can tell an open watch from a server that does not answer; a
// watch the server refuses keeps its error status. The first line is
// still an entry or a heartbeat, as before.
func TestRESTWatchAnswersAtOnce(t *testing.T) {
	base, _ := serveShortWrites(t, 0, nil)
	// Generous: this bounds "answered instead of waiting for the first
	// message" (300 s away), not speed.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	get := func(query string) *http.Response {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/journal:watch?"+query, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+hardAdmin)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err, "the watch's answer")
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}

	resp := get("start_at_head=true&heartbeatSeconds=300")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	require.Empty(t, resp.Header.Get("Grpc-Metadata-"+watchOpenKey), "the gateway's cue is not its client's")

	refused := get("after_sequence=999")
	require.Equal(t, http.StatusBadRequest, refused.StatusCode)
	b, err := io.ReadAll(refused.Body)
	require.NoError(t, err)
	require.Contains(t, string(b), "beyond the end of the journal")
}
