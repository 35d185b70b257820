package enginetest

import (
	"cmp"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/paystate/paystate/engine"
	"github.com/paystate/paystate/providers"
	sm "github.com/paystate/paystate/statemachine"
)

// BodyFunc builds a provider body for event on aggregate id. n numbers the
// event within its sequence so that bodies (and dedupe keys) differ.
type BodyFunc func(id, event string, n int) []byte

// OrderIndependence is the engine's central property, checked for one
// provider's event-mode machine of kind k: take a legal sequence whose
// order the machine can tell (each event is legal from exactly one state of
// the sequence, and no state repeats), deliver it shuffled, with
// duplicates, with restarts of the engine in between — and the final state
// and amounts must equal those of delivering it in order, every event must
// have been applied exactly once, every redelivery answered as a duplicate,
// the stored state must equal a replay of the journal and the chain must
// verify. Events that leave the state alone are excluded: their place in a
// sequence cannot be told from the state.
func OrderIndependence(t *testing.T, h *Harness, k sm.Kind, body BodyFunc) {
	m := h.Machines.Machine(h.Provider.Name(), k)
	require.NotNil(t, m)
	round := 0
	rapid.Check(t, func(rt *rapid.T) {
		round++
		id := fmt.Sprintf("prop-%d", round)
		seq := legalSequence(rt, m)
		if len(seq) == 0 {
			rt.Skip("no sequence")
		}
		// The model: the same events decided in order.
		model := sm.Snapshot{State: sm.StateNew}
		for i, ev := range seq {
			d := sm.Decide(m, model, inputOf(rt, h, body(id, ev, i)))
			if d.Verdict != sm.VerdictApplied {
				rt.Fatalf("generator produced an illegal sequence at %s: %s", ev, d.Reason())
			}
			model = sm.Snapshot{State: d.To, Amounts: d.Amounts}
		}

		order := rapid.Permutation(indexes(len(seq))).Draw(rt, "order")
		applied := 0
		delivered := map[int]bool{}
		for _, i := range order {
			copies := rapid.IntRange(1, 3).Draw(rt, "copies")
			for c := 0; c < copies; c++ {
				for _, o := range h.Deliver(body(id, seq[i], i)) {
					if c > 0 && o.Verdict != sm.VerdictDuplicate {
						rt.Fatalf("%s: redelivery answered %s, not duplicate", seq[i], o.Verdict)
					}
					switch o.Verdict {
					case sm.VerdictApplied:
						applied++
					case sm.VerdictDuplicate:
						if c == 0 {
							rt.Fatalf("%s: first delivery answered as a duplicate", seq[i])
						}
					case sm.VerdictDeferred:
					default:
						rt.Fatalf("%s: unexpected %s (%s)", seq[i], o.Verdict, o.Reason)
					}
					for _, r := range o.Resolved {
						if r.Verdict != sm.VerdictApplied {
							rt.Fatalf("held %s resolved as %s (%s)", r.Event, r.Verdict, r.Reason)
						}
						applied++
					}
				}
				if delivered[i] && c == 0 {
					rt.Fatalf("index delivered twice by the permutation")
				}
				delivered[i] = true
			}
			if rapid.IntRange(0, 9).Draw(rt, "restart") == 0 {
				h.Restart()
			}
		}
		a := h.Aggregate(k, id)
		if a.State != string(model.State) {
			rt.Fatalf("sequence %v delivered as %v: state %s, in order %s", seq, order, a.State, model.State)
		}
		got := engine.Amounts(a)
		if got != model.Amounts {
			rt.Fatalf("amounts %+v, in order %+v", got, model.Amounts)
		}
		if applied != len(seq) || a.Version != int64(len(seq)) {
			rt.Fatalf("applied %d times (version %d) for %d events", applied, a.Version, len(seq))
		}
		if err := h.Check(); err != nil {
			rt.Fatal(err)
		}
	})
}

func indexes(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func inputOf(rt *rapid.T, h *Harness, body []byte) sm.Input {
	evs, err := h.Provider.Parse(body)
	if err != nil || len(evs) != 1 {
		rt.Fatalf("body does not parse to one event: %v", err)
	}
	return input(evs[0])
}

// inputOfKind is inputOf for a body whose events are on several kinds (an
// Inyo child refund): the one of kind k.
func inputOfKind(rt *rapid.T, h *Harness, body []byte, k sm.Kind) sm.Input {
	evs, err := h.Provider.Parse(body)
	if err != nil {
		rt.Fatalf("body does not parse: %v", err)
	}
	for _, e := range evs {
		if e.Kind == k {
			return input(e)
		}
	}
	rt.Fatalf("body has no event of kind %s", k)
	return sm.Input{}
}

func input(e providers.Event) sm.Input {
	return sm.Input{Event: e.Name, Amount: e.Amount, HasAmount: e.HasAmount, Currency: e.Currency,
		Snapshot: e.Snapshot, Status: cmp.Or(e.ProviderStatus, e.Name)}
}

// legalSequence walks the machine from StateNew along edges that change
// state, never revisiting a state, and keeps the walk only while each
// event is legal from exactly one state of the walk so far — the condition
// under which arrival order cannot matter.
func legalSequence(rt *rapid.T, m *sm.Machine) []string {
	var seq []string
	cur := sm.StateNew
	visited := map[sm.State]bool{cur: true}
	steps := rapid.IntRange(1, 8).Draw(rt, "length")
	for len(seq) < steps {
		var options []string
		for _, ev := range m.Events() {
			to, ok := m.Target(cur, ev)
			if !ok || to == cur || visited[to] || m.IsRevert(cur, ev) {
				continue
			}
			options = append(options, ev)
		}
		if len(options) == 0 {
			break
		}
		ev := rapid.SampledFrom(options).Draw(rt, "event")
		to, _ := m.Target(cur, ev)
		// Keep the sequence unambiguous: ev must not be legal from any
		// state already visited, and no earlier event may be legal from
		// the new state.
		ambiguous := false
		for s := range visited {
			if _, ok := m.Target(s, ev); ok && s != cur {
				ambiguous = true
			}
		}
		for _, prev := range seq {
			if _, ok := m.Target(to, prev); ok {
				ambiguous = true
			}
		}
		if ambiguous {
			break
		}
		seq = append(seq, ev)
		visited[to] = true
		cur = to
	}
	return seq
}
