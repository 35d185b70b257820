package inyo

import (
	"encoding/base64"
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

// documentedStatuses are the webhook document's statuses, in its order.
var documentedStatuses = []string{"AUTHORIZED", "CAPTURED", "CHALLENGE", "DECLINED", "VOIDED", "REFUNDED"}

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

func parseOne(t *testing.T, body []byte) providers.Event {
	t.Helper()
	evs := parse(t, body)
	require.Len(t, evs, 1)
	return evs[0]
}

func utc(s string) time.Time {
	t, err := time.Parse(time.DateTime, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestProviderBasics(t *testing.T) {
	t.Parallel()
	p := New(Config{})
	require.Equal(t, "inyo", p.Name())
	require.Equal(t, Name, p.Name())

	tables := p.Tables()
	require.Len(t, tables, 2)
	require.Equal(t, sm.KindPayment, tables[0].Kind)
	require.Equal(t, sm.KindRefund, tables[1].Kind)
	for _, tb := range tables {
		require.Equal(t, Name, tb.Provider)
		require.Equal(t, sm.ModeStatus, tb.Mode)
		_, err := sm.Build(tb)
		require.NoError(t, err)
	}
	_, err := sm.NewRegistry(tables...)
	require.NoError(t, err)

	// The returned tables are copies.
	tables[0].Transitions[0].Event = "MUTATED"
	tables[0].Transitions[0].From[0] = sm.Captured
	again := p.Tables()
	require.Equal(t, paymentTable.Transitions[0].Event, again[0].Transitions[0].Event)
	require.Equal(t, sm.StateNew, again[0].Transitions[0].From[0])
}

func TestTableCoversDocumentedStatuses(t *testing.T) {
	t.Parallel()
	var inTable []string
	for _, tr := range paymentTable.Transitions {
		inTable = append(inTable, tr.Event)
	}
	want := slices.Clone(documentedStatuses)
	slices.Sort(want)
	slices.Sort(inTable)
	// CAPTURED has a second row: the way out of a void or a decline.
	require.Equal(t, want, slices.Compact(inTable), "a row for every documented status, no other")
	require.Equal(t, "REFUNDED", refundTable.Transitions[0].Event)
}

// The document's sample, verbatim.
func TestParseSample(t *testing.T) {
	t.Parallel()
	ev := parseOne(t, readFixture(t, "sample_authorized.json"))
	require.Equal(t, providers.Event{
		Provider:          "inyo",
		Kind:              sm.KindPayment,
		AggregateID:       "469670e2-31e3-4700-b9f2-abee99418dc4",
		MerchantReference: "1231223221399923139",
		Name:              "AUTHORIZED",
		ProviderStatus:    "AUTHORIZED",
		Amount:            9500,
		HasAmount:         true,
		Currency:          "USD",
		OccurredAt:        time.Date(2025, 1, 21, 16, 31, 2, 0, time.UTC),
		DedupeKey:         ev.DedupeKey,
		Snapshot:          true,
	}, ev)
	require.Regexp(t, `^inyo:payment:[0-9a-f]{64}$`, ev.DedupeKey)
}

// want describes one expected event of a fixture.
type want struct {
	kind      sm.Kind
	id        string
	parent    string // parent payment id, "" for none
	name      string
	amount    int64
	hasAmount bool
	record    bool
	role      string
}

func TestParseFixtures(t *testing.T) {
	t.Parallel()
	const (
		a  = "7c1e2f0a-5b9d-4c3e-8a61-2f4d9b0e1a11"
		c  = "3b8f6d24-91a7-4e0c-b5d2-6c0a8e7f4b22"
		ch = "e2a94c17-0f3b-4d86-9c5e-1b7d3a6f8c33"
		cd = "5d0c8b3e-2a7f-41e9-8b64-9e3f1c2a7d44"
	)
	cases := map[string]struct {
		ref      string
		occurred string
		events   []want
	}{
		"sample_authorized.json": {"1231223221399923139", "2025-01-21 16:31:02", []want{
			{sm.KindPayment, "469670e2-31e3-4700-b9f2-abee99418dc4", "", "AUTHORIZED", 9500, true, false, "payment"}}},
		"status_AUTHORIZED.json": {"ORD-2025-0001", "2025-02-03 09:15:27", []want{
			{sm.KindPayment, a, "", "AUTHORIZED", 12050, true, false, "payment"}}},
		"status_CAPTURED.json": {"ORD-2025-0002", "2025-02-03 10:02:11", []want{
			{sm.KindPayment, c, "", "CAPTURED", 10010, true, false, "payment"}}},
		"status_CHALLENGE.json": {"ORD-2025-0003", "2025-02-03 11:40:09", []want{
			{sm.KindPayment, "a4f7e1b9-6c2d-4b08-93ae-7d5c0f8e2b55", "", "CHALLENGE", 7500, true, false, "payment"}}},
		"status_DECLINED.json": {"ORD-2025-0004", "2025-02-03 12:05:44", []want{
			{sm.KindPayment, "c9b2a6e0-3f18-4d7c-a5e9-0b6d4f1c8e66", "", "DECLINED", 4299, true, false, "payment"}}},
		"status_VOIDED.json": {"ORD-2025-0005", "2025-02-03 13:22:06", []want{
			{sm.KindPayment, "1f6e3c8a-b4d9-4a27-8e0f-5c2b9d7a3f77", "", "VOIDED", 10010, true, false, "payment"}}},
		// The payment's own REFUNDED carries the payment's amount, a
		// snapshot's total: all of what was captured is refunded.
		"status_REFUNDED.json": {"ORD-2025-0006", "2025-02-03 14:15:14", []want{
			{sm.KindPayment, "8e3d7b1c-4a6f-49d0-b2c8-3f1e6a9d0c88", "", "REFUNDED", 5700, true, false, "payment"}}},
		"challenge_authorized_1_CHALLENGE.json": {"ORD-2025-0007", "2025-02-04 08:00:01", []want{
			{sm.KindPayment, ch, "", "CHALLENGE", 25000, true, false, "payment"}}},
		"challenge_authorized_2_AUTHORIZED.json": {"ORD-2025-0007", "2025-02-04 08:01:37", []want{
			{sm.KindPayment, ch, "", "AUTHORIZED", 25000, true, false, "payment"}}},
		"challenge_declined_1_CHALLENGE.json": {"ORD-2025-0008", "2025-02-04 09:30:00", []want{
			{sm.KindPayment, cd, "", "CHALLENGE", 1999, true, false, "payment"}}},
		"challenge_declined_2_DECLINED.json": {"ORD-2025-0008", "2025-02-04 09:32:18", []want{
			{sm.KindPayment, cd, "", "DECLINED", 1999, true, false, "payment"}}},
		"child_capture.json": {"ORD-2025-0001", "2025-02-05 10:00:00", []want{
			{sm.KindPayment, a, "", "CAPTURED", 5000, true, false, "parent"}}},
		"child_refund.json": {"ORD-2025-0002", "2025-02-06 16:45:30", []want{
			{sm.KindRefund, "0d9a4e6b-7c3f-4e81-a0d5-2b8c6f1e9a99", c, "REFUNDED", 2500, true, false, "refund"},
			{sm.KindPayment, c, "", "REFUNDED", 2500, true, false, "parent"}}},
		"child_void.json": {"ORD-2025-0007", "2025-02-05 11:11:11", []want{
			{sm.KindPayment, ch, "", "VOIDED", 25000, true, false, "parent"}}},
		"child_declined.json": {"ORD-2025-0002", "2025-02-06 17:00:05", []want{
			{"", "9f1d5a3c-0b8e-47f2-a6d9-c4e2b7f0a1bc", c, "DECLINED", 50000, true, true, "child"}}},
	}

	// Every .json fixture has a case, and every case a fixture.
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	require.NoError(t, err)
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	var listed []string
	for name := range cases {
		listed = append(listed, name)
	}
	slices.Sort(names)
	slices.Sort(listed)
	require.Equal(t, listed, names)

	// Every documented status has a fixture of the payment's own object.
	for _, s := range documentedStatuses {
		require.Contains(t, names, "status_"+s+".json")
	}

	keys := map[string]string{}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			body := readFixture(t, name)
			require.True(t, json.Valid(body), "fixtures are strict JSON")
			evs := parse(t, body)
			require.Len(t, evs, len(tc.events))
			for i, w := range tc.events {
				ev := evs[i]
				require.Equal(t, Name, ev.Provider)
				require.Equal(t, w.kind, ev.Kind)
				require.Equal(t, w.id, ev.AggregateID)
				require.Equal(t, w.name, ev.Name)
				require.Equal(t, w.name, ev.ProviderStatus)
				require.Equal(t, w.hasAmount, ev.HasAmount)
				require.Equal(t, w.amount, ev.Amount)
				require.Equal(t, "USD", ev.Currency)
				require.Equal(t, w.record, ev.RecordOnly)
				require.Equal(t, tc.ref, ev.MerchantReference)
				require.Equal(t, utc(tc.occurred), ev.OccurredAt)
				if w.parent == "" {
					require.Nil(t, ev.Parent)
				} else {
					require.Equal(t, &providers.Ref{Kind: sm.KindPayment, ID: w.parent}, ev.Parent)
				}
				require.Regexp(t, `^inyo:`+w.role+`:[0-9a-f]{64}$`, ev.DedupeKey)
			}
		})
	}
	// No two events of the fixtures share a dedupe key.
	for _, name := range names {
		evs, err := New(Config{}).Parse(readFixture(t, name))
		require.NoError(t, err)
		for _, ev := range evs {
			if other, dup := keys[ev.DedupeKey]; dup {
				t.Fatalf("%s and %s share a dedupe key", other, name)
			}
			keys[ev.DedupeKey] = name
		}
	}
}

