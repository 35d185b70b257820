package inyo

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
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
const Name = "inyo"

// DefaultCurrency is the currency of amounts when Config.Currency is empty.
// The webhook object carries no currency; see amountMinor.
const DefaultCurrency = "USD"

// BasicCredential is a user and password Inyo sends as
// "Authorization: Basic base64(user:password)".
type BasicCredential struct {
	User     string
	Password string
}

// Config is the webhook configuration a merchant makes with Inyo.
type Config struct {
	// Basic lists the accepted Basic credentials. More than one is accepted
	// at a time so that a credential can be rotated.
	Basic []BasicCredential
	// Bearer lists the accepted bearer tokens ("Authorization: Bearer
	// <token>"), several at a time for rotation.
	Bearer []string
	// Currency is the ISO 4217 code of the merchant's Inyo account, in
	// which every webhook amount is taken; DefaultCurrency when empty.
	Currency string
}

// Validate reports a configuration that cannot authenticate anything or
// cannot convert amounts. It never includes a secret in its error.
func (c Config) Validate() error {
	var problems []string
	usable := 0
	for i, b := range c.Basic {
		if b.User == "" || b.Password == "" || strings.Contains(b.User, ":") {
			problems = append(problems, fmt.Sprintf("basic credential %d needs a user without ':' and a password", i+1))
			continue
		}
		usable++
	}
	for i, t := range c.Bearer {
		if t == "" || strings.TrimSpace(t) != t {
			problems = append(problems, fmt.Sprintf("bearer token %d is empty or has surrounding blanks", i+1))
			continue
		}
		usable++
	}
	if usable == 0 {
		problems = append(problems, "no credentials configured: every webhook would be refused")
	}
	if _, err := money.Exponent(currencyOf(c)); err != nil {
		problems = append(problems, "currency is not an ISO 4217 code")
	}
	if len(problems) > 0 {
		return fmt.Errorf("inyo: %s", strings.Join(problems, "; "))
	}
	return nil
}

// WithDefaults returns c as New uses it: the currency in upper case, or
// DefaultCurrency when unset.
func (c Config) WithDefaults() Config {
	c.Currency = currencyOf(c)
	return c
}

func currencyOf(c Config) string {
	cur := strings.ToUpper(strings.TrimSpace(c.Currency))
	if cur == "" {
		return DefaultCurrency
	}
	return cur
}

type digest = [sha256.Size]byte

type basicDigest struct{ user, password digest }

// Provider is the Inyo Payments Gateway v2 webhook integration. It is safe
// for concurrent use.
type Provider struct {
	// Digests of the configured credentials: comparing SHA-256 digests keeps
	// the comparison's time independent of the secrets' lengths.
	basic  []basicDigest
	bearer []digest
	// currency is the ISO 4217 code amounts are taken in; currencyErr is
	// set when it is not one (Parse then refuses bodies with an amount).
	currency    string
	currencyErr error
}

var _ providers.Provider = (*Provider)(nil)

