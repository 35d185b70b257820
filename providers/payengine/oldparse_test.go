package payengine

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/paystate/paystate/money"
	"github.com/paystate/paystate/providers"
	"github.com/paystate/paystate/redact"
	sm "github.com/paystate/paystate/statemachine"
)

// The parser this package used until data objects were decoded into a
// struct of the members Parse reads (see decodeMembers), kept verbatim but
// for the "old" prefix on its names so that the differential test and fuzz
// target (differential_test.go) can show the two give the same events and
// the same errors. It decodes each object into a map[string]json.RawMessage
// level by level and every member again where it is read. The helpers that
// never touched a decoded object (outcomeName, word, statusSuffix, currency,
// dedupeKey, ...) are shared with Parse. A deliberate change of Parse's
// semantics changes this copy too, or the comparison for that rule.

// object is a JSON object whose members are read by exact name, only
// those an event needs, each checked for its type where it is read: a
// field Parse does not use can never make a webhook malformed.
type oldObject struct {
	path    string
	members map[string]json.RawMessage
}

func oldDecodeObject(path string, raw json.RawMessage) (oldObject, error) {
	o := oldObject{path: path}
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '{' {
		return o, malformed("%s is missing or not an object", path)
	}
	if err := providers.DecodeObject(t, &o.members); err != nil {
		return o, malformed("%s: %v", path, err)
	}
	// Added with the rule that a member Parse reads must not repeat with
	// another value: the map keeps only the last, so the rule is asked of
	// the new decoder (decodeMembers) rather than copied.
	if _, twice := decodeMembers(t, &members{}); twice {
		return o, malformed("%s: a member paystate reads appears twice with different values (JSON member names must be unique)", path)
	}
	return o, nil
}

func (o oldObject) field(key string) string { return o.path + "." + key }

func (o oldObject) absent(key string) bool { return oldIsAbsent(o.members[key]) }

// str returns the trimmed string member key; absent or null is "".
func (o oldObject) str(key string) (string, error) {
	raw := o.members[key]
	if oldIsAbsent(raw) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", malformed("%s is not a string", o.field(key))
	}
	return strings.TrimSpace(s), nil
}

// text is str for members that are only shown, never decided on: a value
// of another type is ignored rather than refused.
func (o oldObject) text(key string) string {
	s, err := o.str(key)
	if err != nil {
		return ""
	}
	return s
}

// id returns a required string member.
func (o oldObject) id(key string) (string, error) {
	s, err := o.str(key)
	if err == nil && s == "" {
		err = malformed("missing %s", o.field(key))
	}
	return s, err
}

// obj returns the object member key, or ok false when absent or null.
func (o oldObject) obj(key string) (oldObject, bool, error) {
	if o.absent(key) {
		return oldObject{}, false, nil
	}
	sub, err := oldDecodeObject(o.field(key), o.members[key])
	return sub, err == nil, err
}

// boolean returns the bool member key, or nil when absent or null.
func (o oldObject) boolean(key string) (*bool, error) {
	if o.absent(key) {
		return nil, nil
	}
	var b bool
	if err := json.Unmarshal(o.members[key], &b); err != nil {
		return nil, malformed("%s is not a boolean", o.field(key))
	}
	return &b, nil
}

// response is the processor's answer inside a transaction webhook
// (auth_response, sale_response, ach_response, return_response).
type oldResponse struct {
	oldObject
	status string
}

// pickResponse returns the response to read: the preferred one, or else
// the first present (the samples are not consistent: PAYMENT_VOIDED_FAILED
// carries an auth_response). ok is false when there is none.
func oldPickResponse(d oldObject, preferred string) (oldResponse, bool, error) {
	for _, name := range append([]string{preferred}, responseNames...) {
		r, ok, err := d.obj(name)
		if err != nil {
			return oldResponse{}, false, err
		}
		if ok {
			status, err := r.str("status")
			return oldResponse{r, status}, err == nil, err
		}
	}
	return oldResponse{}, false, nil
}

// Parse implements providers.Provider. A refund or ACH credit that
// succeeded returns two events (the refund, and the refund's effect on the
// payment it names); every other webhook returns one. An event PayEngine
// adds later comes back with an empty Kind and is recorded.
func (p *Provider) oldParse(body []byte) ([]providers.Event, error) {
	env, err := decodeEnvelope(body)
	if err != nil {
		return nil, err
	}
	event := strings.TrimSpace(*env.Event)
	uid := strings.TrimSpace(*env.EventUID)
	evs, err := p.oldParseData(providers.Event{Provider: Name, Name: event, ProviderStatus: event}, env.Data)
	if err != nil {
		return nil, err
	}
	setKeys(evs, uid, event, body)
	return evs, nil
}

