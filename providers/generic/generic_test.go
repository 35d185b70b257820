package generic

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

// documentedEvents is the event list of the gateway's document, in its
// order.
var documentedEvents = []string{
	EventPaymentCompleted, EventPaymentFailed, EventRefundInitiated,
	EventRefundCompleted, EventCustomerCreated, EventCustomerUpdated,
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

func parse(t *testing.T, body []byte) []providers.Event {
	t.Helper()
	evs, err := New(Config{}).Parse(body)
	require.NoError(t, err)
	require.NotEmpty(t, evs)
	return evs
}

func parseOne(t *testing.T, body string) providers.Event {
	t.Helper()
	evs := parse(t, []byte(body))
	require.Len(t, evs, 1)
	return evs[0]
}

func TestProviderBasics(t *testing.T) {
	t.Parallel()
	p := New(Config{})
	require.Equal(t, "generic", p.Name())
	require.Equal(t, Name, p.Name())

	tables := p.Tables()
	require.Len(t, tables, 2)
	require.Equal(t, sm.KindPayment, tables[0].Kind)
	require.Equal(t, sm.KindRefund, tables[1].Kind)
	for _, tb := range tables {
		require.Equal(t, Name, tb.Provider)
		require.Equal(t, sm.ModeEvent, tb.Mode)
		_, err := sm.Build(tb)
		require.NoError(t, err, tb.Kind)
	}
	_, err := sm.NewRegistry(tables...)
	require.NoError(t, err)

	// The returned tables are copies.
	tables[0].Transitions[0].Event = "MUTATED"
	tables[0].Transitions[0].From[0] = sm.Refunded
	again := p.Tables()
	require.Equal(t, EventPaymentCompleted, again[0].Transitions[0].Event)
	require.Equal(t, sm.StateNew, again[0].Transitions[0].From[0])
}

// Every documented event with a lifecycle has a row; the others are
// recorded without a kind. No table has a word the document does not list.
func TestTablesCoverDocumentedEvents(t *testing.T) {
	t.Parallel()
	inTables := map[string]bool{}
	for _, tb := range New(Config{}).Tables() {
		for _, tr := range tb.Transitions {
			inTables[tr.Event] = true
			require.Truef(t, slices.Contains(documentedEvents, tr.Event), "%s row %s is not a documented event", tb.Kind, tr.Event)
		}
	}
	for _, ev := range documentedEvents {
		if strings.HasPrefix(ev, "customer.") {
			require.False(t, inTables[ev], ev)
			continue
		}
		require.True(t, inTables[ev], ev)
	}
}

func TestEveryDocumentedEventHasFixture(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "event_*.json"))
	require.NoError(t, err)
	var got []string
	for _, f := range files {
		got = append(got, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "event_"), ".json"))
	}
	want := slices.Clone(documentedEvents)
	slices.Sort(want)
	slices.Sort(got)
	require.Equal(t, want, got)
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// TestParseFixtures: every .json fixture parses to exactly the events
// listed here, and a fixture without an entry fails the test.
func TestParseFixtures(t *testing.T) {
	t.Parallel()
	paymentRef := func(id string) *providers.Ref { return &providers.Ref{Kind: sm.KindPayment, ID: id} }
	want := map[string][]providers.Event{
		"event_payment.completed.json": {{
			Kind: sm.KindPayment, AggregateID: "pay_8f3c2a91d4", MerchantReference: "ORD-2025-0001",
			Name: EventPaymentCompleted, Amount: 10000, HasAmount: true, Currency: "USD",
			OccurredAt: time.Unix(1741944413, 0).UTC(), DedupeKey: "id:evt_01HQ7Z3M8K2P4R6T8V0X2Z4B6D",
		}},
		"event_payment.failed.json": {{
			Kind: sm.KindPayment, AggregateID: "pay_1e9b7c3a55", MerchantReference: "ORD-2025-0002",
			Name: EventPaymentFailed, Amount: 4999, HasAmount: true, Currency: "EUR",
			OccurredAt: at("2025-03-14T09:31:02Z"), DedupeKey: "id:evt_01HQ7Z4A1C3E5G7J9L1N3Q5S7U",
		}},
		"event_refund.initiated.json": {{
			Kind: sm.KindRefund, AggregateID: "re_3a71c0e2", Parent: paymentRef("pay_8f3c2a91d4"),
			Name: EventRefundInitiated, Amount: 2500, HasAmount: true, Currency: "USD",
			OccurredAt: at("2025-03-14T06:02:45.12Z"), DedupeKey: "id:evt_01HQ7Z5B2D4F6H8K0M2P4R6T8W",
		}},
		"event_refund.completed.json": {{
			Kind: sm.KindRefund, AggregateID: "re_3a71c0e2", Parent: paymentRef("pay_8f3c2a91d4"),
			Name: EventRefundCompleted, Amount: 2500, HasAmount: true, Currency: "USD",
			OccurredAt: time.Unix(1741946965, 0).UTC(), DedupeKey: "id:evt_01HQ7Z6C3E5G7J9L1N3Q5S7V9X",
		}, {
			Kind: sm.KindPayment, AggregateID: "pay_8f3c2a91d4",
			Name: EventRefundCompleted, Amount: 2500, HasAmount: true, Currency: "USD",
			OccurredAt: time.Unix(1741946965, 0).UTC(), DedupeKey: "id:evt_01HQ7Z6C3E5G7J9L1N3Q5S7V9X/payment",
		}},
		"event_customer.created.json": {{
			AggregateID: "cus_5b7e21", Name: EventCustomerCreated, RecordOnly: true,
			OccurredAt: time.Unix(1741940000, 0).UTC(), DedupeKey: "id:evt_01HQ7Z7D4F6H8K0M2P4R6T8W0Y",
		}},
		"event_customer.updated.json": {{
			AggregateID: "cus_5b7e21", Name: EventCustomerUpdated, RecordOnly: true,
			OccurredAt: at("2025-03-14T11:15:00Z"), DedupeKey: "id:evt_01HQ7Z8E5G7J9L1N3Q5S7V9X1Z",
		}},
		"refund_before_payment_1_refund.completed.json": {{
			Kind: sm.KindRefund, AggregateID: "re_77d2b6f1", Parent: paymentRef("pay_4c0de5e7aa"),
			Name: EventRefundCompleted, Amount: 7500, HasAmount: true, Currency: "GBP",
			OccurredAt: time.Unix(1741950000, 0).UTC(), DedupeKey: "id:evt_01HQ80A1B2C3D4E5F6G7H8J9K0",
		}, {
			Kind: sm.KindPayment, AggregateID: "pay_4c0de5e7aa",
			Name: EventRefundCompleted, Amount: 7500, HasAmount: true, Currency: "GBP",
			OccurredAt: time.Unix(1741950000, 0).UTC(), DedupeKey: "id:evt_01HQ80A1B2C3D4E5F6G7H8J9K0/payment",
		}},
		"refund_before_payment_2_payment.completed.json": {{
			Kind: sm.KindPayment, AggregateID: "pay_4c0de5e7aa", MerchantReference: "ORD-2025-0003",
			Name: EventPaymentCompleted, Amount: 7500, HasAmount: true, Currency: "GBP",
			OccurredAt: time.Unix(1741949000, 0).UTC(), DedupeKey: "id:evt_01HQ809Z8Y7X6W5V4T3S2R1Q0P",
		}},
		"partial_refund_1_payment.completed.json": {{
			Kind: sm.KindPayment, AggregateID: "pay_9a8b7c6d5e", MerchantReference: "ORD-2025-0004",
			Name: EventPaymentCompleted, Amount: 120500, HasAmount: true, Currency: "KWD",
			OccurredAt: at("2025-03-15T08:00:00Z"), DedupeKey: "id:evt_01HQ81P1Q2R3S4T5V6W7X8Y9Z0",
		}},
		"partial_refund_2_refund.initiated.json": {{
			Kind: sm.KindRefund, AggregateID: "re_0f1e2d3c", Parent: paymentRef("pay_9a8b7c6d5e"),
			Name: EventRefundInitiated, Amount: 20250, HasAmount: true, Currency: "KWD",
			OccurredAt: at("2025-03-15T09:00:00Z"), DedupeKey: "id:evt_01HQ81P2Q3R4S5T6V7W8X9Y0Z1",
		}},
		"partial_refund_3_refund.completed.json": {{
			Kind: sm.KindRefund, AggregateID: "re_0f1e2d3c", Parent: paymentRef("pay_9a8b7c6d5e"),
			Name: EventRefundCompleted, Amount: 20250, HasAmount: true, Currency: "KWD",
			OccurredAt: at("2025-03-15T09:20:00Z"), DedupeKey: "id:evt_01HQ81P3Q4R5S6T7V8W9X0Y1Z2",
		}, {
			Kind: sm.KindPayment, AggregateID: "pay_9a8b7c6d5e",
			Name: EventRefundCompleted, Amount: 20250, HasAmount: true, Currency: "KWD",
			OccurredAt: at("2025-03-15T09:20:00Z"), DedupeKey: "id:evt_01HQ81P3Q4R5S6T7V8W9X0Y1Z2/payment",
		}},
	}
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	require.NoError(t, err)
	require.Len(t, files, len(want), "every fixture has expected events, and every expectation a fixture")
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			exp, ok := want[name]
			require.True(t, ok, "no expectation for fixture %s", name)
			body := readFixture(t, name)
			require.True(t, json.Valid(body), "fixtures are strict JSON")
			for i := range exp {
				exp[i].Provider = Name
				exp[i].ProviderStatus = exp[i].Name
			}
			require.Equal(t, exp, parse(t, body))
		})
	}
}

