package payengine

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/providers"
	sm "github.com/paystate/paystate/statemachine"
)

// documentedSamples are the sample payloads of the PayEngine webhook
// document, by their titles, in its order.
var documentedSamples = []string{
	"MERCHANT_CREATED", "MERCHANT_UPDATED", "MERCHANT_STATUS_CHANGED", "MICRO_DEPOSIT_INITIATED",
	"MICRO_DEPOSIT_READY_FOR_VERIFICATION", "MICRO_DEPOSIT_VERIFIED", "MICRO_DEPOSIT_VERIFICATION_FAILED",
	"PAYMENT_AUTH", "PAYMENT_AUTH_FAILED", "PAYMENT_VOIDED", "PAYMENT_VOIDED_FAILED", "PAYMENT_CAPTURED",
	"PAYMENT_SALE", "PAYMENT_FAILED", "DEVICE_SALE_CANCEL", "PAYMENT_ACH", "PAYMENT_REFUNDED",
	"ACH_CREDIT_ISSUED", "OFFLINE_SALE", "TRANSACTION_STATUS_CHANGED", "PAYMENTLINK_CREATED",
	"PAYMENTLINK_CANCELLED", "PAYMENTLINK_UPDATED", "SUBSCRIPTION_CREATED", "SUBSCRIPTION_CANCELLED",
	"SUBSCRIPTION_UPDATED", "BATCH_GENERATED", "DISPUTE_CREATED", "DISPUTE_INFORMATION_UPDATED",
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

func parse(t *testing.T, body string) []providers.Event {
	t.Helper()
	evs, err := New(Config{}).Parse([]byte(body))
	require.NoError(t, err)
	return evs
}

func parseOne(t *testing.T, body string) providers.Event {
	t.Helper()
	evs := parse(t, body)
	require.Len(t, evs, 1)
	return evs[0]
}

func TestProviderBasics(t *testing.T) {
	t.Parallel()
	p := New(Config{})
	require.Equal(t, "payengine", p.Name())
	require.Equal(t, Name, p.Name())

	tables := p.Tables()
	modes := map[sm.Kind]sm.Mode{}
	for _, tb := range tables {
		require.Equal(t, Name, tb.Provider)
		modes[tb.Kind] = tb.Mode
	}
	require.Equal(t, map[sm.Kind]sm.Mode{
		sm.KindPayment:      sm.ModeEvent,
		sm.KindRefund:       sm.ModeEvent,
		sm.KindChargeback:   sm.ModeStatus,
		sm.KindSubscription: sm.ModeEvent,
		sm.KindLink:         sm.ModeEvent,
		sm.KindOnboarding:   sm.ModeStatus,
	}, modes)
	_, err := sm.NewRegistry(tables...)
	require.NoError(t, err, "every table builds")

	// The returned tables are copies.
	tables[0].Transitions[0].Event = "MUTATED"
	tables[0].Transitions[0].From[0] = sm.Captured
	tables[0].RecordOnly[0] = "MUTATED"
	again := p.Tables()
	require.Equal(t, paymentTable.Transitions[0].Event, again[0].Transitions[0].Event)
	require.Equal(t, sm.StateNew, again[0].Transitions[0].From[0])
	require.Equal(t, "TRANSACTION_STATUS_CHANGED", again[0].RecordOnly[0])
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	require.NoError(t, Config{}.Validate())
	require.NoError(t, Config{DefaultCurrency: "eur"}.Validate())
	require.Error(t, Config{DefaultCurrency: "XX"}.Validate())
	require.Error(t, Config{DefaultCurrency: "ABC"}.Validate())

	// An invalid default currency refuses only amounts that need it.
	p := New(Config{DefaultCurrency: "ABC"})
	_, err := p.Parse(readFixture(t, "PAYMENT_AUTH.json"))
	require.ErrorIs(t, err, providers.ErrMalformed)
	require.Contains(t, err.Error(), "default currency")
	_, err = p.Parse(readFixture(t, "PAYMENTLINK_CREATED.json"))
	require.NoError(t, err, "links state their currency")
	_, err = p.Parse(readFixture(t, "PAYMENT_AUTH_FAILED.json"))
	require.NoError(t, err, "no amount, no currency needed")
}

// Every documented sample is kept verbatim and as a strict-JSON rewrite.
func TestEveryDocumentedSampleHasFixtures(t *testing.T) {
	t.Parallel()
	docs, err := filepath.Glob(filepath.Join("testdata", "doc_*.txt"))
	require.NoError(t, err)
	jsons, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	require.NoError(t, err)
	var gotDocs, gotJSON []string
	for _, f := range docs {
		gotDocs = append(gotDocs, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "doc_"), ".txt"))
	}
	for _, f := range jsons {
		gotJSON = append(gotJSON, strings.TrimSuffix(filepath.Base(f), ".json"))
	}
	want := slices.Clone(documentedSamples)
	slices.Sort(want)
	require.Equal(t, want, gotDocs)
	require.Equal(t, want, gotJSON)

	for _, name := range documentedSamples {
		verbatim := readFixture(t, "doc_"+name+".txt")
		// The document's samples are JavaScript-object literals, not JSON:
		// as sent verbatim they are refused as malformed, never crash.
		require.False(t, json.Valid(verbatim), name)
		_, err := New(Config{}).Parse(verbatim)
		require.ErrorIs(t, err, providers.ErrMalformed, name)

		rewrite := readFixture(t, name+".json")
		require.True(t, json.Valid(rewrite), name)
		var env struct {
			Event string `json:"event"`
		}
		require.NoError(t, json.Unmarshal(rewrite, &env))
		require.Contains(t, string(verbatim), "'"+env.Event+"'", "%s: the rewrite keeps the sample's event", name)
	}
}

type wantEvent struct {
	kind     sm.Kind
	id       string
	name     string
	status   string
	amount   int64 // -1: none
	currency string
	key      string
	parent   string // payment id, "" for none
	record   bool
	ref      string
	occurred string
}

const (
	txnID     = "efa04765-b876-46b9-8c0e-39f30d27eb73"
	txnUID    = "4d304a4ed5a4e338b4753ab832efd9c0"
	refundID  = "415d9e62-1725-41e3-a6c0-1b7cc3153398"
	refundOf  = "353d6f10-c493-4606-9b34-dc864a7cedc9"
	refundUID = "3219ebc7e112790b88c3b619a4223967"
	merchant1 = "c404d923-226f-4aae-92da-22c1ef370434"
	merchant2 = "7a8c5219-f9f6-49cd-b747-561f02c36374"
	mUID1     = "220489c0dfa263d19ee1796973cdc9f6"
	mUID2     = "d9e335ce77489e329b1e7abda59fb2b3"
)

