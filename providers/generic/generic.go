package generic

import (
	"bytes"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/paystate/paystate/money"
	"github.com/paystate/paystate/providers"
	sm "github.com/paystate/paystate/statemachine"
)

// Name is the provider's URL segment and storage name.
const Name = "generic"

// SignatureHeader carries the signature of the raw body.
const SignatureHeader = "X-Signature"

// Config is the webhook signing configuration made in the gateway's
// dashboard.
type Config struct {
	// Secrets are the accepted signing secrets. More than one is accepted
	// at a time so that the secret can be rotated without losing
	// deliveries. Empty secrets are ignored; with none, every webhook is
	// refused.
	Secrets []string
	// Algorithm is the HMAC hash: "sha256" (the default when empty),
	// "sha512" or "sha1".
	Algorithm string
	// Encoding is how the signature is written: "hex" (the default when
	// empty) or "base64".
	Encoding string
}

// Provider is the generic gateway's webhook integration. It is safe for
// concurrent use.
type Provider struct {
	secrets [][]byte
	alg     algorithm
	enc     string
	// configOK is false when Algorithm or Encoding is not supported: then
	// every webhook is refused (New cannot return an error).
	configOK bool
}

var _ providers.Provider = (*Provider)(nil)

// WithDefaults returns c as New uses it: the algorithm and encoding
// named as New resolves them ("sha256" and "hex" when unset). A name New
// does not know is left as it is.
func (c Config) WithDefaults() Config {
	if alg, ok := algorithmByName(c.Algorithm); ok {
		c.Algorithm = alg.name
	}
	if enc, ok := encodingByName(c.Encoding); ok {
		c.Encoding = enc
	}
	return c
}

// New returns a provider for cfg.
func New(cfg Config) *Provider {
	p := &Provider{}
	alg, algOK := algorithmByName(cfg.Algorithm)
	enc, encOK := encodingByName(cfg.Encoding)
	p.alg, p.enc, p.configOK = alg, enc, algOK && encOK
	for _, s := range cfg.Secrets {
		if s != "" {
			p.secrets = append(p.secrets, []byte(s))
		}
	}
	return p
}

// Name implements providers.Provider.
func (p *Provider) Name() string { return Name }

// Tables implements providers.Provider. The tables are copies: a caller may
// modify them without affecting the provider.
func (p *Provider) Tables() []sm.Table {
	return providers.CloneTables(paymentTable, refundTable)
}

// Authentication errors. Each is a fixed message: none ever contains a
// secret or a presented value.
var (
	errConfig         = authError("the configured signature algorithm or encoding is not supported")
	errNoSecret       = authError("no signing secret is configured")
	errMissingHeader  = authError(SignatureHeader + " header missing or empty")
	errUnknownPrefix  = authError(SignatureHeader + " names an unsupported algorithm")
	errPrefixMismatch = authError(SignatureHeader + " names a different algorithm than configured")
	errEncoding       = authError(SignatureHeader + " is not in the configured encoding")
	errLength         = authError(SignatureHeader + " has the wrong length for the configured algorithm")
	errMismatch       = authError(SignatureHeader + " does not match the body under any configured secret")
)

func authError(msg string) error {
	return fmt.Errorf("%w: %s: %s", providers.ErrUnauthenticated, Name, msg)
}

// Authenticate implements providers.Provider. X-Signature must be the HMAC
// of the raw body under one of the configured secrets, with the configured
// algorithm and encoding, optionally prefixed by the algorithm's name
// ("sha256=..."). Every secret is tried, and compared in constant time.
// With no secret configured every request is refused.
func (p *Provider) Authenticate(h providers.Headers, body []byte, _ time.Time) error {
	if !p.configOK {
		return errConfig
	}
	if len(p.secrets) == 0 {
		return errNoSecret
	}
	var v string
	if h != nil {
		v = strings.TrimSpace(h.Get(SignatureHeader))
	}
	if v == "" {
		return errMissingHeader
	}
	presented, err := p.decodeSignature(v)
	if err != nil {
		return err
	}
	match := 0
	for _, s := range p.secrets {
		match |= subtle.ConstantTimeCompare(p.alg.mac(s, body), presented)
	}
	if match != 1 {
		return errMismatch
	}
	return nil
}

