package statemachine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/looplab/fsm"
)

// Machine is a validated table, ready to decide events. It is safe for
// concurrent use.
type Machine struct {
	table Table
	// edges maps (event, source) to its row; Stay rows are expanded.
	edges map[edgeKey]edge
	// sources lists, per event, the states it is legal from, in table order.
	sources map[string][]State
	// events lists event names in table order (for deterministic walks).
	events     []string
	recordOnly map[string]bool
	states     []State
	// ahead[s] holds the states reachable from s without a Revert edge.
	ahead map[State]map[State]bool
	// fsms pools looplab machines built from the table: building one costs
	// microseconds and allocations, hydrating one with SetState does not.
	fsms      sync.Pool
	fsmEvents fsm.Events
	// version is the table's content hash (Table.Version).
	version string
}

type edgeKey struct {
	event string
	from  State
}

type edge struct {
	Transition
	from State
	to   State // Stay resolved
}

// Build validates t and returns its machine. It rejects a table with a
// duplicate (event, source) edge (looplab/fsm would silently keep the last
// one), a state that is not canonical for the kind, a state no event can
// reach from StateNew, an amount effect on a kind without amounts, a word
// that is both a transition and record-only, and a table whose edges
// looplab/fsm does not run as the table declares them.
func Build(t Table) (*Machine, error) {
	m := &Machine{
		table:      t,
		edges:      map[edgeKey]edge{},
		sources:    map[string][]State{},
		recordOnly: map[string]bool{},
		ahead:      map[State]map[State]bool{},
	}
	if t.Provider == "" {
		return nil, errors.New("statemachine: table has no provider")
	}
	if CanonicalStates(t.Kind) == nil {
		return nil, fmt.Errorf("statemachine: %s: unknown kind %q", t.Provider, t.Kind)
	}
	name := fmt.Sprintf("%s/%s", t.Provider, t.Kind)
	seen := map[State]bool{}
	for i, tr := range t.Transitions {
		row := fmt.Sprintf("%s: row %d (%s)", name, i+1, tr.Event)
		if tr.Event == "" || len(tr.From) == 0 || tr.To == "" {
			return nil, fmt.Errorf("statemachine: %s: event, from and to are all required", row)
		}
		if tr.To != Stay && !IsCanonical(t.Kind, tr.To) {
			return nil, fmt.Errorf("statemachine: %s: target %q is not a canonical %s state", row, tr.To, t.Kind)
		}
		if tr.Effect != NoEffect && tr.Effect != Reprice && t.Kind != KindPayment {
			return nil, fmt.Errorf("statemachine: %s: amount effect %s on a %s machine", row, tr.Effect, t.Kind)
		}
		if tr.UnlessAuthorized && t.Kind != KindPayment {
			return nil, fmt.Errorf("statemachine: %s: UnlessAuthorized on a %s machine", row, t.Kind)
		}
		if tr.Effect != NoEffect && tr.To == Stay {
			return nil, fmt.Errorf("statemachine: %s: amount effect %s on a Stay row", row, tr.Effect)
		}
		if _, ok := m.sources[tr.Event]; !ok {
			m.events = append(m.events, tr.Event)
		}
		for _, from := range tr.From {
			if from != StateNew && !IsCanonical(t.Kind, from) {
				return nil, fmt.Errorf("statemachine: %s: source %q is not a canonical %s state", row, from, t.Kind)
			}
			k := edgeKey{tr.Event, from}
			if _, dup := m.edges[k]; dup {
				return nil, fmt.Errorf("statemachine: %s: duplicate edge from %s", row, from)
			}
			to := tr.To
			if to == Stay {
				if from == StateNew {
					return nil, fmt.Errorf("statemachine: %s: a Stay row cannot start from %s", row, StateNew)
				}
				to = from
			}
			m.edges[k] = edge{Transition: tr, from: from, to: to}
			m.sources[tr.Event] = append(m.sources[tr.Event], from)
			seen[from] = true
			for _, o := range outcomes(to, tr.Effect) {
				seen[o] = true
			}
		}
	}
	for _, w := range t.RecordOnly {
		if _, clash := m.sources[w]; clash {
			return nil, fmt.Errorf("statemachine: %s: %q is both a transition and record-only", name, w)
		}
		m.recordOnly[w] = true
	}
	if len(m.edges) == 0 {
		return nil, fmt.Errorf("statemachine: %s: no transitions", name)
	}

	// Reachability over every edge (reverts included) finds dead states;
	// over forward edges only it tells "ahead" from "behind".
	all := m.reach(StateNew, true)
	for s := range seen {
		m.states = append(m.states, s)
	}
	slices.SortFunc(m.states, m.stateOrder)
	for _, s := range m.states {
		if s != StateNew && !all[s] {
			return nil, fmt.Errorf("statemachine: %s: state %s is unreachable", name, s)
		}
	}
	for _, s := range m.states {
		m.ahead[s] = m.reach(s, false)
	}

	for _, ev := range m.events {
		for _, from := range m.sources[ev] {
			e := m.edges[edgeKey{ev, from}]
			m.fsmEvents = append(m.fsmEvents, fsm.EventDesc{Name: ev, Src: []string{string(from)}, Dst: string(e.to)})
		}
	}
	m.fsms.New = func() any { return newFSM(string(StateNew), m.fsmEvents, nil) }
	// Decide runs every edge on looplab/fsm too; a disagreement found there
	// would have to fail a delivery, so find it here, once, instead.
	for _, ev := range m.events {
		for _, from := range m.sources[ev] {
			want := m.edges[edgeKey{ev, from}].to
			if got, ok := m.step(from, ev); !ok || got != want {
				return nil, fmt.Errorf("statemachine: %s: looplab/fsm does not take %s from %s to %s", name, ev, from, want)
			}
		}
	}
	m.version = t.Version()
	return m, nil
}