func TestParseFixtures(t *testing.T) {
	t.Parallel()
	pass := func(ev string) string { return ev + " PASS (A0000: Success)" }
	fail := func(ev string) string { return ev + " FAIL (D2005: Invalid Card)" }
	pay := func(name, status string, amount int64) wantEvent {
		cur := ""
		if amount >= 0 {
			cur = "USD"
		}
		return wantEvent{kind: sm.KindPayment, id: txnID, name: name, status: status, amount: amount, currency: cur, key: txnUID}
	}
	cases := map[string][]wantEvent{
		"MERCHANT_CREATED":        {{kind: sm.KindOnboarding, id: merchant1, name: "MERCHANT_CREATED", status: "MERCHANT_CREATED", amount: -1, key: mUID1}},
		"MERCHANT_UPDATED":        {{kind: sm.KindOnboarding, id: merchant1, name: "MERCHANT_UPDATED", status: "MERCHANT_UPDATED", amount: -1, key: mUID1}},
		"MERCHANT_STATUS_CHANGED": {{kind: sm.KindOnboarding, id: merchant1, name: "in_review", status: "in_review", amount: -1, key: mUID1}},
		"MICRO_DEPOSIT_INITIATED": {{kind: sm.KindOnboarding, id: merchant1, name: "MICRO_DEPOSIT_INITIATED",
			status: "MICRO_DEPOSIT_INITIATED", amount: -1, key: mUID1, record: true}},
		"MICRO_DEPOSIT_READY_FOR_VERIFICATION": {{kind: sm.KindOnboarding, id: merchant2, name: "MICRO_DEPOSIT_READY_FOR_VERIFICATION",
			status: "MICRO_DEPOSIT_READY_FOR_VERIFICATION", amount: -1, key: mUID2, record: true}},
		"MICRO_DEPOSIT_VERIFIED": {{kind: sm.KindOnboarding, id: merchant2, name: "MICRO_DEPOSIT_VERIFIED",
			status: "MICRO_DEPOSIT_VERIFIED", amount: -1, key: mUID2, record: true}},
		"MICRO_DEPOSIT_VERIFICATION_FAILED": {{kind: sm.KindOnboarding, id: merchant2, name: "MICRO_DEPOSIT_VERIFICATION_FAILED",
			status: "MICRO_DEPOSIT_VERIFICATION_FAILED", amount: -1, key: mUID2, record: true}},

		"PAYMENT_AUTH":          {pay("PAYMENT_AUTH", pass("PAYMENT_AUTH"), 7548)},
		"PAYMENT_AUTH_FAILED":   {pay("PAYMENT_AUTH_FAILED", fail("PAYMENT_AUTH"), -1)},
		"PAYMENT_VOIDED":        {pay("PAYMENT_VOIDED", pass("PAYMENT_VOIDED"), -1)},
		"PAYMENT_VOIDED_FAILED": {pay("PAYMENT_VOIDED_FAILED", fail("PAYMENT_VOIDED_FAILED"), -1)},
		"PAYMENT_CAPTURED":      {pay("PAYMENT_CAPTURED", pass("PAYMENT_CAPTURED"), 7548)},
		"PAYMENT_SALE":          {pay("PAYMENT_SALE", pass("PAYMENT_SALE"), 7548)},
		"PAYMENT_FAILED":        {pay("PAYMENT_FAILED", fail("PAYMENT_FAILED"), -1)},
		"DEVICE_SALE_CANCEL":    {pay("DEVICE_SALE_CANCEL", fail("DEVICE_SALE_CANCEL"), -1)},
		"PAYMENT_ACH":           {pay("PAYMENT_ACH", pass("PAYMENT_ACH"), 7548)},
		"PAYMENT_REFUNDED": {
			{kind: sm.KindRefund, id: refundID, name: "PAYMENT_REFUNDED", status: pass("PAYMENT_REFUNDED"), amount: 1000, currency: "USD",
				key: refundUID, parent: refundOf},
			{kind: sm.KindPayment, id: refundOf, name: "PAYMENT_REFUNDED", status: pass("PAYMENT_REFUNDED"), amount: 1000, currency: "USD",
				key: refundUID},
		},
		"ACH_CREDIT_ISSUED": {
			{kind: sm.KindRefund, id: refundID, name: "ACH_CREDIT_ISSUED", status: pass("ACH_CREDIT_ISSUED"), amount: 1000, currency: "USD",
				key: refundUID, parent: refundOf},
			{kind: sm.KindPayment, id: refundOf, name: "ACH_CREDIT_ISSUED", status: pass("ACH_CREDIT_ISSUED"), amount: 1000, currency: "USD",
				key: refundUID},
		},
		"OFFLINE_SALE": {{kind: sm.KindPayment, id: "ce7809e8-3179-4f64-b707-f049b0491a2a", name: "OFFLINE_SALE", status: "OFFLINE_SALE",
			amount: -1, key: "b263aa7f6c67bec44e31be74394f8f93"}},
		"TRANSACTION_STATUS_CHANGED": {func() wantEvent {
			w := pay("TRANSACTION_STATUS_CHANGED", pass("TRANSACTION_STATUS_CHANGED"), 7548)
			w.record = true
			return w
		}()},

		"PAYMENTLINK_CREATED": {{kind: sm.KindLink, id: "37jrf", name: "PAYMENTLINK_CREATED", status: "ACTIVE", amount: 1800, currency: "USD",
			key: "69afd432637fbe24a6d07e7b6c6e8735", ref: "12345678910", occurred: "2023-08-30T18:54:00.587Z"}},
		"PAYMENTLINK_CANCELLED": {{kind: sm.KindLink, id: "37jrf", name: "PAYMENTLINK_CANCELLED", status: "CANCELLED", amount: -1,
			key: "478ed8c45361edef1db7393638fa53c7"}},
		"PAYMENTLINK_UPDATED": {{kind: sm.KindLink, id: "37jrf", name: "PAYMENTLINK_UPDATED", status: "ACTIVE", amount: 2000, currency: "USD",
			key: "69afd432637fbe24a6d07e7b6c6e8735", ref: "12345678910", occurred: "2023-08-31T18:54:00.587Z"}},

		"SUBSCRIPTION_CREATED": {{kind: sm.KindSubscription, id: "a65ju", name: "SUBSCRIPTION_CREATED", status: "Active", amount: 15000,
			currency: "USD", key: txnUID}},
		"SUBSCRIPTION_CANCELLED": {{kind: sm.KindSubscription, id: "a65ju", name: "SUBSCRIPTION_CANCELLED", status: "CANCELLED", amount: -1,
			key: txnUID}},
		"SUBSCRIPTION_UPDATED": {{kind: sm.KindSubscription, id: "a65ju", name: "SUBSCRIPTION_UPDATED", status: "Active", amount: 15000,
			currency: "USD", key: txnUID, occurred: "2023-09-12T00:00:00Z"}},

		"BATCH_GENERATED": {{id: "da5ddbd2-c3ab-4d2f-8f20-a958f229a904", name: "BATCH_GENERATED", status: "BATCH_GENERATED", amount: -1,
			key: "08831a7b50493fd89b6b0a6d07d1c51a", record: true}},

		"DISPUTE_CREATED": {{kind: sm.KindChargeback, id: merchant1, name: "DISPUTE_CREATED", status: "DISPUTE_CREATED", amount: -1,
			key: mUID1, parent: merchant1}},
		"DISPUTE_INFORMATION_UPDATED": {{kind: sm.KindChargeback, id: "4c3d53fc-fe1b-4032-800f-557a04d3a239", name: "DISPUTE_INFORMATION_UPDATED",
			status: "AWAITING_PROCESSOR_RESPONSE", amount: -1, key: "e7497af98235102aefcd97a3be78ac8e", parent: "4c3d53fc-fe1b-4032-800f-557a04d3a239"}},
	}
	require.Len(t, cases, len(documentedSamples))
	for _, name := range documentedSamples {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			want, ok := cases[name]
			require.True(t, ok, "no expectation for %s", name)
			evs, err := New(Config{}).Parse(readFixture(t, name+".json"))
			require.NoError(t, err)
			require.Len(t, evs, len(want))
			for i, w := range want {
				ev := evs[i]
				require.Equal(t, Name, ev.Provider)
				require.Equal(t, w.kind, ev.Kind, "kind")
				require.Equal(t, w.id, ev.AggregateID, "aggregate id")
				require.Equal(t, w.name, ev.Name, "name")
				require.Equal(t, w.status, ev.ProviderStatus, "provider status")
				require.Equal(t, w.amount >= 0, ev.HasAmount, "has amount")
				if w.amount >= 0 {
					require.Equal(t, w.amount, ev.Amount, "amount")
				} else {
					require.Zero(t, ev.Amount)
				}
				require.Equal(t, w.currency, ev.Currency, "currency")
				if event := sentEvent(t, name); updates[event] {
					require.Equal(t, updateKey(w.key, event, ev, nil), ev.DedupeKey, "dedupe key: an update's, with its time")
				} else {
					require.Equal(t, dedupeKey(w.key, event, want[0].id, w.kind), ev.DedupeKey, "dedupe key")
				}
				if w.parent == "" {
					require.Nil(t, ev.Parent, "parent")
				} else {
					require.Equal(t, &providers.Ref{Kind: sm.KindPayment, ID: w.parent}, ev.Parent, "parent")
				}
				require.Equal(t, w.record, ev.RecordOnly, "record only")
				require.Equal(t, w.ref, ev.MerchantReference, "merchant reference")
				if w.occurred == "" {
					require.True(t, ev.OccurredAt.IsZero(), "occurred %s", ev.OccurredAt)
				} else {
					at, err := time.Parse(time.RFC3339Nano, w.occurred)
					require.NoError(t, err)
					require.True(t, at.Equal(ev.OccurredAt), "occurred %s", ev.OccurredAt)
				}
			}
		})
	}
}

