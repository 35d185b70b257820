package statemachine

import (
	"fmt"
	"slices"
	"strings"
)

// Mermaid renders the machine as a Mermaid state diagram, from the same
// edges the engine runs. Edges between the same two states are merged into
// one arrow; an edge whose target the amounts decide is drawn to every
// possible target; revert edges are marked "(revert)".
func (m *Machine) Mermaid() string {
	type arrow struct{ from, to State }
	labels := map[arrow][]string{}
	var order []arrow
	for _, ev := range m.events {
		for _, from := range m.sources[ev] {
			e := m.edges[edgeKey{ev, from}]
			label := ev
			if e.Revert {
				label += " (revert)"
			}
			for _, to := range outcomes(e.to, e.Effect) {
				a := arrow{from, to}
				if _, ok := labels[a]; !ok {
					order = append(order, a)
				}
				if !slices.Contains(labels[a], label) {
					labels[a] = append(labels[a], label)
				}
			}
		}
	}
	slices.SortStableFunc(order, func(x, y arrow) int {
		if c := m.stateOrder(x.from, y.from); c != 0 {
			return c
		}
		return m.stateOrder(x.to, y.to)
	})
	var b strings.Builder
	b.WriteString("stateDiagram-v2\n")
	node := func(s State) string {
		if s == StateNew {
			return "[*]"
		}
		return string(s)
	}
	for _, a := range order {
		fmt.Fprintf(&b, "    %s --> %s : %s\n", node(a.from), node(a.to), strings.Join(labels[a], ", "))
	}
	if len(m.table.RecordOnly) > 0 {
		fmt.Fprintf(&b, "    %%%% recorded only: %s\n", strings.Join(m.table.RecordOnly, ", "))
	}
	return b.String()
}