// decodeSignature strips an optional "<algorithm>=" prefix, which must name
// the configured algorithm, and decodes the rest.
func (p *Provider) decodeSignature(v string) ([]byte, error) {
	if name, rest, ok := splitPrefix(v); ok {
		alg, known := algorithms[strings.ToLower(name)]
		switch {
		case !known:
			return nil, errUnknownPrefix
		case alg.name != p.alg.name:
			return nil, errPrefixMismatch
		}
		v = rest
	}
	var sig []byte
	var err error
	if p.enc == EncodingBase64 {
		sig, err = decodeBase64(v)
	} else {
		sig, err = hex.DecodeString(v)
	}
	if err != nil {
		return nil, errEncoding
	}
	if len(sig) != p.alg.size {
		return nil, errLength
	}
	return sig, nil
}

// splitPrefix splits "name=value" where name is a word of letters, digits
// and hyphens. Base64 padding ("abc=", "ab==") is not a prefix.
func splitPrefix(v string) (name, rest string, ok bool) {
	name, rest, found := strings.Cut(v, "=")
	if !found || name == "" || strings.Trim(rest, "=") == "" {
		return "", "", false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return "", "", false
		}
	}
	return name, rest, true
}

// decodeBase64 accepts the standard and the URL-safe alphabet, padded or
// not. Characters outside the alphabets are refused first: the decoders
// would silently skip line breaks.
func decodeBase64(v string) ([]byte, error) {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '+' || c == '/' || c == '-' || c == '_' || c == '=') {
			return nil, errors.New("not base64")
		}
	}
	// Strict: the unused low bits of the last character must be zero, so
	// that no two spellings decode to the same signature.
	for _, enc := range []*base64.Encoding{base64.StdEncoding.Strict(), base64.RawStdEncoding.Strict(),
		base64.URLEncoding.Strict(), base64.RawURLEncoding.Strict()} {
		if b, err := enc.DecodeString(v); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

// envelope is the webhook body. Unknown fields are ignored.
type envelope struct {
	ID      json.RawMessage `json:"id"`
	Type    *string         `json:"type"`
	Event   *string         `json:"event"`
	Created json.RawMessage `json:"created"`
	Data    json.RawMessage `json:"data"`
}

// object is the payment, refund or customer in data (or data.object).
// Fields are kept raw and read by the helpers below, which accept the
// documented spellings and say which field is wrong.
type object struct {
	ID                json.RawMessage `json:"id"`
	Amount            json.RawMessage `json:"amount"`
	Currency          json.RawMessage `json:"currency"`
	Status            json.RawMessage `json:"status"`
	MerchantReference json.RawMessage `json:"merchant_reference"`
	Reference         json.RawMessage `json:"reference"`
	OrderID           json.RawMessage `json:"order_id"`
	PaymentID         json.RawMessage `json:"payment_id"`
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", providers.ErrMalformed, Name, fmt.Sprintf(format, args...))
}

// Parse implements providers.Provider. A payment, refund or customer event
// comes back as one event; a refund.completed that names its payment comes
// back as two: the refund's, and the payment's (whose refunded total it
// moves). An event type the gateway adds later is returned, not refused,
// for the engine to record.
func (p *Provider) Parse(body []byte) ([]providers.Event, error) {
	env, err := decodeEnvelope(body)
	if err != nil {
		return nil, err
	}
	name, err := eventType(env)
	if err != nil {
		return nil, err
	}
	occurred, createdKey, err := parseCreated(env.Created)
	if err != nil {
		return nil, err
	}
	evID, err := text("id", env.ID)
	if err != nil {
		return nil, err
	}
	obj, field, err := decodeObject(env.Data)
	switch name {
	case EventPaymentCompleted, EventPaymentFailed, EventRefundInitiated, EventRefundCompleted,
		EventCustomerCreated, EventCustomerUpdated:
	default:
		// The shape of an unknown event's data is unknown too: a data
		// that is not an object only means there is no aggregate to name.
		return unknownEvent(name, evID, createdKey, occurred, obj, field), nil
	}
	if err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, malformed("missing data")
	}
	id, err := text(field+".id", obj.ID)
	if err != nil {
		return nil, err
	}
	if id == "" {
		return nil, malformed("missing %s.id", field)
	}
	status, err := text(field+".status", obj.Status)
	if err != nil {
		return nil, err
	}
	ev := providers.Event{
		Provider:       Name,
		AggregateID:    id,
		Name:           name,
		ProviderStatus: name,
		OccurredAt:     occurred,
	}

	if name == EventCustomerCreated || name == EventCustomerUpdated {
		ev.RecordOnly = true
		ev.DedupeKey = dedupeKey(evID, name, id, status, "", createdKey)
		return []providers.Event{ev}, nil
	}

	if ev.MerchantReference, err = reference(field, obj); err != nil {
		return nil, err
	}
	// A completed payment or refund without an amount still moved money:
	// the engine applies it with the totals marked not fully known (see
	// doc.go) rather than refusing a fact the gateway will not resend.
	if ev.Amount, ev.HasAmount, ev.Currency, err = amountOf(field, obj, false); err != nil {
		return nil, err
	}
	amountKey := ""
	if ev.HasAmount {
		amountKey = strconv.FormatInt(ev.Amount, 10) + " " + ev.Currency
	}
	ev.DedupeKey = dedupeKey(evID, name, id, status, amountKey, createdKey)

	if name == EventPaymentCompleted || name == EventPaymentFailed {
		ev.Kind = sm.KindPayment
		return []providers.Event{ev}, nil
	}

	ev.Kind = sm.KindRefund
	paymentID, err := text(field+".payment_id", obj.PaymentID)
	if err != nil {
		return nil, err
	}
	if paymentID == "" {
		// The refund stands alone: no payment to link or to move.
		return []providers.Event{ev}, nil
	}
	ev.Parent = &providers.Ref{Kind: sm.KindPayment, ID: paymentID}
	if name != EventRefundCompleted {
		return []providers.Event{ev}, nil
	}
	pay := providers.Event{
		Provider:       Name,
		Kind:           sm.KindPayment,
		AggregateID:    paymentID,
		Name:           name,
		ProviderStatus: name,
		Amount:         ev.Amount,
		HasAmount:      ev.HasAmount,
		Currency:       ev.Currency,
		OccurredAt:     occurred,
		// A key of its own: the engine records one receipt per key, and
		// this is a second event of the same delivery.
		DedupeKey: ev.DedupeKey + "/payment",
	}
	return []providers.Event{ev, pay}, nil
}