// obj builds a payment object in the documented shape; fields overrides or
// (with a nil value) removes fields.
func obj(fields map[string]any) []byte {
	m := map[string]any{
		"paymentId":         "p1",
		"parentPaymentId":   "p1",
		"externalPaymentId": "ext-1",
		"redirectAcsUrl":    "",
		"amount":            json.Number("95"),
		"created":           "2025-01-21 16:31:02",
		"approved":          true,
		"message":           "Payment Approved",
		"status":            "AUTHORIZED",
		"captured":          false,
		"voided":            false,
	}
	for k, v := range fields {
		if v == nil {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

func TestParseVariants(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		cfg  Config
		body []byte
		want func(t *testing.T, evs []providers.Event)
	}{
		{"decimal amount", Config{}, obj(map[string]any{"amount": json.Number("100.10")}),
			func(t *testing.T, evs []providers.Event) { require.EqualValues(t, 10010, evs[0].Amount) }},
		{"trailing zeros beyond the exponent", Config{}, obj(map[string]any{"amount": json.Number("57.0000")}),
			func(t *testing.T, evs []providers.Event) { require.EqualValues(t, 5700, evs[0].Amount) }},
		{"zero amount is an amount", Config{}, obj(map[string]any{"amount": json.Number("0")}),
			func(t *testing.T, evs []providers.Event) {
				require.True(t, evs[0].HasAmount)
				require.Zero(t, evs[0].Amount)
			}},
		{"no amount", Config{}, obj(map[string]any{"amount": nil}),
			func(t *testing.T, evs []providers.Event) {
				require.False(t, evs[0].HasAmount)
				require.Equal(t, "USD", evs[0].Currency)
			}},
		{"null amount", Config{}, []byte(`{"paymentId":"p1","status":"AUTHORIZED","amount":null}`),
			func(t *testing.T, evs []providers.Event) { require.False(t, evs[0].HasAmount) }},
		{"configured currency JPY has no minor unit", Config{Currency: "JPY"}, obj(map[string]any{"amount": json.Number("950")}),
			func(t *testing.T, evs []providers.Event) {
				require.EqualValues(t, 950, evs[0].Amount)
				require.Equal(t, "JPY", evs[0].Currency)
			}},
		{"configured currency BHD has three", Config{Currency: " bhd "}, obj(map[string]any{"amount": json.Number("1.005")}),
			func(t *testing.T, evs []providers.Event) {
				require.EqualValues(t, 1005, evs[0].Amount)
				require.Equal(t, "BHD", evs[0].Currency)
			}},
		{"max int64 cents", Config{}, obj(map[string]any{"amount": json.Number("92233720368547758.07")}),
			func(t *testing.T, evs []providers.Event) {
				require.EqualValues(t, int64(9223372036854775807), evs[0].Amount)
			}},
		{"no parentPaymentId is the payment itself", Config{}, obj(map[string]any{"parentPaymentId": nil}),
			func(t *testing.T, evs []providers.Event) {
				require.Len(t, evs, 1)
				require.Equal(t, "p1", evs[0].AggregateID)
				require.Nil(t, evs[0].Parent)
			}},
		{"empty parentPaymentId is the payment itself", Config{}, obj(map[string]any{"parentPaymentId": ""}),
			func(t *testing.T, evs []providers.Event) { require.Equal(t, sm.KindPayment, evs[0].Kind) }},
		{"unknown status is returned, not an error", Config{}, obj(map[string]any{"status": "SETTLED"}),
			func(t *testing.T, evs []providers.Event) {
				require.Equal(t, "SETTLED", evs[0].Name)
				require.Equal(t, sm.KindPayment, evs[0].Kind)
				require.False(t, evs[0].RecordOnly)
			}},
		{"status trimmed, case kept", Config{}, obj(map[string]any{"status": " captured "}),
			func(t *testing.T, evs []providers.Event) { require.Equal(t, "captured", evs[0].Name) }},
		{"unknown status on a child is recorded on the child", Config{}, obj(map[string]any{"paymentId": "c1", "status": "PENDING"}),
			func(t *testing.T, evs []providers.Event) {
				require.Len(t, evs, 1)
				require.Equal(t, sm.Kind(""), evs[0].Kind)
				require.True(t, evs[0].RecordOnly)
				require.Equal(t, "c1", evs[0].AggregateID)
				require.Equal(t, &providers.Ref{Kind: sm.KindPayment, ID: "p1"}, evs[0].Parent)
			}},
		{"child AUTHORIZED is recorded on the child", Config{}, obj(map[string]any{"paymentId": "c1"}),
			func(t *testing.T, evs []providers.Event) { require.True(t, evs[0].RecordOnly) }},
		{"child VOIDED without an amount", Config{}, obj(map[string]any{"paymentId": "c1", "status": "VOIDED", "amount": nil}),
			func(t *testing.T, evs []providers.Event) {
				require.Len(t, evs, 1)
				require.Equal(t, "p1", evs[0].AggregateID)
				require.False(t, evs[0].HasAmount)
			}},
		{"created with fractional seconds", Config{}, obj(map[string]any{"created": "2025-01-21 16:31:02.250"}),
			func(t *testing.T, evs []providers.Event) {
				require.Equal(t, time.Date(2025, 1, 21, 16, 31, 2, 250e6, time.UTC), evs[0].OccurredAt)
			}},
		{"created in RFC 3339 with an offset", Config{}, obj(map[string]any{"created": "2025-01-21T16:31:02-05:00"}),
			func(t *testing.T, evs []providers.Event) {
				require.Equal(t, time.Date(2025, 1, 21, 21, 31, 2, 0, time.UTC), evs[0].OccurredAt)
			}},
		{"no created", Config{}, obj(map[string]any{"created": nil}),
			func(t *testing.T, evs []providers.Event) { require.True(t, evs[0].OccurredAt.IsZero()) }},
		{"surrounding whitespace", Config{}, append(append([]byte("\n\t "), obj(nil)...), " \r\n"...),
			func(t *testing.T, evs []providers.Event) { require.Equal(t, "AUTHORIZED", evs[0].Name) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			evs, err := New(tc.cfg).Parse(tc.body)
			require.NoError(t, err)
			require.NotEmpty(t, evs)
			for _, ev := range evs {
				require.Equal(t, Name, ev.Provider)
				require.NotEmpty(t, ev.DedupeKey)
			}
			tc.want(t, evs)
		})
	}
}

func TestDedupeKey(t *testing.T) {
	t.Parallel()
	base := obj(nil)
	key := func(t *testing.T, body []byte) string { return parseOne(t, body).DedupeKey }
	k0 := key(t, base)

	t.Run("stable", func(t *testing.T) {
		require.Equal(t, k0, key(t, base))
	})
	t.Run("fields outside the key do not matter", func(t *testing.T) {
		for _, b := range [][]byte{
			obj(map[string]any{"message": "Approved again"}),
			obj(map[string]any{"approved": false}),
			obj(map[string]any{"externalPaymentId": "other"}),
			obj(map[string]any{"amount": json.Number("95.00")}), // the same amount
			[]byte("  " + string(base) + "\n"),
		} {
			require.Equal(t, k0, key(t, b), string(b))
		}
	})
	t.Run("sensitive to every field of the key", func(t *testing.T) {
		different := map[string][]byte{
			"paymentId":     obj(map[string]any{"paymentId": "p2", "parentPaymentId": "p2"}),
			"status":        obj(map[string]any{"status": "CAPTURED"}),
			"captured":      obj(map[string]any{"captured": true}),
			"voided":        obj(map[string]any{"voided": true}),
			"captured gone": obj(map[string]any{"captured": nil}),
			"amount":        obj(map[string]any{"amount": json.Number("95.01")}),
			"amount gone":   obj(map[string]any{"amount": nil}),
			"created":       obj(map[string]any{"created": "2025-01-21 16:31:03"}),
		}
		seen := map[string]string{k0: "base"}
		for name, b := range different {
			k := key(t, b)
			if prev, ok := seen[k]; ok {
				t.Fatalf("%s and %s share a dedupe key", name, prev)
			}
			seen[k] = name
		}
	})
	t.Run("a child refund's two events have keys of their own", func(t *testing.T) {
		evs := parse(t, obj(map[string]any{"paymentId": "c1", "status": "REFUNDED"}))
		require.Len(t, evs, 2)
		require.NotEqual(t, evs[0].DedupeKey, evs[1].DedupeKey)
		require.True(t, strings.HasPrefix(evs[0].DedupeKey, "inyo:refund:"))
		require.True(t, strings.HasPrefix(evs[1].DedupeKey, "inyo:parent:"))
	})
	t.Run("length prefixed", func(t *testing.T) {
		require.NotEqual(t, providers.HashFields("ab", "c"), providers.HashFields("a", "bc"))
		require.NotEqual(t, providers.HashFields("x", ""), providers.HashFields("", "x"))
	})
}

func TestParseMalformed(t *testing.T) {
	t.Parallel()
	const pan = "4111111111111111"
	cases := []struct {
		name    string
		cfg     Config
		body    string
		mention string
	}{
		{"empty body", Config{}, "", "empty"},
		{"whitespace only", Config{}, " \n\t", "empty"},
		{"not JSON", Config{}, "paymentId=p1&status=AUTHORIZED", "not a JSON object"},
		{"array", Config{}, `[{"paymentId":"p1","status":"AUTHORIZED"}]`, "not a JSON object"},
		{"null", Config{}, `null`, "not a JSON object"},
		{"string", Config{}, `"AUTHORIZED"`, "not a JSON object"},
		{"truncated", Config{}, `{"paymentId":"p1","status":"AUTHORIZED"`, "invalid JSON"},
		{"trailing garbage", Config{}, `{"paymentId":"p1","status":"AUTHORIZED"}xyz`, "trailing"},
		{"status twice", Config{}, `{"paymentId":"p1","status":"AUTHORIZED","status":"CAPTURED","amount":1}`, "appears twice"},
		{"parent twice in another case", Config{}, `{"paymentId":"p1","parentPaymentId":"p1","ParentPaymentId":"p0","status":"REFUNDED","amount":1}`, "appears twice"},
		{"second object", Config{}, `{"paymentId":"p1","status":"AUTHORIZED"}{"paymentId":"p1","status":"CAPTURED"}`, "trailing"},
		{"trailing brace", Config{}, `{"paymentId":"p1","status":"AUTHORIZED"}}`, "trailing"},
		{"missing paymentId", Config{}, `{"status":"AUTHORIZED"}`, "paymentId"},
		{"blank paymentId", Config{}, `{"paymentId":"  ","status":"AUTHORIZED"}`, "paymentId"},
		{"null paymentId", Config{}, `{"paymentId":null,"status":"AUTHORIZED"}`, "paymentId"},
		{"paymentId a number", Config{}, `{"paymentId":` + pan + `,"status":"AUTHORIZED"}`, "paymentId: number"},
		{"missing status", Config{}, `{"paymentId":"p1"}`, "status"},
		{"blank status", Config{}, `{"paymentId":"p1","status":""}`, "status"},
		{"status a number", Config{}, `{"paymentId":"p1","status":3}`, "status"},
		{"parentPaymentId an object", Config{}, `{"paymentId":"p1","parentPaymentId":{},"status":"AUTHORIZED"}`, "parentPaymentId"},
		{"captured a string", Config{}, `{"paymentId":"p1","status":"CAPTURED","captured":"true"}`, "captured"},
		{"voided a number", Config{}, `{"paymentId":"p1","status":"VOIDED","voided":1}`, "voided"},
		{"amount a string", Config{}, `{"paymentId":"p1","status":"AUTHORIZED","amount":"95"}`, "amount"},
		{"amount a bool", Config{}, `{"paymentId":"p1","status":"AUTHORIZED","amount":true}`, "amount"},
		{"amount an object", Config{}, `{"paymentId":"p1","status":"AUTHORIZED","amount":{"total":95}}`, "amount"},
		{"negative amount", Config{}, `{"paymentId":"p1","status":"AUTHORIZED","amount":-95}`, "amount"},
		{"exponent amount", Config{}, `{"paymentId":"p1","status":"AUTHORIZED","amount":9.5e1}`, "amount"},
		{"too many decimals", Config{}, `{"paymentId":"p1","status":"AUTHORIZED","amount":95.001}`, "amount"},
		{"decimals where the currency has none", Config{Currency: "JPY"}, `{"paymentId":"p1","status":"AUTHORIZED","amount":95.5}`, "amount"},
		{"amount beyond int64", Config{}, `{"paymentId":"p1","status":"AUTHORIZED","amount":92233720368547758.08}`, "amount"},
		{"amount with card-like digits", Config{}, `{"paymentId":"p1","status":"AUTHORIZED","amount":` + pan + pan + `}`, "amount"},
		{"configured currency invalid", Config{Currency: "DOLLARS"}, `{"paymentId":"p1","status":"AUTHORIZED","amount":95}`, "currency"},
		{"created without a date", Config{}, `{"paymentId":"p1","status":"AUTHORIZED","created":"16:31:02"}`, "created"},
		{"created in another layout", Config{}, `{"paymentId":"p1","status":"AUTHORIZED","created":"21/01/2025 16:31"}`, "created"},
		{"created a number", Config{}, `{"paymentId":"p1","status":"AUTHORIZED","created":1737476662}`, "created"},
		{"child refund without amount", Config{}, `{"paymentId":"c1","parentPaymentId":"p1","status":"REFUNDED"}`, "amount is required"},
		{"child capture with null amount", Config{}, `{"paymentId":"c1","parentPaymentId":"p1","status":"CAPTURED","amount":null}`, "amount is required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			evs, err := New(tc.cfg).Parse([]byte(tc.body))
			require.Error(t, err)
			require.Nil(t, evs)
			require.ErrorIs(t, err, providers.ErrMalformed)
			require.NotErrorIs(t, err, providers.ErrUnauthenticated)
			require.Contains(t, err.Error(), tc.mention)
			require.NotContains(t, err.Error(), pan, "errors must not echo body content")
			require.NotContains(t, err.Error(), "1737476662")
		})
	}
}

func basicHeader(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	const (
		user     = "paystate-webhooks"
		password = "b4s1c-pa55word-2025"
		token    = "tok-2025-primary-9f3a7c"
		rotated  = "tok-2025-rotated-1e8b44"
	)
	body := readFixture(t, "sample_authorized.json")
	flipped := append([]byte(nil), body...)
	flipped[len(flipped)/2] ^= 0x01
	now := time.Date(2025, 1, 21, 16, 31, 5, 0, time.UTC)

	both := Config{Basic: []BasicCredential{{user, password}}, Bearer: []string{token, rotated}}
	bearerOnly := Config{Bearer: []string{token}}
	basicOnly := Config{Basic: []BasicCredential{{user, password}}}
	twoBasic := Config{Basic: []BasicCredential{{user, password}, {user + "-next", password + "-next"}}}
	oneByteOff := token[:len(token)-1] + "d"

	auth := func(v string) http.Header {
		h := http.Header{}
		if v != "" {
			h.Set("Authorization", v)
		}
		return h
	}
	cases := []struct {
		name   string
		cfg    Config
		header providers.Headers
		body   []byte
		ok     bool
	}{
		{"right basic", both, auth(basicHeader(user, password)), body, true},
		{"right bearer", both, auth("Bearer " + token), body, true},
		{"rotation: old bearer", both, auth("Bearer " + token), body, true},
		{"rotation: new bearer", both, auth("Bearer " + rotated), body, true},
		{"rotation: new basic", twoBasic, auth(basicHeader(user+"-next", password+"-next")), body, true},
		{"rotation: old basic", twoBasic, auth(basicHeader(user, password)), body, true},
		{"scheme case-insensitive", both, auth("bearer " + token), body, true},
		{"BASIC upper case", both, auth("BASIC " + strings.TrimPrefix(basicHeader(user, password), "Basic ")), body, true},
		{"several spaces after the scheme", both, auth("Bearer   " + token), body, true},
		{"password containing a colon", Config{Basic: []BasicCredential{{user, "a:b"}}}, auth(basicHeader(user, "a:b")), body, true},
		{"flipped body byte still authenticates: the credential does not bind the body", both, auth("Bearer " + token), flipped, true},

		{"wrong password", both, auth(basicHeader(user, password+"x")), body, false},
		{"wrong user", both, auth(basicHeader("someone-else", password)), body, false},
		{"user and password swapped", both, auth(basicHeader(password, user)), body, false},
		{"basic with the other credential's user", twoBasic, auth(basicHeader(user, password+"-next")), body, false},
		{"malformed base64", both, auth("Basic !!not-base64!!"), body, false},
		{"base64 without a colon", both, auth("Basic " + base64.StdEncoding.EncodeToString([]byte(user+password))), body, false},
		{"unpadded base64", both, auth("Basic " + base64.RawStdEncoding.EncodeToString([]byte(user+":"+password+"x"))), body, false},
		{"wrong scheme", both, auth("Digest " + token), body, false},
		{"token without a scheme", both, auth(token), body, false},
		{"scheme without a value", both, auth("Bearer "), body, false},
		{"missing header", both, auth(""), body, false},
		{"nil headers", both, nil, body, false},
		{"token in another header", both, http.Header{"X-Authorization": {"Bearer " + token}}, body, false},
		{"basic presented when only bearer configured", bearerOnly, auth(basicHeader(user, password)), body, false},
		{"bearer presented when only basic configured", basicOnly, auth("Bearer " + password), body, false},
		{"wrong bearer", both, auth("Bearer guess"), body, false},
		{"bearer one byte off", both, auth("Bearer " + oneByteOff), body, false},
		{"bearer prefix", both, auth("Bearer " + token[:10]), body, false},
		{"bearer with a suffix", both, auth("Bearer " + token + "x"), body, false},
		{"bearer with trailing blank", both, http.Header{"Authorization": {"Bearer " + token + " "}}, body, false},
		{"password as bearer", both, auth("Bearer " + password), body, false},
		{"nothing configured fails closed", Config{}, auth("Bearer " + token), body, false},
		{"only unusable credentials fails closed", Config{Basic: []BasicCredential{{"", ""}}, Bearer: []string{""}},
			auth(basicHeader("", "")), body, false},
		{"empty bearer never matches", Config{Bearer: []string{"", token}}, http.Header{"Authorization": {"Bearer "}}, body, false},
	}
	secrets := []string{user, password, token, rotated, oneByteOff, token[:10], "guess", "someone-else",
		base64.StdEncoding.EncodeToString([]byte(user + ":" + password))}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := New(tc.cfg).Authenticate(tc.header, tc.body, now)
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.ErrorIs(t, err, providers.ErrUnauthenticated)
			require.NotErrorIs(t, err, providers.ErrMalformed)
			for _, s := range secrets {
				require.NotContains(t, err.Error(), s)
			}
		})
	}
}

