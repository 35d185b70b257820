package magnius_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/engine/enginetest"
	"github.com/paystate/paystate/providers/magnius"
	sm "github.com/paystate/paystate/statemachine"
)

type fixture struct {
	name string
	body []byte
}

func fixtureFiles() ([]fixture, error) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		return nil, err
	}
	var out []fixture
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		out = append(out, fixture{strings.TrimSuffix(filepath.Base(f), ".json"), b})
	}
	return out, nil
}

// acyclic is the Magnius provider without its Revert rows. The only one is
// the subscription's recovery (past_due → active): with it a late ACTIVE
// and a real recovery look the same (see doc.go), so the order-independence
// property holds for the acyclic rest of the machine, which is what this
// provider lets the property check.
type acyclic struct{ *magnius.Provider }

func (a acyclic) Tables() []sm.Table {
	tables := a.Provider.Tables()
	for i := range tables {
		tables[i].Transitions = slices.DeleteFunc(tables[i].Transitions, func(tr sm.Transition) bool { return tr.Revert })
	}
	return tables
}

// TestStatusOrderDoesNotMatter: for every machine, a forward path of
// snapshots delivered shuffled, duplicated and across restarts ends in the
// state of the furthest snapshot, each one applied exactly when it lies
// ahead of all delivered before it.
func TestStatusOrderDoesNotMatter(t *testing.T) {
	t.Parallel()
	p, err := magnius.New(magnius.Config{})
	require.NoError(t, err)
	cases := []struct {
		kind sm.Kind
		typ  string
	}{
		{sm.KindPayment, "transaction"},
		{sm.KindRefund, "refund"},
		{sm.KindChargeback, "chargeback"},
		{sm.KindLink, "cardlink"},
		{sm.KindSubscription, "subscription"},
	}
	for _, tc := range cases {
		t.Run(string(tc.kind), func(t *testing.T) {
			t.Parallel()
			h := enginetest.New(t, acyclic{p})
			enginetest.StatusOrderIndependence(t, h, tc.kind, func(id, status string, _ int) []byte {
				s := snapshot{Type: tc.typ, ID: id, Status: status, Amount: -1}
				if tc.typ == "transaction" || tc.typ == "refund" || tc.typ == "chargeback" {
					s.Amount = 1000
				}
				return s.body()
			})
		})
	}
}

// TestOnlyTheCyclesAreReverts guards the property test above: it leaves
// out Revert rows, so they must be exactly the documented cycles.
func TestOnlyTheCyclesAreReverts(t *testing.T) {
	t.Parallel()
	p, err := magnius.New(magnius.Config{})
	require.NoError(t, err)
	var reverts []string
	for _, tb := range p.Tables() {
		for _, tr := range tb.Transitions {
			if tr.Revert {
				for _, from := range tr.From {
					reverts = append(reverts, string(tb.Kind)+" "+tr.Event+" from "+string(from))
				}
			}
		}
	}
	require.Equal(t, []string{"chargeback IN_DISPUTE from won", "chargeback IN_DISPUTE from lost", "subscription ACTIVE from past_due"}, reverts)
}
