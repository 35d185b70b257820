package payengine

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/paystate/paystate/money"
	"github.com/paystate/paystate/providers"
	"github.com/paystate/paystate/redact"
	sm "github.com/paystate/paystate/statemachine"
)

// Name is the provider's URL segment and storage name.
const Name = "payengine"

// SignatureHeader carries "t=<unix seconds>,s=<hex HMAC-SHA256>".
const SignatureHeader = "X-PF-Signature"

// Defaults for the zero Config fields.
const (
	DefaultTolerance = 300 * time.Second
	DefaultCurrency  = "USD"
)

// Bounds on the signature header, so that a hostile header costs little.
const (
	maxHeaderLen  = 4096
	maxSignatures = 8
)

// Config is what an operator configures for PayEngine.
type Config struct {
	// Secrets are the endpoint's signing secrets from the PayEngine
	// dashboard. Every one is accepted, so that a secret can be rotated
	// without losing deliveries. None configured: every webhook is refused.
	Secrets []string
	// Tolerance is how far the signature's timestamp may be from the
	// receiver's clock, in either direction. Zero or negative: 300 s.
	Tolerance time.Duration
	// DefaultCurrency is the ISO 4217 currency of transaction amounts,
	// which PayEngine sends without one. Empty: USD.
	DefaultCurrency string
}

// Validate reports a configuration Parse could not work with: a default
// currency that is not an ISO 4217 code. Missing secrets are not an error
// here: they make Authenticate refuse everything, which is safe.
func (c Config) Validate() error {
	cur := c.DefaultCurrency
	if strings.TrimSpace(cur) == "" {
		cur = DefaultCurrency
	}
	if _, err := money.Exponent(cur); err != nil {
		return fmt.Errorf("payengine: default currency: %w", err)
	}
	return nil
}

// Provider is the PayEngine webhook integration. It is safe for concurrent
// use.
type Provider struct {
	secrets   [][]byte
	tolerance time.Duration
	currency  string
	// currencyOK is false when the configured default currency is not an
	// ISO 4217 code; Parse then refuses amounts that would need it.
	currencyOK bool
}

var _ providers.Provider = (*Provider)(nil)

// WithDefaults returns c as New uses it: the tolerance and currency
// given their defaults when unset, the currency in upper case.
func (c Config) WithDefaults() Config {
	if c.Tolerance <= 0 {
		c.Tolerance = DefaultTolerance
	}
	c.DefaultCurrency = strings.ToUpper(strings.TrimSpace(c.DefaultCurrency))
	if c.DefaultCurrency == "" {
		c.DefaultCurrency = DefaultCurrency
	}
	return c
}

// New returns a provider for cfg. Empty secrets are ignored: an empty
// secret would let anyone sign.
func New(cfg Config) *Provider {
	cfg = cfg.WithDefaults()
	p := &Provider{tolerance: cfg.Tolerance, currency: cfg.DefaultCurrency}
	for _, s := range cfg.Secrets {
		if s != "" {
			p.secrets = append(p.secrets, []byte(s))
		}
	}
	_, err := money.Exponent(p.currency)
	p.currencyOK = err == nil
	return p
}

// Name implements providers.Provider.
func (p *Provider) Name() string { return Name }

// Tables implements providers.Provider. The tables are deep copies: a
// caller may modify them without affecting the provider.
func (p *Provider) Tables() []sm.Table {
	return providers.CloneTables(tables...)
}

func unauthenticated(msg string) error {
	return fmt.Errorf("%w: payengine: %s", providers.ErrUnauthenticated, msg)
}

