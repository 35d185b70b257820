package main

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/paystate/paystate/config"
	pb "github.com/paystate/paystate/proto/paystate/v1"
)

// TestReadCacheNeverServesAnAcknowledgedWebhookStale: with the view cache
// on (the default), a GetOrder that starts after a webhook's 2xx sees
// what that webhook did, while other clients read the same order the
// whole time (so that its view is cached, and re-cached, around every
// commit); held events resolved by a later webhook included, and after a
// restart. Run under -race as well.
func TestReadCacheNeverServesAnAcknowledgedWebhookStale(t *testing.T) {
	dir := t.TempDir()
	start := func() *server {
		cfg := config.Defaults()
		cfg.HTTPAddr, cfg.GRPCAddr, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", dir
		cfg.APIRateLimit.PerSecond = 0 // the readers call as fast as they can
		dev, err := config.FillDev(&cfg)
		require.NoError(t, err)
		return startServerWith(t, cfg, dev)
	}
	s := start()
	require.Positive(t, s.cfg.ReadCacheViews, "the cache is on by default")
	ctx := s.authed(t.Context())
	body := func(id, event string) []byte {
		return bytes.ReplaceAll(sample(t, event), []byte(`"abc123xyz"`), []byte(`"`+id+`"`))
	}
	get := func(id string) (*pb.Order, error) {
		return s.orders.GetOrder(ctx, &pb.GetOrderRequest{Provider: "ngenius", OrderId: id})
	}
	const orders = 6
	var stop atomic.Bool
	var wg sync.WaitGroup
	defer func() { stop.Store(true); wg.Wait() }()
	for r := range 4 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				if _, err := get(fmt.Sprintf("cache-%d", (i+r)%orders)); err != nil && status.Code(err) != codes.NotFound {
					t.Error(err)
					return
				}
			}
		})
	}
	want := map[string]string{}
	for i := range orders {
		id := fmt.Sprintf("cache-%d", i)
		steps := []struct{ event, verdict, state string }{
			{"AUTHORISED", "applied", "authorized"}, {"CAPTURED", "applied", "captured"},
		}
		if i%2 == 1 { // early, held; then its predecessor takes it along
			steps = []struct{ event, verdict, state string }{
				{"CAPTURED", "deferred", ""}, {"AUTHORISED", "applied", "captured"},
			}
		}
		for v, st := range steps {
			code, reply := s.webhook(t, body(id, st.event))
			require.Equal(t, http.StatusOK, code)
			require.Equal(t, st.verdict, verdictOf(t, reply))
			o, err := get(id)
			if st.state == "" {
				require.Equal(t, codes.NotFound, status.Code(err), "%s after %s", id, st.event)
				continue
			}
			require.NoError(t, err)
			require.Equal(t, st.state, o.GetStateName(), "%s after %s", id, st.event)
			if i%2 == 0 {
				require.Equal(t, int64(v+1), o.GetVersion(), "%s after %s", id, st.event)
			}
			require.Zero(t, o.GetPendingDeferred(), "%s after %s", id, st.event)
			want[id] = st.state
		}
	}
	stop.Store(true)
	wg.Wait()
	// The readers were answered from the cache, as the metrics say.
	var hits float64
	for _, l := range strings.Split(string(httpGet(t, s.http+"/metrics")), "\n") {
		if v, ok := strings.CutPrefix(l, "paystate_read_cache_hits_total "); ok {
			var err error
			hits, err = strconv.ParseFloat(v, 64)
			require.NoError(t, err)
		}
	}
	require.Positive(t, hits, "no read was answered from the cache: the test proves nothing")
	s.shutdown()
	s = start()
	ctx = s.authed(t.Context())
	for id, state := range want {
		o, err := s.orders.GetOrder(ctx, &pb.GetOrderRequest{Provider: "ngenius", OrderId: id})
		require.NoError(t, err)
		require.Equal(t, state, o.GetStateName(), "%s after a restart", id)
	}
}
