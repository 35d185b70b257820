package enginetest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/paystate/paystate/providers"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
)

// StatusOrderIndependence is OrderIndependence for status-snapshot
// machines. A snapshot that lies ahead is applied at once (jumping along
// the legal path) and one behind is stale, so the model is simple: walking
// a forward path of statuses s1..sn delivered in any order, with
// duplicates and restarts, the aggregate ends in the state of sn, and a
// snapshot is applied exactly when it is further along than every snapshot
// delivered before it.
func StatusOrderIndependence(t *testing.T, h *Harness, k sm.Kind, body BodyFunc) {
	m := statusMachine(t, h, k)
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

// StatusCyclesConverge is the order property for status machines with
// cycles (a subscription that recovers, a chargeback disputed again, a
// transaction waiting again). It draws a legal path of snapshots that may
// revisit statuses — revert rows, Stay rows, jumps — and delivers it in
// order to one aggregate and shuffled to another, each snapshot with
// immediate retries and the engine restarted at random; both must end in
// the same state and amounts, every in-order snapshot must be applied,
// every retry must be a duplicate, and the stored state must equal a
// replay of the journal.
//
// The shuffle keeps one order: a snapshot that can read as a revisit (its
// status was seen before on the path, or the machine has a revert row for
// its status) arrives after every snapshot before it on the path and
// before every one after it, while the snapshots between two such arrive in
// any order. No rule can do better with bodies that carry no time or
// sequence number: ACTIVE, ACTIVE, PAST_DUE is the arrival of the one-lap
// path CREATED, ACTIVE, PAST_DUE (with a retry) as much as of a two-lap
// one, and an ACTIVE delivered after PAST_DUE is a recovery whether or not
// it was meant as one; the two end differently.
//
// The totals compared are the money that moved (captured, refunded), the
// face amount and whether they are fully known. The authorized figure is
// left out: an attempt that failed after its authorization, reported
// failed first, is stale to its late AUTHORIZED, and no later snapshot
// says what was authorized.
func StatusCyclesConverge(t *testing.T, h *Harness, k sm.Kind, body BodyFunc) {
	m := statusMachine(t, h, k)
	round := 0
	rapid.Check(t, func(rt *rapid.T) {
		round++
		inOrder, shuffled := fmt.Sprintf("cyc-in-%d", round), fmt.Sprintf("cyc-sh-%d", round)
		seq, barrier := cyclicPath(rt, h, m, body, inOrder)
		if len(seq) == 0 {
			rt.Skip("no path")
		}
		for i, status := range seq {
			for _, o := range h.Deliver(body(inOrder, status, i)) {
				if o.Verdict != sm.VerdictApplied {
					rt.Fatalf("path %v in order: %s (#%d) got %s (%s)", seq, status, i, o.Verdict, o.Reason)
				}
			}
		}

		// Segments start at each revisit; within one, the revisit comes
		// first and the rest in any order.
		var order []int
		for start := 0; start < len(seq); {
			end := start + 1
			for end < len(seq) && !barrier[end] {
				end++
			}
			first, rest := start, indexes(end-start-1)
			if !barrier[start] {
				first, rest = -1, indexes(end-start)
			}
			if first >= 0 {
				order = append(order, first)
				for i := range rest {
					rest[i] += start + 1
				}
			} else {
				for i := range rest {
					rest[i] += start
				}
			}
			if len(rest) > 0 {
				order = append(order, rapid.Permutation(rest).Draw(rt, "segment")...)
			}
			start = end
		}
		for _, i := range order {
			copies := rapid.IntRange(1, 3).Draw(rt, "copies")
			for c := 0; c < copies; c++ {
				for _, o := range h.Deliver(body(shuffled, seq[i], i)) {
					if c > 0 && o.Verdict != sm.VerdictDuplicate {
						rt.Fatalf("path %v delivered as %v: retry of %s (#%d) got %s (%s)", seq, order, seq[i], i, o.Verdict, o.Reason)
					}
				}
			}
			if rapid.IntRange(0, 9).Draw(rt, "restart") == 0 {
				h.Restart()
			}
		}
		a, b := h.Aggregate(k, inOrder), h.Aggregate(k, shuffled)
		type end struct {
			State                      string
			Amount, Captured, Refunded int64
			Unknown                    bool
		}
		of := func(x storage.Aggregate) end {
			return end{x.State, x.Amount, x.Captured, x.Refunded, x.AmountsUnknown}
		}
		if of(a) != of(b) {
			rt.Fatalf("path %v: in order %+v, delivered as %v %+v", seq, of(a), order, of(b))
		}
		if err := h.Check(); err != nil {
			rt.Fatal(err)
		}
	})
}

// cyclicPath walks the machine with Decide from StateNew, taking any
// status that is applied from where the walk is and is not the current
// status (that would be a duplicate, not a step): forward rows, jumps,
// Stay rows and revert rows alike. barrier[i] marks a status that can read
// as a revisit: seen before on the path, or the event of a revert row.
func cyclicPath(rt *rapid.T, h *Harness, m *sm.Machine, body BodyFunc, id string) ([]string, []bool) {
	var seq []string
	var barrier []bool
	cur := sm.Snapshot{State: sm.StateNew}
	seen := map[string]bool{}
	reverts := map[string]bool{}
	for _, tr := range m.Table().Transitions {
		if tr.Revert {
			reverts[tr.Event] = true
		}
	}
	steps := rapid.IntRange(1, 10).Draw(rt, "length")
	for len(seq) < steps {
		n := len(seq)
		var options []string
		for _, ev := range m.Events() {
			in := inputOfKind(rt, h, body(id, ev, n), m.Kind())
			if in.Status == cur.Status && cur.State != sm.StateNew {
				continue
			}
			if sm.Decide(m, cur, in).Verdict == sm.VerdictApplied {
				options = append(options, ev)
			}
		}
		if len(options) == 0 {
			break
		}
		ev := rapid.SampledFrom(options).Draw(rt, "status")
		in := inputOfKind(rt, h, body(id, ev, n), m.Kind())
		d := sm.Decide(m, cur, in)
		barrier = append(barrier, seen[in.Status] || reverts[ev])
		seen[in.Status] = true
		seq = append(seq, ev)
		cur = sm.Snapshot{State: d.To, Amounts: d.Amounts, Status: in.Status}
	}
	return seq, barrier
}

// statusMachine is the harness provider's status machine of kind k.
func statusMachine(t *testing.T, h *Harness, k sm.Kind) *sm.Machine {
	m := h.Machines.Machine(h.Provider.Name(), k)
	require.NotNil(t, m)
	require.Equal(t, sm.ModeStatus, m.Table().Mode)
	return m
}

// WithoutReverts is p with the Revert rows of its tables left out. A
// status machine's revert rows are the returns a late snapshot cannot be
// told from (a recovery, a challenge, a release, a settlement after a
// failure), so StatusOrderIndependence holds for the rest of the machine,
// which is what it checks on such a provider; StatusCyclesConverge runs
// with them.
func WithoutReverts(p providers.Provider) providers.Provider { return withoutReverts{p} }

type withoutReverts struct{ providers.Provider }

func (w withoutReverts) Tables() []sm.Table {
	tables := w.Provider.Tables()
	for i := range tables {
		tables[i].Transitions = slices.DeleteFunc(slices.Clone(tables[i].Transitions), func(tr sm.Transition) bool { return tr.Revert })
	}
	return tables
}
