package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/api"
	"github.com/paystate/paystate/engine"
	"github.com/paystate/paystate/providers"
	"github.com/paystate/paystate/providers/generic"
	"github.com/paystate/paystate/providers/ngenius"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/faulty"
	"github.com/paystate/paystate/storage/sqlite"
)

const (
	faultHeader, faultSecret = "X-Webhook-Token", "fault-secret-91ce"
	faultGenericSecret       = "fault-generic-secret-0a4f"
)

type faultDelivery struct {
	provider, sha string
	body          []byte
	header        http.Header
}

type faultAnswer struct {
	d          *faultDelivery
	status     int
	retryAfter string
	reply      struct {
		Results []struct {
			Seq     int64  `json:"seq"`
			Verdict string `json:"verdict"`
		} `json:"results"`
	}
}

func faultDeliveries(orders int) []*faultDelivery {
	var out []*faultDelivery
	add := func(provider string, body []byte, header http.Header) {
		sum := sha256.Sum256(body)
		out = append(out, &faultDelivery{provider: provider, sha: hex.EncodeToString(sum[:]), body: body, header: header})
	}
	for i := range orders {
		for _, ev := range []string{"AUTHORISED", "CAPTURED"} {
			add(ngenius.Name, []byte(fmt.Sprintf(`{"event":%q,"order":{"reference":"R-%d","id":"o-%d","amount":{"currencyCode":"AED","value":10000}},`+
				`"transaction":{"id":"t-%d-%s","state":%q},"timestamp":"2024-12-01T13:22:45Z"}`, ev, i, i, i, ev, ev)),
				http.Header{faultHeader: {faultSecret}, "Content-Type": {"application/json"}})
		}
		// A generic refund: two events (the refund and its payment's side).
		body := []byte(fmt.Sprintf(`{"id":"evt-%d","type":"payment.completed","created":"2025-03-15T08:00:00Z",`+
			`"data":{"object":{"id":"pay-%d","amount":"12.50","currency":"USD","status":"completed"}}}`, i, i))
		sig, _ := generic.Sign(faultGenericSecret, body, "", "")
		add(generic.Name, body, http.Header{generic.SignatureHeader: {sig}})
	}
	return out
}