// Every word Parse produces for a documented sample is a word of the
// machine of its kind (or record-only), and every table word is reachable
// from some payload.
func TestTablesKnowTheDocumentedWords(t *testing.T) {
	t.Parallel()
	reg, err := sm.NewRegistry(New(Config{}).Tables()...)
	require.NoError(t, err)
	for _, name := range documentedSamples {
		evs, err := New(Config{}).Parse(readFixture(t, name+".json"))
		require.NoError(t, err)
		for _, ev := range evs {
			if ev.Kind == "" {
				require.True(t, ev.RecordOnly, name)
				continue
			}
			m := reg.Machine(Name, ev.Kind)
			require.NotNil(t, m, name)
			require.True(t, m.Knows(ev.Name), "%s: %s is not a word of the %s machine", name, ev.Name, ev.Kind)
		}
	}
}

func TestParseVariants(t *testing.T) {
	t.Parallel()
	txn := func(event, resp string) string {
		return `{"event_uid":"u1","event":"` + event + `","data":{"transaction_id":"t1"` + resp + `}}`
	}
	cases := []struct {
		name string
		body string
		want func(t *testing.T, evs []providers.Event)
	}{
		{"auth status lower case", txn("PAYMENT_AUTH", `,"auth_response":{"status":"pass","totalAmount":"1.00"}`),
			func(t *testing.T, evs []providers.Event) {
				require.Equal(t, "PAYMENT_AUTH", evs[0].Name)
				require.Equal(t, "PAYMENT_AUTH PASS", evs[0].ProviderStatus)
				require.EqualValues(t, 100, evs[0].Amount)
			}},
		{"auth without response is the event as named", txn("PAYMENT_AUTH", ``),
			func(t *testing.T, evs []providers.Event) {
				require.Equal(t, "PAYMENT_AUTH", evs[0].Name)
				require.False(t, evs[0].HasAmount)
				require.Empty(t, evs[0].Currency)
			}},
		{"auth with an unknown status is a word no table knows", txn("PAYMENT_AUTH", `,"auth_response":{"status":"Pending review","totalAmount":"1.00"}`),
			func(t *testing.T, evs []providers.Event) {
				require.Equal(t, "PAYMENT_AUTH_PENDING_REVIEW", evs[0].Name)
				require.False(t, evs[0].HasAmount, "no amount for an outcome that is not a success")
			}},
		{"transactionAmount when there is no totalAmount", txn("PAYMENT_CAPTURED", `,"sale_response":{"status":"PASS","transactionAmount":"12.5"}`),
			func(t *testing.T, evs []providers.Event) { require.EqualValues(t, 1250, evs[0].Amount) }},
		{"totalAmount wins over transactionAmount", txn("PAYMENT_SALE", `,"sale_response":{"status":"PASS","transactionAmount":"10.00","totalAmount":"12.00"}`),
			func(t *testing.T, evs []providers.Event) { require.EqualValues(t, 1200, evs[0].Amount) }},
		{"amount as a JSON number, by its text", txn("PAYMENT_SALE", `,"sale_response":{"status":"PASS","totalAmount":75.48}`),
			func(t *testing.T, evs []providers.Event) { require.EqualValues(t, 7548, evs[0].Amount) }},
		{"an amount with many digits converts exactly", txn("PAYMENT_SALE", `,"sale_response":{"status":"PASS","totalAmount":"92233720368547758.07"}`),
			func(t *testing.T, evs []providers.Event) {
				require.EqualValues(t, int64(9223372036854775807), evs[0].Amount)
			}},
		{"zero amount is an amount", txn("PAYMENT_AUTH", `,"auth_response":{"status":"PASS","totalAmount":"0.00"}`),
			func(t *testing.T, evs []providers.Event) {
				require.True(t, evs[0].HasAmount)
				require.Zero(t, evs[0].Amount)
			}},
		{"empty amount is none", txn("PAYMENT_SALE", `,"sale_response":{"status":"PASS","totalAmount":"","transactionAmount":null}`),
			func(t *testing.T, evs []providers.Event) { require.False(t, evs[0].HasAmount) }},
		{"explicit currency of a transaction", txn("PAYMENT_SALE", `,"currencyCode":"jpy","sale_response":{"status":"PASS","totalAmount":"1000"}`),
			func(t *testing.T, evs []providers.Event) {
				require.Equal(t, "JPY", evs[0].Currency)
				require.EqualValues(t, 1000, evs[0].Amount)
			}},
		{"explicit currency without amount is kept", txn("PAYMENT_VOIDED", `,"currency_code":"CAD","sale_response":{"status":"PASS","totalAmount":"1.00"}`),
			func(t *testing.T, evs []providers.Event) {
				require.Equal(t, "CAD", evs[0].Currency)
				require.False(t, evs[0].HasAmount, "a void cancels the whole transaction")
			}},
		{"sale FAIL", txn("PAYMENT_SALE", `,"sale_response":{"status":"FAIL","responseCode":"D2005"}`),
			func(t *testing.T, evs []providers.Event) {
				require.Equal(t, "PAYMENT_SALE_FAILED", evs[0].Name)
				require.Equal(t, "PAYMENT_SALE FAIL (D2005)", evs[0].ProviderStatus)
			}},
		{"void FAIL in a sale_response", txn("PAYMENT_VOIDED", `,"sale_response":{"status":"FAIL"}`),
			func(t *testing.T, evs []providers.Event) { require.Equal(t, "PAYMENT_VOIDED_FAILED", evs[0].Name) }},
		{"capture FAIL", txn("PAYMENT_CAPTURED", `,"sale_response":{"status":"FAIL","responseMessage":"Expired"}`),
			func(t *testing.T, evs []providers.Event) {
				require.Equal(t, "PAYMENT_CAPTURED_FAILED", evs[0].Name)
				require.Equal(t, "PAYMENT_CAPTURED FAIL (Expired)", evs[0].ProviderStatus)
			}},
		{"ACH FAIL", txn("PAYMENT_ACH", `,"ach_response":{"status":"FAIL","totalAmount":"1.00"}`),
			func(t *testing.T, evs []providers.Event) {
				require.Equal(t, "PAYMENT_ACH_FAILED", evs[0].Name)
				require.False(t, evs[0].HasAmount)
			}},
		{"offline sale with an amount", txn("OFFLINE_SALE", `,"sale_response":{"status":"PASS","totalAmount":"3.10"}`),
			func(t *testing.T, evs []providers.Event) { require.EqualValues(t, 310, evs[0].Amount) }},
		{"response under another name than the usual", txn("PAYMENT_AUTH", `,"sale_response":{"status":"FAIL"}`),
			func(t *testing.T, evs []providers.Event) { require.Equal(t, "PAYMENT_AUTH_FAILED", evs[0].Name) }},
		{"a card number in the response message is masked", txn("PAYMENT_AUTH", `,"auth_response":{"status":"FAIL","responseCode":"D1","responseMessage":"Card 4111.1111.1111.1111 declined"}`),
			func(t *testing.T, evs []providers.Event) {
				require.Equal(t, "PAYMENT_AUTH FAIL (D1: Card 4111.11**.****.1111 declined)", evs[0].ProviderStatus)
			}},
		{"a card number cut by the length limit is masked first", txn("PAYMENT_AUTH", `,"auth_response":{"status":"FAIL","responseCode":"D1","responseMessage":"`+strings.Repeat("x", 123)+`4111111111111111"}`),
			func(t *testing.T, evs []providers.Event) {
				require.Len(t, evs[0].ProviderStatus, 160)
				require.True(t, strings.HasSuffix(evs[0].ProviderStatus, "x411111*****…"), evs[0].ProviderStatus)
			}},
		{"fields Parse does not use may have any type", txn("PAYMENT_SALE", `,"status":{},"amount":[1],"success":"x","Transaction_ID":7,"sale_response":{"status":"PASS","totalAmount":"2.00","responseCode":0,"hostResponseCode":{}}`),
			func(t *testing.T, evs []providers.Event) {
				require.Equal(t, "t1", evs[0].AggregateID)
				require.EqualValues(t, 200, evs[0].Amount)
				require.Equal(t, "PAYMENT_SALE PASS", evs[0].ProviderStatus)
			}},
		{"order number is the merchant reference", txn("PAYMENT_SALE", `,"order_number":"PO-7"`),
			func(t *testing.T, evs []providers.Event) { require.Equal(t, "PO-7", evs[0].MerchantReference) }},
		{"ids and event are trimmed", `{"event_uid":" u1 ","event":" PAYMENT_FAILED ","data":{"transaction_id":" t1 "}}`,
			func(t *testing.T, evs []providers.Event) {
				require.Equal(t, "PAYMENT_FAILED", evs[0].Name)
				require.Equal(t, dedupeKey("u1", "PAYMENT_FAILED", "t1", sm.KindPayment), evs[0].DedupeKey)
			}},
		{"refund FAIL: the refund alone, failed", `{"event_uid":"u1","event":"PAYMENT_REFUNDED","data":{"transaction_id":"r1","original_transaction_id":"t1","return_response":{"status":"FAIL","returnedAmount":"5.00"}}}`,
			func(t *testing.T, evs []providers.Event) {
				require.Len(t, evs, 1)
				require.Equal(t, sm.KindRefund, evs[0].Kind)
				require.Equal(t, "PAYMENT_REFUNDED_FAILED", evs[0].Name)
				require.Equal(t, dedupeKey("u1", "PAYMENT_REFUNDED", "r1", sm.KindRefund), evs[0].DedupeKey)
				require.Equal(t, &providers.Ref{Kind: sm.KindPayment, ID: "t1"}, evs[0].Parent)
			}},
		{"refund naming no payment stands alone", `{"event_uid":"u1","event":"ACH_CREDIT_ISSUED","data":{"transaction_id":"r1","return_response":{"status":"PASS","returnedAmount":"5.00"}}}`,
			func(t *testing.T, evs []providers.Event) {
				require.Len(t, evs, 1)
				require.Equal(t, sm.KindRefund, evs[0].Kind)
				require.Nil(t, evs[0].Parent)
				require.Equal(t, dedupeKey("u1", "ACH_CREDIT_ISSUED", "r1", sm.KindRefund), evs[0].DedupeKey)
				require.EqualValues(t, 500, evs[0].Amount)
			}},
		{"refund without amount: the payment learns a refund of unknown size", `{"event_uid":"u1","event":"PAYMENT_REFUNDED","data":{"transaction_id":"r1","original_transaction_id":"t1"}}`,
			func(t *testing.T, evs []providers.Event) {
				require.Len(t, evs, 2)
				require.False(t, evs[1].HasAmount)
				require.Equal(t, "t1", evs[1].AggregateID)
			}},
		{"subscription created with another status", `{"event_uid":"u1","event":"SUBSCRIPTION_CREATED","data":{"subscriptionId":"s1","subscriptionStatus":"Pending"}}`,
			func(t *testing.T, evs []providers.Event) {
				require.Equal(t, "SUBSCRIPTION_CREATED_INACTIVE", evs[0].Name)
				require.Equal(t, "Pending", evs[0].ProviderStatus)
				require.False(t, evs[0].HasAmount)
				require.Empty(t, evs[0].Currency)
			}},
		{"subscription updated, paused", `{"event_uid":"u1","event":"SUBSCRIPTION_UPDATED","data":{"subscriptionId":"s1","subscriptionStatus":"Paused"}}`,
			func(t *testing.T, evs []providers.Event) {
				require.Equal(t, "SUBSCRIPTION_UPDATED_PAUSED", evs[0].Name)
			}},
		{"subscription updated with a status the document does not name", `{"event_uid":"u1","event":"SUBSCRIPTION_UPDATED","data":{"subscriptionId":"s1","subscriptionStatus":"Trialing"}}`,
			func(t *testing.T, evs []providers.Event) {
				require.Equal(t, "SUBSCRIPTION_UPDATED_INACTIVE", evs[0].Name)
			}},
		{"subscription cancel failed", `{"event_uid":"u1","event":"SUBSCRIPTION_CANCELLED","data":{"subscriptionId":"s1","success":false}}`,
			func(t *testing.T, evs []providers.Event) {
				require.Equal(t, "SUBSCRIPTION_CANCELLED_FAILED", evs[0].Name)
			}},
		{"subscription amount without currency takes the default", `{"event_uid":"u1","event":"SUBSCRIPTION_UPDATED","data":{"subscriptionId":"s1","subscriptionStatus":"ACTIVE","amount":"9.99"}}`,
			func(t *testing.T, evs []providers.Event) {
				require.Equal(t, "SUBSCRIPTION_UPDATED", evs[0].Name)
				require.Equal(t, "USD", evs[0].Currency)
				require.EqualValues(t, 999, evs[0].Amount)
			}},
		{"link in a three-decimal currency", `{"event_uid":"u1","event":"PAYMENTLINK_CREATED","data":{"paymentLinkId":"l1","amount":"1.234","currencyCode":"BHD"}}`,
			func(t *testing.T, evs []providers.Event) {
				require.Equal(t, "BHD", evs[0].Currency)
				require.EqualValues(t, 1234, evs[0].Amount)
			}},
		{"link with an unreadable time is kept", `{"event_uid":"u1","event":"PAYMENTLINK_CREATED","data":{"paymentLinkId":"l1","createdAt":"yesterday"}}`,
			func(t *testing.T, evs []providers.Event) { require.True(t, evs[0].OccurredAt.IsZero()) }},
		{"dispute won", `{"event_uid":"u1","event":"DISPUTE_INFORMATION_UPDATED","data":{"transaction_id":"t1","status":"MERCHANT_WON"}}`,
			func(t *testing.T, evs []providers.Event) {
				require.Equal(t, "DISPUTE_INFORMATION_UPDATED_WON", evs[0].Name)
				require.Equal(t, "MERCHANT_WON", evs[0].ProviderStatus)
			}},
		{"dispute lost", `{"event_uid":"u1","event":"DISPUTE_INFORMATION_UPDATED","data":{"transaction_id":"t1","status":"Lost"}}`,
			func(t *testing.T, evs []providers.Event) {
				require.Equal(t, "DISPUTE_INFORMATION_UPDATED_LOST", evs[0].Name)
			}},
		{"dispute not won is lost", `{"event_uid":"u1","event":"DISPUTE_INFORMATION_UPDATED","data":{"transaction_id":"t1","status":"Not Won"}}`,
			func(t *testing.T, evs []providers.Event) {
				require.Equal(t, "DISPUTE_INFORMATION_UPDATED_LOST", evs[0].Name)
			}},
		{"dispute accepted by the merchant is lost", `{"event_uid":"u1","event":"DISPUTE_INFORMATION_UPDATED","data":{"transaction_id":"t1","status":"ACCEPTED"}}`,
			func(t *testing.T, evs []providers.Event) {
				require.Equal(t, "DISPUTE_INFORMATION_UPDATED_LOST", evs[0].Name)
			}},
		{"dispute status holding an outcome word is not that outcome", `{"event_uid":"u1","event":"DISPUTE_INFORMATION_UPDATED","data":{"transaction_id":"t1","status":"Chargeback lost"}}`,
			func(t *testing.T, evs []providers.Event) {
				require.Equal(t, "DISPUTE_INFORMATION_UPDATED", evs[0].Name)
			}},
		{"dispute with its own id", `{"event_uid":"u1","event":"DISPUTE_CREATED","data":{"dispute_id":"d1","transaction_id":"t1"}}`,
			func(t *testing.T, evs []providers.Event) {
				require.Equal(t, sm.KindChargeback, evs[0].Kind)
				require.Equal(t, "d1", evs[0].AggregateID)
				require.Equal(t, &providers.Ref{Kind: sm.KindPayment, ID: "t1"}, evs[0].Parent)
			}},
		{"link update paid", `{"event_uid":"u1","event":"PAYMENTLINK_UPDATED","data":{"paymentLinkId":"l1","amount":"20.00","paymentLinkStatus":"PAID"}}`,
			func(t *testing.T, evs []providers.Event) {
				require.Equal(t, "PAYMENTLINK_UPDATED_PAID", evs[0].Name)
				require.EqualValues(t, 2000, evs[0].Amount)
			}},
		{"link update with a status no table knows is not guessed", `{"event_uid":"u1","event":"PAYMENTLINK_UPDATED","data":{"paymentLinkId":"l1","paymentLinkStatus":"Half used"}}`,
			func(t *testing.T, evs []providers.Event) {
				require.Equal(t, "PAYMENTLINK_UPDATED_HALF_USED", evs[0].Name)
			}},
		{"subscription past due", `{"event_uid":"u1","event":"SUBSCRIPTION_UPDATED","data":{"subscriptionId":"s1","subscriptionStatus":"Past Due"}}`,
			func(t *testing.T, evs []providers.Event) {
				require.Equal(t, "SUBSCRIPTION_UPDATED_PAST_DUE", evs[0].Name)
				require.Equal(t, "Past Due", evs[0].ProviderStatus)
			}},
		{"dispute withdrawn", `{"event_uid":"u1","event":"DISPUTE_INFORMATION_UPDATED","data":{"transaction_id":"t1","status":"WITHDRAWN"}}`,
			func(t *testing.T, evs []providers.Event) {
				require.Equal(t, "DISPUTE_INFORMATION_UPDATED_CANCELLED", evs[0].Name)
			}},
		{"dispute status with two outcomes is not guessed", `{"event_uid":"u1","event":"DISPUTE_INFORMATION_UPDATED","data":{"transaction_id":"t1","status":"WON_THEN_LOST"}}`,
			func(t *testing.T, evs []providers.Event) {
				require.Equal(t, "DISPUTE_INFORMATION_UPDATED", evs[0].Name)
			}},
		{"dispute status word inside another word is not an outcome", `{"event_uid":"u1","event":"DISPUTE_INFORMATION_UPDATED","data":{"transaction_id":"t1","status":"WONDERING"}}`,
			func(t *testing.T, evs []providers.Event) {
				require.Equal(t, "DISPUTE_INFORMATION_UPDATED", evs[0].Name)
			}},
		{"merchant status normalized", `{"event_uid":"u1","event":"MERCHANT_STATUS_CHANGED","data":{"merchant_id":"m1","status":"Submitted-to PE","capabilities":["cc"]}}`,
			func(t *testing.T, evs []providers.Event) {
				require.Equal(t, "submitted_to_pe", evs[0].Name)
				require.Equal(t, "Submitted-to PE", evs[0].ProviderStatus)
			}},
		{"merchant active with capabilities", `{"event_uid":"u1","event":"MERCHANT_STATUS_CHANGED","data":{"id":"m1","status":"Active","capabilities":["cc","ach"]}}`,
			func(t *testing.T, evs []providers.Event) {
				require.Equal(t, "active", evs[0].Name)
				require.Equal(t, "m1", evs[0].AggregateID, "data.id when merchant_id is absent")
			}},
		{"merchant status missing is a word no table knows", `{"event_uid":"u1","event":"MERCHANT_STATUS_CHANGED","data":{"merchant_id":"m1"}}`,
			func(t *testing.T, evs []providers.Event) { require.Equal(t, "MERCHANT_STATUS_CHANGED", evs[0].Name) }},
		{"micro-deposit without merchant is recorded under the bank account", `{"event_uid":"u1","event":"MICRO_DEPOSIT_VERIFIED","data":{"bank_account_id":"b1"}}`,
			func(t *testing.T, evs []providers.Event) {
				require.Equal(t, sm.Kind(""), evs[0].Kind)
				require.Equal(t, "b1", evs[0].AggregateID)
				require.True(t, evs[0].RecordOnly)
			}},
		{"unknown event naming no object is recorded without a kind", `{"event_uid":"u1","event":"PAYOUT_SENT","data":[1,2]}`,
			func(t *testing.T, evs []providers.Event) {
				require.Equal(t, providers.Event{Provider: Name, Name: "PAYOUT_SENT", ProviderStatus: "PAYOUT_SENT",
					DedupeKey: objectlessKey("u1", "PAYOUT_SENT", []byte(`{"event_uid":"u1","event":"PAYOUT_SENT","data":[1,2]}`)), RecordOnly: true}, evs[0])
			}},
		{"PAYMENT_AUTH_FAILED sent as the event is a failed PAYMENT_AUTH", `{"event_uid":"u1","event":"PAYMENT_AUTH_FAILED","data":{"transaction_id":"t1","auth_response":{"status":"FAIL","responseCode":"D2005","responseMessage":"Invalid Card","totalAmount":"5.00"}}}`,
			func(t *testing.T, evs []providers.Event) {
				require.Len(t, evs, 1)
				require.Equal(t, sm.KindPayment, evs[0].Kind)
				require.Equal(t, "t1", evs[0].AggregateID)
				require.Equal(t, "PAYMENT_AUTH_FAILED", evs[0].Name)
				require.Equal(t, "PAYMENT_AUTH_FAILED FAIL (D2005: Invalid Card)", evs[0].ProviderStatus)
				require.False(t, evs[0].HasAmount, "a failure moves no money")
			}},
		{"a failure name whose base is not an outcome is not guessed", `{"event_uid":"u1","event":"DEVICE_SALE_CANCEL_FAILED","data":{"transaction_id":"t1"}}`,
			func(t *testing.T, evs []providers.Event) {
				require.Equal(t, "DEVICE_SALE_CANCEL_FAILED", evs[0].Name)
				require.True(t, evs[0].RecordOnly, "recorded on the transaction, not read as a failure")
			}},
		{"unknown event without data", `{"event_uid":"u1","event":"SOMETHING_NEW"}`,
			func(t *testing.T, evs []providers.Event) { require.Equal(t, "SOMETHING_NEW", evs[0].Name) }},
		{"lower-case event is not guessed", `{"event_uid":"u1","event":"payment_auth","data":{"transaction_id":"t1"}}`,
			func(t *testing.T, evs []providers.Event) {
				require.Equal(t, "payment_auth", evs[0].Name)
				require.True(t, evs[0].RecordOnly, "recorded on the transaction, not read as PAYMENT_AUTH")
			}},
		{"surrounding whitespace", "\n\t {\"event_uid\":\"u1\",\"event\":\"PAYMENT_FAILED\",\"data\":{\"transaction_id\":\"t1\"}} \r\n",
			func(t *testing.T, evs []providers.Event) { require.Equal(t, "PAYMENT_FAILED", evs[0].Name) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.True(t, json.Valid([]byte(tc.body)), "test body must be JSON")
			evs := parse(t, tc.body)
			require.NotEmpty(t, evs)
			tc.want(t, evs)
		})
	}
}

