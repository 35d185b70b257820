package simulator

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// Rewriter prepares a provider's sample for one more send: it gives the
// delivery fresh event ids, so that it is a new event and not a
// redelivery, and, given an order id, rewrites the sample's object ids
// consistently, so that samples written for different orders walk one
// order through its lifecycle. One Rewriter serves one run: an object id
// met again (a refund's initiated and completed samples) gets the same new
// id each time.
type Rewriter struct {
	// OrderID replaces the id of the order (payment, or the subscription or
	// link a sample is about) everywhere in the body; every other object id
	// (a refund, a chargeback) gets a fresh id once per run. Empty: object
	// ids stay as in the sample.
	OrderID string
	// Fresh returns a new unique id; nil: 32 random hex digits.
	Fresh func() string
	ids   map[string]string
	// reference is the merchant reference of the run's first event: the
	// document's samples each name their own, and one order has one.
	reference string
}

// NewRewriter returns a Rewriter for orderID ("" keeps object ids).
func NewRewriter(orderID string) *Rewriter {
	return &Rewriter{OrderID: orderID}
}

// FreshID is 32 random hex digits, the shape of PayEngine's event_uid.
func FreshID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b[:])
}

func (r *Rewriter) fresh() string {
	if r.Fresh != nil {
		return r.Fresh()
	}
	return FreshID()
}

// Rewrite returns body prepared for provider. The body must be one JSON
// object the provider can parse; numbers are kept exactly as written.
func (r *Rewriter) Rewrite(provider string, body []byte) ([]byte, error) {
	p, ok := all[provider]
	if !ok {
		return nil, fmt.Errorf("simulator: unknown provider %q", provider)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil || doc == nil {
		return nil, errors.New("simulator: the body is not a JSON object")
	}
	if r.OrderID != "" {
		if err := r.learnIDs(p, body); err != nil {
			return nil, err
		}
		doc = replaceStrings(doc, r.ids).(map[string]any)
	}
	// Event ids last: an event id is never an object id of the run.
	for _, path := range p.eventIDs {
		setPath(doc, path, r.fresh())
	}
	return json.Marshal(doc)
}

// learnIDs maps the sample's object ids to the run's: the order named as
// a parent (or, when nothing names a parent, the object of the first
// event) becomes OrderID; every other object a fresh id.
func (r *Rewriter) learnIDs(p Provider, body []byte) error {
	if r.ids == nil {
		r.ids = map[string]string{}
	}
	evs, err := p.parse(body)
	if err != nil {
		return fmt.Errorf("simulator: %s cannot parse the body, so its ids cannot be rewritten: %w", p.Name, err)
	}
	order := ""
	for _, ev := range evs {
		if ev.Parent != nil && ev.Parent.ID != "" {
			order = ev.Parent.ID
			break
		}
	}
	if order == "" && len(evs) > 0 {
		order = evs[0].AggregateID
	}
	if order != "" {
		r.ids[order] = r.OrderID
	}
	for _, ev := range evs {
		if id := ev.AggregateID; id != "" && r.ids[id] == "" {
			r.ids[id] = r.fresh()
		}
		// Samples written for different orders name different merchant
		// references; walked as one order they would each be "another
		// reference" to the engine, which notes it on every entry.
		switch ref := ev.MerchantReference; {
		case ref == "":
		case r.reference == "":
			r.reference = ref
		case ref != r.reference && r.ids[ref] == "":
			r.ids[ref] = r.reference
		}
	}
	return nil
}

// replaceStrings returns v with every string that is a key of ids replaced
// by its value, at any depth.
func replaceStrings(v any, ids map[string]string) any {
	switch x := v.(type) {
	case string:
		if n, ok := ids[x]; ok {
			return n
		}
	case map[string]any:
		for k, e := range x {
			x[k] = replaceStrings(e, ids)
		}
	case []any:
		for i, e := range x {
			x[i] = replaceStrings(e, ids)
		}
	}
	return v
}

// setPath sets the string at path (object keys) when its parent object
// exists; a sample without the field is left without it.
func setPath(doc map[string]any, path []string, value string) {
	cur := doc
	for _, k := range path[:len(path)-1] {
		next, ok := cur[k].(map[string]any)
		if !ok {
			return
		}
		cur = next
	}
	cur[path[len(path)-1]] = value
}