// Both amount styles and the currency exponents convert exactly.
func TestParseAmounts(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		amount   string // JSON literal
		currency string
		want     int64
	}{
		{"integer minor units", `10000`, "USD", 10000},
		{"zero", `0`, "USD", 0},
		{"max int64 minor units", `9223372036854775807`, "USD", 9223372036854775807},
		{"decimal string", `"100.00"`, "USD", 10000},
		{"decimal string without fraction is major units", `"100"`, "USD", 10000},
		{"decimal string one place", `"10.5"`, "USD", 1050},
		{"decimal string trailing zeros beyond exponent", `"10.500"`, "USD", 1050},
		{"zero-exponent currency", `"1500"`, "JPY", 1500},
		{"three-exponent currency", `"1.234"`, "BHD", 1234},
		{"integer in zero-exponent currency", `1500`, "JPY", 1500},
		{"lower-case currency", `"1.00"`, "usd", 100},
		{"mixed-case currency", `250`, "eUr", 250},
		{"four-exponent currency ISO added after golang.org/x/text's table", `"1.2345"`, "UYW", 12345},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body := `{"id":"e1","type":"payment.completed","data":{"id":"p1","amount":` + tc.amount + `,"currency":"` + tc.currency + `"}}`
			ev := parseOne(t, body)
			require.True(t, ev.HasAmount)
			require.Equal(t, tc.want, ev.Amount)
			require.Equal(t, strings.ToUpper(tc.currency), ev.Currency)
		})
	}
}