// Authenticate implements providers.Provider: X-PF-Signature must hold a
// timestamp t and at least one signature s, one of the signatures must be
// the hex HMAC-SHA256 of "{t}.{body}" under one of the configured secrets,
// and t must be within the tolerance of now, in either direction. Elements
// of the header other than t and s are ignored, in any order, as PayEngine
// documents. Every secret is tried against every signature in constant
// time; errors never contain a secret or a presented value.
func (p *Provider) Authenticate(h providers.Headers, body []byte, now time.Time) error {
	if len(p.secrets) == 0 {
		return unauthenticated("no signing secret configured")
	}
	var raw string
	if h != nil {
		raw = h.Get(SignatureHeader)
	}
	if strings.TrimSpace(raw) == "" {
		return unauthenticated("header " + SignatureHeader + " missing or empty")
	}
	ts, sigs, err := parseSignatureHeader(raw)
	if err != nil {
		return err
	}
	match := 0
	for _, secret := range p.secrets {
		want := mac(secret, ts, body)
		for _, s := range sigs {
			match |= subtle.ConstantTimeCompare(want, s)
		}
	}
	if match != 1 {
		return unauthenticated("signature does not match")
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return unauthenticated("timestamp out of range")
	}
	skew := now.Unix() - t
	if skew < 0 {
		skew = -skew
	}
	if skew > int64(p.tolerance/time.Second) {
		return unauthenticated("timestamp outside the accepted window")
	}
	return nil
}

