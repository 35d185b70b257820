package engine

import (
	"github.com/paystate/paystate/providers"
	"github.com/paystate/paystate/redact"
	sm "github.com/paystate/paystate/statemachine"
)

// mask passes everything of d that is journaled, served or logged, besides
// the body (which the caller redacts with redact.Body before it is ever
// held), through package redact: free text (event names, provider
// statuses, the malformed reason, the request id) through redact.Text, and
// the identifiers the provider keys on (aggregate, parent, merchant
// reference, dedupe key) through ids.ID, which keeps them distinct and
// stable. Done in Submit, every way into the journal (webhooks, the
// reconciler, tests) gets it; d's events are copied, not modified.
func mask(d Delivery, ids redact.IDKey) Delivery {
	d.Malformed = redact.Text(d.Malformed)
	d.RequestID = redact.Text(d.RequestID)
	if len(d.Events) == 0 {
		return d
	}
	events := make([]providers.Event, len(d.Events))
	for i, ev := range d.Events {
		ev.Kind = sm.Kind(redact.Text(string(ev.Kind)))
		ev.AggregateID = ids.ID(ev.AggregateID)
		ev.MerchantReference = ids.ID(ev.MerchantReference)
		ev.DedupeKey = ids.ID(ev.DedupeKey)
		ev.Name = redact.Text(ev.Name)
		ev.ProviderStatus = redact.Text(ev.ProviderStatus)
		ev.Currency = redact.Text(ev.Currency)
		if ev.Parent != nil {
			p := *ev.Parent
			p.ID = ids.ID(p.ID)
			ev.Parent = &p
		}
		events[i] = ev
	}
	d.Events = events
	return d
}