// New returns a provider for cfg. Unusable credentials (see Validate) are
// ignored; with none left, Authenticate refuses everything.
func New(cfg Config) *Provider {
	p := &Provider{currency: currencyOf(cfg)}
	for _, b := range cfg.Basic {
		if b.User != "" && b.Password != "" && !strings.Contains(b.User, ":") {
			p.basic = append(p.basic, basicDigest{sha256.Sum256([]byte(b.User)), sha256.Sum256([]byte(b.Password))})
		}
	}
	for _, t := range cfg.Bearer {
		if t != "" && strings.TrimSpace(t) == t {
			p.bearer = append(p.bearer, sha256.Sum256([]byte(t)))
		}
	}
	if _, err := money.Exponent(p.currency); err != nil {
		p.currencyErr = errors.New("the configured currency is not an ISO 4217 code")
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

func unauthenticated(why string) error {
	return fmt.Errorf("%w: inyo: %s", providers.ErrUnauthenticated, why)
}

// Authenticate implements providers.Provider. Inyo does not sign its
// webhooks; it sends the credentials the merchant configured in the
// Authorization header, Basic or Bearer. The presented credential is
// compared in constant time with every configured credential of its
// scheme. Nothing configured refuses everything. Errors never contain a
// configured or a presented value. The body is not looked at: it is not
// bound by the credential.
func (p *Provider) Authenticate(h providers.Headers, _ []byte, _ time.Time) error {
	if len(p.basic) == 0 && len(p.bearer) == 0 {
		return unauthenticated("no credentials configured")
	}
	var v string
	if h != nil {
		v = h.Get("Authorization")
	}
	if v == "" {
		return unauthenticated("Authorization header missing")
	}
	scheme, rest, ok := strings.Cut(v, " ")
	rest = strings.TrimLeft(rest, " ")
	if !ok || rest == "" {
		return unauthenticated("Authorization header malformed")
	}
	match := 0
	switch {
	case strings.EqualFold(scheme, "Basic"):
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return unauthenticated("Authorization header malformed: Basic credentials are not base64")
		}
		user, password, ok := strings.Cut(string(raw), ":")
		if !ok {
			return unauthenticated("Authorization header malformed: Basic credentials without ':'")
		}
		u, pw := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(password))
		for i := range p.basic {
			match |= subtle.ConstantTimeCompare(u[:], p.basic[i].user[:]) &
				subtle.ConstantTimeCompare(pw[:], p.basic[i].password[:])
		}
	case strings.EqualFold(scheme, "Bearer"):
		t := sha256.Sum256([]byte(rest))
		for i := range p.bearer {
			match |= subtle.ConstantTimeCompare(t[:], p.bearer[i][:])
		}
	default:
		return unauthenticated("Authorization scheme not supported (Basic or Bearer expected)")
	}
	if match != 1 {
		// One message for every mismatch, including a scheme that has no
		// configured credential: the answer tells nothing about the setup.
		return unauthenticated("credentials do not match")
	}
	return nil
}

// object is the payment object Inyo sends. Only the fields paystate uses
// are decoded; the others (card checks, issuer, ...) stay in the body.
type object struct {
	PaymentID         *string         `json:"paymentId"`
	ParentPaymentID   *string         `json:"parentPaymentId"`
	ExternalPaymentID *string         `json:"externalPaymentId"`
	Amount            json.RawMessage `json:"amount"`
	Created           *string         `json:"created"`
	Status            *string         `json:"status"`
	Captured          *bool           `json:"captured"`
	Voided            *bool           `json:"voided"`
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: inyo: %s", providers.ErrMalformed, fmt.Sprintf(format, args...))
}

// Parse implements providers.Provider. A payment's own object becomes one
// payment event; a child object (parentPaymentId naming another payment)
// becomes the events doc.go describes. A status Inyo does not document is
// returned like any other and left to the engine to record.
func (p *Provider) Parse(body []byte) ([]providers.Event, error) {
	var o object
	if err := providers.DecodeObject(body, &o); err != nil {
		return nil, malformed("%v", err)
	}

	id := trimmedString(o.PaymentID)
	if id == "" {
		return nil, malformed("missing paymentId")
	}
	status := trimmedString(o.Status)
	if status == "" {
		return nil, malformed("missing status")
	}
	parent := trimmedString(o.ParentPaymentID)
	amount, hasAmount, err := p.amount(o.Amount)
	if err != nil {
		return nil, err
	}
	var occurred time.Time
	created := trimmedString(o.Created)
	if created != "" {
		if occurred, err = parseCreated(created); err != nil {
			return nil, err
		}
	}

	// The fields that identify a delivery: Inyo sends no event id.
	h := providers.HashFields(id, status, boolText(o.Captured), boolText(o.Voided), amountText(amount, hasAmount), created)
	base := providers.Event{
		Provider:          Name,
		MerchantReference: trimmedString(o.ExternalPaymentID),
		Name:              status,
		ProviderStatus:    status,
		Currency:          p.currency,
		OccurredAt:        occurred,
	}
	withAmount := func(ev providers.Event) providers.Event {
		ev.Amount, ev.HasAmount = amount, hasAmount
		return ev
	}

	// The payment's own object: the status is where the payment is.
	if parent == "" || parent == id {
		ev := base
		ev.Kind, ev.AggregateID, ev.DedupeKey = sm.KindPayment, id, dedupeKey(rolePayment, h)
		// A snapshot: the amount is the payment's at every status (so
		// REFUNDED on the payment itself refunds all of what was captured
		// of it), and goes with every status a jump passes through.
		ev.Snapshot = true
		return []providers.Event{withAmount(ev)}, nil
	}

	// A child: an operation on the parent, issued as its own object.
	parentRef := &providers.Ref{Kind: sm.KindPayment, ID: parent}
	onParent := withAmount(base)
	onParent.Kind, onParent.AggregateID, onParent.DedupeKey = sm.KindPayment, parent, dedupeKey(roleParent, h)
	onParent.Operation = true
	switch status {
	case "REFUNDED", "CAPTURED":
		if !hasAmount {
			return nil, malformed("amount is required on a child %s object", strings.ToLower(status))
		}
	}
	switch status {
	case "REFUNDED":
		refund := withAmount(base)
		refund.Kind, refund.AggregateID, refund.Parent = sm.KindRefund, id, parentRef
		refund.DedupeKey = dedupeKey(roleRefund, h)
		return []providers.Event{refund, onParent}, nil
	case "CAPTURED", "VOIDED":
		return []providers.Event{onParent}, nil
	}
	// Any other status on a child (a declined capture or refund attempt,
	// or a status Inyo adds) says nothing the parent's machine can use:
	// it is recorded against the child, linked to its parent.
	rec := withAmount(base)
	rec.AggregateID, rec.Parent, rec.RecordOnly = id, parentRef, true
	rec.DedupeKey = dedupeKey(roleChild, h)
	return []providers.Event{rec}, nil
}

