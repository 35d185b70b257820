package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	sm "github.com/paystate/paystate/statemachine"
)

func TestMachinesDocIsCurrent(t *testing.T) {
	t.Parallel()
	reg, err := registry()
	require.NoError(t, err)
	var want strings.Builder
	require.NoError(t, writeMachinesDoc(&want, reg))
	got, err := os.ReadFile(filepath.Join("..", "..", "docs", "machines.md"))
	require.NoError(t, err, "generate it: go run ./cmd/paystate machines --markdown > docs/machines.md")
	require.Equal(t, want.String(), string(got),
		"docs/machines.md is out of date: go run ./cmd/paystate machines --markdown > docs/machines.md")
}

// TestTerminalStatesAreNeverLeft: for every provider's machine, no event
// moves an aggregate out of a terminal state, whatever its amount.
func TestTerminalStatesAreNeverLeft(t *testing.T) {
	t.Parallel()
	reg, err := registry()
	require.NoError(t, err)
	for _, m := range reg.All() {
		for _, st := range m.States() {
			if st == sm.StateNew || !m.Terminal(st) {
				continue
			}
			for _, ev := range m.Events() {
				for _, in := range []sm.Input{{Event: ev}, {Event: ev, Amount: 100, HasAmount: true}} {
					d := sm.Decide(m, sm.Snapshot{State: st, Amounts: sm.Amounts{Authorized: 100, Captured: 100}}, in)
					require.Equal(t, st, d.To, "%s/%s: %s left terminal %s (%s)", m.Provider(), m.Kind(), ev, st, d.Verdict)
				}
			}
		}
	}
}