// unknownEvent returns an event type this integration does not know. Its
// kind is told from the type's prefix when the object has a usable id;
// otherwise it stands alone. Nothing else of the object is read, so an
// unfamiliar object shape is never an error.
func unknownEvent(name, evID, createdKey string, occurred time.Time, obj *object, field string) []providers.Event {
	ev := providers.Event{Provider: Name, Name: name, ProviderStatus: name, OccurredAt: occurred}
	var id, status, paymentID string
	if obj != nil {
		id, _ = text(field+".id", obj.ID)
		status, _ = text(field+".status", obj.Status)
		paymentID, _ = text(field+".payment_id", obj.PaymentID)
	}
	if id != "" {
		ev.AggregateID = id
		switch {
		case strings.HasPrefix(name, "payment."):
			ev.Kind = sm.KindPayment
		case strings.HasPrefix(name, "refund."):
			ev.Kind = sm.KindRefund
			if paymentID != "" {
				ev.Parent = &providers.Ref{Kind: sm.KindPayment, ID: paymentID}
			}
		}
	}
	ev.DedupeKey = dedupeKey(evID, name, id, status, "", createdKey)
	return []providers.Event{ev}
}

// decodeEnvelope decodes body as exactly one JSON object.
func decodeEnvelope(body []byte) (envelope, error) {
	var env envelope
	if err := providers.DecodeObject(body, &env); err != nil {
		return env, malformed("%v", err)
	}
	return env, nil
}

