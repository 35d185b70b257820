package api

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
)

// listModel is a store reduced to ListAggregates, answered by filtering
// everything it holds: the model the listing is compared with. It records
// the filters it was asked.
type listModel struct {
	storage.Reader
	rows []storage.HeldAggregate // in key order, each key once

	mu    sync.Mutex
	asked []storage.AggregateFilter
}

func (m *listModel) ListAggregates(_ context.Context, f storage.AggregateFilter, after storage.AggregateKey, limit int) ([]storage.HeldAggregate, error) {
	m.mu.Lock()
	m.asked = append(m.asked, f)
	m.mu.Unlock()
	return m.match(f, after, limit), nil
}

// match is every row f matches after the key, in key order, up to limit.
func (m *listModel) match(f storage.AggregateFilter, after storage.AggregateKey, limit int) []storage.HeldAggregate {
	var out []storage.HeldAggregate
	for _, r := range m.rows {
		if (f.Provider == "" || r.Key.Provider == f.Provider) && (f.Kind == "" || r.Key.Kind == f.Kind) &&
			(f.State == "" || r.State == f.State) && r.Key.Compare(after) > 0 {
			out = append(out, r)
		}
	}
	return out[:min(len(out), limit)]
}

// A state without a kind is asked of the store one kind at a time (each
// answered from the state index), and the merged pages list exactly what
// one filter over every aggregate would, in the same order, page after
// page.
func TestListByStateWithoutKindMergesKinds(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	m := &listModel{}
	providers := []string{"inyo", "magnius", "ngenius"}
	// Every kind, and states that several kinds share ("cancelled",
	// "failed", ...), so that one page holds rows of several kinds.
	for i := range 300 {
		k := sm.Kinds[rng.IntN(len(sm.Kinds))]
		states := sm.CanonicalStates(k)
		m.rows = append(m.rows, storage.HeldAggregate{Aggregate: storage.Aggregate{
			Key:   storage.AggregateKey{Provider: providers[rng.IntN(len(providers))], Kind: string(k), ID: fmt.Sprintf("a%03d", rng.IntN(100))},
			State: string(states[rng.IntN(len(states))]),
		}, Pending: i % 3})
	}
	slices.SortFunc(m.rows, func(a, b storage.HeldAggregate) int { return a.Key.Compare(b.Key) })
	m.rows = slices.CompactFunc(m.rows, func(a, b storage.HeldAggregate) bool { return a.Key == b.Key })

	states := map[sm.State]bool{}
	for _, k := range sm.Kinds {
		for _, s := range sm.CanonicalStates(k) {
			states[s] = true
		}
	}
	shared := 0
	for s := range states {
		for _, provider := range []string{"", "magnius"} {
			f := storage.AggregateFilter{Provider: provider, State: string(s)}
			want := m.match(f, storage.AggregateKey{}, len(m.rows))
			kinds := map[string]bool{}
			for _, r := range want {
				kinds[r.Key.Kind] = true
			}
			if len(kinds) > 1 {
				shared++
			}
			for _, size := range []int32{1, 2, 7, 500} {
				var got []storage.HeldAggregate
				token := ""
				for {
					page, next, err := listPage(t.Context(), m, f, size, token)
					require.NoError(t, err)
					require.LessOrEqual(t, len(page), int(size))
					got = append(got, page...)
					if next == "" {
						break
					}
					token = next
				}
				require.Equal(t, want, got, "state %q, provider %q, page size %d", s, provider, size)
			}
		}
	}
	require.Positive(t, shared, "some state was listed across several kinds")

	for _, f := range m.asked {
		if f.State != "" {
			require.NotEmpty(t, f.Kind, "a state is never asked of the store without a kind: %+v", f)
		}
	}
}