func TestParseMalformed(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		body    string
		mention string
	}{
		{"empty", "", "empty"},
		{"blank", " \n", "empty"},
		{"not JSON", "event=PAYMENT_AUTH", "not a JSON object"},
		{"array", `[{"event_uid":"u1","event":"PAYMENT_FAILED","data":{"transaction_id":"t1"}}]`, "not a JSON object"},
		{"null", `null`, "not a JSON object"},
		{"string", `"PAYMENT_AUTH"`, "not a JSON object"},
		{"truncated", `{"event_uid":"u1","event":"PAYMENT_FAILED","data":{"transaction_id":"t1"}`, "invalid JSON"},
		{"trailing garbage", `{"event_uid":"u1","event":"PAYMENT_FAILED","data":{"transaction_id":"t1"}}x`, "trailing"},
		{"second object", `{"event_uid":"u1","event":"X","data":{}}{"event_uid":"u2","event":"Y","data":{}}`, "trailing"},
		{"JavaScript-style sample", `{event_uid: 'u1', event: 'PAYMENT_FAILED', data: {transaction_id: 't1'}}`, "invalid JSON"},
		{"missing event_uid", `{"event":"PAYMENT_FAILED","data":{"transaction_id":"t1"}}`, "event_uid"},
		{"blank event_uid", `{"event_uid":" ","event":"PAYMENT_FAILED","data":{"transaction_id":"t1"}}`, "event_uid"},
		{"event_uid a number", `{"event_uid":7,"event":"PAYMENT_FAILED","data":{"transaction_id":"t1"}}`, "event_uid"},
		{"missing event", `{"event_uid":"u1","data":{"transaction_id":"t1"}}`, "missing event"},
		{"null event", `{"event_uid":"u1","event":null,"data":{}}`, "missing event"},
		{"event an object", `{"event_uid":"u1","event":{},"data":{}}`, "event"},
		{"missing data", `{"event_uid":"u1","event":"PAYMENT_FAILED"}`, "data"},
		{"data null", `{"event_uid":"u1","event":"PAYMENT_FAILED","data":null}`, "data"},
		{"data an array", `{"event_uid":"u1","event":"PAYMENT_FAILED","data":[]}`, "data"},
		{"missing transaction_id", `{"event_uid":"u1","event":"PAYMENT_AUTH","data":{"auth_response":{"status":"PASS"}}}`, "data.transaction_id"},
		{"transaction_id a number", `{"event_uid":"u1","event":"PAYMENT_AUTH","data":{"transaction_id":4111111111111111}}`, "transaction_id"},
		{"refund without transaction_id", `{"event_uid":"u1","event":"PAYMENT_REFUNDED","data":{"original_transaction_id":"t1"}}`, "data.transaction_id"},
		{"link without id", `{"event_uid":"u1","event":"PAYMENTLINK_CREATED","data":{"amount":"1.00"}}`, "data.paymentLinkId"},
		{"subscription without id", `{"event_uid":"u1","event":"SUBSCRIPTION_CREATED","data":{}}`, "data.subscriptionId"},
		{"dispute without transaction", `{"event_uid":"u1","event":"DISPUTE_CREATED","data":{"merchant_id":"m1"}}`, "data.transaction_id"},
		{"merchant without id", `{"event_uid":"u1","event":"MERCHANT_CREATED","data":{"account_id":"a1"}}`, "data.merchant_id"},
		{"negative amount", `{"event_uid":"u1","event":"PAYMENT_SALE","data":{"transaction_id":"t1","sale_response":{"status":"PASS","totalAmount":"-1.00"}}}`, "data.sale_response.totalAmount"},
		{"too many decimals", `{"event_uid":"u1","event":"PAYMENT_AUTH","data":{"transaction_id":"t1","auth_response":{"status":"PASS","totalAmount":"1.234"}}}`, "data.auth_response.totalAmount"},
		{"exponent", `{"event_uid":"u1","event":"PAYMENT_ACH","data":{"transaction_id":"t1","ach_response":{"status":"PASS","transactionAmount":1e3}}}`, "data.ach_response.transactionAmount"},
		{"amount a word", `{"event_uid":"u1","event":"PAYMENT_SALE","data":{"transaction_id":"t1","sale_response":{"status":"PASS","totalAmount":"ten"}}}`, "totalAmount"},
		{"amount a bool", `{"event_uid":"u1","event":"PAYMENT_SALE","data":{"transaction_id":"t1","sale_response":{"status":"PASS","totalAmount":true}}}`, "totalAmount"},
		{"amount an object", `{"event_uid":"u1","event":"PAYMENT_SALE","data":{"transaction_id":"t1","sale_response":{"status":"PASS","totalAmount":{}}}}`, "totalAmount"},
		{"amount too large", `{"event_uid":"u1","event":"PAYMENT_SALE","data":{"transaction_id":"t1","sale_response":{"status":"PASS","totalAmount":"92233720368547758.08"}}}`, "totalAmount"},
		{"event twice", `{"event_uid":"u1","event":"PAYMENT_AUTH","event":"PAYMENT_VOIDED","data":{"transaction_id":"t1"}}`, "appears twice"},
		{"transaction_id twice", `{"event_uid":"u1","event":"PAYMENT_SALE","data":{"transaction_id":"t1","transaction_id":"t2"}}`, "data: a member paystate reads appears twice"},
		{"amount twice", `{"event_uid":"u1","event":"PAYMENT_SALE","data":{"transaction_id":"t1","sale_response":{"status":"PASS","totalAmount":"1.00","totalAmount":"1000.00"}}}`, "data.sale_response: a member paystate reads appears twice"},
		{"status twice", `{"event_uid":"u1","event":"PAYMENT_SALE","data":{"transaction_id":"t1","sale_response":{"status":"FAIL","status":"PASS","totalAmount":"1.00"}}}`, "appears twice"},
		{"refund amount bad", `{"event_uid":"u1","event":"PAYMENT_REFUNDED","data":{"transaction_id":"r1","original_transaction_id":"t1","return_response":{"status":"PASS","returnedAmount":"1,00"}}}`, "data.return_response.returnedAmount"},
		{"link amount bad", `{"event_uid":"u1","event":"PAYMENTLINK_CREATED","data":{"paymentLinkId":"l1","amount":"18.001","currencyCode":"USD"}}`, "data.amount"},
		{"link currency bad", `{"event_uid":"u1","event":"PAYMENTLINK_CREATED","data":{"paymentLinkId":"l1","amount":"18.00","currencyCode":"US$"}}`, "data.currencyCode"},
		{"transaction currency bad", `{"event_uid":"u1","event":"PAYMENT_SALE","data":{"transaction_id":"t1","currencyCode":"ZZZ"}}`, "data.currencyCode"},
		{"transaction currencies differ", `{"event_uid":"u1","event":"PAYMENT_SALE","data":{"transaction_id":"t1","currencyCode":"USD","currency_code":"EUR"}}`, "differ"},
		{"response not an object", `{"event_uid":"u1","event":"PAYMENT_AUTH","data":{"transaction_id":"t1","auth_response":"PASS"}}`, "auth_response"},
		{"status not a string", `{"event_uid":"u1","event":"PAYMENT_AUTH","data":{"transaction_id":"t1","auth_response":{"status":true}}}`, "data.auth_response.status"},
		{"dispute status not a string", `{"event_uid":"u1","event":"DISPUTE_INFORMATION_UPDATED","data":{"transaction_id":"t1","status":1}}`, "data.status"},
		{"merchant status not a string", `{"event_uid":"u1","event":"MERCHANT_STATUS_CHANGED","data":{"merchant_id":"m1","status":["active"]}}`, "data.status"},
		{"original_transaction_id not a string", `{"event_uid":"u1","event":"PAYMENT_REFUNDED","data":{"transaction_id":"r1","original_transaction_id":{}}}`, "data.original_transaction_id"},
		{"success not a bool", `{"event_uid":"u1","event":"SUBSCRIPTION_CANCELLED","data":{"subscriptionId":"s1","success":"false"}}`, "success"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			evs, err := New(Config{}).Parse([]byte(tc.body))
			require.Error(t, err)
			require.Nil(t, evs)
			require.ErrorIs(t, err, providers.ErrMalformed)
			require.NotErrorIs(t, err, providers.ErrUnauthenticated)
			require.Contains(t, err.Error(), tc.mention)
			require.NotContains(t, err.Error(), "4111111111111111", "errors must not echo body content")
		})
	}
}