// eventType returns the trimmed type, or its alias event. When both are
// sent they must agree.
func eventType(env envelope) (string, error) {
	typ, err := providers.FieldOrAlias("type", env.Type, "event", env.Event)
	if err != nil {
		return "", malformed("%v", err)
	}
	return typ, nil
}

// decodeObject returns the object in data: data.object when that is a JSON
// object (the wrapping some gateways use), otherwise data itself, and the
// field path for error messages. A missing or null data is nil.
func decodeObject(raw json.RawMessage) (*object, string, error) {
	if isNull(raw) {
		return nil, "data", nil
	}
	inner, ok := objectMember(raw)
	if !ok {
		return nil, "data", malformed("data is not a JSON object")
	}
	field := "data"
	if len(inner) > 0 && inner[0] == '{' {
		raw, field = inner, "data.object"
	}
	var obj object
	if err := providers.DecodeObject(raw, &obj); err != nil {
		return nil, field, malformed("%s: %v", field, err)
	}
	return &obj, field, nil
}

// objectMember returns the value of data's member "object" (the last one,
// its name compared after unescaping, as a map of the members keeps it)
// and whether data, a valid JSON value, is an object. It walks data's
// members once instead of decoding data into a map first, which copied
// every member before DecodeObject decoded data again.
func objectMember(data []byte) ([]byte, bool) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil, false
	}
	var inner []byte
	for i = skipSpace(data, i+1); i < len(data) && data[i] != '}'; {
		keyStart := i
		i = valueEnd(data, i)
		key := data[keyStart:i]
		i = skipSpace(data, i)
		i = skipSpace(data, i+1) // the colon
		valueStart := i
		i = valueEnd(data, i)
		if isObjectKey(key) {
			inner = data[valueStart:i]
		}
		if i = skipSpace(data, i); i < len(data) && data[i] == ',' {
			i = skipSpace(data, i+1)
		}
	}
	return inner, true
}

// isObjectKey reports whether key, a JSON string with its quotes, is
// "object".
func isObjectKey(key []byte) bool {
	if string(key) == `"object"` {
		return true
	}
	if bytes.IndexByte(key, '\\') < 0 {
		return false
	}
	var k string
	return json.Unmarshal(key, &k) == nil && k == "object"
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// valueEnd returns the index after the JSON value that starts at b[i]; b
// is valid JSON.
func valueEnd(b []byte, i int) int {
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
			if depth == 0 {
				return i + 1
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i // the end of the object a number or literal is in
			}
			depth--
			if depth == 0 {
				return i + 1
			}
		case ' ', '\t', '\n', '\r', ',', ':':
			if depth == 0 {
				return i
			}
		default:
			// A number or a literal goes on to a delimiter.
		}
	}
	return i
}

