package enginetest

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	sm "github.com/paystate/paystate/statemachine"
)

// StatusOrderIndependence is OrderIndependence for status-snapshot
// machines. A snapshot that lies ahead is applied at once (jumping along
// the legal path) and one behind is stale, so the model is simple: walking
// a forward path of statuses s1..sn delivered in any order, with
// duplicates and restarts, the aggregate ends in the state of sn, and a
// snapshot is applied exactly when it is further along than every snapshot
// delivered before it.
func StatusOrderIndependence(t *testing.T, h *Harness, k sm.Kind, body BodyFunc) {
	m := h.Machines.Machine(h.Provider.Name(), k)
	require.NotNil(t, m)
	require.Equal(t, sm.ModeStatus, m.Table().Mode)
	round := 0
	rapid.Check(t, func(rt *rapid.T) {
		round++
		id := fmt.Sprintf("sprop-%d", round)
		seq, states := statusPath(rt, m)
		if len(seq) == 0 {
			rt.Skip("no path")
		}
		order := rapid.Permutation(indexes(len(seq))).Draw(rt, "order")
		furthest := -1
		for _, i := range order {
			copies := rapid.IntRange(1, 3).Draw(rt, "copies")
			for c := 0; c < copies; c++ {
				for _, o := range h.Deliver(body(id, seq[i], i)) {
					want := sm.VerdictRejected
					switch {
					case c > 0:
						want = sm.VerdictDuplicate
					case i > furthest:
						want = sm.VerdictApplied
					}
					if o.Verdict != want {
						rt.Fatalf("path %v delivered as %v: %s (#%d) got %s (%s), want %s", seq, order, seq[i], i, o.Verdict, o.Reason, want)
					}
				}
			}
			furthest = max(furthest, i)
			if rapid.IntRange(0, 9).Draw(rt, "restart") == 0 {
				h.Restart()
			}
		}
		a := h.Aggregate(k, id)
		if a.State != string(states[len(states)-1]) {
			rt.Fatalf("path %v delivered as %v: state %s, want %s", seq, order, a.State, states[len(states)-1])
		}
		if err := h.Check(); err != nil {
			rt.Fatal(err)
		}
	})
}

// statusPath walks forward, state-changing, non-revert edges from StateNew
// without revisiting a state, and returns the statuses and the states they
// lead to.
func statusPath(rt *rapid.T, m *sm.Machine) ([]string, []sm.State) {
	var seq []string
	var states []sm.State
	cur := sm.StateNew
	visited := map[sm.State]bool{cur: true}
	steps := rapid.IntRange(1, 6).Draw(rt, "length")
	for len(seq) < steps {
		var options []string
		for _, ev := range m.Events() {
			to, ok := m.Target(cur, ev)
			if ok && to != cur && !visited[to] && !m.IsRevert(cur, ev) {
				options = append(options, ev)
			}
		}
		if len(options) == 0 {
			break
		}
		ev := rapid.SampledFrom(options).Draw(rt, "status")
		to, _ := m.Target(cur, ev)
		seq, states = append(seq, ev), append(states, to)
		visited[to] = true
		cur = to
	}
	return seq, states
}