func TestParseVariants(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		body string
		want func(t *testing.T, evs []providers.Event)
	}{
		{
			name: "event alias",
			body: `{"id":"e1","event":"payment.completed","data":{"id":"p1","amount":1,"currency":"USD"}}`,
			want: func(t *testing.T, evs []providers.Event) { require.Equal(t, EventPaymentCompleted, evs[0].Name) },
		},
		{
			name: "type and event agree",
			body: `{"id":"e1","type":"payment.failed","event":"payment.failed","data":{"id":"p1"}}`,
			want: func(t *testing.T, evs []providers.Event) { require.Equal(t, EventPaymentFailed, evs[0].Name) },
		},
		{
			name: "type trimmed",
			body: `{"id":"e1","type":" payment.failed\n","data":{"id":"p1"}}`,
			want: func(t *testing.T, evs []providers.Event) { require.Equal(t, EventPaymentFailed, evs[0].Name) },
		},
		{
			name: "data.object wrapping",
			body: `{"id":"e1","type":"payment.completed","data":{"object":{"id":"p1","amount":"1.00","currency":"USD"},"previous_attributes":{}}}`,
			want: func(t *testing.T, evs []providers.Event) {
				require.Equal(t, "p1", evs[0].AggregateID)
				require.EqualValues(t, 100, evs[0].Amount)
			},
		},
		{
			name: "object type tag is not a wrapper",
			body: `{"id":"e1","type":"payment.completed","data":{"object":"payment","id":"p1","amount":1,"currency":"USD"}}`,
			want: func(t *testing.T, evs []providers.Event) { require.Equal(t, "p1", evs[0].AggregateID) },
		},
		{
			name: "payment.failed without amount",
			body: `{"id":"e1","type":"payment.failed","data":{"id":"p1"}}`,
			want: func(t *testing.T, evs []providers.Event) {
				require.False(t, evs[0].HasAmount)
				require.Empty(t, evs[0].Currency)
			},
		},
		{
			name: "payment.failed with currency only",
			body: `{"id":"e1","type":"payment.failed","data":{"id":"p1","currency":"usd"}}`,
			want: func(t *testing.T, evs []providers.Event) {
				require.False(t, evs[0].HasAmount)
				require.Equal(t, "USD", evs[0].Currency)
			},
		},
		{
			name: "refund.initiated without amount or payment",
			body: `{"id":"e1","type":"refund.initiated","data":{"id":"r1"}}`,
			want: func(t *testing.T, evs []providers.Event) {
				require.Equal(t, sm.KindRefund, evs[0].Kind)
				require.Nil(t, evs[0].Parent)
				require.False(t, evs[0].HasAmount)
			},
		},
		{
			name: "refund.completed without payment_id stands alone",
			body: `{"id":"e1","type":"refund.completed","data":{"id":"r1","amount":5,"currency":"USD"}}`,
			want: func(t *testing.T, evs []providers.Event) {
				require.Len(t, evs, 1)
				require.Equal(t, sm.KindRefund, evs[0].Kind)
				require.Nil(t, evs[0].Parent)
			},
		},
		{
			name: "refund.completed names its payment: two events",
			body: `{"id":"e1","type":"refund.completed","data":{"id":"r1","payment_id":"p1","amount":5,"currency":"USD","reference":"R-1"}}`,
			want: func(t *testing.T, evs []providers.Event) {
				require.Len(t, evs, 2)
				require.Equal(t, &providers.Ref{Kind: sm.KindPayment, ID: "p1"}, evs[0].Parent)
				require.Equal(t, "R-1", evs[0].MerchantReference)
				require.Equal(t, sm.KindPayment, evs[1].Kind)
				require.Equal(t, "p1", evs[1].AggregateID)
				require.Empty(t, evs[1].MerchantReference, "the refund's reference is not the payment's")
				require.NotEqual(t, evs[0].DedupeKey, evs[1].DedupeKey)
			},
		},
		{
			name: "integer ids",
			body: `{"id":12345,"type":"refund.completed","data":{"id":678,"payment_id":90,"amount":5,"currency":"USD"}}`,
			want: func(t *testing.T, evs []providers.Event) {
				require.Equal(t, "678", evs[0].AggregateID)
				require.Equal(t, "90", evs[0].Parent.ID)
				require.Equal(t, "id:12345", evs[0].DedupeKey)
			},
		},
		{
			name: "merchant_reference wins over reference and order_id",
			body: `{"id":"e1","type":"payment.failed","data":{"id":"p1","order_id":"O","reference":"R","merchant_reference":"M"}}`,
			want: func(t *testing.T, evs []providers.Event) { require.Equal(t, "M", evs[0].MerchantReference) },
		},
		{
			name: "reference wins over order_id",
			body: `{"id":"e1","type":"payment.failed","data":{"id":"p1","order_id":"O","reference":"R"}}`,
			want: func(t *testing.T, evs []providers.Event) { require.Equal(t, "R", evs[0].MerchantReference) },
		},
		{
			name: "order_id as reference, an integer",
			body: `{"id":"e1","type":"payment.failed","data":{"id":"p1","order_id":4242,"reference":""}}`,
			want: func(t *testing.T, evs []providers.Event) { require.Equal(t, "4242", evs[0].MerchantReference) },
		},
		{
			name: "customer without kind",
			body: `{"id":"e1","type":"customer.updated","data":{"id":"c1","amount":"not read","currency":"not read"}}`,
			want: func(t *testing.T, evs []providers.Event) {
				require.Equal(t, sm.Kind(""), evs[0].Kind)
				require.True(t, evs[0].RecordOnly)
				require.Equal(t, "c1", evs[0].AggregateID)
				require.False(t, evs[0].HasAmount)
			},
		},
		{
			name: "unknown payment type keeps its kind",
			body: `{"id":"e1","type":"payment.disputed","data":{"id":"p1","amount":1.5}}`,
			want: func(t *testing.T, evs []providers.Event) {
				require.Equal(t, sm.KindPayment, evs[0].Kind)
				require.Equal(t, "p1", evs[0].AggregateID)
				require.Equal(t, "payment.disputed", evs[0].Name)
				require.False(t, evs[0].HasAmount, "an unknown event's amount is not read")
				require.False(t, evs[0].RecordOnly)
			},
		},
		{
			name: "unknown refund type links its payment",
			body: `{"id":"e1","type":"refund.failed","data":{"object":{"id":"r1","payment_id":"p1"}}}`,
			want: func(t *testing.T, evs []providers.Event) {
				require.Equal(t, sm.KindRefund, evs[0].Kind)
				require.Equal(t, &providers.Ref{Kind: sm.KindPayment, ID: "p1"}, evs[0].Parent)
			},
		},
		{
			name: "unknown type of another object has no kind",
			body: `{"id":"e1","type":"invoice.paid","data":{"id":"in_1"}}`,
			want: func(t *testing.T, evs []providers.Event) {
				require.Equal(t, sm.Kind(""), evs[0].Kind)
				require.Equal(t, "in_1", evs[0].AggregateID)
			},
		},
		{
			name: "unknown payment type without an id has no kind",
			body: `{"type":"payment.disputed","data":[1,2]}`,
			want: func(t *testing.T, evs []providers.Event) {
				require.Equal(t, sm.Kind(""), evs[0].Kind)
				require.Empty(t, evs[0].AggregateID)
				require.Regexp(t, `^sha256:[0-9a-f]{64}$`, evs[0].DedupeKey)
			},
		},
		{
			name: "upper-case type is kept as sent and unknown",
			body: `{"id":"e1","type":"PAYMENT.COMPLETED","data":{"id":"p1"}}`,
			want: func(t *testing.T, evs []providers.Event) {
				require.Equal(t, "PAYMENT.COMPLETED", evs[0].Name)
				require.Equal(t, sm.Kind(""), evs[0].Kind)
			},
		},
		{
			name: "created as RFC 3339 with offset",
			body: `{"id":"e1","type":"payment.failed","created":"2025-01-02T03:04:05.5+01:00","data":{"id":"p1"}}`,
			want: func(t *testing.T, evs []providers.Event) {
				require.Equal(t, time.Date(2025, 1, 2, 2, 4, 5, 500000000, time.UTC), evs[0].OccurredAt)
			},
		},
		{
			name: "no created",
			body: `{"id":"e1","type":"payment.failed","data":{"id":"p1"}}`,
			want: func(t *testing.T, evs []providers.Event) { require.True(t, evs[0].OccurredAt.IsZero()) },
		},
		{
			name: "null fields are absent",
			body: `{"id":null,"type":"payment.failed","event":null,"created":null,"data":{"id":"p1","amount":null,"currency":null,"status":null,"reference":null}}`,
			want: func(t *testing.T, evs []providers.Event) {
				require.False(t, evs[0].HasAmount)
				require.True(t, evs[0].OccurredAt.IsZero())
				require.Regexp(t, `^sha256:[0-9a-f]{64}$`, evs[0].DedupeKey)
			},
		},
		{
			name: "surrounding whitespace",
			body: "\n\t {\"id\":\"e1\",\"type\":\"payment.failed\",\"data\":{\"id\":\"p1\"}} \r\n",
			want: func(t *testing.T, evs []providers.Event) { require.Equal(t, "p1", evs[0].AggregateID) },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.True(t, json.Valid([]byte(tc.body)), "test body must be JSON")
			evs := parse(t, []byte(tc.body))
			for _, ev := range evs {
				require.Equal(t, Name, ev.Provider)
				require.NotEmpty(t, ev.DedupeKey)
				require.Equal(t, ev.Name, ev.ProviderStatus)
			}
			tc.want(t, evs)
		})
	}
}