// parseSignatureHeader returns the timestamp exactly as sent (it is part of
// the signed text) and the decoded signatures.
func parseSignatureHeader(raw string) (string, [][]byte, error) {
	if len(raw) > maxHeaderLen {
		return "", nil, unauthenticated("header " + SignatureHeader + " too long")
	}
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(raw, ",") {
		key, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue // not a prefix=value pair: discarded, as documented
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		switch key {
		case "t":
			if ts != "" {
				return "", nil, unauthenticated("more than one timestamp")
			}
			if !isDigits(value) || len(value) > 19 {
				return "", nil, unauthenticated("timestamp is not unix seconds")
			}
			ts = value
		case "s":
			if len(value) != 2*sha256.Size {
				return "", nil, unauthenticated("signature is not 64 hex digits")
			}
			sig, err := hex.DecodeString(value)
			if err != nil {
				return "", nil, unauthenticated("signature is not 64 hex digits")
			}
			if len(sigs) == maxSignatures {
				return "", nil, unauthenticated("too many signatures")
			}
			sigs = append(sigs, sig)
		}
	}
	switch {
	case ts == "":
		return "", nil, unauthenticated("no timestamp (t=) in " + SignatureHeader)
	case len(sigs) == 0:
		return "", nil, unauthenticated("no signature (s=) in " + SignatureHeader)
	}
	return ts, sigs, nil
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// envelope is every PayEngine webhook: {event_uid, event, data}.
type envelope struct {
	EventUID *string         `json:"event_uid"`
	Event    *string         `json:"event"`
	Data     json.RawMessage `json:"data"`
}

// response is the processor's answer inside a transaction webhook
// (auth_response, sale_response, ach_response, return_response).
type response struct {
	object
	status string
}

// responseNames are the response objects, in the order they are looked
// for when an event's usual one is absent.
var responseNames = []string{"auth_response", "sale_response", "ach_response", "return_response"}

// pickResponse returns the response to read: the preferred one, or else
// the first present (the samples are not consistent: PAYMENT_VOIDED_FAILED
// carries an auth_response). ok is false when there is none.
func pickResponse(d object, preferred string) (response, bool, error) {
	for _, name := range append([]string{preferred}, responseNames...) {
		r, ok, err := d.obj(name)
		if err != nil {
			return response{}, false, err
		}
		if ok {
			status, err := r.str("status")
			return response{r, status}, err == nil, err
		}
	}
	return response{}, false, nil
}

// The event groups Parse knows.
type group uint8

const (
	groupUnknown group = iota
	groupTransaction
	groupRefund
	groupLink
	groupSubscription
	groupDispute
	groupMerchant
	groupMicroDeposit
	groupBatch
)

// txnSpec says how a transaction event is read.
type txnSpec struct {
	// outcome: the response's status decides the outcome; FAIL renames the
	// event "<EVENT>_FAILED".
	outcome bool
	// amount: a successful event carries the transaction's amount.
	amount bool
	// response is the response object looked at first.
	response string
}

var txnEvents = map[string]txnSpec{
	"PAYMENT_AUTH":               {outcome: true, amount: true, response: "auth_response"},
	"PAYMENT_CAPTURED":           {outcome: true, amount: true, response: "sale_response"},
	"PAYMENT_SALE":               {outcome: true, amount: true, response: "sale_response"},
	"PAYMENT_ACH":                {outcome: true, amount: true, response: "ach_response"},
	"OFFLINE_SALE":               {outcome: true, amount: true, response: "sale_response"},
	"PAYMENT_VOIDED":             {outcome: true, response: "sale_response"},
	"PAYMENT_VOIDED_FAILED":      {response: "auth_response"},
	"PAYMENT_FAILED":             {response: "sale_response"},
	"DEVICE_SALE_CANCEL":         {response: "sale_response"},
	"TRANSACTION_STATUS_CHANGED": {amount: true, response: "sale_response"},
}

var groups = map[string]group{
	"PAYMENT_REFUNDED":                     groupRefund,
	"ACH_CREDIT_ISSUED":                    groupRefund,
	"PAYMENTLINK_CREATED":                  groupLink,
	"PAYMENTLINK_UPDATED":                  groupLink,
	"PAYMENTLINK_CANCELLED":                groupLink,
	"SUBSCRIPTION_CREATED":                 groupSubscription,
	"SUBSCRIPTION_UPDATED":                 groupSubscription,
	"SUBSCRIPTION_CANCELLED":               groupSubscription,
	"DISPUTE_CREATED":                      groupDispute,
	"DISPUTE_INFORMATION_UPDATED":          groupDispute,
	"MERCHANT_CREATED":                     groupMerchant,
	"MERCHANT_UPDATED":                     groupMerchant,
	"MERCHANT_STATUS_CHANGED":              groupMerchant,
	"MICRO_DEPOSIT_INITIATED":              groupMicroDeposit,
	"MICRO_DEPOSIT_READY_FOR_VERIFICATION": groupMicroDeposit,
	"MICRO_DEPOSIT_VERIFIED":               groupMicroDeposit,
	"MICRO_DEPOSIT_VERIFICATION_FAILED":    groupMicroDeposit,
	"BATCH_GENERATED":                      groupBatch,
}

func groupOf(event string) group {
	if _, _, ok := txnSpecOf(event); ok {
		return groupTransaction
	}
	return groups[event]
}

// txnSpecOf returns how a transaction event is read. An outcome event's
// failure may come under a name of its own, "<EVENT>_FAILED": the document
// titles a PAYMENT_AUTH with status FAIL "PAYMENT_AUTH_FAILED", so that
// name, should PayEngine send it as the event, is read as the failure of
// PAYMENT_AUTH (failed true), whatever the response says.
func txnSpecOf(event string) (spec txnSpec, failed, ok bool) {
	if spec, ok := txnEvents[event]; ok {
		return spec, false, true
	}
	if base, cut := strings.CutSuffix(event, "_FAILED"); cut {
		if spec, ok := txnEvents[base]; ok && spec.outcome {
			return spec, true, true
		}
	}
	return txnSpec{}, false, false
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: payengine: %s", providers.ErrMalformed, fmt.Sprintf(format, args...))
}

// Parse implements providers.Provider. A refund or ACH credit that
// succeeded returns two events (the refund, and the refund's effect on the
// payment it names); every other webhook returns one. An event PayEngine
// adds later is recorded on the object it names, if any (unknown).
func (p *Provider) Parse(body []byte) ([]providers.Event, error) {
	env, err := decodeEnvelope(body)
	if err != nil {
		return nil, err
	}
	event := strings.TrimSpace(*env.Event)
	uid := strings.TrimSpace(*env.EventUID)
	evs, err := p.parseData(providers.Event{Provider: Name, Name: event, ProviderStatus: event}, env.Data)
	if err != nil {
		return nil, err
	}
	setKeys(evs, uid, event, body)
	return evs, nil
}

// setKeys sets the dedupe keys of a webhook's events. The first event is
// the webhook's own object (a refund's effect on its payment comes
// second).
func setKeys(evs []providers.Event, uid, event string, body []byte) {
	for i := range evs {
		switch {
		case evs[0].AggregateID == "":
			evs[i].DedupeKey = objectlessKey(uid, event, body)
		case updates[event]:
			evs[i].DedupeKey = updateKey(uid, event, evs[i], body)
		default:
			evs[i].DedupeKey = dedupeKey(uid, event, evs[0].AggregateID, evs[i].Kind)
		}
	}
}

// updates are the events that state an object as of an update time of
// their own: PAYMENTLINK_UPDATED (updatedAt), SUBSCRIPTION_UPDATED
// (updatedDate).
var updates = map[string]bool{"PAYMENTLINK_UPDATED": true, "SUBSCRIPTION_UPDATED": true}

// updateKey identifies an update of a link or a subscription by the
// update time it states (OccurredAt) as well: the document sends a link's
// CREATED and UPDATED, and a subscription's CREATED, CANCELLED and
// UPDATED, under one event_uid, so a second update of the object under
// that uid is another update, not the first one told with another body.
// The same update time with another body is still a conflict. An update
// stating no readable time is keyed on its body instead: nothing else
// tells it from another update, and a conflict would lose it.
func updateKey(uid, event string, ev providers.Event, body []byte) string {
	at := "at " + ev.OccurredAt.Format(time.RFC3339Nano)
	if ev.OccurredAt.IsZero() {
		at = "body " + bodyHash(body)
	}
	return Name + ":" + providers.HashFields(uid, event, ev.AggregateID, string(ev.Kind), at)
}

// objectlessKey identifies an event that names no object (an event this
// package does not know whose data names none, a batch without an id): by
// its uid, its name and its body. The document reuses one event_uid across
// different events, and with no object to tell them apart, a second event
// under a known uid and name would read as the first one told with another
// body: a conflict, for an event that moves nothing. Keyed on its body too,
// a retry (the same body) is a duplicate, and another body another event,
// recorded.
func objectlessKey(uid, event string, body []byte) string {
	return Name + ":" + providers.HashFields(uid, event, "", "", bodyHash(body))
}

func bodyHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// dedupeKey identifies one event of a delivery: PayEngine's event_uid, the
// event as sent and the id of the object the webhook is about, plus the
// kind of aggregate the event goes to, which tells a refund from its
// effect on the payment. PayEngine reuses an event_uid across the events
// of one transaction (AUTH, then CAPTURED), so the uid alone does not name
// an event (see doc.go).
func dedupeKey(uid, event, object string, kind sm.Kind) string {
	return Name + ":" + providers.HashFields(uid, event, object, string(kind))
}

// parseData reads the data of the event base names into the events it
// concerns, without their dedupe keys.
func (p *Provider) parseData(base providers.Event, data json.RawMessage) ([]providers.Event, error) {
	g := groupOf(base.Name)
	d, err := decodeObject("data", data)
	if g == groupUnknown {
		// Whatever its data, an event this package does not know is
		// recorded: a body PayEngine would retry for ever is not refused.
		if err != nil {
			return []providers.Event{unknown(base, nil)}, nil
		}
		return []providers.Event{unknown(base, d.text)}, nil
	}
	if err != nil {
		return nil, err
	}
	var ev providers.Event
	switch g {
	case groupTransaction:
		spec, failed, _ := txnSpecOf(base.Name)
		ev, err = p.transaction(base, d, spec, failed)
	case groupRefund:
		return p.refund(base, d)
	case groupLink:
		ev, err = p.link(base, d)
	case groupSubscription:
		ev, err = p.subscription(base, d)
	case groupDispute:
		ev, err = p.dispute(base, d)
	case groupMerchant:
		ev, err = merchant(base, d)
	case groupMicroDeposit:
		ev, err = microDeposit(base, d)
	default: // groupBatch
		ev, err = base, nil
		ev.AggregateID = d.text("id")
		ev.RecordOnly = true
	}
	if err != nil {
		return nil, err
	}
	return []providers.Event{ev}, nil
}

// unknown reads an event this package does not know as far as the object
// it names, read as the known events of its family read theirs (doc.go,
// Dedupe key), so that its key holds that object's id and the event is in
// the object's history. text reads a member of data ("" when absent or not
// a string); nil: data is not an object, and names nothing. The event is
// record-only whatever its name: paystate does not know what it means.
func unknown(ev providers.Event, text func(key string) string) providers.Event {
	ev.RecordOnly = true
	if text != nil {
		ev.Kind, ev.AggregateID, ev.Parent = unknownObject(ev.Name, text)
	}
	if ev.AggregateID == "" {
		ev.Kind, ev.Parent = "", nil
	}
	return ev
}

// unknownObject is the object an unknown event's name and data name ("":
// none), by the family its name's prefix gives.
func unknownObject(name string, text func(key string) string) (sm.Kind, string, *providers.Ref) {
	payment := func(id string) *providers.Ref {
		if id == "" {
			return nil
		}
		return &providers.Ref{Kind: sm.KindPayment, ID: id}
	}
	txn := text("transaction_id")
	switch {
	case strings.HasPrefix(name, "PAYMENTLINK_"):
		return sm.KindLink, text("paymentLinkId"), nil
	case strings.HasPrefix(name, "SUBSCRIPTION_"):
		return sm.KindSubscription, text("subscriptionId"), nil
	case strings.HasPrefix(name, "DISPUTE_"):
		return sm.KindChargeback, firstNonEmpty(text("dispute_id"), text("disputeId"), text("id"), txn), payment(txn)
	case strings.HasPrefix(name, "MERCHANT_"):
		return sm.KindOnboarding, firstNonEmpty(text("merchant_id"), text("id")), nil
	case strings.HasPrefix(name, "MICRO_DEPOSIT_"):
		if mid := text("merchant_id"); mid != "" {
			return sm.KindOnboarding, mid, nil
		}
		return "", text("bank_account_id"), nil
	case strings.HasPrefix(name, "BATCH_"):
		return "", text("id"), nil
	case txn == "":
		return "", text("id"), nil
	}
	if parent := payment(text("original_transaction_id")); parent != nil {
		return sm.KindRefund, txn, parent
	}
	return sm.KindPayment, txn, nil
}

func decodeEnvelope(body []byte) (envelope, error) {
	var env envelope
	if err := providers.DecodeObject(body, &env); err != nil {
		return env, malformed("%v", err)
	}
	if env.EventUID == nil || strings.TrimSpace(*env.EventUID) == "" {
		return env, malformed("missing event_uid")
	}
	if env.Event == nil || strings.TrimSpace(*env.Event) == "" {
		return env, malformed("missing event")
	}
	return env, nil
}

// merchantReference is the merchant's order number where the data gives
// one.
func merchantReference(d object) string {
	return firstNonEmpty(d.text("order_number"), d.text("orderNumber"))
}

// transaction reads a transaction event of the payment with id
// data.transaction_id.
func (p *Provider) transaction(ev providers.Event, d object, spec txnSpec, failed bool) (providers.Event, error) {
	id, err := d.id("transaction_id")
	if err != nil {
		return ev, err
	}
	ev.Kind = sm.KindPayment
	ev.AggregateID = id
	ev.MerchantReference = merchantReference(d)
	ev.RecordOnly = ev.Name == "TRANSACTION_STATUS_CHANGED"
	explicit, err := explicitCurrency(d)
	if err != nil {
		return ev, err
	}
	resp, ok, err := pickResponse(d, spec.response)
	if err != nil {
		return ev, err
	}
	event := ev.Name
	if ok {
		ev.ProviderStatus = describe(event, resp)
		if spec.outcome && !failed {
			ev.Name = outcomeName(event, resp.status)
		}
	}
	if spec.amount && ok && !failed && ev.Name == event {
		key := "totalAmount"
		if resp.absent(key) {
			key = "transactionAmount"
		}
		if err := p.setAmount(&ev, resp.field(key), resp.raw(key), explicit); err != nil {
			return ev, err
		}
	}
	if ev.Currency == "" {
		ev.Currency = explicit
	}
	return ev, nil
}

// refund reads PAYMENT_REFUNDED and ACH_CREDIT_ISSUED: the refund
// transaction (data.transaction_id) and, when it succeeded and names its
// payment, the refund's effect on that payment.
func (p *Provider) refund(base providers.Event, d object) ([]providers.Event, error) {
	id, err := d.id("transaction_id")
	if err != nil {
		return nil, err
	}
	parent, err := d.str("original_transaction_id")
	if err != nil {
		return nil, err
	}
	explicit, err := explicitCurrency(d)
	if err != nil {
		return nil, err
	}
	resp, ok, err := pickResponse(d, "return_response")
	if err != nil {
		return nil, err
	}
	event := base.Name
	refund := base
	refund.Kind = sm.KindRefund
	refund.AggregateID = id
	refund.MerchantReference = merchantReference(d)
	if ok {
		refund.ProviderStatus = describe(event, resp)
		refund.Name = outcomeName(event, resp.status)
		if err := p.setAmount(&refund, resp.field("returnedAmount"), resp.raw("returnedAmount"), explicit); err != nil {
			return nil, err
		}
	}
	if refund.Currency == "" {
		refund.Currency = explicit
	}
	if parent == "" {
		// Nothing names the payment: the refund stands alone.
		return []providers.Event{refund}, nil
	}
	refund.Parent = &providers.Ref{Kind: sm.KindPayment, ID: parent}
	if refund.Name != event {
		// Failed (or an unknown outcome): no money moved on the payment.
		return []providers.Event{refund}, nil
	}
	// Keyed by the object each concerns (Parse), the refund and its
	// effect on the payment are two events; a redelivery with a different
	// body conflicts on both, so it never moves the payment's money twice.
	payment := refund
	payment.Kind = sm.KindPayment
	payment.AggregateID = parent
	payment.Parent = nil
	return []providers.Event{refund, payment}, nil
}

// link reads a payment-link event (data.paymentLinkId).
func (p *Provider) link(ev providers.Event, d object) (providers.Event, error) {
	id, err := d.id("paymentLinkId")
	if err != nil {
		return ev, err
	}
	status, err := d.str("paymentLinkStatus")
	if err != nil {
		return ev, err
	}
	ev.Kind = sm.KindLink
	ev.AggregateID = id
	ev.MerchantReference = merchantReference(d)
	if status != "" {
		ev.ProviderStatus = status
	}
	switch ev.Name {
	case "PAYMENTLINK_CREATED":
		ev.OccurredAt = rfc3339(d.text("createdAt"))
	case "PAYMENTLINK_UPDATED":
		ev.OccurredAt = rfc3339(d.text("updatedAt"))
		ev.Name += statusSuffix(status, linkStatuses, "")
	}
	return ev, p.faceAmount(&ev, d)
}

// linkStatuses name a link update by its paymentLinkStatus (see
// statusSuffix): still usable, used up, expired or cancelled.
var linkStatuses = map[string]string{
	"":          "",
	"ACTIVE":    "",
	"PAID":      "_PAID",
	"COMPLETED": "_PAID",
	"USED":      "_PAID",
	"EXPIRED":   "_EXPIRED",
	"CANCELLED": "_CANCELLED",
	"CANCELED":  "_CANCELLED",
}

// subscriptionStatuses name a subscription update by its
// subscriptionStatus (see statusSuffix).
var subscriptionStatuses = map[string]string{
	"ACTIVE":    "",
	"PAST_DUE":  "_PAST_DUE",
	"PASTDUE":   "_PAST_DUE",
	"CANCELLED": "_CANCELLED",
	"CANCELED":  "_CANCELLED",
	"EXPIRED":   "_EXPIRED",
	"COMPLETED": "_COMPLETED",
	"PAUSED":    "_PAUSED",
}

// statusSuffix is the suffix naming an update by the status its body
// states: the status is matched exactly (after upper-casing, with spaces
// and dashes read as underscores: "Past Due" is PAST_DUE), never by the
// words in it. A status the map does not know gives other, or, when other
// is "", "_<STATUS>", a word no table knows, so that the update is
// recorded rather than guessed.
func statusSuffix(status string, known map[string]string, other string) string {
	w := word(strings.ToUpper(strings.TrimSpace(status)))
	if suffix, ok := known[w]; ok {
		return suffix
	}
	if other != "" {
		return other
	}
	return "_" + w
}

// subscription reads a subscription event (data.subscriptionId) and names
// it by its subscriptionStatus (see machine.go).
func (p *Provider) subscription(ev providers.Event, d object) (providers.Event, error) {
	id, err := d.id("subscriptionId")
	if err != nil {
		return ev, err
	}
	status, err := d.str("subscriptionStatus")
	if err != nil {
		return ev, err
	}
	ev.Kind = sm.KindSubscription
	ev.AggregateID = id
	if status != "" {
		ev.ProviderStatus = status
	}
	switch ev.Name {
	case "SUBSCRIPTION_CREATED":
		if !strings.EqualFold(status, "active") {
			ev.Name += "_INACTIVE"
		}
	case "SUBSCRIPTION_UPDATED":
		ev.OccurredAt = rfc3339(d.text("updatedDate"))
		// A status with no canonical meaning (or none) is shown, not
		// followed.
		ev.Name += statusSuffix(status, subscriptionStatuses, "_INACTIVE")
	case "SUBSCRIPTION_CANCELLED":
		success, err := d.boolean("success")
		if err != nil {
			return ev, err
		}
		if success != nil && !*success {
			ev.Name += "_FAILED"
		}
	}
	return ev, p.faceAmount(&ev, d)
}

// dispute reads a dispute event. A dispute is named by its own id where
// the body gives one (dispute_id, disputeId or id; the documented samples
// give none), else by the disputed transaction's id; its parent is the
// disputed transaction's payment. Its amount is data.amount, in
// data.currencyCode, where the body states one (the samples do not).
func (p *Provider) dispute(ev providers.Event, d object) (providers.Event, error) {
	txn, err := d.id("transaction_id")
	if err != nil {
		return ev, err
	}
	id := txn
	for _, key := range []string{"dispute_id", "disputeId", "id"} {
		own, err := d.str(key)
		if err != nil {
			return ev, err
		}
		if own != "" {
			id = own
			break
		}
	}
	status, err := d.str("status")
	if err != nil {
		return ev, err
	}
	ev.Kind = sm.KindChargeback
	ev.AggregateID = id
	ev.Parent = &providers.Ref{Kind: sm.KindPayment, ID: txn}
	if status != "" {
		ev.ProviderStatus = status
	}
	if ev.Name == "DISPUTE_INFORMATION_UPDATED" {
		ev.Name += disputeOutcomes[word(strings.ToUpper(status))]
	}
	return ev, p.faceAmount(&ev, d)
}

// disputeOutcomes are the dispute statuses that end a dispute, matched
// exactly (upper-cased, spaces and dashes read as underscores): "Not Won"
// is NOT_WON, lost, never won because it holds the word. A merchant that
// ACCEPTED the dispute, or let its response window EXPIRE, has lost it.
// CLOSED and RESOLVED end a dispute without saying who won: the outcome
// stays what was known. Any other status is a dispute in progress.
var disputeOutcomes = map[string]string{
	"WON":           "_WON",
	"MERCHANT_WON":  "_WON",
	"LOST":          "_LOST",
	"NOT_WON":       "_LOST",
	"MERCHANT_LOST": "_LOST",
	"ACCEPTED":      "_LOST",
	"EXPIRED":       "_LOST",
	"CANCELLED":     "_CANCELLED",
	"CANCELED":      "_CANCELLED",
	"WITHDRAWN":     "_CANCELLED",
	"CLOSED":        "_CLOSED",
	"RESOLVED":      "_CLOSED",
}

// merchant reads a merchant event (data.merchant_id, or data.id, which
// the samples show equal to it). MERCHANT_STATUS_CHANGED is named by its
// status, normalized: "In Review" and "in-review" are in_review.
func merchant(ev providers.Event, d object) (providers.Event, error) {
	mid, err := d.str("merchant_id")
	if err != nil {
		return ev, err
	}
	if mid == "" {
		if mid, err = d.str("id"); err != nil {
			return ev, err
		}
	}
	if mid == "" {
		return ev, malformed("missing data.merchant_id")
	}
	ev.Kind = sm.KindOnboarding
	ev.AggregateID = mid
	if ev.Name == "MERCHANT_STATUS_CHANGED" {
		status, err := d.str("status")
		if err != nil {
			return ev, err
		}
		if status != "" {
			ev.Name = normalizeStatus(status)
			ev.ProviderStatus = status
		}
		// A status snapshot under a uid the merchant's events share (see
		// doc.go): its key holds while the merchant stays where it was
		// decided, so its next status is decided, not a conflict.
		ev.Snapshot = true
	}
	return ev, nil
}

// microDeposit records a bank-account verification step on the merchant's
// onboarding; without a merchant id it is recorded on its own, under the
// bank account.
func microDeposit(ev providers.Event, d object) (providers.Event, error) {
	ev.RecordOnly = true
	mid, err := d.str("merchant_id")
	if err != nil {
		return ev, err
	}
	if mid != "" {
		ev.Kind = sm.KindOnboarding
		ev.AggregateID = mid
		return ev, nil
	}
	ev.AggregateID = d.text("bank_account_id")
	return ev, nil
}

func normalizeStatus(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return '_'
		}
		return r
	}, strings.ToLower(strings.TrimSpace(s)))
}

