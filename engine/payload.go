package engine

import (
	"encoding/json"
	"time"

	"github.com/paystate/paystate/providers"
	sm "github.com/paystate/paystate/statemachine"
)

// payload is what the engine keeps of a normalized event beside the
// redacted body: enough to decide it again, when a deferred event's turn
// comes and when the journal is replayed.
type payload struct {
	Name              string     `json:"name"`
	ProviderStatus    string     `json:"provider_status,omitempty"`
	MerchantReference string     `json:"merchant_reference,omitempty"`
	ParentKind        string     `json:"parent_kind,omitempty"`
	ParentID          string     `json:"parent_id,omitempty"`
	Amount            int64      `json:"amount,omitempty"`
	HasAmount         bool       `json:"has_amount,omitempty"`
	Currency          string     `json:"currency,omitempty"`
	OccurredAt        *time.Time `json:"occurred_at,omitempty"`
	RecordOnly        bool       `json:"record_only,omitempty"`
}

func newPayload(ev providers.Event) payload {
	p := payload{
		Name:              ev.Name,
		ProviderStatus:    ev.ProviderStatus,
		MerchantReference: ev.MerchantReference,
		Amount:            ev.Amount,
		HasAmount:         ev.HasAmount,
		Currency:          ev.Currency,
		RecordOnly:        ev.RecordOnly,
	}
	if ev.Parent != nil {
		p.ParentKind, p.ParentID = string(ev.Parent.Kind), ev.Parent.ID
	}
	if !ev.OccurredAt.IsZero() {
		t := ev.OccurredAt.UTC()
		p.OccurredAt = &t
	}
	return p
}

func (p payload) encode() []byte {
	b, err := json.Marshal(p)
	if err != nil {
		panic(err) // plain struct of strings and numbers
	}
	return b
}

func decodePayload(b []byte) (payload, error) {
	var p payload
	err := json.Unmarshal(b, &p)
	return p, err
}

func (p payload) input(bodySHA256 string) sm.Input {
	return sm.Input{
		Event:      p.Name,
		Amount:     p.Amount,
		HasAmount:  p.HasAmount,
		Currency:   p.Currency,
		BodySHA256: bodySHA256,
		RecordOnly: p.RecordOnly,
	}
}