// TestStorageFaults runs the real engine and webhook handler over a store
// that fails and stalls at random (seeded; PAYSTATE_FAULT_SEED replays a
// run): a webhook is answered 2xx only if its events are in the journal of
// the store underneath, every 503 carries Retry-After and left nothing
// behind, and once the refused webhooks are sent again (as providers
// retry) every event is in the journal exactly once, the state equals the
// journal's replay and the chain verifies.
func TestStorageFaults(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("PAYSTATE_FAULT_SEED"); v != "" {
		var err error
		seed, err = strconv.ParseUint(v, 10, 64)
		require.NoError(t, err)
	}
	t.Logf("seed %d (replay: PAYSTATE_FAULT_SEED=%d go test ./api -run TestStorageFaults)", seed, seed)

	under, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "paystate.db"))
	require.NoError(t, err)
	defer under.Close()
	store := faulty.New(under, faulty.Config{Seed: seed, BeforeFn: 0.15, InTx: 0.01, BeforeCommit: 0.15, Stall: 0.1, MaxStall: 20 * time.Millisecond})
	provs := map[string]providers.Provider{
		ngenius.Name: ngenius.New(ngenius.Config{HeaderName: faultHeader, HeaderValues: []string{faultSecret}}),
		generic.Name: generic.New(generic.Config{Secrets: []string{faultGenericSecret}}),
	}
	var tables []sm.Table
	for _, p := range provs {
		tables = append(tables, p.Tables()...)
	}
	machines, err := sm.NewRegistry(tables...)
	require.NoError(t, err)
	eng := engine.New(store, machines, engine.Config{SweepEvery: time.Hour})
	ctx, stop := context.WithCancel(context.Background())
	engDone := make(chan struct{})
	go func() { defer close(engDone); eng.Run(ctx) }()
	defer func() { stop(); <-engDone }()

	mux := http.NewServeMux()
	mux.Handle("POST /webhooks/{provider}", &api.Webhooks{Providers: provs, Engine: eng, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	send := func(ds []*faultDelivery) []faultAnswer {
		out := make([]faultAnswer, len(ds))
		var wg sync.WaitGroup
		next := make(chan int)
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					d := ds[i]
					req, err := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/"+d.provider, bytes.NewReader(d.body))
					require.NoError(t, err)
					req.Header = d.header.Clone()
					resp, err := srv.Client().Do(req)
					require.NoError(t, err)
					a := faultAnswer{d: d, status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
					require.NoError(t, json.NewDecoder(resp.Body).Decode(&a.reply))
					resp.Body.Close()
					out[i] = a
				}
			}()
		}
		for i := range ds {
			next <- i
		}
		close(next)
		wg.Wait()
		return out
	}
	// committed lists the journal's entries by body hash.
	committed := func() (map[string][]storage.JournalEntry, map[int64]storage.JournalEntry) {
		bySHA, bySeq := map[string][]storage.JournalEntry{}, map[int64]storage.JournalEntry{}
		for after := int64(0); ; {
			page, err := under.Journal(t.Context(), nil, after, 1000)
			require.NoError(t, err)
			for _, e := range page {
				bySHA[e.BodySHA256] = append(bySHA[e.BodySHA256], e)
				bySeq[e.Seq] = e
				after = e.Seq
			}
			if len(page) < 1000 {
				return bySHA, bySeq
			}
		}
	}

	all := faultDeliveries(100)
	rng := rand.New(rand.NewPCG(seed, 1))
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })

	// Every webhook is sent; what is refused is sent again, as providers
	// retry, until everything is acknowledged. A webhook sent again was
	// refused every time before, so after each round: a 200 is in the
	// journal as told, a 503 is not in it at all.
	codes := map[int]int{}
	pending := all
	for round := 1; len(pending) > 0; round++ {
		require.Less(t, round, 100, "%d webhooks still refused", len(pending))
		answers := send(pending)
		bySHA, bySeq := committed()
		pending = nil
		for _, a := range answers {
			codes[a.status]++
			switch a.status {
			case http.StatusOK:
				require.NotEmpty(t, a.reply.Results)
				for _, r := range a.reply.Results {
					e, ok := bySeq[r.Seq]
					require.True(t, ok, "answered 200 with entry %d, which is not in the journal", r.Seq)
					require.Equal(t, a.d.sha, e.BodySHA256, "entry %d", r.Seq)
					require.Equal(t, r.Verdict, e.Verdict, "entry %d", r.Seq)
				}
			case http.StatusServiceUnavailable:
				require.NotEmpty(t, a.retryAfter, "a 503 without Retry-After")
				require.Empty(t, bySHA[a.d.sha], "answered 503, yet the webhook is in the journal")
				pending = append(pending, a.d)
			default:
				t.Fatalf("answered %d", a.status)
			}
		}
	}
	c := store.Counts()
	t.Logf("%d webhooks, %d deliveries answered %v; %d transactions: %d failed before fn, %d in a tx call, %d at commit, %d stalled, %d committed",
		len(all), codes[200]+codes[503], codes, c.Updates, c.BeforeFn, c.InTx, c.BeforeCommit, c.Stalls, c.Committed)
	require.Equal(t, len(all), codes[http.StatusOK])
	require.NotZero(t, codes[http.StatusServiceUnavailable])
	require.NotZero(t, c.BeforeFn, "no fault before fn was injected: the run proves less than it says")
	require.NotZero(t, c.BeforeCommit, "no fault at commit was injected")
	require.NotZero(t, c.InTx, "no fault in a tx call was injected")

	// Everything is in once: one first verdict per event, replay == state,
	// the chain holds, every order is captured.
	bySHA, _ := committed()
	firsts := map[string]int{}
	for _, es := range bySHA {
		for _, e := range es {
			if e.Actor == engine.ActorWebhook && e.Verdict != string(sm.VerdictDuplicate) && !strings.HasPrefix(e.Reason, string(sm.ReasonConflict)) {
				firsts[e.Key.Provider+"/"+e.DedupeKey]++
			}
		}
	}
	for _, d := range all {
		require.NotEmpty(t, bySHA[d.sha], "an acknowledged webhook is missing")
	}
	require.Len(t, firsts, 100*2+100*1, "events with a first verdict")
	for k, n := range firsts {
		require.Equal(t, 1, n, "%s recorded %d times", k, n)
	}
	bad, err := engine.Verify(t.Context(), under, machines)
	require.NoError(t, err)
	require.Empty(t, bad)
	rep, err := storage.VerifyChain(t.Context(), under)
	require.NoError(t, err)
	require.True(t, rep.OK, rep.Problem)
	for i := range 100 {
		a, err := under.Aggregate(t.Context(), storage.AggregateKey{Provider: ngenius.Name, Kind: "payment", ID: fmt.Sprintf("o-%d", i)})
		require.NoError(t, err)
		require.Equal(t, "captured", a.State)
	}
}