// unquote decodes raw as json.Unmarshal into a string does: a string of
// printable ASCII without escapes (most are) is its own bytes, anything
// else goes through encoding/json.
func unquote(raw []byte) (string, error) {
	if n := len(raw); n >= 2 && raw[0] == '"' && raw[n-1] == '"' && plainASCII(raw[1:n-1]) {
		return string(raw[1 : n-1]), nil
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

func plainASCII(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			return false
		}
	}
	return true
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// text reads an identifier or word: a JSON string (trimmed) or a
// non-negative integer (its digits). Absent and null are "".
func text(field string, raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if isNull(raw) {
		return "", nil
	}
	if raw[0] == '"' {
		s, err := unquote(raw)
		if err != nil {
			return "", malformed("%s is not a valid string", field)
		}
		return strings.TrimSpace(s), nil
	}
	if isDigits(raw) {
		return string(raw), nil
	}
	return "", malformed("%s is not a string", field)
}

func isDigits(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// reference returns the merchant's reference: merchant_reference, else
// reference, else order_id.
func reference(field string, obj *object) (string, error) {
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{"merchant_reference", obj.MerchantReference}, {"reference", obj.Reference}, {"order_id", obj.OrderID}} {
		s, err := text(field+"."+f.name, f.raw)
		if err != nil || s != "" {
			return s, err
		}
	}
	return "", nil
}

// amountOf reads the object's amount and currency. An integer JSON number is
// minor units; a JSON string is a decimal in major units, converted exactly
// with the currency's exponent; a JSON number with a fraction or an
// exponent is ambiguous and refused. An amount needs its currency.
func amountOf(field string, obj *object, required bool) (amount int64, has bool, currency string, err error) {
	if currency, err = currencyCode(field+".currency", obj.Currency); err != nil {
		return 0, false, "", err
	}
	raw := bytes.TrimSpace(obj.Amount)
	if isNull(raw) {
		if required {
			return 0, false, "", malformed("missing %s.amount", field)
		}
		return 0, false, currency, nil
	}
	f := field + ".amount"
	if currency == "" {
		return 0, false, "", malformed("%s without %s.currency", f, field)
	}
	switch c := raw[0]; {
	case c == '"':
		s, err := unquote(raw)
		if err != nil {
			return 0, false, "", malformed("%s is not a valid string", f)
		}
		v, err := money.ToMinor(s, currency)
		if err != nil {
			exp, _ := money.Exponent(currency)
			return 0, false, "", malformed("%s is not a non-negative decimal in major units of %s with at most %d decimal places", f, currency, exp)
		}
		return v, true, currency, nil
	case c == '-':
		return 0, false, "", malformed("%s is negative", f)
	case c >= '0' && c <= '9':
		if !isDigits(raw) {
			return 0, false, "", malformed("%s is a JSON number with a fraction or exponent, which is ambiguous: send integer minor units or a decimal string", f)
		}
		v, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return 0, false, "", malformed("%s is out of range", f)
		}
		return v, true, currency, nil
	}
	return 0, false, "", malformed("%s is not a number or a decimal string", f)
}

// currencyCode reads an ISO 4217 code, case-insensitively, and returns it
// upper-cased; absent is "".
func currencyCode(field string, raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	s, err := unquote(raw)
	if err != nil {
		return "", malformed("%s is not a string", field)
	}
	if strings.TrimSpace(s) == "" {
		return "", nil
	}
	code, err := money.Currency(s)
	if err != nil {
		return "", malformed("%s is not an ISO 4217 code", field)
	}
	return code, nil
}

// maxUnix is the last second of year 9999.
const maxUnix = 253402300799

// parseCreated reads created: an integer JSON number of Unix seconds or an
// RFC 3339 string. It returns the time and its normalized text for the
// dedupe key ("" when absent).
func parseCreated(raw json.RawMessage) (time.Time, string, error) {
	raw = bytes.TrimSpace(raw)
	if isNull(raw) {
		return time.Time{}, "", nil
	}
	var t time.Time
	switch {
	case raw[0] == '"':
		s, err := unquote(raw)
		if err != nil {
			return time.Time{}, "", malformed("created is not a valid string")
		}
		if t, err = time.Parse(time.RFC3339Nano, strings.TrimSpace(s)); err != nil {
			return time.Time{}, "", malformed("created is not an RFC 3339 time")
		}
	case isDigits(raw):
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil || n > maxUnix {
			return time.Time{}, "", malformed("created is out of range")
		}
		t = time.Unix(n, 0)
	default:
		return time.Time{}, "", malformed("created is neither integer Unix seconds nor an RFC 3339 string")
	}
	t = t.UTC()
	return t, t.Format(time.RFC3339Nano), nil
}

// dedupeKey is "id:" and the envelope id when the gateway sends one.
// Otherwise it is "sha256:" and the hex SHA-256 of the length-prefixed
// type, object id, object status, amount ("<minor units> <currency>") and
// created time: the fields that tell one delivery from another.
func dedupeKey(evID, typ, objID, status, amount, created string) string {
	if evID != "" {
		return "id:" + evID
	}
	return "sha256:" + providers.HashFields(typ, objID, status, amount, created)
}
