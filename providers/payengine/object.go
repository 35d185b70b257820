package payengine

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// Decoding a data object. Parse reads a few dozen members of a webhook's
// data and of the processor's response inside it, by exact name, each
// checked for its type only where an event reads it: a member Parse does
// not use can never make a webhook malformed (doc.go, Strictness).
//
// The members are decoded into a struct of exactly those names in one pass
// over the object, their values kept as the text the body sent and read
// where they are used. encoding/json's own struct decoding is not used
// because it matches names case-insensitively ("Transaction_ID" would name
// the payment) and decodes a repeated object member into the first one's
// struct instead of replacing it; both would change which bytes identify
// an aggregate. The body as a whole is checked by providers.DecodeObject
// first (decodeEnvelope), so the objects read here are known to be valid
// JSON and hold no byte that decoding would lose.

// members holds, for each member name some event reads, the raw JSON text
// of its value in one object (nil: absent). Data objects and processor
// responses share the struct: each object is decoded on its own, so a name
// read from one never comes from the other.
type members struct {
	transactionID, originalTransactionID                          json.RawMessage
	orderNumber, orderNumberCamel                                 json.RawMessage
	currencyCode, currencyCodeSnake, amount                       json.RawMessage
	paymentLinkID, paymentLinkStatus, createdAt, updatedAt        json.RawMessage
	subscriptionID, subscriptionStatus, updatedDate, success      json.RawMessage
	disputeID, disputeIDCamel, id, status                         json.RawMessage
	merchantID, bankAccountID                                     json.RawMessage
	authResponse, saleResponse, achResponse, returnResponse       json.RawMessage
	responseCode, responseMessage, totalAmount, transactionAmount json.RawMessage
	returnedAmount                                                json.RawMessage
}

// member returns where the member named key is kept, or nil when no event
// reads that name.
func (m *members) member(key string) *json.RawMessage {
	switch key {
	case "transaction_id":
		return &m.transactionID
	case "original_transaction_id":
		return &m.originalTransactionID
	case "order_number":
		return &m.orderNumber
	case "orderNumber":
		return &m.orderNumberCamel
	case "currencyCode":
		return &m.currencyCode
	case "currency_code":
		return &m.currencyCodeSnake
	case "amount":
		return &m.amount
	case "paymentLinkId":
		return &m.paymentLinkID
	case "paymentLinkStatus":
		return &m.paymentLinkStatus
	case "createdAt":
		return &m.createdAt
	case "updatedAt":
		return &m.updatedAt
	case "subscriptionId":
		return &m.subscriptionID
	case "subscriptionStatus":
		return &m.subscriptionStatus
	case "updatedDate":
		return &m.updatedDate
	case "success":
		return &m.success
	case "dispute_id":
		return &m.disputeID
	case "disputeId":
		return &m.disputeIDCamel
	case "id":
		return &m.id
	case "status":
		return &m.status
	case "merchant_id":
		return &m.merchantID
	case "bank_account_id":
		return &m.bankAccountID
	case "auth_response":
		return &m.authResponse
	case "sale_response":
		return &m.saleResponse
	case "ach_response":
		return &m.achResponse
	case "return_response":
		return &m.returnResponse
	case "responseCode":
		return &m.responseCode
	case "responseMessage":
		return &m.responseMessage
	case "totalAmount":
		return &m.totalAmount
	case "transactionAmount":
		return &m.transactionAmount
	case "returnedAmount":
		return &m.returnedAmount
	}
	return nil
}

// object is a decoded data object or response, and its path in the body
// for errors ("data.auth_response").
type object struct {
	path string
	m    members
}

func decodeObject(path string, raw json.RawMessage) (object, error) {
	o := object{path: path}
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '{' {
		return o, malformed("%s is missing or not an object", path)
	}
	ok, twice := decodeMembers(t, &o.m)
	if !ok {
		// Not reached for a body decodeEnvelope accepted.
		return o, malformed("%s: invalid JSON", path)
	}
	if twice {
		return o, malformed("%s: a member paystate reads appears twice with different values (JSON member names must be unique)", path)
	}
	return o, nil
}

// raw is the text of member key. Asking for a name members does not keep
// is a mistake in this package, not in the body.
func (o object) raw(key string) json.RawMessage {
	p := o.m.member(key)
	if p == nil {
		panic("payengine: member " + key + " is not decoded")
	}
	return *p
}

func (o object) field(key string) string { return o.path + "." + key }

func (o object) absent(key string) bool { return isAbsent(o.raw(key)) }

// str returns the trimmed string member key; absent or null is "".
func (o object) str(key string) (string, error) {
	raw := o.raw(key)
	if isAbsent(raw) {
		return "", nil
	}
	s, ok := jsonString(raw)
	if !ok {
		return "", malformed("%s is not a string", o.field(key))
	}
	return strings.TrimSpace(s), nil
}

