package magnius

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/providers"
	sm "github.com/paystate/paystate/statemachine"
)

// documentedStatuses is the status list of the Magnius webhook document,
// per type, in its order.
var documentedStatuses = map[string][]string{
	"transaction": {"INITIATED", "IN_PROGRESS", "PENDING", "AUTHORIZED", "SETTLEMENT_REQUESTED",
		"SETTLEMENT_COMPLETED", "DECLINED", "FAILED", "UNKNOWN", "ABANDONED", "CANCELLED", "AUTHORIZATION_VOIDED"},
	"refund":       {"PENDING", "PROCESSED", "CANCELLED", "FAILED", "HOLD", "UNKNOWN"},
	"chargeback":   {"OPEN", "IN_DISPUTE", "WON", "LOST", "CANCELLED"},
	"cardlink":     {"CREATED", "INITIATED", "DONE", "CANCELLED", "EXPIRED"},
	"subscription": {"CREATED", "ACTIVE", "PAST_DUE", "EXPIRED", "CANCELLED", "COMPLETED"},
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

func newProvider(t testing.TB) *Provider {
	t.Helper()
	p, err := New(Config{})
	require.NoError(t, err)
	return p
}

func parseOne(t *testing.T, body []byte) providers.Event {
	t.Helper()
	evs, err := newProvider(t).Parse(body)
	require.NoError(t, err)
	require.Len(t, evs, 1)
	return evs[0]
}

func TestProviderBasics(t *testing.T) {
	t.Parallel()
	p := newProvider(t)
	require.Equal(t, "magnius", p.Name())
	require.Equal(t, Name, p.Name())

	tables := p.Tables()
	kinds := map[sm.Kind]bool{}
	for _, tb := range tables {
		require.Equal(t, Name, tb.Provider)
		require.Equal(t, sm.ModeStatus, tb.Mode, "every Magnius machine takes status snapshots")
		kinds[tb.Kind] = true
	}
	require.Equal(t, map[sm.Kind]bool{sm.KindPayment: true, sm.KindRefund: true, sm.KindChargeback: true,
		sm.KindLink: true, sm.KindSubscription: true}, kinds)
	_, err := sm.NewRegistry(tables...)
	require.NoError(t, err, "the tables validate")

	// The returned tables are copies.
	tables[0].Transitions[0].Event = "MUTATED"
	tables[0].Transitions[0].From[0] = sm.Captured
	again := p.Tables()
	require.Equal(t, paymentTable.Transitions[0].Event, again[0].Transitions[0].Event)
	require.Equal(t, sm.StateNew, again[0].Transitions[0].From[0])
}

// TestTablesCoverDocumentedStatuses: every documented status of every
// lifecycle type has a row, and no table has a word the document lacks.
func TestTablesCoverDocumentedStatuses(t *testing.T) {
	t.Parallel()
	byKind := map[sm.Kind]sm.Table{}
	for _, tb := range tables {
		byKind[tb.Kind] = tb
	}
	for typ, statuses := range documentedStatuses {
		tb, ok := byKind[lifecycle[typ]]
		require.True(t, ok, typ)
		var words []string
		for _, tr := range tb.Transitions {
			if !slices.Contains(words, tr.Event) {
				words = append(words, tr.Event)
			}
		}
		require.ElementsMatch(t, statuses, words, typ)
	}
}

// TestCanonicalMapping pins the canonical state each status leads to when
// it is the first snapshot of a fresh aggregate.
func TestCanonicalMapping(t *testing.T) {
	t.Parallel()
	reg, err := sm.NewRegistry(newProvider(t).Tables()...)
	require.NoError(t, err)
	want := map[string]map[string]sm.State{
		"transaction": {
			"INITIATED": sm.Pending, "IN_PROGRESS": sm.Pending, "PENDING": sm.Pending,
			"AUTHORIZED": sm.Authorized, "SETTLEMENT_REQUESTED": sm.CaptureRequested,
			"SETTLEMENT_COMPLETED": sm.Captured, "DECLINED": sm.Declined, "FAILED": sm.Failed,
			"UNKNOWN": sm.Unknown, "ABANDONED": sm.Cancelled, "CANCELLED": sm.Cancelled,
			"AUTHORIZATION_VOIDED": sm.Voided,
		},
		"refund": {
			"PENDING": sm.Pending, "PROCESSED": sm.Succeeded, "CANCELLED": sm.Cancelled,
			"FAILED": sm.Failed, "HOLD": sm.OnHold, "UNKNOWN": sm.Unknown,
		},
		"chargeback": {
			"OPEN": sm.Open, "IN_DISPUTE": sm.InDispute, "WON": sm.Won, "LOST": sm.Lost, "CANCELLED": sm.Cancelled,
		},
		"cardlink": {
			"CREATED": sm.Created, "INITIATED": sm.Initiated, "DONE": sm.Done, "CANCELLED": sm.Cancelled, "EXPIRED": sm.Expired,
		},
		"subscription": {
			"CREATED": sm.Created, "ACTIVE": sm.Active, "PAST_DUE": sm.PastDue, "EXPIRED": sm.Expired,
			"CANCELLED": sm.Cancelled, "COMPLETED": sm.Completed,
		},
	}
	for typ, statuses := range want {
		m := reg.Machine(Name, lifecycle[typ])
		require.NotNil(t, m, typ)
		require.Len(t, statuses, len(documentedStatuses[typ]), typ)
		for status, state := range statuses {
			d := sm.Decide(m, sm.Snapshot{State: sm.StateNew}, sm.Input{Event: status, Amount: 100, HasAmount: true, BodySHA256: "x"})
			require.Equal(t, sm.VerdictApplied, d.Verdict, "%s %s: %s", typ, status, d.Reason())
			require.Equal(t, state, d.To, "%s %s", typ, status)
		}
	}
}

func TestEveryDocumentedStatusHasFixture(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	require.NoError(t, err)
	var got []string
	for _, f := range files {
		got = append(got, strings.TrimSuffix(filepath.Base(f), ".json"))
	}
	want := []string{"sample_transaction", "validationruleset", "report_generated"}
	for typ, statuses := range documentedStatuses {
		for _, s := range statuses {
			want = append(want, typ+"_"+s)
		}
	}
	require.ElementsMatch(t, want, got)
}

func TestParseSample(t *testing.T) {
	t.Parallel()
	body := readFixture(t, "sample_transaction.json")
	require.Equal(t, `{
    "type": "transaction",
    "id": "c3c5ee57-25bd-4e98-b328-809417924f1d",
    "status": "SETTLEMENT_REQUESTED"
}
`, string(body), "the document's sample, verbatim")
	ev := parseOne(t, body)
	require.Equal(t, providers.Event{
		Provider:       "magnius",
		Kind:           sm.KindPayment,
		AggregateID:    "c3c5ee57-25bd-4e98-b328-809417924f1d",
		Name:           "SETTLEMENT_REQUESTED",
		ProviderStatus: "SETTLEMENT_REQUESTED",
		DedupeKey:      dedupeKey("transaction", "c3c5ee57-25bd-4e98-b328-809417924f1d", "SETTLEMENT_REQUESTED"),
		Snapshot:       true,
	}, ev)
	require.Regexp(t, `^magnius:[0-9a-f]{64}$`, ev.DedupeKey)
	require.False(t, ev.HasAmount)
	require.Empty(t, ev.Currency, "Magnius sends no currency")
}

// TestParseFixtures asserts every .json fixture parses to the expected
// event.
func TestParseFixtures(t *testing.T) {
	t.Parallel()
	type want struct {
		kind      sm.Kind
		id        string
		name      string
		status    string
		amount    int64
		hasAmount bool
		reference string
		parent    *providers.Ref
		record    bool
	}
	link := func(id string) *providers.Ref { return &providers.Ref{Kind: sm.KindLink, ID: id} }
	sub := func(id string) *providers.Ref { return &providers.Ref{Kind: sm.KindSubscription, ID: id} }
	txn := func(id, status, ref string, parent *providers.Ref) want {
		return want{sm.KindPayment, id, status, status, 2500, true, ref, parent, false}
	}
	withAmount := func(k sm.Kind, id, status string, amount int64) want {
		return want{k, id, status, status, amount, true, "", nil, false}
	}
	plain := func(k sm.Kind, id, status string) want { return want{kind: k, id: id, name: status, status: status} }
	cases := map[string]want{
		"sample_transaction": {kind: sm.KindPayment, id: "c3c5ee57-25bd-4e98-b328-809417924f1d", name: "SETTLEMENT_REQUESTED", status: "SETTLEMENT_REQUESTED"},

		"transaction_INITIATED":            txn("d04c20e0-5c0b-59b7-b1f3-4057a7decd30", "INITIATED", "ORDER-2025-0001", nil),
		"transaction_IN_PROGRESS":          txn("f1e811ac-a748-5c48-8582-de4d5c65c48f", "IN_PROGRESS", "ORDER-2025-0002", nil),
		"transaction_PENDING":              txn("3a304180-6bb0-58a4-a5a0-34252e38f458", "PENDING", "ORDER-2025-0003", nil),
		"transaction_AUTHORIZED":           txn("1afa10cd-a8e7-50d2-9de2-1c069019fbc6", "AUTHORIZED", "ORDER-2025-0004", link("6a01f50d-8b94-56f6-8b37-458908bdb2d9")),
		"transaction_SETTLEMENT_REQUESTED": txn("8656d18a-54dd-55fa-9d0b-29114e63f02f", "SETTLEMENT_REQUESTED", "ORDER-2025-0005", sub("117037e8-b0ae-576d-8483-c0a805e1e96d")),
		"transaction_SETTLEMENT_COMPLETED": txn("73fec8f6-d5d6-5ec0-98f3-32240e89ac78", "SETTLEMENT_COMPLETED", "ORDER-2025-0006", sub("edf3d74a-b10d-5b8f-89f7-3ae3dd89278e")),
		"transaction_DECLINED":             txn("0ba58c58-8f9c-5ecd-bfd2-9766eac7ed17", "DECLINED", "ORDER-2025-0007", nil),
		"transaction_FAILED":               txn("5e1accae-755d-58fa-a8e3-7d080fb2f998", "FAILED", "ORDER-2025-0008", nil),
		"transaction_UNKNOWN":              txn("d1b07ac5-1bfc-538b-8881-72857d3765e4", "UNKNOWN", "ORDER-2025-0009", nil),
		"transaction_ABANDONED":            txn("d22d832b-3203-59ce-a025-aae5493d4bdc", "ABANDONED", "ORDER-2025-0010", nil),
		"transaction_CANCELLED":            txn("47c25bbd-42f3-5a03-8e08-74f87dbebca6", "CANCELLED", "ORDER-2025-0011", nil),
		"transaction_AUTHORIZATION_VOIDED": txn("78737560-3dce-5d8b-8c79-c30ac20c3071", "AUTHORIZATION_VOIDED", "ORDER-2025-0012", nil),

		"refund_PENDING":   withAmount(sm.KindRefund, "d057dac6-b584-56a1-93d5-8f4cfd265851", "PENDING", 1000),
		"refund_PROCESSED": withAmount(sm.KindRefund, "b34758f3-9e56-5480-abfc-c2824d0c1faa", "PROCESSED", 1000),
		"refund_CANCELLED": withAmount(sm.KindRefund, "2f29052e-ad4f-5861-b657-15524197683f", "CANCELLED", 1000),
		"refund_FAILED":    withAmount(sm.KindRefund, "165645ab-1fa2-58e2-b9f8-4d41232236a7", "FAILED", 1000),
		"refund_HOLD":      withAmount(sm.KindRefund, "9f0db4fb-0b92-5a01-8872-b86170d16018", "HOLD", 1000),
		"refund_UNKNOWN":   withAmount(sm.KindRefund, "a29e3aa2-cb51-5e45-9031-3bf758b6e732", "UNKNOWN", 1000),

		"chargeback_OPEN":       withAmount(sm.KindChargeback, "71a7d4de-93c5-533c-83f5-2ed68672b07a", "OPEN", 2500),
		"chargeback_IN_DISPUTE": withAmount(sm.KindChargeback, "1a64fe77-90da-5c28-a114-917faab364e5", "IN_DISPUTE", 2500),
		"chargeback_WON":        withAmount(sm.KindChargeback, "a211b3eb-c969-5956-ad07-be7becbdef8a", "WON", 2500),
		"chargeback_LOST":       withAmount(sm.KindChargeback, "f55c5da2-a68e-5a72-9f42-09103cc0b0c1", "LOST", 2500),
		"chargeback_CANCELLED":  withAmount(sm.KindChargeback, "80feddba-ca0c-5910-aea3-30e726993896", "CANCELLED", 2500),

		"cardlink_CREATED":   plain(sm.KindLink, "e66dd182-ca66-577d-b934-70cc26a24632", "CREATED"),
		"cardlink_INITIATED": plain(sm.KindLink, "824c9175-54f3-5199-a6ae-7306afd8abcb", "INITIATED"),
		"cardlink_DONE":      plain(sm.KindLink, "263041e1-05b4-5fd0-9726-68f630d42a2c", "DONE"),
		"cardlink_CANCELLED": plain(sm.KindLink, "3f2902a8-cc53-5263-9e8c-d3722eb77313", "CANCELLED"),
		"cardlink_EXPIRED":   plain(sm.KindLink, "3312e61a-d6e4-57bd-b451-425b7edaa675", "EXPIRED"),

		"subscription_CREATED":   plain(sm.KindSubscription, "f613de77-2d92-55da-b260-8e0c8c948936", "CREATED"),
		"subscription_ACTIVE":    plain(sm.KindSubscription, "960f9667-bd35-5ca2-9342-dffeda8ba56b", "ACTIVE"),
		"subscription_PAST_DUE":  plain(sm.KindSubscription, "20de5de7-6541-52b5-8759-e88670011428", "PAST_DUE"),
		"subscription_EXPIRED":   plain(sm.KindSubscription, "32cc843b-a461-58c2-b9e8-1861406c2efb", "EXPIRED"),
		"subscription_CANCELLED": plain(sm.KindSubscription, "94a9d11e-53b0-5506-9616-d12709056153", "CANCELLED"),
		"subscription_COMPLETED": plain(sm.KindSubscription, "45405769-c54e-5675-a9bb-ca0fd7895790", "COMPLETED"),

		"validationruleset": {id: "3cda5790-60cb-5bbe-a485-309f9c62d2ef", name: "validationruleset", record: true},
		"report_generated":  {id: "0b846cb4-825a-5e61-b8c1-a6a870b1ce1e", name: "report_generated", record: true},
	}
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	require.NoError(t, err)
	require.Len(t, files, len(cases), "one expectation per fixture")
	keys := map[string]string{}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		w, ok := cases[name]
		require.True(t, ok, "no expectation for fixture %s", name)
		t.Run(name, func(t *testing.T) {
			body := readFixture(t, name+".json")
			require.True(t, json.Valid(body), "fixtures are strict JSON")
			ev := parseOne(t, body)
			var raw map[string]any
			require.NoError(t, json.Unmarshal(body, &raw))
			status, _ := raw["status"].(string)
			require.Equal(t, providers.Event{
				Provider:          Name,
				Kind:              w.kind,
				AggregateID:       w.id,
				Parent:            w.parent,
				MerchantReference: w.reference,
				Name:              w.name,
				ProviderStatus:    w.status,
				Amount:            w.amount,
				HasAmount:         w.hasAmount,
				DedupeKey:         dedupeKey(raw["type"].(string), w.id, status),
				RecordOnly:        w.record,
				Snapshot:          w.kind != "" && !w.record,
			}, ev)
			require.Regexp(t, `^magnius:[0-9a-f]{64}$`, ev.DedupeKey)
			if other, dup := keys[ev.DedupeKey]; dup {
				t.Fatalf("fixtures %s and %s share a dedupe key", other, name)
			}
			keys[ev.DedupeKey] = name
		})
	}
}