// outcomeName names an outcome event by its response status: PASS (or no
// status) keeps the name, FAIL gives "<EVENT>_FAILED", and any other status
// "<EVENT>_<STATUS>", a word no table knows, so the engine records it
// instead of guessing.
func outcomeName(event, status string) string {
	s := strings.ToUpper(strings.TrimSpace(status))
	switch s {
	case "", "PASS":
		return event
	case "FAIL", "FAILED":
		return event + "_FAILED"
	}
	return event + "_" + word(s)
}

// word reduces free text to a bounded [A-Z0-9_] word.
func word(s string) string {
	w := strings.Map(func(r rune) rune {
		if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			return r
		}
		return '_'
	}, s)
	if len(w) > 40 {
		w = w[:40]
	}
	return w
}

// describe is the provider status shown beside the canonical state:
// "PAYMENT_AUTH FAIL (D2005: Invalid Card)". The processor's free text may
// carry a card number: it is masked (redact.Text, the masking everything
// else gets) before it is cut to length, so that the cut cannot leave
// enough of a number to pass unrecognised.
func describe(event string, r response) string {
	status := strings.ToUpper(r.status)
	if status == "" {
		return event
	}
	out := event + " " + status
	code, msg := r.text("responseCode"), r.text("responseMessage")
	switch {
	case code != "" && msg != "":
		out += " (" + code + ": " + msg + ")"
	case code != "" || msg != "":
		out += " (" + code + msg + ")"
	}
	return redact.Truncate(redact.Text(out), 160)
}

