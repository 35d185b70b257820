package ngenius

import (
	"crypto/sha256"
	"crypto/subtle"
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
const Name = "ngenius"

// Config is the webhook configuration made in the N-Genius portal.
type Config struct {
	// HeaderName is the optional custom header (e.g. X-Webhook-Token). Empty
	// means authentication is not configured: every request is then
	// refused, unless AllowUnauthenticated says otherwise.
	HeaderName string
	// HeaderValues are the accepted values of HeaderName. More than one is
	// accepted at a time so that the secret can be rotated.
	HeaderValues []string
	// AllowUnauthenticated, with no HeaderName, accepts every request:
	// anyone who can reach the port can then move state. It must be asked
	// for in so many words; with a HeaderName it changes nothing.
	AllowUnauthenticated bool
}

// Provider is the N-Genius webhook integration. It is safe for concurrent
// use.
type Provider struct {
	headerName string
	open       bool // no header configured, unauthenticated requests allowed
	// digests are the SHA-256 digests of the configured values; comparing
	// digests keeps the comparison independent of the values' lengths.
	digests [][sha256.Size]byte
}

var _ providers.Provider = (*Provider)(nil)

// New returns a provider for cfg. Empty configured values are ignored: an
// empty header is never accepted.
func New(cfg Config) *Provider {
	// The name is not trimmed: a name of blanks is a configuration mistake
	// and must fail closed, not switch authentication off.
	p := &Provider{headerName: cfg.HeaderName, open: cfg.HeaderName == "" && cfg.AllowUnauthenticated}
	for _, v := range cfg.HeaderValues {
		if v != "" {
			p.digests = append(p.digests, sha256.Sum256([]byte(v)))
		}
	}
	return p
}

// Name implements providers.Provider.
func (p *Provider) Name() string { return Name }

// Tables implements providers.Provider. The tables are copies: a caller may
// modify them without affecting the provider.
func (p *Provider) Tables() []sm.Table {
	return providers.CloneTables(paymentTable)
}

// Authenticate implements providers.Provider. With no header configured it
// accepts every request if the config allowed unauthenticated requests, and
// refuses every one otherwise. With a header, the header must carry one of
// the configured values; every value is compared, in constant time, and the
// error never contains a configured or presented value.
func (p *Provider) Authenticate(h providers.Headers, _ []byte, _ time.Time) error {
	if p.open {
		return nil
	}
	if p.headerName == "" {
		return fmt.Errorf("%w: ngenius: no header is configured and unauthenticated webhooks are not allowed", providers.ErrUnauthenticated)
	}
	if len(p.digests) == 0 {
		return fmt.Errorf("%w: ngenius: header %s is configured without a value", providers.ErrUnauthenticated, p.headerName)
	}
	var got string
	if h != nil {
		got = h.Get(p.headerName)
	}
	if got == "" {
		return fmt.Errorf("%w: ngenius: header %s missing or empty", providers.ErrUnauthenticated, p.headerName)
	}
	sum := sha256.Sum256([]byte(got))
	match := 0
	for i := range p.digests {
		match |= subtle.ConstantTimeCompare(sum[:], p.digests[i][:])
	}
	if match != 1 {
		return fmt.Errorf("%w: ngenius: header %s does not match", providers.ErrUnauthenticated, p.headerName)
	}
	return nil
}

// payload is the webhook body. Unknown fields are ignored: N-Genius may send
// a full order object around the documented fields.
type payload struct {
	Event       *string      `json:"event"`
	EventName   *string      `json:"eventName"`
	Order       *order       `json:"order"`
	Transaction *transaction `json:"transaction"`
	Timestamp   string       `json:"timestamp"`
}

type order struct {
	Reference string  `json:"reference"`
	ID        string  `json:"id"`
	Amount    *amount `json:"amount"`
}

type transaction struct {
	ID     string  `json:"id"`
	State  string  `json:"state"`
	Date   string  `json:"date"`
	Amount *amount `json:"amount"`
}

type amount struct {
	CurrencyCode string      `json:"currencyCode"`
	Value        json.Number `json:"value"`
}

// Events whose amount is the order's amount.
var orderAmountEvents = map[string]bool{
	"AUTHORISED":           true,
	"APM_PAYMENT_ACCEPTED": true,
	"PURCHASED":            true,
}

// Events whose amount is the transaction's amount when the payload carries
// one; without it the event has no amount (for CAPTURED and REFUNDED the
// engine then takes "the rest").
var transactionAmountEvents = map[string]bool{
	"CAPTURED":           true,
	"PARTIALLY_CAPTURED": true,
	"CAPTURE_VOIDED":     true,
	"PURCHASE_REVERSED":  true,
	"REFUNDED":           true,
	"PARTIALLY_REFUNDED": true,
	"REFUND_VOIDED":      true,
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: ngenius: %s", providers.ErrMalformed, fmt.Sprintf(format, args...))
}

// Parse implements providers.Provider. It returns exactly one payment event;
// an event name N-Genius does not document is returned like any other and
// left to the engine to record.
func (p *Provider) Parse(body []byte) ([]providers.Event, error) {
	var pl payload
	if err := providers.DecodeObject(body, &pl); err != nil {
		return nil, malformed("%v", err)
	}

	name, err := eventName(pl)
	if err != nil {
		return nil, err
	}
	if pl.Order == nil || strings.TrimSpace(pl.Order.ID) == "" {
		return nil, malformed("missing order.id")
	}
	ev := providers.Event{
		Provider:          Name,
		Kind:              sm.KindPayment,
		AggregateID:       pl.Order.ID,
		MerchantReference: pl.Order.Reference,
		Name:              name,
		ProviderStatus:    name,
	}

	orderValue, orderCur, err := parseAmount("order.amount", pl.Order.Amount)
	if err != nil {
		return nil, err
	}
	var txnValue *int64
	var txnCur string
	if pl.Transaction != nil {
		if txnValue, txnCur, err = parseAmount("transaction.amount", pl.Transaction.Amount); err != nil {
			return nil, err
		}
	}
	if orderCur != "" && txnCur != "" && orderCur != txnCur {
		return nil, malformed("transaction.amount.currencyCode %s differs from order.amount.currencyCode %s", txnCur, orderCur)
	}
	ev.Currency = orderCur
	if ev.Currency == "" {
		ev.Currency = txnCur
	}
	switch {
	case orderAmountEvents[name] && orderValue != nil:
		ev.Amount, ev.HasAmount = *orderValue, true
	case transactionAmountEvents[name] && txnValue != nil:
		ev.Amount, ev.HasAmount = *txnValue, true
	}

	var txnID, txnState, txnDate string
	if pl.Transaction != nil {
		txnID, txnState, txnDate = pl.Transaction.ID, pl.Transaction.State, pl.Transaction.Date
	}
	switch {
	case pl.Timestamp != "":
		if ev.OccurredAt, err = parseTime("timestamp", pl.Timestamp); err != nil {
			return nil, err
		}
	case txnDate != "":
		if ev.OccurredAt, err = parseTime("transaction.date", txnDate); err != nil {
			return nil, err
		}
	}
	// A transaction date is validated even when the timestamp wins.
	if pl.Timestamp != "" && txnDate != "" {
		if _, err := parseTime("transaction.date", txnDate); err != nil {
			return nil, err
		}
	}

	ev.DedupeKey = dedupeKey(pl.Order.ID, name, txnID, txnState, pl.Timestamp)
	return []providers.Event{ev}, nil
}

// eventName returns the trimmed event name from event or its alias
// eventName. When both are sent they must agree.
func eventName(pl payload) (string, error) {
	name, err := providers.FieldOrAlias("event", pl.Event, "eventName", pl.EventName)
	if err != nil {
		return "", malformed("%v", err)
	}
	return name, nil
}

// parseAmount validates an amount object. It returns a nil value when the
// object or its value is absent, and the upper-cased currency ("" when
// absent).
func parseAmount(field string, a *amount) (*int64, string, error) {
	if a == nil {
		return nil, "", nil
	}
	var cur string
	if a.CurrencyCode != "" {
		c, err := money.Currency(a.CurrencyCode)
		if err != nil {
			return nil, "", malformed("%s.currencyCode is not an ISO 4217 code", field)
		}
		cur = c
	}
	if a.Value == "" {
		return nil, cur, nil
	}
	v, err := minorUnits(string(a.Value))
	if err != nil {
		return nil, "", malformed("%s.value: %v", field, err)
	}
	return &v, cur, nil
}

// minorUnits parses a non-negative integer amount in minor units. Fractions,
// exponents, signs and values beyond int64 are rejected.
func minorUnits(s string) (int64, error) {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errors.New("not a non-negative integer in minor units")
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, errors.New("out of range")
	}
	return v, nil
}

func parseTime(field, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, malformed("%s is not an RFC 3339 time", field)
	}
	return t.UTC(), nil
}

// dedupeKey derives a delivery key from the fields that identify an event:
// N-Genius sends no event id.
func dedupeKey(orderID, event, txnID, txnState, timestamp string) string {
	return Name + ":" + providers.HashFields(orderID, event, txnID, txnState, timestamp)
}
