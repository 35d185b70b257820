package bench

// The webhooks `paystate bench` posts, and the load generators that post
// them. The bodies are built from each provider's documented samples with
// fresh identifiers (the same recipe as the crash harness), signed by the
// simulator with the development credentials of the benched server.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paystate/paystate/config"
	"github.com/paystate/paystate/providers/generic"
	"github.com/paystate/paystate/providers/inyo"
	"github.com/paystate/paystate/providers/magnius"
	"github.com/paystate/paystate/providers/ngenius"
	"github.com/paystate/paystate/providers/payengine"
	sim "github.com/paystate/paystate/simulator"
)

// benchHook is one signed webhook ready to post.
type benchHook struct {
	provider string
	body     []byte
	header   http.Header
}

// hookGen builds bodies; the first error sticks and is reported once.
type hookGen struct {
	err     error
	samples map[string]map[string]any
}

func (g *hookGen) sample(provider string, samples fs.FS, name string) map[string]any {
	key := provider + "/" + name
	if g.samples == nil {
		g.samples = map[string]map[string]any{}
	}
	if m, ok := g.samples[key]; ok {
		return deepCopy(m)
	}
	raw, err := fs.ReadFile(samples, "testdata/"+name+".json")
	if err != nil {
		g.fail(err)
		return map[string]any{}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		g.fail(fmt.Errorf("%s: %w", key, err))
		return map[string]any{}
	}
	g.samples[key] = m
	return deepCopy(m)
}

func (g *hookGen) fail(err error) {
	if g.err == nil {
		g.err = err
	}
}

func deepCopy(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			v = deepCopy(sub)
		}
		out[k] = v
	}
	return out
}

// setPath sets the member at a dotted path, creating objects on the way.
func setPath(m map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = v
}

func (g *hookGen) encode(m map[string]any) []byte {
	b, err := json.Marshal(m)
	g.fail(err)
	return b
}

// sequence returns the bodies of object n at one provider, in the order
// the provider sends them (every body carries one event).
func (g *hookGen) sequence(provider, tag string, n int) [][]byte {
	var out [][]byte
	switch provider {
	case ngenius.Name:
		id := fmt.Sprintf("ord-%s-%d", tag, n)
		for _, ev := range []string{"AUTHORISED", "CAPTURED"} {
			m := g.sample(provider, ngenius.Samples, "sample_captured")
			setPath(m, "event", ev)
			setPath(m, "order.id", id)
			setPath(m, "order.reference", "REF-"+id)
			setPath(m, "transaction.id", "txn-"+id+"-"+ev)
			setPath(m, "transaction.state", ev)
			out = append(out, g.encode(m))
		}
	case generic.Name:
		pay, re := fmt.Sprintf("pay_%s_%d", tag, n), fmt.Sprintf("re_%s_%d", tag, n)
		for i, name := range []string{"partial_refund_1_payment.completed", "partial_refund_2_refund.initiated", "partial_refund_3_refund.completed"} {
			m := g.sample(provider, generic.Samples, name)
			setPath(m, "id", fmt.Sprintf("evt_%s_%d_%d", tag, n, i))
			if i == 0 {
				setPath(m, "data.object.id", pay)
				setPath(m, "data.object.merchant_reference", "REF-"+pay)
			} else {
				setPath(m, "data.id", re)
				setPath(m, "data.payment_id", pay)
			}
			out = append(out, g.encode(m))
		}
	case payengine.Name:
		tx := fmt.Sprintf("tx-%s-%d", tag, n)
		for i, name := range []string{"PAYMENT_AUTH", "PAYMENT_CAPTURED"} {
			m := g.sample(provider, payengine.Samples, name)
			setPath(m, "event_uid", fmt.Sprintf("uid-%s-%d-%d", tag, n, i))
			setPath(m, "data.transaction_id", tx)
			setPath(m, "data.payment_id", "p-"+tx)
			out = append(out, g.encode(m))
		}
	case inyo.Name:
		id := fmt.Sprintf("py-%s-%d", tag, n)
		for _, name := range []string{"challenge_authorized_1_CHALLENGE", "challenge_authorized_2_AUTHORIZED"} {
			m := g.sample(provider, inyo.Samples, name)
			setPath(m, "paymentId", id)
			setPath(m, "parentPaymentId", id)
			setPath(m, "externalPaymentId", "REF-"+id)
			out = append(out, g.encode(m))
		}
	case magnius.Name:
		id := fmt.Sprintf("tr-%s-%d", tag, n)
		for _, status := range []string{"INITIATED", "AUTHORIZED", "SETTLEMENT_COMPLETED"} {
			m := g.sample(provider, magnius.Samples, "transaction_AUTHORIZED")
			setPath(m, "id", id)
			setPath(m, "status", status)
			setPath(m, "merchant_reference", "REF-"+id)
			delete(m, "paymentlink_id")
			out = append(out, g.encode(m))
		}
	default:
		g.fail(fmt.Errorf("bench: no sequence for %s", provider))
	}
	return out
}

// benchMix is the provider mix of the ingest scenario. Magnius signs with
// RSA, which is slow to sign (not to verify): it is a smaller share so
// that preparing the plan stays short.
var benchMix = []string{ngenius.Name, generic.Name, payengine.Name, inyo.Name, ngenius.Name, generic.Name, payengine.Name, inyo.Name, magnius.Name}