// explicitCurrency is the currency a transaction's data states, if any
// (the documented transactions state none).
func explicitCurrency(d object) (string, error) {
	a, err := d.str("currencyCode")
	if err != nil {
		return "", err
	}
	b, err := d.str("currency_code")
	if err != nil {
		return "", err
	}
	if a != "" && b != "" && !strings.EqualFold(a, b) {
		return "", malformed("data.currencyCode and data.currency_code differ")
	}
	return currency(d.field("currencyCode"), firstNonEmpty(a, b))
}

// currency validates an ISO 4217 code ("" stays "").
func currency(field, code string) (string, error) {
	if code == "" {
		return "", nil
	}
	c, err := money.Currency(code)
	if err != nil {
		return "", malformed("%s is not an ISO 4217 code", field)
	}
	return c, nil
}

// faceAmount sets a link's or subscription's amount from data.amount in
// data.currencyCode (the configured default when the data states none).
func (p *Provider) faceAmount(ev *providers.Event, d object) error {
	code, err := d.str("currencyCode")
	if err != nil {
		return err
	}
	cur, err := currency(d.field("currencyCode"), code)
	if err != nil {
		return err
	}
	if err := p.setAmount(ev, d.field("amount"), d.raw("amount"), cur); err != nil {
		return err
	}
	if ev.Currency == "" {
		ev.Currency = cur
	}
	return nil
}