// An event this package does not know is keyed on, and recorded in the
// history of, the object it names, read as its family's known events read
// it; it never moves that object. Data of unexpected shapes names no
// object and is never refused.
func TestUnknownEventObject(t *testing.T) {
	t.Parallel()
	payment := func(id string) *providers.Ref { return &providers.Ref{Kind: sm.KindPayment, ID: id} }
	cases := []struct {
		name, event, data string
		kind              sm.Kind
		id                string
		parent            *providers.Ref
	}{
		{"a transaction's", "PAYMENT_CHARGEBACK_REVERSED", `{"transaction_id":"tc1","merchant_id":"m1"}`, sm.KindPayment, "tc1", nil},
		{"a transaction's under any name", "CHARGEBACK_OPENED", `{"transaction_id":"tc1","id":"x1"}`, sm.KindPayment, "tc1", nil},
		{"a refund's when it names its original, as PAYMENT_REFUNDED does", "ACH_CREDIT_RETURNED",
			`{"transaction_id":"r1","original_transaction_id":"t1"}`, sm.KindRefund, "r1", payment("t1")},
		{"a link's by its family, not the transaction that paid it", "PAYMENTLINK_PAID",
			`{"paymentLinkId":"l1","transaction_id":"t9","amount":"5.00"}`, sm.KindLink, "l1", nil},
		{"a subscription's", "SUBSCRIPTION_RENEWED", `{"subscriptionId":"s1","amount":"150.00","currencyCode":"USD"}`, sm.KindSubscription, "s1", nil},
		{"a table's word sent as the event is recorded only", "SUBSCRIPTION_UPDATED_CANCELLED",
			`{"subscriptionId":"s1","subscriptionStatus":"CANCELLED"}`, sm.KindSubscription, "s1", nil},
		{"a dispute by its own id", "DISPUTE_CLOSED", `{"transaction_id":"t1","dispute_id":"d1"}`, sm.KindChargeback, "d1", payment("t1")},
		{"a dispute without its own id by its transaction", "DISPUTE_EVIDENCE_DUE", `{"transaction_id":"t1","status":7}`, sm.KindChargeback, "t1", payment("t1")},
		{"a merchant's", "MERCHANT_DELETED", `{"id":"m1","account_id":"a1"}`, sm.KindOnboarding, "m1", nil},
		{"a merchant's merchant_id first", "MERCHANT_DELETED", `{"id":"x","merchant_id":"m2"}`, sm.KindOnboarding, "m2", nil},
		{"a micro-deposit's merchant", "MICRO_DEPOSIT_RETURNED", `{"merchant_id":"m1","bank_account_id":"b1"}`, sm.KindOnboarding, "m1", nil},
		{"a micro-deposit's bank account without a kind", "MICRO_DEPOSIT_RETURNED", `{"bank_account_id":"b1"}`, "", "b1", nil},
		{"a batch's without a kind", "BATCH_SETTLED", `{"id":"b1","merchant_id":"m1"}`, "", "b1", nil},
		{"data.id without a kind", "PAYOUT_SENT", `{"id":"p1","merchant_id":"m1"}`, "", "p1", nil},

		{"a family's id missing names nothing", "SUBSCRIPTION_RENEWED", `{"transaction_id":"t1"}`, "", "", nil},
		{"an id that is not a string names nothing", "PAYMENT_CHARGEBACK_REVERSED", `{"transaction_id":7}`, "", "", nil},
		{"a blank id names nothing", "PAYMENT_CHARGEBACK_REVERSED", `{"transaction_id":" "}`, "", "", nil},
		{"an id that is an object is passed over", "PAYMENT_CHARGEBACK_REVERSED", `{"transaction_id":{"a":1},"id":"i1"}`, "", "i1", nil},
		{"an original that is not a string leaves a payment", "PAYMENT_CHARGEBACK_REVERSED",
			`{"transaction_id":"t1","original_transaction_id":["p"]}`, sm.KindPayment, "t1", nil},
		{"a member read twice with two values names nothing", "PAYMENT_CHARGEBACK_REVERSED",
			`{"transaction_id":"t1","transaction_id":"t2"}`, "", "", nil},
		{"data an array", "PAYMENT_CHARGEBACK_REVERSED", `[{"transaction_id":"t1"}]`, "", "", nil},
		{"data a string", "PAYMENT_CHARGEBACK_REVERSED", `"t1"`, "", "", nil},
		{"data null", "PAYMENT_CHARGEBACK_REVERSED", `null`, "", "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			evs := parse(t, string(wrap(tc.event, tc.data)))
			require.Len(t, evs, 1)
			ev := evs[0]
			require.Equal(t, tc.event, ev.Name, "the name is kept as sent")
			require.True(t, ev.RecordOnly, "an unknown event never moves an aggregate")
			require.Equal(t, tc.kind, ev.Kind)
			require.Equal(t, tc.id, ev.AggregateID)
			require.Equal(t, tc.parent, ev.Parent)
			require.False(t, ev.HasAmount)
			body := wrap(tc.event, tc.data)
			if tc.id == "" {
				require.Equal(t, objectlessKey("u1", tc.event, body), ev.DedupeKey, "no object: keyed on the body too")
				return
			}
			require.Equal(t, dedupeKey("u1", tc.event, tc.id, tc.kind), ev.DedupeKey)
		})
	}
	// Without data at all: the uid, the name and the body.
	body := `{"event_uid":"u1","event":"PAYMENT_CHARGEBACK_REVERSED"}`
	evs := parse(t, body)
	require.Equal(t, objectlessKey("u1", "PAYMENT_CHARGEBACK_REVERSED", []byte(body)), evs[0].DedupeKey)
}

