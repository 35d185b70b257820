package crashtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paystate/paystate/engine"
	"github.com/paystate/paystate/redact"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
)

// attempt is one HTTP delivery of a webhook and what it was told.
type attempt struct {
	hook   *webhook
	n      int // 1 for the first delivery of this plan item, 2 for its first retry, ...
	answer answer
}

// history records every attempt, concurrently.
type history struct {
	mu       sync.Mutex
	attempts []attempt
}

func (h *history) add(a attempt) {
	h.mu.Lock()
	h.attempts = append(h.attempts, a)
	h.mu.Unlock()
}

// classes lists, for each body hash of shas, the classes of its attempts'
// answers, for a failure message.
func (h *history) classes(shas []string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, s := range shas {
		var cs []string
		for _, a := range h.attempts {
			if sha(a.hook.body) == s {
				cs = append(cs, a.answer.class)
			}
		}
		out = append(out, fmt.Sprintf("%.12s: %v", s, cs))
	}
	return strings.Join(out, "; ")
}

// has reports whether, for every body hash of shas, some attempt of that
// body got an answer of class.
func (h *history) has(class string, shas []string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	got := map[string]bool{}
	for _, a := range h.attempts {
		if a.answer.class == class {
			got[sha(a.hook.body)] = true
		}
	}
	for _, s := range shas {
		if !got[s] {
			return false
		}
	}
	return true
}

// deliver posts every webhook of plan with the given number of concurrent
// senders. Like a provider that retries, a delivery that got no answer or
// a 5xx is sent again (once the server is back) until it gets one; a 2xx
// or a 4xx ends it. started is incremented as each plan item is first sent.
func deliver(t *testing.T, srv *server, plan []*webhook, senders int, started *atomic.Int64) *history {
	t.Helper()
	h := &history{}
	deliverInto(t, h, srv, plan, senders, started)
	return h
}