// setAmount converts a decimal amount (a JSON string, or a number taken as
// its text) to minor units of cur, or of the default currency when cur is
// empty. An absent, null or empty amount leaves ev without one.
func (p *Provider) setAmount(ev *providers.Event, field string, raw json.RawMessage, cur string) error {
	if isAbsent(raw) {
		return nil
	}
	text, ok := decimalText(raw)
	if !ok {
		return malformed("%s is not a decimal amount", field)
	}
	if text == "" {
		return nil
	}
	if cur == "" {
		if !p.currencyOK {
			return malformed("%s: the configured default currency is not an ISO 4217 code", field)
		}
		cur = p.currency
	}
	v, err := money.ToMinor(text, cur)
	if err != nil {
		return malformed("%s is not a non-negative decimal amount in %s", field, cur)
	}
	ev.Amount, ev.HasAmount, ev.Currency = v, true, cur
	return nil
}

func isAbsent(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// decimalText returns the text of a JSON string or number.
func decimalText(raw json.RawMessage) (string, bool) {
	t := bytes.TrimSpace(raw)
	switch {
	case len(t) == 0:
		return "", false
	case t[0] == '"':
		s, ok := jsonString(t)
		return strings.TrimSpace(s), ok
	case t[0] == '-' || (t[0] >= '0' && t[0] <= '9'):
		return string(t), true
	}
	return "", false
}

func rfc3339(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			return s
		}
	}
	return ""
}
