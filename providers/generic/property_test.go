package generic_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/paystate/paystate/engine/enginetest"
	"github.com/paystate/paystate/providers"
	"github.com/paystate/paystate/providers/generic"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
)

// onlyKind is the provider with Parse narrowed to one aggregate kind.
// enginetest.OrderIndependence checks one machine with bodies that parse to
// exactly one event, while a refund.completed body yields two (the
// refund's and the payment's); the narrowed provider lets each machine be
// checked on its own. TestRefundsInAnyOrder checks both together.
type onlyKind struct {
	*generic.Provider
	kind sm.Kind
}

func (p onlyKind) Parse(body []byte) ([]providers.Event, error) {
	evs, err := p.Provider.Parse(body)
	if err != nil {
		return nil, err
	}
	var out []providers.Event
	for _, ev := range evs {
		if ev.Kind == p.kind {
			out = append(out, ev)
		}
	}
	return out, nil
}

// TestPaymentOrderDoesNotMatter: random legal payment sequences
// (payment.completed then refund.completed, or payment.failed), shuffled,
// duplicated and interrupted by restarts, end where in-order delivery ends.
func TestPaymentOrderDoesNotMatter(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, onlyKind{generic.New(generic.Config{}), sm.KindPayment})
	enginetest.OrderIndependence(t, h, sm.KindPayment, func(id, event string, n int) []byte {
		evID := fmt.Sprintf("%s-%d-%s", id, n, event)
		switch event {
		case generic.EventRefundCompleted:
			return refundBody(evID, event, fmt.Sprintf("%s-r%d", id, n), id, 4000)
		case generic.EventPaymentFailed:
			return paymentBody(evID, event, id, nil)
		}
		return paymentBody(evID, event, id, "100.00")
	})
}

// TestRefundOrderDoesNotMatter runs the same property on the refund
// machine. Because refund.completed is legal from new as well as from
// pending (the gateway may skip refund.initiated), the only sequences whose
// order the machine can tell are single events; the two-event case, where
// a late refund.initiated is stale, is TestRefundsInAnyOrder's and
// TestSequences'.
func TestRefundOrderDoesNotMatter(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, onlyKind{generic.New(generic.Config{}), sm.KindRefund})
	enginetest.OrderIndependence(t, h, sm.KindRefund, func(id, event string, n int) []byte {
		return refundBody(fmt.Sprintf("%s-%d-%s", id, n, event), event, id, "pay-"+id, 2500)
	})
}

// TestRefundsInAnyOrder is the provider's own end-to-end property: one
// payment and up to four refunds of it (each with or without
// refund.initiated, amounts in either style) delivered in any order, each
// up to three times, with restarts in between. However they arrive, the
// payment ends captured, partially_refunded or refunded as the amounts say
// with the refunded total equal to their sum, every refund ends succeeded
// and linked to the payment, every redelivery is a duplicate, the only
// rejection is a refund.initiated that arrived after its refund.completed,
// and the journal replays to the stored state.
func TestRefundsInAnyOrder(t *testing.T) {
	t.Parallel()
	h := enginetest.New(t, generic.New(generic.Config{}))
	round := 0
	rapid.Check(t, func(rt *rapid.T) {
		round++
		pid := fmt.Sprintf("p-%d", round)
		money := func(v int64, label string) any {
			if rapid.Bool().Draw(rt, label) {
				return fmt.Sprintf("%d.%02d", v/100, v%100)
			}
			return v
		}
		total := rapid.Int64Range(1, 1_000_000).Draw(rt, "total")
		bodies := [][]byte{paymentBody(pid+"-pay", generic.EventPaymentCompleted, pid, money(total, "total style"))}
		var refunds []string
		var refunded int64
		for i, n := 0, rapid.IntRange(0, 4).Draw(rt, "refunds"); i < n && refunded < total; i++ {
			amt := rapid.Int64Range(1, total-refunded).Draw(rt, "amount")
			refunded += amt
			rid := fmt.Sprintf("%s-r%d", pid, i)
			refunds = append(refunds, rid)
			if rapid.Bool().Draw(rt, "initiated") {
				bodies = append(bodies, refundBody(rid+"-init", generic.EventRefundInitiated, rid, pid, money(amt, "style")))
			}
			bodies = append(bodies, refundBody(rid+"-done", generic.EventRefundCompleted, rid, pid, money(amt, "style")))
		}

		paymentApplied := 0
		for _, i := range rapid.Permutation(indexesOf(len(bodies))).Draw(rt, "order") {
			copies := rapid.IntRange(1, 3).Draw(rt, "copies")
			for c := 0; c < copies; c++ {
				for _, o := range h.Deliver(bodies[i]) {
					switch {
					case c > 0 && o.Verdict != sm.VerdictDuplicate:
						rt.Fatalf("redelivery of %s on %s answered %s (%s)", o.Event, o.Key.ID, o.Verdict, o.Reason)
					case c > 0:
					case o.Verdict == sm.VerdictApplied, o.Verdict == sm.VerdictDeferred:
					case o.Verdict == sm.VerdictRejected && o.Event == generic.EventRefundInitiated && o.StateBefore == string(sm.Succeeded):
						// refund.completed came first: the late initiated is stale.
					default:
						rt.Fatalf("%s on %s/%s: %s (%s)", o.Event, o.Key.Kind, o.Key.ID, o.Verdict, o.Reason)
					}
					if o.Key.Kind == string(sm.KindPayment) && o.Verdict == sm.VerdictApplied {
						paymentApplied++
					}
					for _, r := range o.Resolved {
						if r.Verdict != sm.VerdictApplied {
							rt.Fatalf("held %s resolved as %s (%s)", r.Event, r.Verdict, r.Reason)
						}
						paymentApplied++
					}
				}
			}
			if rapid.IntRange(0, 9).Draw(rt, "restart") == 0 {
				h.Restart()
			}
		}

		want := sm.PartiallyRefunded
		switch refunded {
		case 0:
			want = sm.Captured
		case total:
			want = sm.Refunded
		}
		a := h.Aggregate(sm.KindPayment, pid)
		if a.State != string(want) || a.Captured != total || a.Refunded != refunded {
			rt.Fatalf("payment %s captured %d refunded %d; want %s %d %d", a.State, a.Captured, a.Refunded, want, total, refunded)
		}
		if paymentApplied != 1+len(refunds) || a.Version != int64(1+len(refunds)) {
			rt.Fatalf("payment events applied %d times (version %d) for %d events", paymentApplied, a.Version, 1+len(refunds))
		}
		for _, rid := range refunds {
			r := h.Aggregate(sm.KindRefund, rid)
			if r.State != string(sm.Succeeded) || r.Parent != (storage.AggregateKey{Provider: generic.Name, Kind: string(sm.KindPayment), ID: pid}) {
				rt.Fatalf("refund %s: %s, parent %+v", rid, r.State, r.Parent)
			}
		}
		if err := h.Check(); err != nil {
			rt.Fatal(err)
		}
	})
	require.NoError(t, h.Check())
}

func indexesOf(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}
