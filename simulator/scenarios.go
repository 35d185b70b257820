package simulator

import (
	"fmt"
	"io/fs"
	"sort"

	"github.com/paystate/paystate/providers/generic"
	"github.com/paystate/paystate/providers/inyo"
	"github.com/paystate/paystate/providers/magnius"
	"github.com/paystate/paystate/providers/ngenius"
	"github.com/paystate/paystate/providers/payengine"
)

// Step is one webhook of a scenario: a documented sample of the
// scenario's provider, and what the step shows.
type Step struct {
	Sample string
	Note   string
}

// Scenario is a documented sequence of one provider's webhooks about one
// object, played in the order given: each sample's ids are rewritten to
// the run's object (see Rewriter), so samples written for different orders
// tell one story. The verdicts are the engine's: a scenario states what
// it sends, never what must come of it.
type Scenario struct {
	Provider string
	Name     string
	About    string
	// Kind is the kind of the object the scenario is about and reads back
	// at the end ("payment", "subscription", ...).
	Kind  string
	Steps []Step
}

var scenarios = []Scenario{
	{ngenius.Name, "fraud-review", "an authorisation held for post-auth fraud screening, accepted, then captured", "payment", []Step{
		{"event_AUTHORISED", "the card is authorised"},
		{"event_POST_AUTH_FRAUD_CHECK_REVIEW", "the fraud screen holds it for review"},
		{"event_POST_AUTH_FRAUD_CHECK_ACCEPTED", "review passed: authorised again"},
		{"event_CAPTURED", "captured in full"},
	}},
	{ngenius.Name, "out-of-order", "events overtaking each other: a capture before its authorisation, a late decline, a refund after closing", "payment", []Step{
		{"event_CAPTURED", "the capture arrives first: held until its authorisation"},
		{"event_AUTHORISED", "the authorisation lands and releases the held capture"},
		{"event_DECLINED", "a decline of an earlier attempt arrives late: stale"},
		{"event_ORDER_CLOSED", "the order is closed: administrative, the money state stays"},
		{"event_REFUNDED", "a refund reported after closing is money that moved: applied"},
	}},
	{ngenius.Name, "partial-refunds", "a captured order refunded in two parts, then the rest", "payment", []Step{
		{"event_AUTHORISED", "authorised"},
		{"event_CAPTURED", "captured in full"},
		{"event_PARTIALLY_REFUNDED", "a first partial refund (its transaction amount)"},
		{"event_PARTIALLY_REFUNDED", "a second one: a new event, not a duplicate"},
		{"event_REFUNDED", "the rest refunded"},
	}},
	{magnius.Name, "subscription-recovery", "a subscription that falls past due and recovers (status snapshots that revisit a status)", "subscription", []Step{
		{"subscription_CREATED", "created"},
		{"subscription_ACTIVE", "active"},
		{"subscription_PAST_DUE", "a recurring payment failed"},
		{"subscription_ACTIVE", "paid again: active once more"},
	}},
	{payengine.Name, "auth-capture-refund", "an authorisation, its capture under the same event_uid in the document, and a partial refund", "payment", []Step{
		{"PAYMENT_AUTH", "authorised"},
		{"PAYMENT_CAPTURED", "captured"},
		{"PAYMENT_REFUNDED", "a refund of part of it (a refund aggregate, and the payment's refunded total)"},
	}},
	{inyo.Name, "refund-without-capture", "a refund child on a payment whose CAPTURED webhook never came (webhooks enabled per status)", "payment", []Step{
		{"status_AUTHORIZED", "the payment is authorised"},
		{"child_refund", "a refund child: it implies a capture paystate never saw"},
	}},
	{generic.Name, "refund", "a completed payment, a refund initiated, then completed", "payment", []Step{
		{"partial_refund_1_payment.completed", "the payment completes (captured)"},
		{"partial_refund_2_refund.initiated", "a refund is initiated"},
		{"partial_refund_3_refund.completed", "the refund completes and moves the payment's refunded total"},
	}},
}

// Scenarios lists the scenarios, by provider then name.
func Scenarios() []Scenario {
	out := append([]Scenario(nil), scenarios...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Provider != out[j].Provider {
			return out[i].Provider < out[j].Provider
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// LookupScenario returns provider's scenario name.
func LookupScenario(provider, name string) (Scenario, bool) {
	for _, s := range scenarios {
		if s.Provider == provider && s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

// Bodies returns the scenario's webhook bodies, prepared by r (ids
// rewritten to r's order, fresh event ids), in order.
func (s Scenario) Bodies(r *Rewriter) ([][]byte, error) {
	p, ok := all[s.Provider]
	if !ok {
		return nil, fmt.Errorf("simulator: unknown provider %q", s.Provider)
	}
	out := make([][]byte, len(s.Steps))
	for i, st := range s.Steps {
		raw, err := fs.ReadFile(p.Samples, "testdata/"+st.Sample+".json")
		if err != nil {
			return nil, fmt.Errorf("simulator: %s/%s step %d: %w", s.Provider, s.Name, i+1, err)
		}
		if out[i], err = r.Rewrite(s.Provider, raw); err != nil {
			return nil, fmt.Errorf("simulator: %s/%s step %d: %w", s.Provider, s.Name, i+1, err)
		}
	}
	return out, nil
}
