package crashtest

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
)

// TestDuplicateStorm delivers 1 000 distinct events (200 in the short
// form), each 5 times, from 50 concurrent senders to the real server. Exactly one delivery of each
// event gets its first verdict (see firstVerdicts: applied, deferred,
// recorded, or rejected as stale when a status snapshot arrives after a
// later one of the same object), every other one is answered 200
// "duplicate", every deferred event is resolved exactly once, and no
// transition happens twice: each aggregate's version is the number of its
// applied entries, which carry versions 1, 2, ... in order.
func TestDuplicateStorm(t *testing.T) {
	const copies, senders = 5, 50
	events := 200
	if *long {
		events = 1000
	}
	seed := seed(t)
	rng := rand.New(rand.NewPCG(seed, 0x5707))
	tag := fmt.Sprintf("s%x", seed%0xffffff)

	// Scenarios whose bodies carry one event each, topped up with
	// customer.created (recorded) to exactly 1 000 events.
	var scs []scenario
	n := 0
	for i := 0; ; i++ {
		sc := []func(testing.TB, string, int) scenario{ngeniusOrder, payengineTransaction, inyoPayment, magniusTransaction}[i%4](t, tag, i)
		if n+len(sc.hooks) > events-events/100-1 { // leave room for a few recorded events
			break
		}
		scs, n = append(scs, sc), n+len(sc.hooks)
	}
	for i := 0; n < events; i++ {
		scs, n = append(scs, genericCustomer(t, tag, i)), n+1
	}
	var plan []*webhook
	for _, sc := range scs {
		for i := range sc.hooks {
			if len(sc.hooks[i].keys) != 1 {
				t.Fatalf("%s body with %d events", sc.provider, len(sc.hooks[i].keys))
			}
			for range copies {
				plan = append(plan, &sc.hooks[i])
			}
		}
	}
	rng.Shuffle(len(plan), func(i, j int) { plan[i], plan[j] = plan[j], plan[i] })

	srv := startBinary(t, nil)
	start := time.Now()
	var started atomic.Int64
	h := deliver(t, srv, plan, senders, &started)
	elapsed := time.Since(start)
	srv.stop()

	// Every delivery was answered 200 at the first attempt.
	told := map[string]int{}
	for _, a := range h.attempts {
		if a.answer.status != 200 {
			t.Fatalf("a delivery was answered %q %d: %s %v", a.answer.class, a.answer.status, a.answer.raw, a.answer.err)
		}
		if len(a.answer.reply.Results) != 1 {
			t.Fatalf("a delivery of one event was answered 200 with %d results: %s", len(a.answer.reply.Results), a.answer.raw)
		}
		told[a.answer.reply.Results[0].Verdict]++
	}
	if len(h.attempts) != events*copies {
		t.Fatalf("%d attempts for %d deliveries", len(h.attempts), events*copies)
	}

	store := srv.openStore()
	entries := checkJournal(t, store, srv.idKey(), h, plan)
	// A copy of a status snapshot that arrives after its aggregate moved
	// on is decided again (stale), not answered duplicate: a snapshot
	// provider can truly send a status again. Every other copy is a
	// duplicate.
	firsts, first := 0, map[string]int{}
	dups, redecided, resolutions := 0, 0, 0
	seen := map[[2]string]bool{}
	for _, e := range entries {
		sent := [2]string{e.Key.Provider, sentKey(e.DedupeKey)}
		switch {
		case e.Actor == "engine":
			resolutions++
		case e.Verdict == string(sm.VerdictDuplicate):
			dups++
		case seen[sent]:
			redecided++
			if !snapshotProvider(e.Key.Provider) || e.Verdict != string(sm.VerdictRejected) || !strings.HasPrefix(e.Reason, string(sm.ReasonStale)) {
				t.Fatalf("entry %d: a copy of %s %s was decided again: %s %s", e.Seq, e.Key.Provider, e.Event, e.Verdict, e.Reason)
			}
		default:
			seen[sent] = true
			firsts++
			first[e.Verdict]++
		}
	}
	if told["duplicate"]+redecided != events*(copies-1) {
		t.Fatalf("%d deliveries were told duplicate and %d copies decided again, want %d in all (%v)", told["duplicate"], redecided, events*(copies-1), told)
	}
	if firsts != events {
		t.Fatalf("%d first verdicts %v, want exactly %d", firsts, first, events)
	}
	// A status snapshot (Inyo, Magnius) that arrives after a later status
	// of its object is stale: that is its first verdict. Nothing else may
	// be rejected.
	for _, e := range entries {
		if e.Actor == "webhook" && e.Verdict == string(sm.VerdictRejected) &&
			(!strings.HasPrefix(e.Reason, string(sm.ReasonStale)) || (e.Key.Provider != "inyo" && e.Key.Provider != "magnius")) {
			t.Fatalf("entry %d: %s %s rejected: %s", e.Seq, e.Key.Provider, e.Event, e.Reason)
		}
	}
	if first["applied"]+first["deferred"]+first["recorded"]+first["rejected"] != events {
		t.Fatalf("first verdicts %v", first)
	}
	if dups+redecided != events*(copies-1) {
		t.Fatalf("%d duplicate entries and %d copies decided again, want %d in all", dups, redecided, events*(copies-1))
	}
	if resolutions != first["deferred"] {
		t.Fatalf("%d deferred events, %d resolutions", first["deferred"], resolutions)
	}

	// Versions add up: no transition happened twice.
	applied := map[storage.AggregateKey][]int64{}
	for _, e := range entries {
		if e.Verdict == string(sm.VerdictApplied) {
			applied[e.Key] = append(applied[e.Key], e.VersionAfter)
		}
	}
	doubles := 0
	for key, versions := range applied {
		a, err := store.Aggregate(t.Context(), key)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range versions {
			if v != int64(i+1) {
				doubles++
			}
		}
		if a.Version != int64(len(versions)) {
			t.Errorf("%v: version %d after %d applied entries", key, a.Version, len(versions))
		}
	}
	if doubles != 0 {
		t.Fatalf("%d applied entries out of version order: a transition happened twice", doubles)
	}
	checkFinal(t, store, scs)
	t.Logf("duplicate storm: %d events × %d deliveries by %d senders in %s: all 200; first verdicts %v; %d duplicates; %d snapshot copies decided again (stale); %d deferred resolved; %d aggregates, 0 double transitions",
		events, copies, senders, elapsed.Round(time.Millisecond), first, dups, redecided, resolutions, len(applied))
}
