package ngenius

import (
	"encoding/json"
	"errors"
	"net/http"
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

// documentedEvents is the event table of the N-Genius webhook document, in
// its order.
var documentedEvents = []string{
	"AUTHORISED", "DECLINED", "APM_PAYMENT_ACCEPTED", "AUTHORISATION_FAILED",
	"FULL_AUTH_REVERSED", "FULL_AUTH_REVERSAL_FAILED", "PURCHASED", "PURCHASE_DECLINED",
	"PURCHASE_FAILED", "PURCHASE_REVERSED", "PURCHASE_REVERSAL_FAILED", "CAPTURED",
	"CAPTURE_FAILED", "CAPTURE_VOIDED", "CAPTURE_VOID_FAILED", "CANCELLATION_REQUESTED",
	"CANCELLATION_FAILED", "CANCELLED", "ORDER_CLOSED", "PARTIALLY_CAPTURED",
	"PARTIAL_CAPTURE_FAILED", "REFUNDED", "REFUND_FAILED", "PARTIALLY_REFUNDED",
	"REFUND_REQUESTED", "REFUND_REQUEST_FAILED", "PARTIAL_REFUND_FAILED",
	"PARTIAL_REFUND_REQUEST_FAILED", "PARTIAL_REFUND_REQUESTED", "REFUND_VOIDED",
	"REFUND_VOID_FAILED", "REFUND_VOID_REQUESTED", "GATEWAY_RISK_PRE_AUTH_REJECTED",
	"PRE_AUTH_FRAUD_CHECK_REJECTED", "POST_AUTH_FRAUD_CHECK_REJECTED",
	"POST_AUTH_FRAUD_CHECK_REVIEW", "POST_AUTH_FRAUD_CHECK_ACCEPTED",
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

func parseOne(t *testing.T, body []byte) providers.Event {
	t.Helper()
	evs, err := New(Config{}).Parse(body)
	require.NoError(t, err)
	require.Len(t, evs, 1)
	return evs[0]
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	require.NoError(t, err)
	return tm.UTC()
}

func TestProviderBasics(t *testing.T) {
	p := New(Config{})
	require.Equal(t, "ngenius", p.Name())
	require.Equal(t, Name, p.Name())

	tables := p.Tables()
	require.Len(t, tables, 1)
	require.Equal(t, Name, tables[0].Provider)
	require.Equal(t, sm.KindPayment, tables[0].Kind)
	require.Equal(t, sm.ModeEvent, tables[0].Mode)

	// The returned tables are copies.
	tables[0].Transitions[0].Event = "MUTATED"
	tables[0].Transitions[0].From[0] = sm.Captured
	again := p.Tables()
	require.NotEqual(t, "MUTATED", again[0].Transitions[0].Event)
	require.Equal(t, sm.StateNew, again[0].Transitions[0].From[0])
	require.Equal(t, paymentTable.Transitions[0].Event, again[0].Transitions[0].Event)
}

func TestTableCoversDocumentedEvents(t *testing.T) {
	require.Len(t, documentedEvents, 37)
	inTable := map[string]bool{}
	for _, tr := range paymentTable.Transitions {
		inTable[tr.Event] = true
	}
	for _, name := range documentedEvents {
		require.Truef(t, inTable[name], "documented event %s has no row in paymentTable", name)
	}
	// And the table has no event the document does not list.
	for name := range inTable {
		require.Truef(t, slices.Contains(documentedEvents, name), "paymentTable event %s is not in the document", name)
	}
}

func TestEveryDocumentedEventHasFixture(t *testing.T) {
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

func TestParseSample(t *testing.T) {
	ev := parseOne(t, readFixture(t, "sample_captured.json"))
	require.Equal(t, providers.Event{
		Provider:          "ngenius",
		Kind:              sm.KindPayment,
		AggregateID:       "abc123xyz",
		MerchantReference: "ORD-123456",
		Name:              "CAPTURED",
		ProviderStatus:    "CAPTURED",
		Currency:          "AED",
		OccurredAt:        time.Date(2024, 12, 1, 13, 22, 45, 0, time.UTC),
		DedupeKey:         ev.DedupeKey,
	}, ev)
	require.False(t, ev.HasAmount, "the sample carries no transaction amount: CAPTURED means the rest")
	require.Regexp(t, `^ngenius:[0-9a-f]{64}$`, ev.DedupeKey)
}

func TestParseFixtures(t *testing.T) {
	cases := []struct {
		name      string
		id        string
		reference string
		amount    int64
		hasAmount bool
		currency  string
		occurred  string
	}{
		{"AUTHORISED", "348d967d-a228-56c1-8e54-0dbbdbfaaa48", "ORD-2025-104200", 10000, true, "AED", "2025-03-14T09:26:53Z"},
		{"DECLINED", "9c499802-7321-572f-809c-913a2faadc20", "ORD-2025-104201", 0, false, "AED", "2025-03-14T09:34:04.137Z"},
		{"APM_PAYMENT_ACCEPTED", "c63bd7e4-845d-5b18-b724-ffba433b0158", "ORD-2025-104202", 4999, true, "AED", "2025-03-14T09:41:15Z"},
		{"AUTHORISATION_FAILED", "6664e9f4-fcd7-5e28-ab36-c26f3d833826", "ORD-2025-104203", 0, false, "SAR", "2025-03-14T09:48:26Z"},
		{"FULL_AUTH_REVERSED", "109f0c12-24b1-5d28-83d1-5a5b0c07ce9c", "ORD-2025-104204", 0, false, "AED", "2025-03-14T09:55:37.548Z"},
		{"FULL_AUTH_REVERSAL_FAILED", "6a5b81ca-fa81-58b2-8e40-a674e8dcb8fa", "ORD-2025-104205", 0, false, "AED", "2025-03-14T10:02:48Z"},
		{"PURCHASED", "ad7f16da-e460-5e3b-bda1-530255ccbf67", "ORD-2025-104206", 2599, true, "USD", "2025-03-14T10:09:59Z"},
		{"PURCHASE_DECLINED", "975fe658-7b3d-5ea6-995a-c56d07a47c16", "ORD-2025-104207", 0, false, "USD", "2025-03-14T10:17:10.959Z"},
		{"PURCHASE_FAILED", "6e0e7f39-ad8a-566a-be28-fa589b1e1462", "ORD-2025-104208", 0, false, "AED", "2025-03-14T10:24:21Z"},
		{"PURCHASE_REVERSED", "23ce1ef6-21a9-57b5-a731-d051c43f2071", "ORD-2025-104209", 0, false, "USD", "2025-03-14T10:31:32Z"},
		{"PURCHASE_REVERSAL_FAILED", "51bd32df-60bb-5845-b67e-002f30bd7986", "ORD-2025-104210", 0, false, "USD", "2025-03-14T10:38:43.370Z"},
		{"CAPTURED", "643e2cc7-0937-5b5f-9dc6-f20d233c6c81", "ORD-2025-104211", 0, false, "AED", "2025-03-14T10:45:54Z"},
		{"CAPTURE_FAILED", "0be7f3db-786e-55f2-be58-4dd0cdbf6bae", "ORD-2025-104212", 0, false, "AED", "2025-03-14T10:53:05Z"},
		{"CAPTURE_VOIDED", "142e6a54-e339-5a42-ab0f-05e614c255f1", "ORD-2025-104213", 10000, true, "AED", "2025-03-14T11:00:16.781Z"},
		{"CAPTURE_VOID_FAILED", "1df7230b-5d93-55a4-8f47-35003a1d45d8", "ORD-2025-104214", 0, false, "AED", "2025-03-14T11:07:27Z"},
		{"CANCELLATION_REQUESTED", "7d31aafd-9d55-5cb9-bac7-7ab35458cc26", "ORD-2025-104215", 0, false, "AED", "2025-03-14T11:14:38Z"},
		{"CANCELLATION_FAILED", "0ff5c44b-15d6-5909-af9c-8b0ada6ae6df", "ORD-2025-104216", 0, false, "AED", "2025-03-14T11:21:49.192Z"},
		{"CANCELLED", "a0112ea5-7c23-5658-9626-b264ef70fd8a", "ORD-2025-104217", 0, false, "AED", "2025-03-14T11:29:00Z"},
		{"ORDER_CLOSED", "bbbdd94c-db53-5aee-814d-33ffcc9a17ce", "ORD-2025-104218", 0, false, "AED", "2025-03-14T11:36:11Z"},
		{"PARTIALLY_CAPTURED", "9da5a8d7-c241-53ab-b485-cdbaa0c51985", "ORD-2025-104219", 4000, true, "AED", "2025-03-14T11:43:22.603Z"},
		{"PARTIAL_CAPTURE_FAILED", "2ad199ef-8e5c-5d93-8c18-9ac6fadae6a6", "ORD-2025-104220", 0, false, "AED", "2025-03-14T11:50:33Z"},
		{"REFUNDED", "084f8603-0674-580c-afff-194ea57b874b", "ORD-2025-104221", 0, false, "AED", "2025-03-14T11:57:44Z"},
		{"REFUND_FAILED", "4cd46a4e-7dc7-5b47-b35c-52bdd261e091", "ORD-2025-104222", 0, false, "AED", "2025-03-14T12:04:55.014Z"},
		{"PARTIALLY_REFUNDED", "005657c2-9656-5bcf-80cf-bbd51dd46fab", "ORD-2025-104223", 2500, true, "AED", "2025-03-14T12:12:06Z"},
		{"REFUND_REQUESTED", "ddd9c056-0345-538c-bae8-b9d8a81efe31", "ORD-2025-104224", 0, false, "AED", "2025-03-14T12:19:17Z"},
		{"REFUND_REQUEST_FAILED", "f5c5b536-bbd6-5368-9e13-03d79baecaa6", "ORD-2025-104225", 0, false, "AED", "2025-03-14T12:26:28.425Z"},
		{"PARTIAL_REFUND_FAILED", "e9eae243-87eb-51a1-8d25-1ec150a12e47", "ORD-2025-104226", 0, false, "AED", "2025-03-14T12:33:39Z"},
		{"PARTIAL_REFUND_REQUEST_FAILED", "1d9d29f4-9cc9-5613-a0bf-63744ec53baf", "ORD-2025-104227", 0, false, "AED", "2025-03-14T12:40:50Z"},
		{"PARTIAL_REFUND_REQUESTED", "45839b46-834d-581d-9c05-ed88ec35c47c", "ORD-2025-104228", 0, false, "AED", "2025-03-14T12:48:01.836Z"},
		{"REFUND_VOIDED", "703b11d7-1bc2-5de4-9d55-ab2e1d21d5be", "ORD-2025-104229", 2500, true, "AED", "2025-03-14T12:55:12Z"},
		{"REFUND_VOID_FAILED", "0746605c-1985-56af-abeb-1f57954027da", "ORD-2025-104230", 0, false, "AED", "2025-03-14T13:02:23Z"},
		{"REFUND_VOID_REQUESTED", "6dce102b-6f12-5677-af22-45c0553cf619", "ORD-2025-104231", 0, false, "AED", "2025-03-14T13:09:34.247Z"},
		{"GATEWAY_RISK_PRE_AUTH_REJECTED", "72d0122e-8184-5cc4-992e-52844554f624", "ORD-2025-104232", 0, false, "AED", "2025-03-14T13:16:45Z"},
		{"PRE_AUTH_FRAUD_CHECK_REJECTED", "494586bd-0532-55e8-9521-a46f8c51255d", "ORD-2025-104233", 0, false, "AED", "2025-03-14T13:23:56Z"},
		{"POST_AUTH_FRAUD_CHECK_REJECTED", "e3623c2b-975a-50f4-a127-15347a53c07d", "ORD-2025-104234", 0, false, "AED", "2025-03-14T13:31:07.658Z"},
		{"POST_AUTH_FRAUD_CHECK_REVIEW", "52a96a93-730e-57a2-9e10-b88e9b5c36c9", "ORD-2025-104235", 0, false, "AED", "2025-03-14T13:38:18Z"},
		{"POST_AUTH_FRAUD_CHECK_ACCEPTED", "9c6d41ae-3aa0-5f45-a701-16bae777a2f0", "ORD-2025-104236", 0, false, "AED", "2025-03-14T13:45:29Z"},
	}
	require.Len(t, cases, len(documentedEvents))
	keys := map[string]string{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev := parseOne(t, readFixture(t, "event_"+tc.name+".json"))
			require.Equal(t, Name, ev.Provider)
			require.Equal(t, sm.KindPayment, ev.Kind)
			require.Equal(t, tc.id, ev.AggregateID)
			require.Equal(t, tc.reference, ev.MerchantReference)
			require.Equal(t, tc.name, ev.Name)
			require.Equal(t, tc.name, ev.ProviderStatus)
			require.Equal(t, tc.hasAmount, ev.HasAmount)
			require.Equal(t, tc.amount, ev.Amount)
			require.Equal(t, tc.currency, ev.Currency)
			require.True(t, mustTime(t, tc.occurred).Equal(ev.OccurredAt), "occurred %s", ev.OccurredAt)
			require.Nil(t, ev.Parent)
			require.False(t, ev.RecordOnly)
			require.Regexp(t, `^ngenius:[0-9a-f]{64}$`, ev.DedupeKey)
			if other, dup := keys[ev.DedupeKey]; dup {
				t.Fatalf("fixtures %s and %s share a dedupe key", other, tc.name)
			}
			keys[ev.DedupeKey] = tc.name
		})
	}
}

func TestParseVariants(t *testing.T) {
	cases := []struct {
		name string
		body string
		want func(t *testing.T, ev providers.Event)
	}{
		{
			name: "eventName alias",
			body: `{"eventName":"AUTHORISED","order":{"id":"o1","amount":{"currencyCode":"AED","value":500}}}`,
			want: func(t *testing.T, ev providers.Event) {
				require.Equal(t, "AUTHORISED", ev.Name)
				require.True(t, ev.HasAmount)
				require.EqualValues(t, 500, ev.Amount)
			},
		},
		{
			name: "event and eventName agree",
			body: `{"event":"CAPTURED","eventName":"CAPTURED","order":{"id":"o1"}}`,
			want: func(t *testing.T, ev providers.Event) { require.Equal(t, "CAPTURED", ev.Name) },
		},
		{
			name: "event trimmed",
			body: `{"event":"  PURCHASED\n","order":{"id":"o1","amount":{"currencyCode":"USD","value":1}}}`,
			want: func(t *testing.T, ev providers.Event) {
				require.Equal(t, "PURCHASED", ev.Name)
				require.Equal(t, "PURCHASED", ev.ProviderStatus)
				require.EqualValues(t, 1, ev.Amount)
			},
		},
		{
			name: "unknown event is returned, not an error",
			body: `{"event":"CHARGEBACK_RAISED","order":{"id":"o1","amount":{"currencyCode":"AED","value":100}}}`,
			want: func(t *testing.T, ev providers.Event) {
				require.Equal(t, "CHARGEBACK_RAISED", ev.Name)
				require.Equal(t, sm.KindPayment, ev.Kind)
				require.False(t, ev.HasAmount)
				require.Equal(t, "AED", ev.Currency)
			},
		},
		{
			name: "lower-case event kept as sent",
			body: `{"event":"captured","order":{"id":"o1"}}`,
			want: func(t *testing.T, ev providers.Event) { require.Equal(t, "captured", ev.Name) },
		},
		{
			name: "lower-case currency upper-cased",
			body: `{"event":"AUTHORISED","order":{"id":"o1","amount":{"currencyCode":"aed","value":700}}}`,
			want: func(t *testing.T, ev providers.Event) { require.Equal(t, "AED", ev.Currency) },
		},
		{
			name: "a currency ISO 4217 added after golang.org/x/text's table",
			body: `{"event":"AUTHORISED","order":{"id":"o1","amount":{"currencyCode":"MRU","value":700}}}`,
			want: func(t *testing.T, ev providers.Event) { require.Equal(t, "MRU", ev.Currency) },
		},
		{
			name: "zero amount is an amount",
			body: `{"event":"AUTHORISED","order":{"id":"o1","amount":{"currencyCode":"AED","value":0}}}`,
			want: func(t *testing.T, ev providers.Event) {
				require.True(t, ev.HasAmount)
				require.EqualValues(t, 0, ev.Amount)
			},
		},
		{
			name: "max int64 amount",
			body: `{"event":"AUTHORISED","order":{"id":"o1","amount":{"currencyCode":"AED","value":9223372036854775807}}}`,
			want: func(t *testing.T, ev providers.Event) { require.EqualValues(t, int64(9223372036854775807), ev.Amount) },
		},
		{
			name: "authorised without amount",
			body: `{"event":"AUTHORISED","order":{"id":"o1"}}`,
			want: func(t *testing.T, ev providers.Event) {
				require.False(t, ev.HasAmount)
				require.Empty(t, ev.Currency)
			},
		},
		{
			name: "CAPTURED with transaction amount",
			body: `{"event":"CAPTURED","order":{"id":"o1","amount":{"currencyCode":"AED","value":10000}},"transaction":{"id":"t1","amount":{"currencyCode":"AED","value":6000}}}`,
			want: func(t *testing.T, ev providers.Event) {
				require.True(t, ev.HasAmount)
				require.EqualValues(t, 6000, ev.Amount)
			},
		},
		{
			name: "REFUNDED without transaction amount means the rest",
			body: `{"event":"REFUNDED","order":{"id":"o1","amount":{"currencyCode":"AED","value":10000}}}`,
			want: func(t *testing.T, ev providers.Event) { require.False(t, ev.HasAmount) },
		},
		{
			name: "transaction amount without currency takes the order's",
			body: `{"event":"PARTIALLY_REFUNDED","order":{"id":"o1","amount":{"currencyCode":"SAR","value":10000}},"transaction":{"amount":{"value":100}}}`,
			want: func(t *testing.T, ev providers.Event) {
				require.EqualValues(t, 100, ev.Amount)
				require.Equal(t, "SAR", ev.Currency)
			},
		},
		{
			name: "transaction currency when the order has none",
			body: `{"event":"PARTIALLY_CAPTURED","order":{"id":"o1"},"transaction":{"amount":{"currencyCode":"usd","value":100}}}`,
			want: func(t *testing.T, ev providers.Event) {
				require.EqualValues(t, 100, ev.Amount)
				require.Equal(t, "USD", ev.Currency)
			},
		},
		{
			name: "transaction amount ignored for events without one",
			body: `{"event":"CAPTURE_FAILED","order":{"id":"o1","amount":{"currencyCode":"AED","value":10000}},"transaction":{"amount":{"currencyCode":"AED","value":100}}}`,
			want: func(t *testing.T, ev providers.Event) { require.False(t, ev.HasAmount) },
		},
		{
			name: "order amount ignored for capture events",
			body: `{"event":"PARTIALLY_CAPTURED","order":{"id":"o1","amount":{"currencyCode":"AED","value":10000}}}`,
			want: func(t *testing.T, ev providers.Event) { require.False(t, ev.HasAmount) },
		},
		{
			name: "transaction date when no timestamp",
			body: `{"event":"AUTHORISED","order":{"id":"o1"},"transaction":{"id":"t1","date":"2025-01-02T03:04:05+04:00"}}`,
			want: func(t *testing.T, ev providers.Event) {
				require.Equal(t, time.Date(2025, 1, 1, 23, 4, 5, 0, time.UTC), ev.OccurredAt)
			},
		},
		{
			name: "timestamp wins over transaction date",
			body: `{"event":"AUTHORISED","order":{"id":"o1"},"transaction":{"date":"2025-01-02T03:04:05Z"},"timestamp":"2025-01-02T03:04:06.5Z"}`,
			want: func(t *testing.T, ev providers.Event) {
				require.Equal(t, time.Date(2025, 1, 2, 3, 4, 6, 500000000, time.UTC), ev.OccurredAt)
			},
		},
		{
			name: "no time at all",
			body: `{"event":"AUTHORISED","order":{"id":"o1"}}`,
			want: func(t *testing.T, ev providers.Event) { require.True(t, ev.OccurredAt.IsZero()) },
		},
		{
			name: "unknown fields of a full order object are ignored",
			body: `{"eventName":"PURCHASED","order":{"_id":"urn:order:o1","id":"o1","reference":"r1","outletId":"x","amount":{"currencyCode":"AED","value":300},"_embedded":{"payment":[{"state":"PURCHASED"}]}},"transaction":{"id":"t1","state":"PURCHASED"}}`,
			want: func(t *testing.T, ev providers.Event) {
				require.Equal(t, "o1", ev.AggregateID)
				require.Equal(t, "r1", ev.MerchantReference)
				require.EqualValues(t, 300, ev.Amount)
			},
		},
		{
			name: "surrounding whitespace",
			body: "\n\t {\"event\":\"DECLINED\",\"order\":{\"id\":\"o1\"}} \r\n",
			want: func(t *testing.T, ev providers.Event) { require.Equal(t, "DECLINED", ev.Name) },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.True(t, json.Valid([]byte(tc.body)), "test body must be JSON")
			ev := parseOne(t, []byte(tc.body))
			require.Equal(t, Name, ev.Provider)
			require.Equal(t, "o1", ev.AggregateID)
			tc.want(t, ev)
		})
	}
}