// deliverInto is deliver recording into h, which others may read while it
// runs.
func deliverInto(t *testing.T, h *history, srv *server, plan []*webhook, senders int, started *atomic.Int64) {
	t.Helper()
	dev := srv.dev()
	work := make(chan *webhook)
	var wg sync.WaitGroup
	var failed atomic.Value
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for w := range work {
				started.Add(1)
				for n := 1; ; n++ {
					base, err := srv.url()
					if err != nil {
						failed.Store(err.Error())
						break
					}
					a := post(base, dev, w.provider, w.body)
					h.add(attempt{hook: w, n: n, answer: a})
					if a.class == "2xx" || a.class == "4xx" {
						break
					}
					if n == 2000 {
						failed.Store(fmt.Sprintf("%s webhook never answered after %d attempts: %v", w.provider, n, a.err))
						break
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
		}()
	}
	for _, w := range plan {
		work <- w
	}
	close(work)
	wg.Wait()
	if f := failed.Load(); f != nil {
		t.Fatal(f)
	}
}

// figures counts what a run's attempts were told.
type figures struct {
	attempts, ok2xx, ok4xx, err5xx, none int
	// lostReplies counts deliveries that got no answer although their
	// commit had happened: a retry was then answered "duplicate".
	lostReplies int
}

func (h *history) figures() figures {
	var f figures
	lastNone := map[*webhook]bool{}
	for _, a := range h.attempts {
		f.attempts++
		switch a.answer.class {
		case "2xx":
			f.ok2xx++
			if lastNone[a.hook] && len(a.answer.reply.Results) > 0 && a.answer.reply.Results[0].Verdict == "duplicate" {
				f.lostReplies++
			}
		case "4xx":
			f.ok4xx++
		case "5xx":
			f.err5xx++
		default:
			f.none++
		}
		lastNone[a.hook] = a.answer.class == "none"
	}
	return f
}

// checkJournal checks a stopped server's database against what every
// attempt was told:
//   - every acknowledged (2xx) event is in the journal, at the sequence
//     and with the verdict the reply gave, with the body's SHA-256;
//   - no journal entry belongs to a body that was never sent;
//   - each dedupe key has exactly one first verdict (see firstVerdicts),
//     and every event sent has one (a status snapshot one per version of
//     its aggregate it was decided at);
//   - state == replay of the journal for every aggregate;
//   - the hash chain verifies.
//
// It returns the journal.
func checkJournal(t *testing.T, store storage.Store, ids redact.IDKey, h *history, hooks []*webhook) []storage.JournalEntry {
	t.Helper()
	ctx := context.Background()
	entries := journal(t, store)
	bySeq := make(map[int64]storage.JournalEntry, len(entries))
	for _, e := range entries {
		bySeq[e.Seq] = e
	}
	sent := map[string]bool{}
	for _, w := range hooks {
		sent[sha(w.body)] = true
	}

	var errs []string
	problems := 0
	fail := func(format string, args ...any) {
		if problems++; len(errs) < 20 {
			errs = append(errs, fmt.Sprintf(format, args...))
		}
	}
	for _, a := range h.attempts {
		switch a.answer.class {
		case "4xx":
			fail("%s webhook answered %d: %s", a.hook.provider, a.answer.status, a.answer.raw)
			continue
		case "5xx":
			if a.answer.status == 503 && a.answer.retryAfter == "" {
				fail("503 without Retry-After")
			}
			continue
		case "none":
			continue
		}
		if a.answer.err != nil {
			fail("2xx with an unreadable reply: %v", a.answer.err)
			continue
		}
		if len(a.answer.reply.Results) != len(a.hook.keys) {
			fail("%s webhook with %d events acknowledged with %d results", a.hook.provider, len(a.hook.keys), len(a.answer.reply.Results))
		}
		for _, r := range a.answer.reply.Results {
			e, ok := bySeq[r.Seq]
			switch {
			case !ok:
				fail("acknowledged entry %d (%s %s, %s) is not in the journal", r.Seq, a.hook.provider, r.Event, r.Verdict)
			case e.BodySHA256 != sha(a.hook.body):
				fail("acknowledged entry %d holds another body: the acknowledged one was lost", r.Seq)
			case e.Verdict != r.Verdict || e.Event != r.Event || e.Key.ID != r.ID:
				fail("acknowledged entry %d: told %s %s %s, journal says %s %s %s", r.Seq, r.ID, r.Event, r.Verdict, e.Key.ID, e.Event, e.Verdict)
			}
			for _, res := range r.Resolved {
				if e, ok := bySeq[res.Seq]; !ok || e.ResolvesSeq == 0 || e.Verdict != res.Verdict {
					fail("acknowledged resolution %d is not in the journal as told (%s)", res.Seq, res.Verdict)
				}
			}
		}
	}
	for _, e := range entries {
		if !sent[e.BodySHA256] {
			fail("journal entry %d (%s %s) belongs to a body that was never sent", e.Seq, e.Key.Provider, e.Event)
		}
	}
	firsts := firstVerdicts(entries)
	for k, n := range firsts {
		if n != 1 {
			fail("dedupe key %s/%s has %d first verdicts", k[0], k[1], n)
		}
	}
	// A status snapshot's receipt is scoped to its aggregate's version
	// (sent key + "@v" + version): a copy that arrives after its aggregate
	// moved is decided again, under a key of its own. Every sent event
	// has at least one first verdict; only a snapshot may have several.
	perEvent := map[[2]string]int{}
	for k, n := range firsts {
		perEvent[[2]string{k[0], sentKey(k[1])}] += n
	}
	want := 0
	for _, w := range uniq(hooks) {
		for _, k := range w.keys {
			want++
			// The engine masks an identifier that holds a card-number
			// candidate (a digit run of a hex hash can look like one).
			n := perEvent[[2]string{w.provider, ids.ID(k)}]
			if n == 0 {
				fail("%s event %s has no first verdict although it was acknowledged", w.provider, k)
			}
			if n > 1 && !snapshotProvider(w.provider) {
				fail("%s event %s has %d first verdicts", w.provider, k, n)
			}
		}
	}
	if len(perEvent) != want {
		fail("%d dedupe keys have a first verdict, %d events were sent", len(perEvent), want)
	}
	bad, err := engine.Verify(ctx, store, machines(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range bad {
		fail("replay differs from stored state: %v seq %d: %s", m.Key, m.Seq, m.Detail)
	}
	rep, err := storage.VerifyChain(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Checked != int64(len(entries)) {
		fail("chain: ok=%v checked %d of %d: %s", rep.OK, rep.Checked, len(entries), rep.Problem)
	}
	if len(errs) > 0 {
		t.Fatalf("%d problems, the first ones:\n%s", problems, strings.Join(errs, "\n"))
	}
	return entries
}

// firstVerdicts counts, per (provider, dedupe key), the entries that
// recorded the event for the first time: webhook entries whose verdict is
// not "duplicate" and not a "conflict" rejection. An event's first verdict
// is applied, deferred, recorded or rejected (stale, illegal, amount...);
// a deferred event's later resolution is an entry of the engine's, not a
// first verdict. A malformed body is recorded under its body hash and has
// no first verdict to count (none is sent here).
func firstVerdicts(entries []storage.JournalEntry) map[[2]string]int {
	out := map[[2]string]int{}
	for _, e := range entries {
		if e.Actor != engine.ActorWebhook || e.Verdict == string(sm.VerdictDuplicate) ||
			strings.HasPrefix(e.Reason, string(sm.ReasonConflict)) {
			continue
		}
		out[[2]string{e.Key.Provider, e.DedupeKey}]++
	}
	return out
}

// sentKey is the dedupe key a webhook's event was sent with: a status
// snapshot's journal key carries the version it was decided at as an
// "@v<version>" suffix (see engine.receiptKeys).
func sentKey(journalKey string) string {
	i := strings.LastIndex(journalKey, "@v")
	if i < 0 {
		return journalKey
	}
	for _, c := range journalKey[i+2:] {
		if c < '0' || c > '9' {
			return journalKey
		}
	}
	if i+2 == len(journalKey) {
		return journalKey
	}
	return journalKey[:i]
}

// snapshotProvider reports whether the harness's events of provider are
// status snapshots of their own object (Inyo payments, Magnius
// transactions), decided again when they arrive after their aggregate
// moved: stale when behind, never a duplicate of an older copy.
func snapshotProvider(provider string) bool {
	return provider == "inyo" || provider == "magnius"
}

func uniq(hooks []*webhook) []*webhook {
	seen := map[*webhook]bool{}
	var out []*webhook
	for _, w := range hooks {
		if !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}

// checkFinal checks that every scenario's aggregates ended where they must.
func checkFinal(t *testing.T, store storage.Reader, scs []scenario) {
	t.Helper()
	var errs []string
	for _, sc := range scs {
		for key, state := range sc.final {
			a, err := store.Aggregate(context.Background(), key)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%v: %v", key, err))
			} else if a.State != state {
				errs = append(errs, fmt.Sprintf("%v ended %s, want %s", key, a.State, state))
			}
		}
	}
	if len(errs) > 0 {
		t.Fatalf("%d aggregates in the wrong final state, the first: %s", len(errs), strings.Join(errs[:min(len(errs), 10)], "\n"))
	}
}

// crashpoints are the windows of the commit path every TestCrash run kills
// the server in (cmd/paystate/crashpoints.go): before the statements,
// between the last statement and COMMIT, after COMMIT before the answer.
var crashpoints = []string{"before-statements", "before-commit", "after-commit"}

// TestCrash is the crash harness: the real paystate binary is killed with
// SIGKILL while webhooks of every provider arrive, duplicated and out of
// order, from concurrent senders that retry until answered, as providers
// do: first once in each window of the commit path (the server stops
// there, and the kill cuts off the webhooks of that transaction), then at
// random moments. Afterwards the database must hold exactly what the
// server acknowledged, once.
func TestCrash(t *testing.T) {
	total, kills, senders := 200, 3, 8
	if *long {
		total, kills = 5000, 20
	}
	seed := seed(t)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	tag := fmt.Sprintf("c%x", seed%0xffffff)

	// About a quarter of the deliveries are duplicates of another.
	scs := scenarios(t, tag, total*3/4)
	var plan []*webhook
	for _, sc := range scs {
		for i := range sc.hooks {
			plan = append(plan, &sc.hooks[i])
		}
	}
	distinct := len(plan)
	for len(plan) < total {
		plan = append(plan, plan[rng.IntN(distinct)])
	}
	rng.Shuffle(len(plan), func(i, j int) { plan[i], plan[j] = plan[j], plan[i] })

	// Each window in a random order, at one of the first transactions
	// that reach it after a start.
	windows := slices.Clone(crashpoints)
	rng.Shuffle(len(windows), func(i, j int) { windows[i], windows[j] = windows[j], windows[i] })
	stops := make([]string, len(windows))
	for i, w := range windows {
		stops[i] = fmt.Sprintf("%s:%d", w, 1+rng.IntN(3))
	}
	// Random kills: after a random number of first deliveries have begun,
	// plus a random pause of up to 20 ms.
	at := make([]int64, kills)
	for i := range at {
		at[i] = int64(1 + rng.IntN(total-1))
	}
	slices.Sort(at)
	pauses := make([]time.Duration, kills)
	for i := range pauses {
		pauses[i] = time.Duration(rng.IntN(20_000)) * time.Microsecond
	}

	start := time.Now()
	srv := newServer(t, nil)
	srv.stopAt(stops[0])
	if err := srv.start(); err != nil {
		t.Fatal(err)
	}
	h := &history{}
	var started atomic.Int64
	delivered, killerDone := make(chan struct{}), make(chan struct{})
	var stopped []crashLine
	go func() {
		defer close(killerDone)
		for i := range stops {
			var line crashLine
			select {
			case line = <-srv.crashes:
			case <-delivered:
				t.Errorf("crashpoint %s was never reached", stops[i])
				return
			}
			// An engine that answered before COMMIT has answered these:
			// the kill waits until the senders have their answers.
			for !h.has("2xx", line.Answered) {
				select {
				case <-delivered:
					t.Errorf("crashpoint %s: the early answers never arrived", stops[i])
					return
				case <-time.After(time.Millisecond):
				}
			}
			next := ""
			if i+1 < len(stops) {
				next = stops[i+1]
			}
			srv.stopAt(next)
			srv.kill()
			stopped = append(stopped, line)
			if err := srv.start(); err != nil {
				t.Errorf("restart after the %s crashpoint: %v", stops[i], err)
				return
			}
		}
		for i, n := range at {
			for started.Load() < n {
				time.Sleep(200 * time.Microsecond)
			}
			time.Sleep(pauses[i])
			srv.kill()
			if err := srv.start(); err != nil {
				t.Errorf("restart after kill %d: %v", i+1, err)
				return
			}
		}
	}()
	deliverInto(t, h, srv, plan, senders, &started)
	close(delivered)
	<-killerDone
	// The last word is a kill too: what was acknowledged must survive it.
	srv.kill()
	elapsed := time.Since(start)

	store := srv.openStore()
	entries := checkJournal(t, store, srv.idKey(), h, plan)
	checkFinal(t, store, scs)

	f := h.figures()
	if srv.kills != len(stops)+kills+1 {
		t.Fatalf("%d kills, want %d", srv.kills, len(stops)+kills+1)
	}
	// Each window's kill cut off the webhooks of its transaction: a
	// window that cut off nothing proved nothing.
	for _, c := range stopped {
		if len(c.Cut) == 0 {
			t.Fatalf("the kill at %s cut off no webhook", c.Point)
		}
		if !h.has("none", c.Cut) {
			t.Fatalf("the kill at %s did not cut off every webhook of its transaction: %s", c.Point, h.classes(c.Cut))
		}
	}
	if f.none == 0 {
		t.Fatalf("no request was cut off by a kill")
	}
	verdicts := map[string]int{}
	for _, e := range entries {
		verdicts[e.Verdict]++
	}
	t.Logf("crash harness: seed %d, %d webhooks (%d distinct, %d providers), %d senders, a SIGKILL at %v, %d at random moments (+1 at the end), %d starts, %s",
		seed, total, distinct, len(builders), senders, stops, kills, srv.starts, elapsed.Round(time.Millisecond))
	t.Logf("attempts %d: 2xx %d, 4xx %d, 5xx %d, no answer %d; replies lost to a kill after the commit (retry said duplicate) %d",
		f.attempts, f.ok2xx, f.ok4xx, f.err5xx, f.none, f.lostReplies)
	t.Logf("journal %d entries %v; every acknowledged event present, one first verdict per dedupe key, replay == state, chain verified",
		len(entries), verdicts)
}