// parseData reads the data of the event base names into the events it
// concerns, without their dedupe keys.
func (p *Provider) oldParseData(base providers.Event, data json.RawMessage) ([]providers.Event, error) {
	g := groupOf(base.Name)
	d, err := oldDecodeObject("data", data)
	if g == groupUnknown {
		// Added with the reading of an unknown event's object: the
		// reading is shared (unknown), the members come from this decoder.
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
		ev, err = p.oldTransaction(base, d, spec, failed)
	case groupRefund:
		return p.oldRefund(base, d)
	case groupLink:
		ev, err = p.oldLink(base, d)
	case groupSubscription:
		ev, err = p.oldSubscription(base, d)
	case groupDispute:
		ev, err = p.oldDispute(base, d)
	case groupMerchant:
		ev, err = oldMerchant(base, d)
	case groupMicroDeposit:
		ev, err = oldMicroDeposit(base, d)
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

// merchantReference is the merchant's order number where the data gives
// one.
func oldMerchantReference(d oldObject) string {
	return firstNonEmpty(d.text("order_number"), d.text("orderNumber"))
}

// transaction reads a transaction event of the payment with id
// data.transaction_id.
func (p *Provider) oldTransaction(ev providers.Event, d oldObject, spec txnSpec, failed bool) (providers.Event, error) {
	id, err := d.id("transaction_id")
	if err != nil {
		return ev, err
	}
	ev.Kind = sm.KindPayment
	ev.AggregateID = id
	ev.MerchantReference = oldMerchantReference(d)
	ev.RecordOnly = ev.Name == "TRANSACTION_STATUS_CHANGED"
	explicit, err := oldExplicitCurrency(d)
	if err != nil {
		return ev, err
	}
	resp, ok, err := oldPickResponse(d, spec.response)
	if err != nil {
		return ev, err
	}
	event := ev.Name
	if ok {
		ev.ProviderStatus = oldDescribe(event, resp)
		if spec.outcome && !failed {
			ev.Name = outcomeName(event, resp.status)
		}
	}
	if spec.amount && ok && !failed && ev.Name == event {
		key := "totalAmount"
		if resp.absent(key) {
			key = "transactionAmount"
		}
		if err := p.oldSetAmount(&ev, resp.field(key), resp.members[key], explicit); err != nil {
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
func (p *Provider) oldRefund(base providers.Event, d oldObject) ([]providers.Event, error) {
	id, err := d.id("transaction_id")
	if err != nil {
		return nil, err
	}
	parent, err := d.str("original_transaction_id")
	if err != nil {
		return nil, err
	}
	explicit, err := oldExplicitCurrency(d)
	if err != nil {
		return nil, err
	}
	resp, ok, err := oldPickResponse(d, "return_response")
	if err != nil {
		return nil, err
	}
	event := base.Name
	refund := base
	refund.Kind = sm.KindRefund
	refund.AggregateID = id
	refund.MerchantReference = oldMerchantReference(d)
	if ok {
		refund.ProviderStatus = oldDescribe(event, resp)
		refund.Name = outcomeName(event, resp.status)
		if err := p.oldSetAmount(&refund, resp.field("returnedAmount"), resp.members["returnedAmount"], explicit); err != nil {
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
func (p *Provider) oldLink(ev providers.Event, d oldObject) (providers.Event, error) {
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
	ev.MerchantReference = oldMerchantReference(d)
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
	return ev, p.oldFaceAmount(&ev, d)
}

// subscription reads a subscription event (data.subscriptionId) and names
// it by its subscriptionStatus (see machine.go).
func (p *Provider) oldSubscription(ev providers.Event, d oldObject) (providers.Event, error) {
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
	return ev, p.oldFaceAmount(&ev, d)
}

// dispute reads a dispute event. A dispute is named by its own id where
// the body gives one (dispute_id, disputeId or id; the documented samples
// give none), else by the disputed transaction's id; its parent is the
// disputed transaction's payment.
func (p *Provider) oldDispute(ev providers.Event, d oldObject) (providers.Event, error) {
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
	return ev, p.oldFaceAmount(&ev, d)
}

// merchant reads a merchant event (data.merchant_id, or data.id, which
// the samples show equal to it). MERCHANT_STATUS_CHANGED is named by its
// status, normalized: "In Review" and "in-review" are in_review.
func oldMerchant(ev providers.Event, d oldObject) (providers.Event, error) {
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
		ev.Snapshot = true
	}
	return ev, nil
}

// microDeposit records a bank-account verification step on the merchant's
// onboarding; without a merchant id it is recorded on its own, under the
// bank account.
func oldMicroDeposit(ev providers.Event, d oldObject) (providers.Event, error) {
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

// describe is the provider status shown beside the canonical state:
// "PAYMENT_AUTH FAIL (D2005: Invalid Card)". The processor's free text may
// carry a card number: it is masked (redact.Text, the masking everything
// else gets) before it is cut to length, so that the cut cannot leave
// enough of a number to pass unrecognised.
func oldDescribe(event string, r oldResponse) string {
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
func oldExplicitCurrency(d oldObject) (string, error) {
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

// faceAmount sets a link's or subscription's amount from data.amount in
// data.currencyCode (the configured default when the data states none).
func (p *Provider) oldFaceAmount(ev *providers.Event, d oldObject) error {
	code, err := d.str("currencyCode")
	if err != nil {
		return err
	}
	cur, err := currency(d.field("currencyCode"), code)
	if err != nil {
		return err
	}
	if err := p.oldSetAmount(ev, d.field("amount"), d.members["amount"], cur); err != nil {
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
func (p *Provider) oldSetAmount(ev *providers.Event, field string, raw json.RawMessage, cur string) error {
	if oldIsAbsent(raw) {
		return nil
	}
	text, ok := oldDecimalText(raw)
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

func oldIsAbsent(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// decimalText returns the text of a JSON string or number.
func oldDecimalText(raw json.RawMessage) (string, bool) {
	t := bytes.TrimSpace(raw)
	switch {
	case len(t) == 0:
		return "", false
	case t[0] == '"':
		var s string
		if err := json.Unmarshal(t, &s); err != nil {
			return "", false
		}
		return strings.TrimSpace(s), true
	case t[0] == '-' || (t[0] >= '0' && t[0] <= '9'):
		return string(t), true
	}
	return "", false
}
