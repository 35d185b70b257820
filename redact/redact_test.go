package redact

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Test card numbers (all pass the Luhn check).
const (
	visa       = "4111111111111111"
	visa2      = "4242424242424242"
	mastercard = "5555555555554444"
	amex       = "378282246310005"
	discover   = "6011000000000004"
	visa13     = "4222222222222"
	pan19      = "6011000000000000001"
	unionPay19 = "6221260000000000001"
	notLuhn16  = "4111111111111112"
	luhn12     = "123456789015"
	luhn20     = "12345678901234567894"
)

func TestLuhnOfTestNumbers(t *testing.T) {
	digits := func(s string) []byte {
		b := []byte(s)
		for i := range b {
			b[i] -= '0'
		}
		return b
	}
	for _, s := range []string{visa, visa2, mastercard, amex, discover, visa13, pan19, unionPay19, luhn12, luhn20} {
		require.True(t, luhn(digits(s)), s)
	}
	require.False(t, luhn(digits(notLuhn16)))
}

func TestBodyJSON(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want string
	}{
		// Masking in strings.
		{"visa", `{"pan":"4111111111111111"}`, `{"pan":"411111******1111"}`},
		{"visa 4242", `{"pan":"4242424242424242"}`, `{"pan":"424242******4242"}`},
		{"mastercard", `{"pan":"5555555555554444"}`, `{"pan":"555555******4444"}`},
		{"amex 15 digits", `{"pan":"378282246310005"}`, `{"pan":"378282*****0005"}`},
		{"amex grouped", `{"pan":"3782 822463 10005"}`, `{"pan":"3782 82**** *0005"}`},
		{"discover", `{"pan":"6011000000000004"}`, `{"pan":"601100******0004"}`},
		{"13 digits", `{"pan":"4222222222222"}`, `{"pan":"422222***2222"}`},
		{"19 digits", `{"pan":"6011000000000000001"}`, `{"pan":"601100*********0001"}`},
		{"19 digits union pay", `{"pan":"6221260000000000001"}`, `{"pan":"622126*********0001"}`},
		{"spaces", `{"pan":"4111 1111 1111 1111"}`, `{"pan":"4111 11** **** 1111"}`},
		{"dashes", `{"pan":"4242-4242-4242-4242"}`, `{"pan":"4242-42**-****-4242"}`},
		{"mixed separators", `{"pan":"5555 5555-5555 4444"}`, `{"pan":"5555 55**-**** 4444"}`},
		{"in text", `{"note":"card 4111111111111111 exp 12/29"}`, `{"note":"card 411111******1111 exp 12/29"}`},
		{"glued to letters", `{"note":"x4111111111111111y"}`, `{"note":"x411111******1111y"}`},
		{"track-like string", `{"raw":"%B4111111111111111^DOE/JOHN^2512101?"}`, `{"raw":"%B411111******1111^DOE/JOHN^2512101?"}`},
		{"two PANs in a string", `{"s":"4111111111111111 5555555555554444"}`, `{"s":"411111******1111 555555******4444"}`},
		{"other digit groups beside a PAN", `{"s":"ref 12 4111 1111 1111 1111"}`, `{"s":"ref 12 4111 11** **** 1111"}`},
		{"double space is not a separator", `{"s":"4111  1111  1111  1111"}`, `{"s":"4111  1111  1111  1111"}`},

		// Left alone.
		{"non-Luhn 16 digits", `{"pan":"4111111111111112"}`, `{"pan":"4111111111111112"}`},
		{"non-Luhn grouped", `{"pan":"4111 1111 1111 1112"}`, `{"pan":"4111 1111 1111 1112"}`},
		{"Luhn-valid 12 digits", `{"n":"123456789015"}`, `{"n":"123456789015"}`},
		{"Luhn-valid 20 digits", `{"n":"12345678901234567894"}`, `{"n":"12345678901234567894"}`},
		{"PAN inside a longer run", `{"n":"94111111111111111"}`, `{"n":"94111111111111111"}`},
		{"Luhn-valid 20-digit number", `{"n":12345678901234567894}`, `{"n":12345678901234567894}`},
		{"amount", `{"amount":10000,"f":1.5,"e":1e10,"neg":-3}`, `{"amount":10000,"f":1.5,"e":1e10,"neg":-3}`},
		{"phone", `{"phone":"+971 50 123 4567"}`, `{"phone":"+971 50 123 4567"}`},
		{"masked already", `{"pan":"411111******1111"}`, `{"pan":"411111******1111"}`},

		// Numbers.
		{"PAN as a number", `{"pan":4111111111111111}`, `{"pan":"411111******1111"}`},
		{"negative PAN number", `{"n":-5555555555554444}`, `{"n":"-555555******4444"}`},
		{"PAN in a fraction", `{"n":0.4111111111111111}`, `{"n":"0.411111******1111"}`},
		{"PAN number in an array", `[1,4242424242424242,3]`, `[1,"424242******4242",3]`},

		// Structure.
		{"nested", `{"a":[{"b":{"c":["x 5555 5555 5555 4444",{"d":378282246310005}]}}]}`,
			`{"a":[{"b":{"c":["x 5555 55** **** 4444",{"d":"378282*****0005"}]}}]}`},
		{"top-level string", `"4111111111111111"`, `"411111******1111"`},
		{"top-level number", `4111111111111111`, `"411111******1111"`},
		{"top-level scalars", ` null `, `null`},
		{"empty containers", `{"a":{},"b":[],"c":[{}]}`, `{"a":{},"b":[],"c":[{}]}`},
		{"key order kept, whitespace removed", "{ \"z\" : 1 ,\n \"a\" : [ true , false , null ] , \"m\" : \"x\" }", `{"z":1,"a":[true,false,null],"m":"x"}`},
		{"duplicate keys kept", `{"a":1,"a":2}`, `{"a":1,"a":2}`},
		{"PAN as a key", `{"4111111111111111":"x"}`, `{"411111******1111":"x"}`},
		{"no HTML escaping", `{"u":"<a href=\"x\">&amp;</a>"}`, `{"u":"<a href=\"x\">&amp;</a>"}`},
		{"unicode and escapes", `{"u":"caf\u00e9 é \t \u0001 \u2028 \\ \/"}`, "{\"u\":\"café é \\t \\u0001 \\u2028 \\\\ /\"}"},
		{"escaped digits are decoded", `{"pan":"\u0034111111111111111"}`, `{"pan":"411111******1111"}`},

		// Allow-list.
		{"allow-listed fields untouched",
			`{"cardTransactionIdentifier":"4111111111111111","host_reference_number":4242424242424242,"ExternalPaymentId":"5555555555554444","other":"4111111111111111"}`,
			`{"cardTransactionIdentifier":"4111111111111111","host_reference_number":4242424242424242,"ExternalPaymentId":"5555555555554444","other":"411111******1111"}`},
		{"allow-list covers only the direct value",
			`{"hostReferenceNumber":{"pan":"4111111111111111"},"x":"4111111111111111"}`,
			`{"hostReferenceNumber":{"pan":"411111******1111"},"x":"411111******1111"}`},

		// Sensitive authentication data.
		{"every sensitive key dropped",
			`{"cvv":"123","CVV2":123,"cvc":"1","Cvc2":"1","cid":"1234","CSC":1,"securityCode":"1","card_security_code":"1234","CardVerificationValue":"1","track":[1,2],"Track-1":"%B4111111111111111^X^25","track_2":";4111111111111111=2512?","TRACK_DATA":"x","pin":"1234","PIN_BLOCK":"0412AC","mag-stripe":{"raw":"x"}}`,
			`{}`},
		{"dropped at depth", `{"payment":{"card":{"number":"4111111111111111","cvv":"123","expiry":"12/29"}},"list":[{"Cvc":"999","a":1},[{"pin":1}]]}`,
			`{"payment":{"card":{"number":"411111******1111","expiry":"12/29"}},"list":[{"a":1},[{}]]}`},
		{"first member dropped", `{"cvv":1,"a":2}`, `{"a":2}`},
		{"middle member dropped", `{"a":1,"cvv":2,"b":3}`, `{"a":1,"b":3}`},
		{"last member dropped with nested value", `{"a":1,"cvv":{"x":[1,{"y":2}],"z":{}}}`, `{"a":1}`},
		{"consecutive members dropped", `{"cvv":1,"pin":[2],"cid":{"3":3},"a":4,"track1":"x"}`, `{"a":4}`},
		{"look-alike keys kept", `{"cvvResult":"M","trackingNumber":"1Z999","pinCode":"x","spin":1,"cardholderName":"J DOE"}`,
			`{"cvvResult":"M","trackingNumber":"1Z999","pinCode":"x","spin":1,"cardholderName":"J DOE"}`},
		{"sensitive word as a value kept", `{"field":"cvv"}`, `{"field":"cvv"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.True(t, json.Valid([]byte(tc.in)), "input must be JSON")
			got := Body([]byte(tc.in))
			require.Equal(t, tc.want, string(got))
			require.True(t, json.Valid(got), "output must be JSON")
		})
	}
}

func TestBodyNotJSON(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want string
	}{
		{"empty", "", ""},
		{"truncated JSON", `{"cvv":"123","pan":"4111111111111111","amount":10`, `{"cvv":"","pan":"411111******1111","amount":10`},
		{"truncated inside a sensitive value", `{"pan":"4111 1111 1111 1111","pinBlock":"0412AC89`, `{"pan":"4111 11** **** 1111","pinBlock":"`},
		{"escaped quote in a value", `{"cvv":"1\"2","x":1,}`, `{"cvv":"","x":1,}`},
		{"spaces around the colon", `{"CVV2" : 987, "a":1`, `{"CVV2" : , "a":1`},
		{"value on the next line", "{\"cvv\":\n  \"987\",\n\"a\":1", "{\"cvv\":\n  \"\",\n\"a\":1"},
		{"nested sensitive value", `{"track":{"data":"%B5555555555554444^X","n":[1,"]"]},"y":1`, `{"track":{},"y":1`},
		{"form encoded", `cvv=123&card=4111111111111111&x=1`, `cvv=&card=411111******1111&x=1`},
		{"bracketed form keys", `card[cvv]=123&card[number]=4111 1111 1111 1111`, `card[cvv]=&card[number]=4111 11** **** 1111`},
		{"key after a value", `note=cvv=123`, `note=cvv=`},
		{"single quotes", `{'pin': '1234', 'cvc': 99}`, `{'pin': '', 'cvc': }`},
		{"xml", `<card><number>5555555555554444</number><cvv>123</cvv><ns:Security_Code>999</ns:Security_Code></card>`,
			`<card><number>555555******4444</number><cvv></cvv><ns:Security_Code></ns:Security_Code></card>`},
		{"text", "card 4242 4242 4242 4242 declined, ref 4111111111111112", "card 4242 42** **** 4242 declined, ref 4111111111111112"},
		{"look-alike keys kept", `spin=5&xcvv=7&cvvResult=M`, `spin=5&xcvv=7&cvvResult=M`},
		{"allow-list does not apply", `hostReferenceNumber=4111111111111111`, `hostReferenceNumber=411111******1111`},
		{"12 and 20 digits left alone", `a=123456789015 b=12345678901234567894`, `a=123456789015 b=12345678901234567894`},
		{"invalid UTF-8 kept", "\xff cvv=1 \xfe", "\xff cvv= \xfe"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.False(t, json.Valid([]byte(tc.in)), "input must not be JSON")
			got := Body([]byte(tc.in))
			require.Equal(t, tc.want, string(got))
		})
	}
}

// Kept digits of a masked candidate can form a new candidate with the next
// group; it is masked as well, and a long cascade ends in whole masking.
func TestBodyMaskCascade(t *testing.T) {
	got := Body([]byte("00000000000000 0000000000"))
	require.Equal(t, "000000****0000 00****0000", string(got))

	in := "00000000000000" + strings.Repeat(" 0000000000", 8)
	got = Body([]byte(in))
	require.Len(t, got, len(in))
	require.Empty(t, findCandidates(string(got)), "%s", got)
	// Four partial passes, then the fifth candidate is masked whole, which
	// breaks the chain.
	require.Equal(t, "000000****0000 00****0000 00****0000 00******** ********** 0000000000 0000000000 0000000000 0000000000", string(got))

	// The same in JSON.
	got = Body([]byte(`"` + in + `"`))
	require.Empty(t, findCandidates(string(got)), "%s", got)
}

func TestBodyIdempotentOnJSON(t *testing.T) {
	for _, in := range []string{
		`{"a":[{"b":{"c":["x 5555 5555 5555 4444",{"d":378282246310005}]}}],"cvv":1}`,
		`{"hostReferenceNumber":"4111111111111111","u":"\u00e9\u2028<>&","n":4242424242424242}`,
		`"00000000000000 0000000000"`,
	} {
		once := Body([]byte(in))
		require.Equal(t, string(once), string(Body(once)))
	}
}

func TestBodyDoesNotModifyInput(t *testing.T) {
	for _, in := range []string{`{"pan":"4111111111111111"}`, `pan=4111111111111111`, `{"cvv":1}`} {
		raw := []byte(in)
		out := Body(raw)
		require.Equal(t, in, string(raw))
		if len(out) > 0 && len(raw) > 0 {
			out[0] = '#'
			require.Equal(t, in, string(raw), "output must not alias the input")
		}
	}
	require.NotNil(t, Body(nil))
	require.Empty(t, Body(nil))
}

// ---- an independent candidate finder for the property and fuzz tests ----

var (
	chainRE = regexp.MustCompile(`[0-9]+(?:[ -][0-9]+)*`)
	groupRE = regexp.MustCompile(`[0-9]+`)
)

func luhnString(s string) bool {
	sum := 0
	for i := 0; i < len(s); i++ {
		d := int(s[len(s)-1-i] - '0')
		if i%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

// findCandidates returns the digits of every PAN candidate in s: spans of
// whole digit groups joined by single separators that hold 13 to 19 digits
// and pass the Luhn check.
func findCandidates(s string) []string {
	var out []string
	for _, chain := range chainRE.FindAllString(s, -1) {
		groups := groupRE.FindAllString(chain, -1)
		for a := range groups {
			digits := ""
			for c := a; c < len(groups); c++ {
				digits += groups[c]
				if len(digits) > 19 {
					break
				}
				if len(digits) >= 13 && luhnString(digits) {
					out = append(out, digits)
				}
			}
		}
	}
	return out
}

// jsonTexts returns every key, string and number text of a valid JSON
// document.
func jsonTexts(t testing.TB, doc []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var out []string
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("not JSON: %v", err)
		}
		switch v := tok.(type) {
		case string:
			out = append(out, v)
		case json.Number:
			out = append(out, string(v))
		}
	}
}

// sensitiveKeysIn returns the keys of doc, at any depth, that normalize to
// a sensitive key.
func sensitiveKeysIn(t testing.TB, doc []byte) []string {
	t.Helper()
	var v any
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	require.NoError(t, dec.Decode(&v))
	var found []string
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if sensitiveKeys[strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(k))] {
					found = append(found, k)
				}
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(v)
	return found
}
