package statemachine

import (
	"slices"
	"strings"
	"testing"

	"github.com/looplab/fsm"
	"github.com/stretchr/testify/require"
)

// cardTable is a small payment machine in the shape real providers use.
func cardTable() Table {
	return Table{
		Provider: "test",
		Kind:     KindPayment,
		Transitions: []Transition{
			{Event: "AUTH", From: []State{StateNew}, To: Authorized, Effect: Authorize},
			{Event: "REVIEW", From: []State{Authorized}, To: FraudReview},
			{Event: "ACCEPT", From: []State{FraudReview}, To: Authorized},
			{Event: "CAPTURE", From: []State{Authorized, PartiallyCaptured}, To: Captured, Effect: Capture},
			{Event: "PARTIAL_CAPTURE", From: []State{Authorized, PartiallyCaptured}, To: PartiallyCaptured, Effect: Capture},
			{Event: "CAPTURE_FAILED", From: []State{Authorized, PartiallyCaptured}, To: Stay},
			{Event: "VOID_CAPTURE", From: []State{PartiallyCaptured, Captured}, To: Authorized, Effect: VoidCapture, Revert: true},
			{Event: "REFUND", From: []State{Captured, PartiallyRefunded}, To: Refunded, Effect: Refund},
			{Event: "PARTIAL_REFUND", From: []State{Captured, PartiallyRefunded}, To: PartiallyRefunded, Effect: Refund},
			{Event: "REVERSE", From: []State{Authorized, FraudReview}, To: Voided},
			{Event: "CLOSE", From: []State{Captured, PartiallyRefunded, Refunded, Voided}, To: Closed},
		},
		RecordOnly: []string{"NOTE"},
	}
}

func mustBuild(t *testing.T, tb Table) *Machine {
	t.Helper()
	m, err := Build(tb)
	require.NoError(t, err)
	return m
}

func TestBuildRejectsBadTables(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		mutate func(*Table)
		want   string
	}{
		{"duplicate edge", func(tb *Table) {
			tb.Transitions = append(tb.Transitions, Transition{Event: "AUTH", From: []State{StateNew}, To: Declined})
		}, "duplicate edge"},
		{"duplicate edge inside one row", func(tb *Table) {
			tb.Transitions = append(tb.Transitions, Transition{Event: "X", From: []State{Authorized, Authorized}, To: Voided})
		}, "duplicate edge"},
		{"non-canonical target", func(tb *Table) {
			tb.Transitions = append(tb.Transitions, Transition{Event: "X", From: []State{Authorized}, To: "shipped"})
		}, "not a canonical payment state"},
		{"non-canonical source", func(tb *Table) {
			tb.Transitions = append(tb.Transitions, Transition{Event: "X", From: []State{"won"}, To: Voided})
		}, "not a canonical payment state"},
		{"unreachable state", func(tb *Table) {
			tb.Transitions = append(tb.Transitions, Transition{Event: "X", From: []State{Challenge}, To: Declined})
		}, "state challenge is unreachable"},
		{"stay from new", func(tb *Table) {
			tb.Transitions = append(tb.Transitions, Transition{Event: "X", From: []State{StateNew}, To: Stay})
		}, "cannot start from new"},
		{"record-only clash", func(tb *Table) { tb.RecordOnly = append(tb.RecordOnly, "AUTH") }, "both a transition and record-only"},
		{"unknown kind", func(tb *Table) { tb.Kind = "shipment" }, "unknown kind"},
		{"effect on refund kind", func(tb *Table) {
			tb.Kind = KindRefund
			tb.Transitions = []Transition{{Event: "DONE", From: []State{StateNew}, To: Succeeded, Effect: Refund}}
		}, "amount effect"},
		{"missing target", func(tb *Table) {
			tb.Transitions = append(tb.Transitions, Transition{Event: "X", From: []State{Authorized}})
		}, "required"},
		{"no provider", func(tb *Table) { tb.Provider = "" }, "no provider"},
		{"unless authorized on a refund kind", func(tb *Table) {
			tb.Kind = KindRefund
			tb.Transitions = []Transition{{Event: "DONE", From: []State{StateNew}, To: Succeeded, UnlessAuthorized: true}}
		}, "UnlessAuthorized on a refund machine"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tb := cardTable()
			tc.mutate(&tb)
			_, err := Build(tb)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestBuildAcceptsValidTable(t *testing.T) {
	t.Parallel()
	m := mustBuild(t, cardTable())
	require.Equal(t, StateNew, m.States()[0])
	require.True(t, m.Terminal(Closed))
	require.False(t, m.Terminal(Captured))
	require.True(t, m.Knows("NOTE"))
	require.False(t, m.Knows("SHIPPED"))
}

// TestBuildRunsEveryEdgeOnLooplab stands in a looplab machine that refuses
// one edge, or takes it elsewhere: Build must say so, rather than leave
// Decide to find it on a delivery. Not parallel: it replaces newFSM.
func TestBuildRunsEveryEdgeOnLooplab(t *testing.T) {
	real := newFSM
	t.Cleanup(func() { newFSM = real })
	cases := map[string]func(fsm.Events) fsm.Events{
		"refused": func(evs fsm.Events) fsm.Events { return evs[:len(evs)-1] },
		"elsewhere": func(evs fsm.Events) fsm.Events {
			evs = slices.Clone(evs)
			evs[len(evs)-1].Dst = string(Voided)
			return evs
		},
	}
	for name, skew := range cases {
		newFSM = func(initial string, evs []fsm.EventDesc, cbs map[string]fsm.Callback) *fsm.FSM {
			return real(initial, skew(evs), cbs)
		}
		_, err := Build(cardTable())
		require.ErrorContains(t, err, "looplab/fsm does not take CLOSE from voided to closed", name)
	}
	newFSM = real
	mustBuild(t, cardTable())
}

func TestMermaidComesFromTheEdges(t *testing.T) {
	t.Parallel()
	out := mustBuild(t, cardTable()).Mermaid()
	require.True(t, strings.HasPrefix(out, "stateDiagram-v2\n"))
	for _, line := range []string{
		"[*] --> authorized : AUTH",
		"authorized --> authorized : CAPTURE_FAILED",
		"authorized --> partially_captured : CAPTURE, PARTIAL_CAPTURE",
		"captured --> authorized : VOID_CAPTURE (revert)",
		"%% recorded only: NOTE",
	} {
		require.Contains(t, out, line)
	}
}

func TestRegistry(t *testing.T) {
	t.Parallel()
	r, err := NewRegistry(cardTable())
	require.NoError(t, err)
	require.NotNil(t, r.Machine("test", KindPayment))
	require.Nil(t, r.Machine("test", KindRefund))
	require.Len(t, r.All(), 1)
	_, err = NewRegistry(cardTable(), cardTable())
	require.ErrorContains(t, err, "two payment tables")
}