// ingestPlan returns at least n signed webhooks: legal sequences over a
// mix of providers, interleaved; about 10 % of the sequences are posted in
// reverse order (early events are held, then resolved), and about 10 % of
// the posts are exact duplicates of an earlier post.
func ingestPlan(dev *config.DevCredentials, tag string, n int, seed uint64) ([]benchHook, error) {
	rng := rand.New(rand.NewPCG(seed, 7))
	g := &hookGen{}
	// A window of open sequences is interleaved so that several objects
	// are in flight at once, as at a real provider.
	var open [][]benchHook
	var out []benchHook
	next := 0
	now := time.Now()
	sign := func(provider string, body []byte) benchHook {
		h, err := sim.Sign(provider, body, dev, "", now)
		g.fail(err)
		h.Set("Content-Type", "application/json")
		return benchHook{provider: provider, body: body, header: h}
	}
	for len(out) < n && g.err == nil {
		for len(open) < 32 {
			provider := benchMix[next%len(benchMix)]
			var seq []benchHook
			for _, b := range g.sequence(provider, tag, next) {
				seq = append(seq, sign(provider, b))
			}
			if rng.IntN(10) == 0 {
				slices.Reverse(seq)
			}
			open = append(open, seq)
			next++
		}
		i := rng.IntN(len(open))
		out = append(out, open[i][0])
		if open[i] = open[i][1:]; len(open[i]) == 0 {
			open = slices.Delete(open, i, i+1)
		}
		if rng.IntN(10) == 0 && len(out) > 1 {
			out = append(out, out[rng.IntN(len(out)-1)])
		}
	}
	return out, g.err
}

// loadResult is what one load run measured.
type loadResult struct {
	ok, failed int64
	elapsed    time.Duration
	latencies  []time.Duration
	cpu        time.Duration
	firstErr   string
}

// post sends one webhook and reports whether it was answered 2xx.
func post(ctx context.Context, c *http.Client, base string, h benchHook) (bool, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/webhooks/"+h.provider, bytes.NewReader(h.body))
	if err != nil {
		return false, err.Error()
	}
	req.Header = h.header.Clone()
	resp, err := c.Do(req)
	if err != nil {
		return false, err.Error()
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return false, fmt.Sprintf("%d %s", resp.StatusCode, bytes.TrimSpace(body))
	}
	return true, ""
}

func benchClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}, Timeout: 30 * time.Second}
}

// closedLoop posts every webhook of plan over conns connections, each
// posting its next webhook as soon as the previous one is answered. With
// several servers (replicas), post i goes to bases[i % len(bases)].
func closedLoop(ctx context.Context, bases []string, plan []benchHook, conns int) loadResult {
	c := benchClient(conns)
	defer c.CloseIdleConnections()
	lat := make([]time.Duration, len(plan))
	okFlags := make([]bool, len(plan))
	var idx atomic.Int64
	var firstErr atomic.Value
	cpu0 := processCPU()
	start := time.Now()
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			for {
				i := int(idx.Add(1) - 1)
				if i >= len(plan) || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				ok, msg := post(ctx, c, bases[i%len(bases)], plan[i])
				lat[i], okFlags[i] = time.Since(t0), ok
				if !ok {
					firstErr.CompareAndSwap(nil, msg)
				}
			}
		})
	}
	wg.Wait()
	return tally(time.Since(start), processCPU()-cpu0, okFlags, lat, &firstErr)
}

// fixedRate posts plan at rate webhooks a second, whatever the answers:
// each latency runs from the moment the post was due, so that a stall
// is counted in full rather than hidden by the generator waiting for it.
func fixedRate(ctx context.Context, base string, plan []benchHook, rate int) loadResult {
	const workers = 256
	c := benchClient(workers)
	defer c.CloseIdleConnections()
	lat := make([]time.Duration, len(plan))
	okFlags := make([]bool, len(plan))
	var firstErr atomic.Value
	due := make(chan int, len(plan))
	interval := time.Second / time.Duration(rate)
	cpu0 := processCPU()
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range due {
				at := start.Add(time.Duration(i) * interval)
				if d := time.Until(at); d > 0 {
					time.Sleep(d)
				}
				ok, msg := post(ctx, c, base, plan[i])
				lat[i], okFlags[i] = time.Since(at), ok
				if !ok {
					firstErr.CompareAndSwap(nil, msg)
				}
			}
		})
	}
	for i := range plan {
		due <- i
	}
	close(due)
	wg.Wait()
	return tally(time.Since(start), processCPU()-cpu0, okFlags, lat, &firstErr)
}

// tally counts a load run's answers and keeps the latencies of the good
// ones.
func tally(elapsed, cpu time.Duration, okFlags []bool, lat []time.Duration, firstErr *atomic.Value) loadResult {
	r := loadResult{elapsed: elapsed, cpu: cpu}
	for i, ok := range okFlags {
		if ok {
			r.ok++
			r.latencies = append(r.latencies, lat[i])
		} else {
			r.failed++
		}
	}
	if v := firstErr.Load(); v != nil {
		r.firstErr = v.(string)
	}
	return r
}

// percentile returns the q-quantile (0..1) of d, sorting it in place.
func percentile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	i := int(q * float64(len(d)))
	if i >= len(d) {
		i = len(d) - 1
	}
	return d[i]
}