func TestParseVariants(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		body string
		want providers.Event // Provider, AggregateID and DedupeKey are filled in
	}{
		{"minimal transaction", `{"type":"transaction","id":"t1","status":"AUTHORIZED"}`,
			providers.Event{Kind: sm.KindPayment, Name: "AUTHORIZED", ProviderStatus: "AUTHORIZED"}},
		{"subscription preferred over payment link",
			`{"type":"transaction","id":"t1","status":"AUTHORIZED","paymentlink_id":"pl1","subscription_id":"s1"}`,
			providers.Event{Kind: sm.KindPayment, Name: "AUTHORIZED", ProviderStatus: "AUTHORIZED",
				Parent: &providers.Ref{Kind: sm.KindSubscription, ID: "s1"}}},
		{"payment link when no subscription",
			`{"type":"transaction","id":"t1","status":"AUTHORIZED","paymentlink_id":"pl1","subscription_id":"  "}`,
			providers.Event{Kind: sm.KindPayment, Name: "AUTHORIZED", ProviderStatus: "AUTHORIZED",
				Parent: &providers.Ref{Kind: sm.KindLink, ID: "pl1"}}},
		{"null parent ids", `{"type":"transaction","id":"t1","status":"AUTHORIZED","paymentlink_id":null,"subscription_id":null}`,
			providers.Event{Kind: sm.KindPayment, Name: "AUTHORIZED", ProviderStatus: "AUTHORIZED"}},
		{"refund naming its transaction", `{"type":"refund","id":"t1","status":"PROCESSED","amount":500,"transaction_id":"tx9"}`,
			providers.Event{Kind: sm.KindRefund, Name: "PROCESSED", ProviderStatus: "PROCESSED", Amount: 500, HasAmount: true,
				Parent: &providers.Ref{Kind: sm.KindPayment, ID: "tx9"}}},
		{"chargeback naming its transaction", `{"type":"chargeback","id":"t1","status":"OPEN","transaction_id":"tx9"}`,
			providers.Event{Kind: sm.KindChargeback, Name: "OPEN", ProviderStatus: "OPEN",
				Parent: &providers.Ref{Kind: sm.KindPayment, ID: "tx9"}}},
		{"parent fields of another type are ignored",
			`{"type":"cardlink","id":"t1","status":"DONE","transaction_id":"tx9","subscription_id":"s1"}`,
			providers.Event{Kind: sm.KindLink, Name: "DONE", ProviderStatus: "DONE"}},
		{"transaction id on a transaction is not a parent", `{"type":"transaction","id":"t1","status":"PENDING","transaction_id":"tx9"}`,
			providers.Event{Kind: sm.KindPayment, Name: "PENDING", ProviderStatus: "PENDING"}},
		{"zero amount is an amount", `{"type":"transaction","id":"t1","status":"AUTHORIZED","amount":0}`,
			providers.Event{Kind: sm.KindPayment, Name: "AUTHORIZED", ProviderStatus: "AUTHORIZED", HasAmount: true}},
		{"null amount is none", `{"type":"transaction","id":"t1","status":"AUTHORIZED","amount":null}`,
			providers.Event{Kind: sm.KindPayment, Name: "AUTHORIZED", ProviderStatus: "AUTHORIZED"}},
		{"max int64 amount", `{"type":"chargeback","id":"t1","status":"LOST","amount":9223372036854775807}`,
			providers.Event{Kind: sm.KindChargeback, Name: "LOST", ProviderStatus: "LOST", Amount: 9223372036854775807, HasAmount: true}},
		{"amount of a type without amounts is ignored", `{"type":"subscription","id":"t1","status":"ACTIVE","amount":999}`,
			providers.Event{Kind: sm.KindSubscription, Name: "ACTIVE", ProviderStatus: "ACTIVE"}},
		{"merchant reference", `{"type":"transaction","id":"t1","status":"PENDING","merchant_reference":" ORD-7 "}`,
			providers.Event{Kind: sm.KindPayment, Name: "PENDING", ProviderStatus: "PENDING", MerchantReference: "ORD-7"}},
		{"status trimmed", `{"type":"transaction","id":"t1","status":" DECLINED\n","status_reason":"Do not honor"}`,
			providers.Event{Kind: sm.KindPayment, Name: "DECLINED", ProviderStatus: "DECLINED"}},
		{"type upper case", `{"type":"Transaction","id":"t1","status":"PENDING"}`,
			providers.Event{Kind: sm.KindPayment, Name: "PENDING", ProviderStatus: "PENDING"}},
		{"unknown status of a known type is an event of that kind",
			`{"type":"transaction","id":"t1","status":"REFUNDED","amount":100}`,
			providers.Event{Kind: sm.KindPayment, Name: "REFUNDED", ProviderStatus: "REFUNDED", Amount: 100, HasAmount: true}},
		{"lower-case status kept as sent", `{"type":"refund","id":"t1","status":"processed"}`,
			providers.Event{Kind: sm.KindRefund, Name: "processed", ProviderStatus: "processed"}},
		{"lifecycle type without status is recorded on its aggregate", `{"type":"subscription","id":"t1"}`,
			providers.Event{Kind: sm.KindSubscription, Name: "subscription", RecordOnly: true}},
		{"empty status is no status", `{"type":"transaction","id":"t1","status":"","amount":100}`,
			providers.Event{Kind: sm.KindPayment, Name: "transaction", RecordOnly: true, Amount: 100, HasAmount: true}},
		{"validation rule set with a status", `{"type":"validationruleset","id":"t1","status":"TRIGGERED"}`,
			providers.Event{Name: "validationruleset", ProviderStatus: "TRIGGERED", RecordOnly: true}},
		{"report", `{"type":"report_generated","id":"t1","amount":12}`,
			providers.Event{Name: "report_generated", RecordOnly: true}},
		{"tag rule trigger", `{"type":"tagrule","id":"t1","status":"TRIGGERED"}`,
			providers.Event{Name: "tagrule", ProviderStatus: "TRIGGERED", RecordOnly: true}},
		{"anti-fraud rule trigger", `{"type":"anti_fraud_rule","id":"t1"}`,
			providers.Event{Name: "anti_fraud_rule", RecordOnly: true}},
		{"unknown type", `{"type":"payout","id":"t1","status":"PAID","amount":100,"merchant_reference":"R"}`,
			providers.Event{Name: "payout", ProviderStatus: "PAID", MerchantReference: "R"}},
		{"unknown fields ignored", `{"type":"refund","id":"t1","status":"PENDING","currency":"EUR","extra":{"a":[1,2]}}`,
			providers.Event{Kind: sm.KindRefund, Name: "PENDING", ProviderStatus: "PENDING"}},
		{"surrounding whitespace", "\n\t {\"type\":\"chargeback\",\"id\":\"t1\",\"status\":\"WON\"} \r\n",
			providers.Event{Kind: sm.KindChargeback, Name: "WON", ProviderStatus: "WON"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.True(t, json.Valid([]byte(tc.body)), "test body must be JSON")
			ev := parseOne(t, []byte(tc.body))
			want := tc.want
			want.Provider, want.AggregateID, want.DedupeKey = Name, "t1", ev.DedupeKey
			// Every status of a lifecycle type is a snapshot of its object.
			want.Snapshot = want.Kind != "" && !want.RecordOnly
			require.Equal(t, want, ev)
			require.Empty(t, ev.Currency)
			require.True(t, ev.OccurredAt.IsZero(), "Magnius sends no time")
		})
	}
}