// Every mismatch answers with the same message, whatever the scheme or the
// configuration: it tells a prober nothing.
func TestAuthenticateMismatchesLookAlike(t *testing.T) {
	t.Parallel()
	p := New(Config{Bearer: []string{"tok"}})
	var msgs []string
	for _, v := range []string{"Bearer nope", basicHeader("u", "p"), "Bearer tok2"} {
		err := p.Authenticate(http.Header{"Authorization": {v}}, nil, time.Time{})
		require.Error(t, err)
		msgs = append(msgs, err.Error())
	}
	require.Equal(t, msgs[0], msgs[1])
	require.Equal(t, msgs[0], msgs[2])
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	require.NoError(t, Config{Bearer: []string{"t"}}.Validate())
	require.NoError(t, Config{Basic: []BasicCredential{{"u", "p"}}, Currency: "eur"}.Validate())

	cases := map[string]struct {
		cfg     Config
		mention string
	}{
		"nothing":            {Config{}, "no credentials"},
		"empty bearer":       {Config{Bearer: []string{""}}, "bearer token 1"},
		"blank-padded token": {Config{Bearer: []string{"ok", " secret-token "}}, "bearer token 2"},
		"basic no password":  {Config{Basic: []BasicCredential{{"u", ""}}}, "basic credential 1"},
		"user with a colon":  {Config{Basic: []BasicCredential{{"u:x", "pw-secret"}}}, "basic credential 1"},
		"bad currency":       {Config{Bearer: []string{"t"}, Currency: "EURO"}, "currency"},
	}
	for name, tc := range cases {
		err := tc.cfg.Validate()
		require.Error(t, err, name)
		require.Contains(t, err.Error(), tc.mention, name)
		require.NotContains(t, err.Error(), "secret", name)
	}
}

func TestErrorsAreDistinct(t *testing.T) {
	t.Parallel()
	require.False(t, errors.Is(providers.ErrMalformed, providers.ErrUnauthenticated))
}