// amountMinor is the one place that decides what the webhook's "amount"
// means. The webhook document's sample says "amount": 95 with no currency
// and no statement of units; Inyo's other payment objects show decimals in
// major units ("amount": 100.10, 57.0000 beside "currency": "USD"), so the
// number is taken as a decimal in major units of the merchant's configured
// currency and converted exactly, on its decimal text, with the currency's
// ISO 4217 exponent: 95 USD is 9500 cents. Should Inyo's API reference say
// the amount is in minor units, this function is what changes.
func (p *Provider) amountMinor(decimal json.Number) (int64, error) {
	return money.ToMinor(decimal.String(), p.currency)
}

// amount decodes the raw "amount" value: absent or null is no amount; a
// JSON number is converted with amountMinor; anything else is malformed.
func (p *Provider) amount(raw json.RawMessage) (int64, bool, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, false, nil
	}
	if c := raw[0]; c != '-' && (c < '0' || c > '9') {
		return 0, false, malformed("amount is not a JSON number")
	}
	if p.currencyErr != nil {
		return 0, false, malformed("amount cannot be converted: %v", p.currencyErr)
	}
	v, err := p.amountMinor(json.Number(raw))
	if err != nil {
		exp, _ := money.Exponent(p.currency)
		return 0, false, malformed("amount is not a non-negative decimal of at most %d places in %s within range", exp, p.currency)
	}
	return v, true, nil
}

// createdLayout is the form of "created": "2025-01-21 16:31:02", with no
// zone. Fractional seconds are accepted.
const createdLayout = "2006-01-02 15:04:05.999999999"

// parseCreated reads "created" as UTC: the document gives no zone, and UTC
// is what a gateway's servers keep. An RFC 3339 time (with its offset) is
// accepted too, in case Inyo starts to send one.
func parseCreated(s string) (time.Time, error) {
	if t, err := time.Parse(createdLayout, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, malformed(`created is not a "YYYY-MM-DD hh:mm:ss" time`)
}

func trimmedString(s *string) string {
	if s == nil {
		return ""
	}
	return strings.TrimSpace(*s)
}

func boolText(b *bool) string {
	if b == nil {
		return ""
	}
	return strconv.FormatBool(*b)
}

func amountText(v int64, ok bool) string {
	if !ok {
		return ""
	}
	return strconv.FormatInt(v, 10)
}

// The roles of the events one object can produce; each gets its own dedupe
// key so that a child refund's two events never collide.
const (
	rolePayment = "payment" // the payment's own object
	roleParent  = "parent"  // a child's effect on its parent payment
	roleRefund  = "refund"  // a child refund as a refund aggregate
	roleChild   = "child"   // a child recorded without lifecycle
)

func dedupeKey(role, hash string) string { return Name + ":" + role + ":" + hash }
