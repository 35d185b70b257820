package statemachine

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestVersionIsTheTablesContent(t *testing.T) {
	t.Parallel()
	base := cardTable().Version()
	require.Len(t, base, 12)
	require.Equal(t, base, mustBuild(t, cardTable()).Version(), "the machine carries its table's version")

	same := []struct {
		name   string
		mutate func(*Table)
	}{
		{"a row's sources in another order", func(tb *Table) { slices.Reverse(tb.Transitions[3].From) }},
		{"a note", func(tb *Table) { tb.Transitions[0].Note = "prose only" }},
	}
	for _, c := range same {
		tb := cardTable()
		c.mutate(&tb)
		require.Equal(t, base, tb.Version(), c.name)
	}

	a, b := cardTable(), cardTable()
	a.RecordOnly, b.RecordOnly = []string{"NOTE", "MEMO"}, []string{"MEMO", "NOTE"}
	require.Equal(t, a.Version(), b.Version(), "record-only words in another order")

	differ := []struct {
		name   string
		mutate func(*Table)
	}{
		{"a target", func(tb *Table) { tb.Transitions[9].To = Cancelled }},
		{"a source added", func(tb *Table) { tb.Transitions[7].From = append(tb.Transitions[7].From, Authorized) }},
		{"an effect", func(tb *Table) { tb.Transitions[4].Effect = NoEffect }},
		{"a revert mark", func(tb *Table) { tb.Transitions[6].Revert = false }},
		{"an unless-authorized mark", func(tb *Table) { tb.Transitions[0].UnlessAuthorized = true }},
		{"both marks", func(tb *Table) { tb.Transitions[6].UnlessAuthorized = true }},
		{"an event word", func(tb *Table) { tb.Transitions[1].Event = "REVIEWED" }},
		{"the mode", func(tb *Table) { tb.Mode = ModeStatus }},
		{"the row order", func(tb *Table) { tb.Transitions[3], tb.Transitions[4] = tb.Transitions[4], tb.Transitions[3] }},
		{"a record-only word", func(tb *Table) { tb.RecordOnly = append(tb.RecordOnly, "MEMO") }},
		{"the provider", func(tb *Table) { tb.Provider = "other" }},
		{"the kind", func(tb *Table) { tb.Kind = KindLink }},
	}
	seen := map[string]string{base: "base"}
	for _, c := range differ {
		tb := cardTable()
		c.mutate(&tb)
		v := tb.Version()
		prev, dup := seen[v]
		require.False(t, dup, "%s gives the version of %s", c.name, prev)
		seen[v] = c.name
	}
}

// TestVersionIsStableAcrossRuns pins the encoding: a version must not
// change between builds of the same table, or every journal entry would
// look decided under an older version.
func TestVersionIsStableAcrossRuns(t *testing.T) {
	t.Parallel()
	require.Equal(t, "a51a7f582776", cardTable().Version())
}
