package engine

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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
	Snapshot          bool       `json:"snapshot,omitempty"`
	Operation         bool       `json:"operation,omitempty"`
	// Effect marks the effect on its parent of the delivery's first event
	// (a refund's on its payment). Such an effect is decided only when its
	// object moved (blockedEffect), so it is a distinct operation:
	// statemachine.Input.Distinct.
	Effect bool `json:"effect,omitempty"`
	// AmountOf names the aggregate whose amount an effect without one of
	// its own carries (see effectAmount): statemachine.Input.AmountOf.
	AmountOf string `json:"amount_of,omitempty"`
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
		Snapshot:          ev.Snapshot,
		Operation:         ev.Operation,
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

// payloadAt is the payload of d's i-th event.
func payloadAt(d Delivery, i int) payload {
	p := newPayload(d.Events[i])
	p.Effect = i > 0 && effectOf(d.Events[0], d.Events[i])
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
	if p, ok := scanPayload(b); ok {
		return p, nil
	}
	var p payload
	err := json.Unmarshal(b, &p)
	return p, err
}

// scanPayload decodes what encode writes — one flat object of the known
// keys, strings without escapes, integers, no white space — without
// encoding/json's reflection, which was most of what replaying an entry
// cost. On anything else it gives up (ok false) and leaves the decision,
// result and error alike, to encoding/json.
func scanPayload(b []byte) (p payload, ok bool) {
	// One string for the whole payload: the fields are slices of it.
	s := scanner{src: string(b)}
	if !s.skip('{') {
		return p, false
	}
	if s.skip('}') {
		return p, s.end()
	}
	for {
		key, ok := s.str()
		if !ok || !s.skip(':') {
			return p, false
		}
		switch key {
		case "name":
			p.Name, ok = s.str()
		case "provider_status":
			p.ProviderStatus, ok = s.str()
		case "merchant_reference":
			p.MerchantReference, ok = s.str()
		case "parent_kind":
			p.ParentKind, ok = s.str()
		case "parent_id":
			p.ParentID, ok = s.str()
		case "currency":
			p.Currency, ok = s.str()
		case "amount":
			p.Amount, ok = s.int()
		case "has_amount":
			p.HasAmount, ok = s.bool()
		case "record_only":
			p.RecordOnly, ok = s.bool()
		case "snapshot":
			p.Snapshot, ok = s.bool()
		case "operation":
			p.Operation, ok = s.bool()
		case "effect":
			p.Effect, ok = s.bool()
		case "amount_of":
			p.AmountOf, ok = s.str()
		case "occurred_at":
			p.OccurredAt, ok = s.time()
		default:
			return p, false
		}
		if !ok {
			return p, false
		}
		if s.skip('}') {
			return p, s.end()
		}
		if !s.skip(',') {
			return p, false
		}
	}
}

type scanner struct {
	src string
	at  int
}

func (s *scanner) skip(c byte) bool {
	if s.at < len(s.src) && s.src[s.at] == c {
		s.at++
		return true
	}
	return false
}

func (s *scanner) end() bool { return s.at == len(s.src) }

// str reads a string that needs no decoding: no escape, no control
// character, valid UTF-8 (encoding/json would replace invalid bytes).
func (s *scanner) str() (string, bool) {
	if !s.skip('"') {
		return "", false
	}
	start := s.at
	for ; s.at < len(s.src); s.at++ {
		switch c := s.src[s.at]; {
		case c == '"':
			v := s.src[start:s.at]
			s.at++
			return v, utf8.ValidString(v)
		case c == '\\' || c < 0x20:
			return "", false
		}
	}
	return "", false
}

// int reads an integer as JSON writes it: no leading zero, no fraction or
// exponent (encoding/json refuses those for an int64).
func (s *scanner) int() (int64, bool) {
	start := s.at
	s.skip('-')
	digits := s.at
	for s.at < len(s.src) && s.src[s.at] >= '0' && s.src[s.at] <= '9' {
		s.at++
	}
	n := s.at - digits
	if n == 0 || (n > 1 && s.src[digits] == '0') {
		return 0, false
	}
	v, err := strconv.ParseInt(s.src[start:s.at], 10, 64)
	return v, err == nil
}

func (s *scanner) bool() (v, ok bool) {
	rest := s.src[s.at:]
	switch {
	case strings.HasPrefix(rest, "true"):
		s.at += len("true")
		return true, true
	case strings.HasPrefix(rest, "false"):
		s.at += len("false")
		return false, true
	}
	return false, false
}

// time reads a quoted timestamp through time.Time's own UnmarshalJSON, as
// encoding/json would.
func (s *scanner) time() (*time.Time, bool) {
	start := s.at
	if _, ok := s.str(); !ok {
		return nil, false
	}
	t := new(time.Time)
	if err := t.UnmarshalJSON([]byte(s.src[start:s.at])); err != nil {
		return nil, false
	}
	return t, true
}

func (p payload) input(bodySHA256 string) sm.Input {
	return sm.Input{
		Event:      p.Name,
		Amount:     p.Amount,
		HasAmount:  p.HasAmount,
		Currency:   p.Currency,
		BodySHA256: bodySHA256,
		RecordOnly: p.RecordOnly,
		Snapshot:   p.Snapshot,
		Status:     p.ProviderStatus,
		Distinct:   p.Effect,
		AmountOf:   p.AmountOf,
		Parent:     sm.Parent{Kind: sm.Kind(p.ParentKind), ID: p.ParentID},
	}
}