func TestParseMalformed(t *testing.T) {
	t.Parallel()
	const pc = `"type":"payment.completed"`
	cases := []struct {
		name    string
		body    string
		mention string // what the error must say
	}{
		{"empty body", "", "empty"},
		{"whitespace only", " \n\t", "empty"},
		{"not JSON", "type=payment.completed", "not a JSON object"},
		{"array", `[{"type":"payment.failed","data":{"id":"p1"}}]`, "not a JSON object"},
		{"null", `null`, "not a JSON object"},
		{"string", `"payment.completed"`, "not a JSON object"},
		{"truncated", `{"type":"payment.failed","data":{"id":"p1"}`, "invalid JSON"},
		{"trailing garbage", `{"type":"payment.failed","data":{"id":"p1"}}x`, "trailing"},
		{"second object", `{"type":"payment.failed","data":{"id":"p1"}}{"type":"payment.failed","data":{"id":"p2"}}`, "trailing"},
		{"missing type", `{"id":"e1","data":{"id":"p1"}}`, "missing type"},
		{"type twice", `{"id":"e1","type":"payment.failed","type":"payment.completed","data":{"id":"p1","amount":1,"currency":"EUR"}}`, "appears twice"},
		{"amount twice in data", `{"id":"e1",` + pc + `,"data":{"id":"p1","amount":1,"amount":100000,"currency":"EUR"}}`, "appears twice"},
		{"blank type", `{"type":"  ","data":{"id":"p1"}}`, "missing type"},
		{"type not a string", `{"type":7,"data":{"id":"p1"}}`, "type: number"},
		{"event alias not a string", `{"event":{},"data":{"id":"p1"}}`, "event: object"},
		{"type and event disagree", `{"type":"payment.failed","event":"payment.completed","data":{"id":"p1"}}`, "disagree"},
		{"id an object", `{"id":{"x":1},` + pc + `,"data":{"id":"p1","amount":1,"currency":"USD"}}`, "id is not a string"},
		{"id negative", `{"id":-1,` + pc + `,"data":{"id":"p1","amount":1,"currency":"USD"}}`, "id is not a string"},
		{"missing data", `{` + pc + `}`, "missing data"},
		{"null data", `{` + pc + `,"data":null}`, "missing data"},
		{"data an array", `{` + pc + `,"data":[]}`, "data is not a JSON object"},
		{"data a string", `{` + pc + `,"data":"p1"}`, "data is not a JSON object"},
		{"missing object id", `{` + pc + `,"data":{"amount":1,"currency":"USD"}}`, "missing data.id"},
		{"blank object id", `{` + pc + `,"data":{"id":" ","amount":1,"currency":"USD"}}`, "missing data.id"},
		{"missing wrapped id", `{` + pc + `,"data":{"object":{"amount":1,"currency":"USD"}}}`, "missing data.object.id"},
		{"object id a bool", `{` + pc + `,"data":{"id":true,"amount":1,"currency":"USD"}}`, "data.id"},
		{"customer without id", `{"type":"customer.created","data":{"email":"x@example.com"}}`, "missing data.id"},
		{"status an object", `{` + pc + `,"data":{"id":"p1","amount":1,"currency":"USD","status":{}}}`, "data.status"},
		{"reference an array", `{` + pc + `,"data":{"id":"p1","amount":1,"currency":"USD","reference":[]}}`, "data.reference"},
		{"payment_id an object", `{"type":"refund.completed","data":{"id":"r1","amount":1,"currency":"USD","payment_id":{}}}`, "data.payment_id"},
		{"amount without currency", `{` + pc + `,"data":{"id":"p1","amount":100}}`, "without data.currency"},
		{"decimal string without currency", `{"type":"payment.failed","data":{"id":"p1","amount":"1.00"}}`, "without data.currency"},
		{"fractional number", `{` + pc + `,"data":{"id":"p1","amount":10.5,"currency":"USD"}}`, "ambiguous"},
		{"fraction zero", `{` + pc + `,"data":{"id":"p1","amount":10.00,"currency":"USD"}}`, "ambiguous"},
		{"exponent", `{` + pc + `,"data":{"id":"p1","amount":1e4,"currency":"USD"}}`, "ambiguous"},
		{"negative integer", `{` + pc + `,"data":{"id":"p1","amount":-100,"currency":"USD"}}`, "negative"},
		{"integer out of range", `{` + pc + `,"data":{"id":"p1","amount":9223372036854775808,"currency":"USD"}}`, "out of range"},
		{"amount a bool", `{` + pc + `,"data":{"id":"p1","amount":true,"currency":"USD"}}`, "data.amount is not a number"},
		{"amount an object", `{` + pc + `,"data":{"id":"p1","amount":{"value":1},"currency":"USD"}}`, "data.amount is not a number"},
		{"decimal string too precise", `{` + pc + `,"data":{"id":"p1","amount":"10.005","currency":"USD"}}`, "at most 2 decimal places"},
		{"decimal string in JPY with fraction", `{` + pc + `,"data":{"id":"p1","amount":"10.5","currency":"JPY"}}`, "at most 0 decimal places"},
		{"decimal string negative", `{` + pc + `,"data":{"id":"p1","amount":"-1.00","currency":"USD"}}`, "data.amount"},
		{"decimal string with exponent", `{` + pc + `,"data":{"id":"p1","amount":"1e2","currency":"USD"}}`, "data.amount"},
		{"decimal string with comma", `{` + pc + `,"data":{"id":"p1","amount":"1,00","currency":"USD"}}`, "data.amount"},
		{"decimal string too large", `{` + pc + `,"data":{"id":"p1","amount":"92233720368547758.08","currency":"USD"}}`, "data.amount"},
		{"empty decimal string", `{` + pc + `,"data":{"id":"p1","amount":"","currency":"USD"}}`, "data.amount"},
		{"wrapped amount named in error", `{` + pc + `,"data":{"object":{"id":"p1","amount":1.5,"currency":"USD"}}}`, "data.object.amount"},
		{"currency a number", `{` + pc + `,"data":{"id":"p1","amount":1,"currency":840}}`, "data.currency"},
		{"currency too long", `{` + pc + `,"data":{"id":"p1","amount":1,"currency":"USDX"}}`, "data.currency"},
		{"currency with digits", `{` + pc + `,"data":{"id":"p1","amount":1,"currency":"US1"}}`, "data.currency"},
		{"currency not ISO 4217", `{` + pc + `,"data":{"id":"p1","amount":1,"currency":"XYZ"}}`, "data.currency"},
		{"currency non-ASCII", `{` + pc + `,"data":{"id":"p1","amount":1,"currency":"ÜSD"}}`, "data.currency"},
		{"created not RFC 3339", `{"type":"payment.failed","created":"14/03/2025","data":{"id":"p1"}}`, "created"},
		{"created without zone", `{"type":"payment.failed","created":"2025-03-14T10:00:00","data":{"id":"p1"}}`, "created"},
		{"created digits in a string", `{"type":"payment.failed","created":"1741944413","data":{"id":"p1"}}`, "created"},
		{"created fractional", `{"type":"payment.failed","created":1741944413.5,"data":{"id":"p1"}}`, "created"},
		{"created negative", `{"type":"payment.failed","created":-1,"data":{"id":"p1"}}`, "created"},
		{"created out of range", `{"type":"payment.failed","created":99999999999999,"data":{"id":"p1"}}`, "created"},
		{"created a bool", `{"type":"payment.failed","created":true,"data":{"id":"p1"}}`, "created"},
		{"card number not echoed", `{"type":"payment.failed","data":{"id":4111111111111111.5}}`, "data.id"},
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

func TestDedupeKey(t *testing.T) {
	t.Parallel()
	key := func(t *testing.T, body string) string { return parse(t, []byte(body))[0].DedupeKey }

	t.Run("the event id when sent", func(t *testing.T) {
		const base = `{"id":"evt_1","type":"payment.completed","created":1741944413,"data":{"id":"p1","amount":100,"currency":"USD","status":"completed"}}`
		require.Equal(t, "id:evt_1", key(t, base))
		// A retry with another body keeps the key: the engine records a conflict.
		require.Equal(t, "id:evt_1", key(t, strings.Replace(base, `"amount":100`, `"amount":101`, 1)))
	})

	const base = `{"type":"payment.completed","created":1741944413,"data":{"id":"p1","amount":100,"currency":"USD","status":"completed","reference":"R"}}`
	k0 := key(t, base)
	require.Regexp(t, `^sha256:[0-9a-f]{64}$`, k0)

	t.Run("derived key ignores formatting and fields outside it", func(t *testing.T) {
		same := []string{
			"  " + base + "\n",
			strings.Replace(base, `"reference":"R"`, `"reference":"other"`, 1),
			strings.Replace(base, `"type"`, `"event"`, 1),
			strings.Replace(base, `"amount":100`, `"amount":"1.00"`, 1),
			strings.Replace(base, `"currency":"USD"`, `"currency":"usd"`, 1),
			strings.Replace(base, `1741944413`, `"2025-03-14T09:26:53Z"`, 1),
			strings.Replace(base, `1741944413`, `"2025-03-14T13:26:53+04:00"`, 1),
			`{"type":"payment.completed","created":1741944413,"data":{"object":{"id":"p1","amount":100,"currency":"USD","status":"completed"}}}`,
		}
		for _, b := range same {
			require.Equal(t, k0, key(t, b), b)
		}
	})
	t.Run("derived key is sensitive to its fields", func(t *testing.T) {
		different := map[string]string{
			"type":       strings.Replace(base, `"payment.completed"`, `"payment.failed"`, 1),
			"id":         strings.Replace(base, `"id":"p1"`, `"id":"p2"`, 1),
			"status":     strings.Replace(base, `"status":"completed"`, `"status":"settled"`, 1),
			"amount":     strings.Replace(base, `"amount":100`, `"amount":101`, 1),
			"currency":   strings.Replace(base, `"currency":"USD"`, `"currency":"EUR"`, 1),
			"created":    strings.Replace(base, `1741944413`, `1741944414`, 1),
			"no status":  strings.Replace(base, `,"status":"completed"`, ``, 1),
			"no created": strings.Replace(base, `"created":1741944413,`, ``, 1),
		}
		seen := map[string]string{k0: "base"}
		for name, b := range different {
			require.NotEqual(t, base, b, name)
			k := key(t, b)
			if prev, ok := seen[k]; ok {
				t.Fatalf("%s and %s share a dedupe key", name, prev)
			}
			seen[k] = name
		}
	})
	t.Run("length prefixed", func(t *testing.T) {
		require.NotEqual(t, dedupeKey("", "ab", "c", "", "", ""), dedupeKey("", "a", "bc", "", "", ""))
		require.NotEqual(t, dedupeKey("", "t", "", "x", "", ""), dedupeKey("", "t", "", "", "x", ""))
	})
	t.Run("the payment side of a refund has a key of its own", func(t *testing.T) {
		evs := parse(t, []byte(`{"type":"refund.completed","data":{"id":"r1","payment_id":"p1","amount":5,"currency":"USD"}}`))
		require.Len(t, evs, 2)
		require.Equal(t, evs[0].DedupeKey+"/payment", evs[1].DedupeKey)
	})
}
