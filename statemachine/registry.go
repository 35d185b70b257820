package statemachine

import (
	"fmt"
	"sort"
)

// Registry holds every provider's machines, built and validated once at
// start-up.
type Registry struct {
	machines map[string]map[Kind]*Machine
}

// NewRegistry builds every table; the first invalid table fails start-up.
func NewRegistry(tables ...Table) (*Registry, error) {
	r := &Registry{machines: map[string]map[Kind]*Machine{}}
	for _, t := range tables {
		m, err := Build(t)
		if err != nil {
			return nil, err
		}
		if r.machines[t.Provider] == nil {
			r.machines[t.Provider] = map[Kind]*Machine{}
		}
		if r.machines[t.Provider][t.Kind] != nil {
			return nil, fmt.Errorf("statemachine: two %s tables for %s", t.Kind, t.Provider)
		}
		r.machines[t.Provider][t.Kind] = m
	}
	return r, nil
}

// Machine returns the machine for provider and kind, or nil.
func (r *Registry) Machine(provider string, kind Kind) *Machine {
	return r.machines[provider][kind]
}

// All returns every machine ordered by provider, then kind.
func (r *Registry) All() []*Machine {
	var out []*Machine
	for _, byKind := range r.machines {
		for _, m := range byKind {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Provider() != out[j].Provider() {
			return out[i].Provider() < out[j].Provider()
		}
		return kindIndex(out[i].Kind()) < kindIndex(out[j].Kind())
	})
	return out
}

func kindIndex(k Kind) int {
	for i, x := range Kinds {
		if x == k {
			return i
		}
	}
	return len(Kinds)
}