func TestDedupeKey(t *testing.T) {
	t.Parallel()
	const base = `{"type":"transaction","id":"t1","status":"AUTHORIZED","amount":1000,"merchant_reference":"R","status_reason":"ok"}`
	key := func(t *testing.T, body string) string { return parseOne(t, []byte(body)).DedupeKey }
	k0 := key(t, base)
	require.Equal(t, dedupeKey("transaction", "t1", "AUTHORIZED"), k0)

	t.Run("fields outside type, id and status do not matter", func(t *testing.T) {
		for _, b := range []string{
			"  " + base + "\n",
			`{"type":"transaction","id":"t1","status":"AUTHORIZED"}`,
			strings.Replace(base, `"amount":1000`, `"amount":999`, 1),
			strings.Replace(base, `"status_reason":"ok"`, `"status_reason":"other"`, 1),
			strings.Replace(base, `"type":"transaction"`, `"type":"TRANSACTION"`, 1),
		} {
			require.Equal(t, k0, key(t, b), b)
		}
	})
	t.Run("type, id and status do", func(t *testing.T) {
		seen := map[string]string{k0: "base"}
		for name, b := range map[string]string{
			"status": strings.Replace(base, `"AUTHORIZED"`, `"DECLINED"`, 1),
			"id":     strings.Replace(base, `"t1"`, `"t2"`, 1),
			"type":   strings.Replace(base, `"transaction"`, `"refund"`, 1),
			"none":   `{"type":"transaction","id":"t1"}`,
		} {
			k := key(t, b)
			if prev, ok := seen[k]; ok {
				t.Fatalf("%s and %s share a dedupe key", name, prev)
			}
			seen[k] = name
		}
	})
	t.Run("length prefixed", func(t *testing.T) {
		require.NotEqual(t, dedupeKey("ab", "c", ""), dedupeKey("a", "bc", ""))
		require.NotEqual(t, dedupeKey("t", "", "x"), dedupeKey("t", "x", ""))
	})
}

