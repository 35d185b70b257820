package magnius_test

import (
	"os"
	"path/filepath"
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

// The order property runs without the Revert rows (the refund's release
// from hold, the chargeback's challenge, the subscription's recovery, a
// settlement or refund after a failure): with them a late snapshot and a
// real return look the same (see doc.go), so it holds for the acyclic rest
// of the machine, which is what this provider lets it check.
// TestStatusOrderDoesNotMatter: for every machine, a forward path of
// snapshots delivered shuffled, duplicated and across restarts ends in the
// state of the furthest snapshot, each one applied exactly when it lies
// ahead of all delivered before it.
func TestStatusOrderDoesNotMatter(t *testing.T) {
	t.Parallel()
	p, err := magnius.New(magnius.Config{})
	require.NoError(t, err)
	for _, tc := range machineTypes {
		t.Run(string(tc.kind), func(t *testing.T) {
			t.Parallel()
			enginetest.StatusOrderIndependence(t, enginetest.New(t, enginetest.WithoutReverts(p)), tc.kind, tc.body)
		})
	}
}

// machineTypes are the types with a machine, and a snapshot body of each.
var machineTypes = func() []machineType {
	out := []machineType{
		{sm.KindPayment, "transaction", nil},
		{sm.KindRefund, "refund", nil},
		{sm.KindChargeback, "chargeback", nil},
		{sm.KindLink, "cardlink", nil},
		{sm.KindSubscription, "subscription", nil},
	}
	for i := range out {
		typ := out[i].typ
		out[i].body = func(id, status string, _ int) []byte {
			s := snapshot{Type: typ, ID: id, Status: status, Amount: -1}
			if amountTypes[typ] {
				s.Amount = 1000
			}
			return s.body()
		}
	}
	return out
}()

type machineType struct {
	kind sm.Kind
	typ  string
	body enginetest.BodyFunc
}

var amountTypes = map[string]bool{"transaction": true, "refund": true, "chargeback": true}

// TestCyclesConverge: for every machine, with its cycles (a subscription
// recovering, a chargeback disputed again, a transaction waiting again), a
// legal path of snapshots whose revisits arrive in their place and whose
// other snapshots arrive in any order, retried and across restarts, ends
// where the in-order delivery ends. The same body for a revisit as for the
// first visit is the point: Magnius sends nothing else.
func TestCyclesConverge(t *testing.T) {
	t.Parallel()
	p, err := magnius.New(magnius.Config{})
	require.NoError(t, err)
	for _, tc := range machineTypes {
		t.Run(string(tc.kind), func(t *testing.T) {
			t.Parallel()
			enginetest.StatusCyclesConverge(t, enginetest.New(t, p), tc.kind, tc.body)
		})
	}
}

// TestOnlyTheCyclesAreReverts guards the property tests: the order
// property leaves out Revert rows, so they must be exactly the documented
// cycles and the ways out of a failure (money that moved after it), which
// TestCyclesConverge and TestSequences cover.
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
	require.Equal(t, []string{
		"payment SETTLEMENT_COMPLETED from failed", "payment SETTLEMENT_COMPLETED from declined",
		"payment SETTLEMENT_COMPLETED from cancelled", "payment SETTLEMENT_COMPLETED from voided",
		"refund PENDING from on_hold", "refund PROCESSED from failed", "refund PROCESSED from cancelled",
		"chargeback IN_DISPUTE from won", "chargeback IN_DISPUTE from lost", "subscription ACTIVE from past_due"}, reverts)
}
