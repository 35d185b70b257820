package payengine

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// sameAsOld fails t when Parse and the map-based parser it replaced
// (oldparse_test.go) disagree on body: the same events, field for field,
// or the same error, word for word.
func sameAsOld(t testing.TB, p *Provider, body []byte) {
	t.Helper()
	got, gotErr := p.Parse(body)
	want, wantErr := p.oldParse(body)
	if (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
		t.Fatalf("body %q:\nerror %v\nold   %v", body, gotErr, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("body %q:\nevents %+v\nold    %+v", body, got, want)
	}
}

// differentialProviders parse with the default currency, another one, and
// one that is not ISO 4217 (amounts without a stated currency refused).
var differentialProviders = []*Provider{New(Config{}), New(Config{DefaultCurrency: "JPY"}), New(Config{DefaultCurrency: "XXXX"})}

// differentialEvents are the event names a data object is tried under:
// every one Parse knows, the failure titles, and some it does not.
func differentialEvents() []string {
	var out []string
	for name, spec := range txnEvents {
		out = append(out, name)
		if spec.outcome {
			out = append(out, name+"_FAILED")
		}
	}
	for name := range groups {
		out = append(out, name)
	}
	slices.Sort(out)
	// Names it does not know: of no family, and of each family.
	return append(out, "SOMETHING_NEW", "PAYMENT_CHARGEBACK_REVERSED", "PAYMENTLINK_PAID", "SUBSCRIPTION_RENEWED",
		"DISPUTE_CLOSED", "MERCHANT_DELETED", "MICRO_DEPOSIT_RETURNED", "BATCH_SETTLED")
}

func wrap(event string, data string) []byte {
	return fmt.Appendf(nil, `{"event_uid":"u1","event":%q,"data":%s}`, event, data)
}

// decodingCorners are data objects at the corners of decoding one that
// the samples do not reach.
var decodingCorners = []string{
	`{}`, `[]`, `null`, `"data"`, `7`, ` { } `,
	`{"transaction_id":"t1","auth_response":{"status":"PASS","totalAmount":"1.00"}}`,
	// A repeated member: the last one counts, objects included.
	`{"transaction_id":"t1","transaction_id":"t2","sale_response":{"status":"PASS","totalAmount":"1"},"sale_response":{"status":"FAIL"}}`,
	`{"transaction_id":"t1","sale_response":{"status":"PASS","totalAmount":"1","totalAmount":null,"transactionAmount":"2"}}`,
	// Names are exact: another case is another member; escapes are
	// read as the name they spell.
	`{"Transaction_ID":"t1","transaction_id":"t2","SALE_RESPONSE":{"status":"FAIL"}}`,
	`{"transaction\u005fid":"t1","sale_response":{"st\u0061tus":"PASS","totalAmount":"3"}}`,
	`{"transaction_id":"t\u00e9\"1\\","sale_response":{"status":" pass ","totalAmount":" 4.5 "}}`,
	// Types: wrong where read, refused; wrong where unread, ignored.
	`{"transaction_id":7}`, `{"transaction_id":{"a":1}}`, `{"transaction_id":["t"]}`, `{"transaction_id":true}`,
	`{"transaction_id":"t1","sale_response":"PASS"}`, `{"transaction_id":"t1","sale_response":[1]}`,
	`{"transaction_id":"t1","sale_response":null,"auth_response":{"status":"PASS","totalAmount":75.48}}`,
	`{"transaction_id":"t1","sale_response":{"status":7}}`, `{"transaction_id":"t1","sale_response":{"status":"PASS","totalAmount":{}}}`,
	`{"transaction_id":"t1","sale_response":{"status":"PASS","totalAmount":"-1"}}`, `{"transaction_id":"t1","sale_response":{"status":"PASS","totalAmount":1e3}}`,
	`{"transaction_id":"t1","sale_response":{"status":"PASS","responseCode":9,"responseMessage":"4111 1111 1111 1111 declined"}}`,
	`{"transaction_id":"t1","currencyCode":"eur","currency_code":"EUR","sale_response":{"status":"PASS","totalAmount":"1.005"}}`,
	`{"transaction_id":"t1","currencyCode":"EUR","currency_code":"GBP"}`, `{"transaction_id":"t1","currencyCode":5}`,
	`{"transaction_id":"t1","original_transaction_id":"p1","return_response":{"status":"PASS","returnedAmount":"2.00"}}`,
	`{"transaction_id":"t1","original_transaction_id":7}`, `{"transaction_id":"t1","original_transaction_id":"p1","return_response":{"status":"FAIL"}}`,
	`{"paymentLinkId":"l1","paymentLinkStatus":"PAID","amount":"10","currencyCode":"USD","updatedAt":"2024-08-21T10:00:00Z","createdAt":"2024-08-20T10:00:00.5+02:00"}`,
	`{"paymentLinkId":"l1","paymentLinkStatus":["PAID"]}`, `{"paymentLinkId":"l1","amount":true}`,
	`{"subscriptionId":"s1","subscriptionStatus":"Past Due","amount":10.5,"updatedDate":"x","success":false}`,
	`{"subscriptionId":"s1","success":"false"}`, `{"subscriptionId":"s1","success":true,"subscriptionStatus":"active"}`,
	`{"transaction_id":"t1","dispute_id":"d1","disputeId":"d2","id":"d3","status":"Not Won"}`, `{"transaction_id":"t1","disputeId":5}`,
	`{"merchant_id":"","id":"m1","status":"In Review"}`, `{"merchant_id":null}`, `{"id":{"x":1}}`, `{"merchant_id":" m1 ","status":""}`,
	`{"bank_account_id":"b1"}`, `{"bank_account_id":3}`,
	`{"order_number":"","orderNumber":"o2","transaction_id":"t1"}`, `{"order_number":5,"transaction_id":"t1"}`,
	"{\n\t\"transaction_id\" :\r\n \"t1\" , \"x\" : [ {\"y\" : \"}]\\\"\"} , 1e-2, true, null ] }",
}

// Every sample, strict JSON and JavaScript-style alike, and the corners of
// decoding a data object that the samples do not reach, each under every
// event name: Parse gives what the old parser gave.
func TestParseMatchesOldParser(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	var bodies [][]byte
	for _, f := range files {
		if !strings.HasSuffix(f, ".json") && !strings.HasSuffix(f, ".txt") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, b)
	}
	for _, p := range differentialProviders {
		for _, b := range bodies {
			sameAsOld(t, p, b)
		}
		for _, event := range differentialEvents() {
			for _, data := range decodingCorners {
				sameAsOld(t, p, wrap(event, data))
			}
		}
	}
}

// FuzzParseMatchesOldParser gives Parse and the old parser the same body:
// the fuzzer's bytes as a whole body, and as the data object of the event
// it picks (most mutations of a whole body stop at the envelope; these
// reach the data's decoding).
func FuzzParseMatchesOldParser(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no samples: %v", err)
	}
	events := differentialEvents()
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		var env struct {
			Event string
			Data  json.RawMessage
		}
		if err := json.Unmarshal(b, &env); err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(0))
		f.Add([]byte(env.Data), uint8(slices.Index(events, env.Event)))
	}
	for i, data := range decodingCorners {
		f.Add([]byte(data), uint8(i))
	}
	f.Fuzz(func(t *testing.T, b []byte, event uint8) {
		p := differentialProviders[int(event)%len(differentialProviders)]
		sameAsOld(t, p, b)
		sameAsOld(t, p, wrap(events[int(event)%len(events)], string(b)))
	})
}
