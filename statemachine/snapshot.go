package statemachine

import (
	"fmt"
	"slices"
	"strings"
)

// restatedAmountDisagrees says how a snapshot of the aggregate's current
// status disagrees with the amounts the aggregate holds, "" when it does
// not. The status is not news, but its amount is the object's amount at
// that status: one the aggregate never held there (AUTHORIZED for 100.10,
// then AUTHORIZED for 999.99) cannot be a repeat of what put it there, and
// calling it a duplicate would hide the disagreement from an auditor.
//
// The amount agrees when it is the face amount (an Inyo payment's own
// CAPTURED may carry the payment's amount after a capture for less) or
// the total the status's own effect sets (the authorized total of an
// authorization, the captured total of a capture, the refunded or captured
// total of a refund in full). Nothing is compared when the figures are not
// fully known (Amounts.Unknown: a figure may only be a lower bound), when
// the snapshot has no amount, when nothing of the aggregate says what the
// amount should be, or when the status reprices (its amount is allowed to
// change: Reprice).
func (m *Machine) restatedAmountDisagrees(cur Snapshot, in Input) string {
	a := cur.Amounts
	if !in.HasAmount || a.Unknown {
		return ""
	}
	var names []string
	var figures []int64
	seen := map[string]bool{}
	held := func(name string, v int64) {
		if !seen[name] {
			seen[name] = true
			names, figures = append(names, fmt.Sprintf("%s %d", name, v)), append(figures, v)
		}
	}
	if a.AmountKnown || a.Amount != 0 {
		held("amount", a.Amount)
	}
	for _, s := range m.sources[in.Event] {
		switch m.edges[edgeKey{in.Event, s}].Effect {
		case Reprice:
			return ""
		case Authorize:
			held("authorized", a.Authorized)
		case Purchase:
			held("authorized", a.Authorized)
			held("captured", a.Captured)
		case Capture:
			held("captured", a.Captured)
		case Refund:
			held("captured", a.Captured)
			held("refunded", a.Refunded)
		}
	}
	if len(figures) == 0 || slices.Contains(figures, in.Amount) {
		return ""
	}
	return fmt.Sprintf("%s again with amount %d; already in status %s with %s",
		in.status(), in.Amount, cur.Status, strings.Join(names, ", "))
}