func TestDedupeKeys(t *testing.T) {
	t.Parallel()
	key := func(name string) []string { return keysOf(t, string(readFixture(t, name+".json"))) }
	// The document shows AUTH and CAPTURED of one transaction under one
	// event_uid: two events, two keys.
	require.NotEqual(t, key("PAYMENT_AUTH"), key("PAYMENT_CAPTURED"))
	require.NotEqual(t, key("SUBSCRIPTION_CREATED"), key("SUBSCRIPTION_CANCELLED"))
	// The failed authorization of the same transaction under the same
	// event_uid is the same event with another body: one key, so that the
	// engine reports a conflict.
	require.Equal(t, key("PAYMENT_AUTH"), key("PAYMENT_AUTH_FAILED"))
	// Another object under the same uid and event is another event.
	require.NotEqual(t, key("PAYMENT_AUTH"),
		keysOf(t, strings.Replace(string(readFixture(t, "PAYMENT_AUTH.json")), txnID, "another-transaction", 1)))

	// An event this package does not know, too: the document's samples
	// reuse one uid across objects, so two transactions' events under one
	// uid are two events, not a conflict.
	unknown := func(id string) []string {
		return keysOf(t, `{"event_uid":"uc1","event":"PAYMENT_CHARGEBACK_REVERSED","data":{"transaction_id":"`+id+`"}}`)
	}
	require.NotEqual(t, unknown("tc1"), unknown("tc2"))

	// A link's or a subscription's update is keyed on the update time it
	// states: the document reuses the uid across the object's events, so
	// a later update is another event; the same update with another body
	// is one key (a conflict). Without a time, its body keys it.
	update := func(updatedAt, amount string) []string {
		d := `{"paymentLinkId":"l1","amount":"` + amount + `"`
		if updatedAt != "" {
			d += `,"updatedAt":"` + updatedAt + `"`
		}
		return keysOf(t, string(wrap("PAYMENTLINK_UPDATED", d+"}")))
	}
	require.NotEqual(t, update("2023-08-31T18:54:00.587Z", "20.00"), update("2023-09-01T18:54:00.587Z", "20.00"))
	require.Equal(t, update("2023-08-31T18:54:00.587Z", "20.00"), update("2023-08-31T18:54:00.587Z", "25.00"))
	require.NotEqual(t, update("", "20.00"), update("", "25.00"))
	require.Equal(t, update("", "20.00"), update("", "20.00"))

	// Within one webhook the keys differ.
	evs := parse(t, string(readFixture(t, "PAYMENT_REFUNDED.json")))
	require.Len(t, evs, 2)
	require.NotEqual(t, evs[0].DedupeKey, evs[1].DedupeKey)
}

func keysOf(t *testing.T, body string) []string {
	var out []string
	for _, ev := range parse(t, body) {
		out = append(out, ev.DedupeKey)
	}
	return out
}

// sentEvent is the event name a fixture's envelope carries.
func sentEvent(t *testing.T, name string) string {
	t.Helper()
	var env struct{ Event string }
	require.NoError(t, json.Unmarshal(readFixture(t, name+".json"), &env))
	return env.Event
}

func TestOutcomeName(t *testing.T) {
	t.Parallel()
	for status, want := range map[string]string{
		"":                       "PAYMENT_AUTH",
		"PASS":                   "PAYMENT_AUTH",
		" pass ":                 "PAYMENT_AUTH",
		"FAIL":                   "PAYMENT_AUTH_FAILED",
		"Failed":                 "PAYMENT_AUTH_FAILED",
		"PENDING":                "PAYMENT_AUTH_PENDING",
		"in review!":             "PAYMENT_AUTH_IN_REVIEW_",
		strings.Repeat("X", 100): "PAYMENT_AUTH_" + strings.Repeat("X", 40),
	} {
		require.Equal(t, want, outcomeName("PAYMENT_AUTH", status), status)
	}
}