func TestParseMalformed(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		body    string
		mention string
	}{
		{"empty body", "", "empty"},
		{"whitespace only", " \n\t", "empty"},
		{"not JSON", "type=transaction&id=t1", "not a JSON object"},
		{"truncated", `{"type":"transaction","id":"t1"`, "invalid JSON"},
		{"array", `[{"type":"transaction","id":"t1"}]`, "not a JSON object"},
		{"null", `null`, "not a JSON object"},
		{"string", `"transaction"`, "not a JSON object"},
		{"trailing garbage", `{"type":"transaction","id":"t1","status":"PENDING"}xyz`, "trailing"},
		{"second object", `{"type":"transaction","id":"t1"}{"type":"refund","id":"r1"}`, "trailing"},
		{"trailing brace", `{"type":"transaction","id":"t1"}}`, "trailing"},
		{"missing type", `{"id":"t1","status":"PENDING"}`, "type"},
		{"blank type", `{"type":"  ","id":"t1"}`, "type"},
		{"null type", `{"type":null,"id":"t1"}`, "type"},
		{"type a number", `{"type":4111111111111111,"id":"t1"}`, "type: number"},
		{"missing id", `{"type":"transaction","status":"PENDING"}`, "id"},
		{"blank id", `{"type":"transaction","id":" "}`, "missing id"},
		{"id a number", `{"type":"transaction","id":42}`, "id: number"},
		{"id an object", `{"type":"transaction","id":{"v":"t1"}}`, "id: object"},
		{"status a number", `{"type":"transaction","id":"t1","status":1}`, "status: number"},
		{"status_reason an array", `{"type":"transaction","id":"t1","status_reason":[]}`, "status_reason: array"},
		{"parent id a number", `{"type":"transaction","id":"t1","subscription_id":7}`, "subscription_id: number"},
		{"fractional amount", `{"type":"transaction","id":"t1","amount":10.5}`, "amount"},
		{"fraction zero", `{"type":"transaction","id":"t1","amount":10.0}`, "amount"},
		{"exponent amount", `{"type":"transaction","id":"t1","amount":1e3}`, "amount"},
		{"negative amount", `{"type":"transaction","id":"t1","amount":-100}`, "amount"},
		{"quoted amount", `{"type":"transaction","id":"t1","amount":"100"}`, "amount"},
		{"bool amount", `{"type":"transaction","id":"t1","amount":true}`, "amount"},
		{"huge amount", `{"type":"transaction","id":"t1","amount":9223372036854775808}`, "amount is out of range"},
		{"very huge amount", `{"type":"refund","id":"t1","amount":123456789012345678901234567890}`, "amount is out of range"},
		{"bad amount on a type without amounts", `{"type":"cardlink","id":"t1","status":"DONE","amount":-1}`, "amount"},
		{"status twice", `{"type":"transaction","id":"t1","status":"AUTHORIZED","status":"DECLINED"}`, "appears twice"},
		{"status twice in another case", `{"type":"transaction","id":"t1","status":"AUTHORIZED","Status":"DECLINED"}`, "appears twice"},
		{"amount twice", `{"type":"transaction","id":"t1","status":"AUTHORIZED","amount":100,"amount":100000}`, "appears twice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := newProvider(t).Parse([]byte(tc.body))
			require.Error(t, err)
			require.Nil(t, evs)
			require.ErrorIs(t, err, providers.ErrMalformed)
			require.NotErrorIs(t, err, providers.ErrUnauthenticated)
			require.Contains(t, err.Error(), tc.mention)
			require.NotContains(t, err.Error(), "4111111111111111", "errors must not echo body content")
		})
	}
}