func TestDedupeKey(t *testing.T) {
	const base = `{"event":"CAPTURED","order":{"reference":"R","id":"o1","amount":{"currencyCode":"AED","value":10000}},"transaction":{"id":"t1","state":"CAPTURED","date":"2024-12-01T13:22:45Z"},"timestamp":"2024-12-01T13:22:45Z"}`
	key := func(t *testing.T, body string) string { return parseOne(t, []byte(body)).DedupeKey }
	k0 := key(t, base)

	t.Run("stable", func(t *testing.T) {
		require.Equal(t, k0, key(t, base))
		sample := readFixture(t, "sample_captured.json")
		require.Equal(t, parseOne(t, sample).DedupeKey, parseOne(t, sample).DedupeKey)
	})
	t.Run("formatting and fields outside the key do not matter", func(t *testing.T) {
		same := []string{
			"  " + base + "\n",
			strings.Replace(base, `"reference":"R"`, `"reference":"other"`, 1),
			strings.Replace(base, `"value":10000`, `"value":9999`, 1),
			strings.Replace(base, `"event":"CAPTURED"`, `"eventName":"CAPTURED"`, 1),
		}
		for _, b := range same {
			require.Equal(t, k0, key(t, b), b)
		}
	})
	t.Run("sensitive", func(t *testing.T) {
		different := map[string]string{
			"event":             strings.Replace(base, `"event":"CAPTURED"`, `"event":"REFUNDED"`, 1),
			"order id":          strings.Replace(base, `"id":"o1"`, `"id":"o2"`, 1),
			"transaction id":    strings.Replace(base, `"id":"t1"`, `"id":"t2"`, 1),
			"transaction state": strings.Replace(base, `"state":"CAPTURED"`, `"state":"REFUNDED"`, 1),
			"timestamp":         strings.Replace(base, `"timestamp":"2024-12-01T13:22:45Z"`, `"timestamp":"2024-12-01T13:22:46Z"`, 1),
			"no transaction":    `{"event":"CAPTURED","order":{"id":"o1"},"timestamp":"2024-12-01T13:22:45Z"}`,
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
		require.NotEqual(t, dedupeKey("ab", "c", "", "", ""), dedupeKey("a", "bc", "", "", ""))
		require.NotEqual(t, dedupeKey("o", "E", "t", "", ""), dedupeKey("o", "E", "", "t", ""))
	})
}

func TestParseMalformed(t *testing.T) {
	cases := []struct {
		name    string
		body    string
		mention string // what the error must say
	}{
		{"empty body", "", "empty"},
		{"whitespace only", " \n\t", "empty"},
		{"not JSON", "event=CAPTURED&order=abc", "not a JSON object"},
		{"truncated JSON", `{"event":"CAPTURED","order":{"id":"o1"`, "invalid JSON"},
		{"array", `[{"event":"CAPTURED","order":{"id":"o1"}}]`, "not a JSON object"},
		{"null", `null`, "not a JSON object"},
		{"string", `"CAPTURED"`, "not a JSON object"},
		{"trailing garbage", `{"event":"CAPTURED","order":{"id":"o1"}}xyz`, "trailing"},
		{"second object", `{"event":"CAPTURED","order":{"id":"o1"}}{"event":"REFUNDED","order":{"id":"o1"}}`, "trailing"},
		{"trailing brace", `{"event":"CAPTURED","order":{"id":"o1"}}}`, "trailing"},
		{"missing event", `{"order":{"id":"o1"}}`, "event"},
		{"empty event", `{"event":"  ","order":{"id":"o1"}}`, "event"},
		{"null event", `{"event":null,"order":{"id":"o1"}}`, "event"},
		{"event not a string", `{"event":7,"order":{"id":"o1"}}`, "event"},
		{"event and eventName disagree", `{"event":"CAPTURED","eventName":"REFUNDED","order":{"id":"o1"}}`, "disagree"},
		{"missing order", `{"event":"CAPTURED"}`, "order.id"},
		{"missing order id", `{"event":"CAPTURED","order":{"reference":"r"}}`, "order.id"},
		{"empty order id", `{"event":"CAPTURED","order":{"id":""}}`, "order.id"},
		{"blank order id", `{"event":"CAPTURED","order":{"id":" "}}`, "order.id"},
		{"order not an object", `{"event":"CAPTURED","order":"o1"}`, "invalid JSON"},
		{"order a number", `{"event":"CAPTURED","order":4111111111111111}`, "order: number where"},
		{"fractional amount", `{"event":"AUTHORISED","order":{"id":"o1","amount":{"currencyCode":"AED","value":100.5}}}`, "order.amount.value"},
		{"fraction zero", `{"event":"AUTHORISED","order":{"id":"o1","amount":{"currencyCode":"AED","value":100.0}}}`, "order.amount.value"},
		{"exponent amount", `{"event":"AUTHORISED","order":{"id":"o1","amount":{"currencyCode":"AED","value":1e4}}}`, "order.amount.value"},
		{"negative amount", `{"event":"AUTHORISED","order":{"id":"o1","amount":{"currencyCode":"AED","value":-100}}}`, "order.amount.value"},
		{"huge amount", `{"event":"AUTHORISED","order":{"id":"o1","amount":{"currencyCode":"AED","value":9223372036854775808}}}`, "order.amount.value"},
		{"very huge amount", `{"event":"AUTHORISED","order":{"id":"o1","amount":{"currencyCode":"AED","value":123456789012345678901234567890}}}`, "order.amount.value"},
		{"amount is a word", `{"event":"AUTHORISED","order":{"id":"o1","amount":{"currencyCode":"AED","value":"ten"}}}`, "invalid JSON"},
		{"amount is a bool", `{"event":"AUTHORISED","order":{"id":"o1","amount":{"currencyCode":"AED","value":true}}}`, "invalid JSON"},
		{"bad transaction amount", `{"event":"PARTIALLY_CAPTURED","order":{"id":"o1"},"transaction":{"amount":{"currencyCode":"AED","value":-1}}}`, "transaction.amount.value"},
		{"bad currency digits", `{"event":"AUTHORISED","order":{"id":"o1","amount":{"currencyCode":"AE1","value":100}}}`, "currencyCode"},
		{"bad currency length", `{"event":"AUTHORISED","order":{"id":"o1","amount":{"currencyCode":"AEDX","value":100}}}`, "currencyCode"},
		{"bad currency non-ASCII", `{"event":"AUTHORISED","order":{"id":"o1","amount":{"currencyCode":"ÄED","value":100}}}`, "currencyCode"},
		{"currency not ISO 4217", `{"event":"AUTHORISED","order":{"id":"o1","amount":{"currencyCode":"XXQ","value":100}}}`, "order.amount.currencyCode is not an ISO 4217 code"},
		{"bad transaction currency", `{"event":"REFUNDED","order":{"id":"o1"},"transaction":{"amount":{"currencyCode":"1$","value":100}}}`, "currencyCode"},
		{"transaction currency differs", `{"event":"PARTIALLY_REFUNDED","order":{"id":"o1","amount":{"currencyCode":"AED","value":10000}},"transaction":{"amount":{"currencyCode":"USD","value":100}}}`, "differs"},
		{"bad timestamp", `{"event":"CAPTURED","order":{"id":"o1"},"timestamp":"01/12/2024 13:22"}`, "timestamp"},
		{"timestamp without zone", `{"event":"CAPTURED","order":{"id":"o1"},"timestamp":"2024-12-01T13:22:45"}`, "timestamp"},
		{"timestamp a number", `{"event":"CAPTURED","order":{"id":"o1"},"timestamp":1733059365}`, "invalid JSON"},
		{"bad transaction date", `{"event":"CAPTURED","order":{"id":"o1"},"transaction":{"date":"yesterday"}}`, "transaction.date"},
		{"bad transaction date beside a good timestamp", `{"event":"CAPTURED","order":{"id":"o1"},"transaction":{"date":"yesterday"},"timestamp":"2024-12-01T13:22:45Z"}`, "transaction.date"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
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

func TestAuthenticate(t *testing.T) {
	const (
		secret  = "s3cr3t-2025-primary-5f0c9a"
		rotated = "s3cr3t-2025-rotated-77ab21"
	)
	body := readFixture(t, "sample_captured.json")
	now := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	configured := Config{HeaderName: "X-Webhook-Token", HeaderValues: []string{secret, rotated}}
	oneByteOff := secret[:len(secret)-1] + "b"

	header := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	cases := []struct {
		name   string
		cfg    Config
		header providers.Headers
		ok     bool
	}{
		// The zero Config refuses everything: accepting unauthenticated
		// webhooks is asked for in so many words.
		{"not configured, no header", Config{}, header(), false},
		{"not configured, any header", Config{}, header("X-Webhook-Token", "whatever"), false},
		{"not configured, nil headers", Config{}, nil, false},
		{"not configured, values without a name", Config{HeaderValues: []string{secret}}, header(), false},
		{"unauthenticated allowed, no header", Config{AllowUnauthenticated: true}, header(), true},
		{"unauthenticated allowed, any header", Config{AllowUnauthenticated: true}, header("X-Webhook-Token", "whatever"), true},
		{"unauthenticated allowed, nil headers", Config{AllowUnauthenticated: true}, nil, true},
		{"a header configured is required all the same", Config{HeaderName: "X-Webhook-Token", HeaderValues: []string{secret}, AllowUnauthenticated: true}, header(), false},
		{"a wrong value with unauthenticated allowed", Config{HeaderName: "X-Webhook-Token", HeaderValues: []string{secret}, AllowUnauthenticated: true}, header("X-Webhook-Token", "guess"), false},
		{"right value", configured, header("X-Webhook-Token", secret), true},
		{"rotated second value", configured, header("X-Webhook-Token", rotated), true},
		{"header name lower case", configured, header("x-webhook-token", secret), true},
		{"configured name lower case", Config{HeaderName: "x-webhook-token", HeaderValues: []string{secret}}, header("X-WEBHOOK-TOKEN", secret), true},
		{"wrong value", configured, header("X-Webhook-Token", "guess"), false},
		{"value differing in one byte", configured, header("X-Webhook-Token", oneByteOff), false},
		{"value with a suffix", configured, header("X-Webhook-Token", secret+"x"), false},
		{"value prefix", configured, header("X-Webhook-Token", secret[:10]), false},
		{"value with surrounding space", configured, header("X-Webhook-Token", " "+secret), false},
		{"value in another header", configured, header("X-Other-Token", secret), false},
		{"missing header", configured, header(), false},
		{"nil headers", configured, nil, false},
		{"empty header", configured, http.Header{"X-Webhook-Token": {""}}, false},
		{"empty configured value never matches", Config{HeaderName: "X-Webhook-Token", HeaderValues: []string{""}}, http.Header{"X-Webhook-Token": {""}}, false},
		{"name without values", Config{HeaderName: "X-Webhook-Token"}, header("X-Webhook-Token", secret), false},
		{"blank name fails closed", Config{HeaderName: " ", HeaderValues: []string{secret}}, header("X-Webhook-Token", secret), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := New(tc.cfg).Authenticate(tc.header, body, now)
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.ErrorIs(t, err, providers.ErrUnauthenticated)
			require.NotErrorIs(t, err, providers.ErrMalformed)
			msg := err.Error()
			for _, s := range []string{secret, rotated, oneByteOff, secret[:10], "guess"} {
				require.NotContains(t, msg, s)
			}
		})
	}
}

// Authenticate does not look at the body: a configured header authenticates
// any body, and Parse decides about the body afterwards.
func TestAuthenticateIgnoresBody(t *testing.T) {
	p := New(Config{HeaderName: "X-Webhook-Token", HeaderValues: []string{"tok"}})
	h := http.Header{}
	h.Set("X-Webhook-Token", "tok")
	require.NoError(t, p.Authenticate(h, []byte("not json"), time.Time{}))
	require.NoError(t, p.Authenticate(h, nil, time.Time{}))
}

func TestErrorsAreDistinct(t *testing.T) {
	require.False(t, errors.Is(providers.ErrMalformed, providers.ErrUnauthenticated))
}