// text is str for members that are only shown, never decided on: a value
// of another type is ignored rather than refused.
func (o object) text(key string) string {
	s, err := o.str(key)
	if err != nil {
		return ""
	}
	return s
}

// id returns a required string member.
func (o object) id(key string) (string, error) {
	s, err := o.str(key)
	if err == nil && s == "" {
		err = malformed("missing %s", o.field(key))
	}
	return s, err
}

// obj returns the object member key, or ok false when absent or null.
func (o object) obj(key string) (object, bool, error) {
	if o.absent(key) {
		return object{}, false, nil
	}
	sub, err := decodeObject(o.field(key), o.raw(key))
	return sub, err == nil, err
}

// boolean returns the bool member key, or nil when absent or null.
func (o object) boolean(key string) (*bool, error) {
	if o.absent(key) {
		return nil, nil
	}
	var b bool
	switch string(o.raw(key)) {
	case "true":
		b = true
	case "false":
	default:
		return nil, malformed("%s is not a boolean", o.field(key))
	}
	return &b, nil
}

// jsonString decodes raw when it is a JSON string. A string without
// escapes or control characters, in valid UTF-8, is its own text; any
// other goes through encoding/json.
func jsonString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	in := raw[1 : len(raw)-1]
	if plainString(in) {
		return string(in), true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// plainString says whether the inside of a JSON string is its own text:
// no escape, no control character, valid UTF-8.
func plainString(in []byte) bool {
	for _, c := range in {
		if c == '\\' || c < 0x20 {
			return false
		}
	}
	return utf8.Valid(in)
}

// decodeMembers fills m from the JSON object raw: each member whose name
// m keeps gets the text of its value. A name m keeps that repeats with
// another value makes twice true (the body says two things; malformed); the
// same text repeated is one statement. Names are compared once unescaped,
// as encoding/json compares them, and exactly, as Parse reads them. raw
// must be valid JSON; ok is false if it turns out not to be.
func decodeMembers(raw []byte, m *members) (ok, twice bool) {
	s := scanner{b: raw}
	s.space()
	if !s.skip('{') {
		return false, false
	}
	s.space()
	if s.skip('}') {
		return true, false
	}
	for {
		p, ok := s.key(m)
		if !ok {
			return false, twice
		}
		s.space()
		if !s.skip(':') {
			return false, twice
		}
		s.space()
		start := s.at
		if !s.value() {
			return false, twice
		}
		if p != nil {
			// A read member sent twice says two things; the same text
			// twice says one.
			if *p != nil && !bytes.Equal(*p, raw[start:s.at]) {
				twice = true
			}
			*p = raw[start:s.at:s.at]
		}
		s.space()
		if s.skip('}') {
			return true, twice
		}
		if !s.skip(',') {
			return false, twice
		}
		s.space()
	}
}

// scanner walks JSON already known to be valid, so it only finds where
// things end; it still never reads past its input.
type scanner struct {
	b  []byte
	at int
}

func (s *scanner) skip(c byte) bool {
	if s.at < len(s.b) && s.b[s.at] == c {
		s.at++
		return true
	}
	return false
}

func (s *scanner) space() {
	for s.at < len(s.b) {
		switch s.b[s.at] {
		case ' ', '\t', '\r', '\n':
			s.at++
		default:
			return
		}
	}
}

// str moves past a string and reports whether it held an escape.
func (s *scanner) str() (escaped, ok bool) {
	if !s.skip('"') {
		return false, false
	}
	for s.at < len(s.b) {
		switch s.b[s.at] {
		case '"':
			s.at++
			return escaped, true
		case '\\':
			escaped = true
			s.at += 2
		default:
			s.at++
		}
	}
	return false, false
}

// key moves past a member name and returns where m keeps that member (nil:
// nowhere). The name is compared once unescaped, as encoding/json compares
// it.
func (s *scanner) key(m *members) (*json.RawMessage, bool) {
	start := s.at
	escaped, ok := s.str()
	if !ok {
		return nil, false
	}
	text := s.b[start:s.at]
	if !escaped {
		return m.member(string(text[1 : len(text)-1])), true
	}
	var k string
	if err := json.Unmarshal(text, &k); err != nil {
		return nil, false
	}
	return m.member(k), true
}

// value moves past one value of any kind.
func (s *scanner) value() bool {
	if s.at >= len(s.b) {
		return false
	}
	switch s.b[s.at] {
	case '"':
		_, ok := s.str()
		return ok
	case '{', '[':
		depth := 0
		for s.at < len(s.b) {
			switch s.b[s.at] {
			case '"':
				if _, ok := s.str(); !ok {
					return false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.at++
					return true
				}
			}
			s.at++
		}
		return false
	}
	start := s.at
	for s.at < len(s.b) {
		switch s.b[s.at] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return s.at > start
		}
		s.at++
	}
	return s.at > start
}
