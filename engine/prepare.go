package engine

import "github.com/paystate/paystate/storage"

// prepared is what of a delivery's journal entries can be made before its
// batch, on the submitting goroutine, and so off the single writer, whose
// CPU bounds the rate of ingest: each event's payload, and the body and
// payloads in the store's own encoding (storage.Encoder; SQLite
// compresses them). None of it depends on what the batch reads.
type prepared struct {
	// payloads are the events' payloads (payload.encode), one per
	// event; nil when the delivery was not prepared.
	payloads [][]byte
	// body and encodedPayloads are set when the store has an Encoder.
	body            *storage.Encoded
	encodedPayloads []*storage.Encoded
}

// prepare makes d's prepared values. It runs before d is queued.
func (e *Engine) prepare(d Delivery) prepared {
	var p prepared
	if d.Malformed == "" && len(d.Events) > 0 {
		p.payloads = make([][]byte, len(d.Events))
		for i := range d.Events {
			p.payloads[i] = payloadAt(d, i).encode()
		}
	}
	if e.encoder == nil {
		return p
	}
	p.body = e.encoder.EncodeBody(d.RedactedBody)
	if p.payloads != nil {
		p.encodedPayloads = make([]*storage.Encoded, len(p.payloads))
		for i, b := range p.payloads {
			p.encodedPayloads[i] = e.encoder.EncodePayload(b)
		}
	}
	return p
}

// payload is the i-th event's payload and its encoding, made now if the
// delivery was not prepared (a request made without Submit).
func (p *prepared) payload(i int, pl payload) ([]byte, *storage.Encoded) {
	if p == nil || i >= len(p.payloads) {
		return pl.encode(), nil
	}
	var enc *storage.Encoded
	if i < len(p.encodedPayloads) {
		enc = p.encodedPayloads[i]
	}
	return p.payloads[i], enc
}

// encodedBody is the body's encoding, or nil.
func (p *prepared) encodedBody() *storage.Encoded {
	if p == nil {
		return nil
	}
	return p.body
}