// newFSM builds a looplab machine. It is a variable so that a test can
// stand in a library that disagrees with the table.
var newFSM = fsm.NewFSM

// reach returns the states reachable from s in one or more steps, through
// every edge and every amount outcome, skipping Revert edges unless
// withRevert.
func (m *Machine) reach(s State, withRevert bool) map[State]bool {
	out := map[State]bool{}
	queue := []State{s}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, ev := range m.events {
			e, ok := m.edges[edgeKey{ev, cur}]
			if !ok || (e.Revert && !withRevert) {
				continue
			}
			for _, o := range outcomes(e.to, e.Effect) {
				if !out[o] {
					out[o] = true
					queue = append(queue, o)
				}
			}
		}
	}
	return out
}

// stateOrder sorts StateNew first, then canonical order.
func (m *Machine) stateOrder(a, b State) int {
	rank := func(s State) int {
		if s == StateNew {
			return -1
		}
		return slices.Index(canonicalStates[m.table.Kind], s)
	}
	return rank(a) - rank(b)
}

// Table returns the table the machine was built from.
func (m *Machine) Table() Table { return m.table }

// Provider and Kind name the machine.
func (m *Machine) Provider() string { return m.table.Provider }

// Kind is the aggregate kind the machine runs.
func (m *Machine) Kind() Kind { return m.table.Kind }

// States returns the states the machine uses, StateNew first.
func (m *Machine) States() []State { return slices.Clone(m.states) }

// Terminal reports whether no edge other than a self-loop leaves s.
func (m *Machine) Terminal(s State) bool {
	for _, ev := range m.events {
		if e, ok := m.edges[edgeKey{ev, s}]; ok {
			for _, o := range outcomes(e.to, e.Effect) {
				if o != s {
					return false
				}
			}
		}
	}
	return true
}

// Knows reports whether word is an event (or status) of this machine.
func (m *Machine) Knows(word string) bool {
	_, ok := m.sources[word]
	return ok || m.recordOnly[word]
}

// Events returns the machine's transition words in table order.
func (m *Machine) Events() []string { return slices.Clone(m.events) }

// step runs event from state on a pooled looplab/fsm machine and returns
// the declared target. ok is false when looplab finds no such transition.
func (m *Machine) step(from State, event string) (State, bool) {
	f := m.fsms.Get().(*fsm.FSM)
	defer m.fsms.Put(f)
	f.SetState(string(from))
	err := f.Event(context.Background(), event)
	var same fsm.NoTransitionError
	if err != nil && !errors.As(err, &same) {
		return "", false
	}
	return State(f.Current()), true
}

// Target returns the declared target of event from state (Stay resolved;
// the amounts may still choose the partial or full twin), and whether the
// edge exists.
func (m *Machine) Target(from State, event string) (State, bool) {
	e, ok := m.edges[edgeKey{event, from}]
	return e.to, ok
}

// IsRevert reports whether the edge for event from state is a revert.
func (m *Machine) IsRevert(from State, event string) bool {
	return m.edges[edgeKey{event, from}].Revert
}
