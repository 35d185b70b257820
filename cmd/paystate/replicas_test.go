package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/config"
	"github.com/paystate/paystate/engine"
	pb "github.com/paystate/paystate/proto/paystate/v1"
	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/postgres"
)

// TestTwoReplicasOnOnePostgreSQL runs two paystate servers on one
// PostgreSQL database and fires interleaved, duplicated webhooks for the
// same orders at both. Every acknowledged event must be journaled exactly
// once, stored state must equal a replay of the journal, and the chain
// must verify.
func TestTwoReplicasOnOnePostgreSQL(t *testing.T) {
	dsn, schema := testSchema(t, "replicas", "the two-replica test")
	// Both replicas share one set of credentials, as they would in a
	// deployment behind one load balancer.
	cfg := config.Defaults()
	cfg.HTTPAddr, cfg.GRPCAddr, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", t.TempDir()
	cfg.Store, cfg.StoreSchema = dsn, schema
	dev, err := config.FillDev(&cfg)
	require.NoError(t, err)
	replicas := []*server{startServerWith(t, cfg, dev), startServerWith(t, cfg, dev)}

	// Ten orders, each AUTHORISED, CAPTURED, PARTIALLY_REFUNDED, every
	// webhook delivered twice to random replicas, all at once.
	type delivery struct {
		order, event string
		n            int
	}
	var work []delivery
	for o := range 10 {
		for i, ev := range []string{"AUTHORISED", "CAPTURED", "PARTIALLY_REFUNDED"} {
			for range 2 {
				work = append(work, delivery{fmt.Sprintf("r%d", o), ev, o*10 + i})
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(work), func(i, j int) { work[i], work[j] = work[j], work[i] })

	var mu sync.Mutex
	acked := map[string]int{} // order/event -> 2xx answers
	var wg sync.WaitGroup
	for _, d := range work {
		r := replicas[rng.IntN(2)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, reply := r.webhook(t, ngeniusOrder(d.order, d.event, d.n))
			if code == http.StatusOK {
				mu.Lock()
				acked[d.order+"/"+d.event]++
				mu.Unlock()
			} else {
				t.Errorf("%s %s: %d %v", d.order, d.event, code, reply)
			}
		}()
	}
	wg.Wait()
	require.Len(t, acked, 30)

	store, err := postgres.Open(t.Context(), dsn, postgres.WithSchema(schema))
	require.NoError(t, err)
	defer store.Close()
	// An acknowledged entry is durable but joins the chain when a sealer
	// round reaches it; the replicas' sealers may not have run yet.
	require.NoError(t, storage.SealAll(t.Context(), store))
	// Every acknowledged event journaled once as a first (non-duplicate)
	// verdict; its second delivery journaled as a duplicate or resolved.
	firsts := map[string]int{}
	for after := int64(0); ; {
		entries, err := store.Journal(t.Context(), nil, after, 500)
		require.NoError(t, err)
		for _, e := range entries {
			after = e.Seq
			if e.Verdict != "duplicate" && e.ResolvesSeq == 0 {
				firsts[e.Key.ID+"/"+e.Event]++
			}
		}
		if len(entries) < 500 {
			break
		}
	}
	for k := range acked {
		require.Equal(t, 1, firsts[k], "%s journaled once", k)
	}
	reg, err := registry()
	require.NoError(t, err)
	bad, err := engine.Verify(t.Context(), store, reg)
	require.NoError(t, err)
	require.Empty(t, bad)
	rep, err := storage.VerifyChain(t.Context(), store)
	require.NoError(t, err)
	require.True(t, rep.OK, rep.Problem)
	for o := range 10 {
		a, err := store.Aggregate(t.Context(), storage.AggregateKey{Provider: "ngenius", Kind: "payment", ID: fmt.Sprintf("r%d", o)})
		require.NoError(t, err)
		require.Equal(t, "partially_refunded", a.State, "a partial refund without an amount keeps the provider's word")
	}
	// Either replica answers for the state the other committed.
	o, err := replicas[1].orders.GetOrder(replicas[1].authed(t.Context()), &pb.GetOrderRequest{Provider: "ngenius", OrderId: "r3"})
	require.NoError(t, err)
	require.Equal(t, int64(3), o.GetVersion())
}

// testSchema is the test database's DSN and a fresh schema name in it,
// dropped when the test ends; without PAYSTATE_TEST_POSTGRES_DSN the test
// is skipped, saying that what needs PostgreSQL.
func testSchema(t *testing.T, prefix, what string) (dsn, schema string) {
	t.Helper()
	dsn = os.Getenv("PAYSTATE_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skipf("PAYSTATE_TEST_POSTGRES_DSN is not set: %s needs PostgreSQL (CI sets it)", what)
	}
	schema = fmt.Sprintf("%s_%d", prefix, time.Now().UnixNano())
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), dsn)
		if err == nil {
			conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
			conn.Close(context.Background())
		}
	})
	return dsn, schema
}

// TestWatchHearsAnotherReplicaAtOnce: a watcher on replica B sees a commit
// made on replica A without waiting for its poll, which is set to an hour:
// only PostgreSQL's NOTIFY can deliver it. (Heartbeats, which also read
// the journal, are five minutes apart: beyond the test's deadline.)
func TestWatchHearsAnotherReplicaAtOnce(t *testing.T) {
	dsn, schema := testSchema(t, "notify", "the cross-replica watch test")
	cfg := config.Defaults()
	cfg.HTTPAddr, cfg.GRPCAddr, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", t.TempDir()
	cfg.Store, cfg.StoreSchema = dsn, schema
	cfg.WatchPoll = config.Duration{Duration: time.Hour}
	dev, err := config.FillDev(&cfg)
	require.NoError(t, err)
	a, b := startServerWith(t, cfg, dev), startServerWith(t, cfg, dev)

	// The test fails, rather than hangs, if nothing is heard.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	stream, err := pb.NewWatchServiceClient(b.grpc).Watch(b.authed(ctx), &pb.WatchRequest{HeartbeatSeconds: 300})
	require.NoError(t, err)
	// B's own commit reaches it through B's engine: the stream is now
	// past its first read of the journal, waiting.
	code, _ := b.webhook(t, ngeniusOrder("on-b", "AUTHORISED", 1))
	require.Equal(t, http.StatusOK, code)
	msg, err := stream.Recv()
	require.NoError(t, err)
	require.Equal(t, int64(1), msg.GetEntry().GetSequence())

	code, _ = a.webhook(t, ngeniusOrder("on-a", "AUTHORISED", 2))
	require.Equal(t, http.StatusOK, code)
	msg, err = stream.Recv()
	require.NoError(t, err, "replica A's commit never reached B's watcher")
	require.Equal(t, int64(2), msg.GetEntry().GetSequence())
	require.Equal(t, "on-a", msg.GetEntry().GetProviderId())
}
