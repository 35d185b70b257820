package redact

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"unicode/utf8"

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
		{"track 1 in text", `{"raw":"%B4111111111111111^DOE/JOHN^2512101?"}`, `{"raw":"%B411111******1111^DOE/JOHN^*******?"}`},
		{"track 2 in text", `{"raw":"x ;4111111111111111=29121010000012300000? y"}`, `{"raw":"x ;411111******1111=********************? y"}`},
		{"track 2 chip form", `{"t57":"4111111111111111D29121010000012300000F"}`, `{"t57":"411111******1111D********************F"}`},
		{"an equals sign after a PAN is not track data without digits", `{"s":"4111111111111111=ok 4111111111111111=12"}`, `{"s":"411111******1111=ok 411111******1111=12"}`},
		{"two PANs in a string", `{"s":"4111111111111111 5555555555554444"}`, `{"s":"411111******1111 555555******4444"}`},
		{"other digit groups beside a PAN", `{"s":"ref 12 4111 1111 1111 1111"}`, `{"s":"ref 12 4111 11** **** 1111"}`},
		{"two spaces", `{"s":"4111  1111  1111  1111"}`, `{"s":"4111  11**  ****  1111"}`},
		{"dots", `{"s":"4111.1111.1111.1111"}`, `{"s":"4111.11**.****.1111"}`},
		{"slashes and underscores", `{"s":"4111/1111_1111/1111"}`, `{"s":"4111/11**_****/1111"}`},
		{"tab, newline, spaced dash", "{\"s\":\"4111\\t1111\\n1111 - 1111\"}", "{\"s\":\"4111\\t11**\\n**** - 1111\"}"},
		{"runs of mixed separators", `{"s":"4111 ._/ 1111--1111  1111"}`, `{"s":"4111 ._/ 11**--****  1111"}`},
		{"no-break space", "{\"s\":\"4111\u00a01111\u00a01111\u00a01111\"}", "{\"s\":\"4111\u00a011**\u00a0****\u00a01111\"}"},
		{"figure and narrow no-break spaces", "{\"s\":\"4111\u20071111\u202f1111\u20071111\"}", "{\"s\":\"4111\u200711**\u202f****\u20071111\"}"},
		{"ideographic space", "{\"s\":\"4111\u30001111\u30001111\u30001111\"}", "{\"s\":\"4111\u300011**\u3000****\u30001111\"}"},
		{"zero-width characters", "{\"s\":\"4111\u200b1111\u200d\u20601111\ufeff1111\"}", "{\"s\":\"4111\u200b11**\u200d\u2060****\ufeff1111\"}"},
		{"en and em dash, minus sign", `{"s":"4111–1111—1111−1111"}`, `{"s":"4111–11**—****−1111"}`},
		{"escaped no-break space and en dash are decoded", `{"s":"4111\u00a01111\u20131111 1111"}`, "{\"s\":\"4111\u00a011**\u2013**** 1111\"}"},
		{"fullwidth digits", `{"s":"４１１１　１１１１　１１１１　１１１１"}`, `{"s":"４１１１　１１＊＊　＊＊＊＊　１１１１"}`},
		{"fullwidth and ASCII digits mixed", `{"s":"４１１１ 1111-１１１１ 1111"}`, `{"s":"４１１１ 11**-＊＊＊＊ 1111"}`},

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
		{"masked already, fullwidth", `{"pan":"４１１１１１＊＊＊＊＊＊１１１１"}`, `{"pan":"４１１１１１＊＊＊＊＊＊１１１１"}`},
		// Commas, colons and other punctuation delimit values: lists, CSV,
		// times ("2025-01-21 16:31:02", Inyo's created, would be one
		// 14-digit run with ':'), so they do not join groups.
		{"comma", `{"s":"4111,1111,1111,1111"}`, `{"s":"4111,1111,1111,1111"}`},
		{"other ASCII punctuation", `{"s":"4111:1111;1111|1111 4111+1111~1111#1111 (4111)(1111)(1111)(1111)"}`,
			`{"s":"4111:1111;1111|1111 4111+1111~1111#1111 (4111)(1111)(1111)(1111)"}`},
		{"times", `{"created":"2025-01-21 16:31:02","t":"2025-01-21 16:31:04.123"}`, `{"created":"2025-01-21 16:31:02","t":"2025-01-21 16:31:04.123"}`},
		{"digits of other scripts", `{"s":"٤١١١١١١١١١١١١١١١"}`, `{"s":"٤١١١١١١١١١١١١١١١"}`},
		{"non-Luhn with Unicode separators", "{\"s\":\"4111\u00a01111\u20131111\u30001112\"}", "{\"s\":\"4111\u00a01111\u20131111\u30001112\"}"},

		// Numbers.
		{"PAN as a number", `{"pan":4111111111111111}`, `{"pan":"411111******1111"}`},
		{"negative PAN number", `{"n":-5555555555554444}`, `{"n":"-555555******4444"}`},
		{"PAN in a fraction", `{"n":0.4111111111111111}`, `{"n":"0.41111*******1111"}`},
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

		// No key is exempt.
		{"reference keys are masked like any other",
			`{"cardTransactionIdentifier":"4111111111111111","host_reference_number":4242424242424242,"ExternalPaymentId":"5555555555554444","note":"4111.1111.1111.1111"}`,
			`{"cardTransactionIdentifier":"411111******1111","host_reference_number":"424242******4242","ExternalPaymentId":"555555******4444","note":"4111.11**.****.1111"}`},

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
		{"compound and spelled-out keys dropped",
			`{"card_cvv":"1","cvv_number":"1","cvvCode":"1","Cvc_Code":"1","cvn":"1","cvd":"1","card_code":"1","cvc2":"1","csc":"1","card verification value":"1","CARD.SECURITY.CODE":"1","card_pin":"1","cardPIN":"1","encrypted-pin-block":"1","track_2_data":"1","TRACK2":"1","magnetic_stripe":"1","cid":"1","a":2}`,
			`{"a":2}`},
		{"look-alike keys kept", `{"cvvResult":"M","trackingNumber":"1Z999","pinCode":"x","spin":1,"cardholderName":"J DOE","cvc_check":"pass","cvvResponse":"M","cardHolderVerificationCode":"N","addressVerificationCode":"Z","shipping":"x","trackId":"t","pinVerified":true,"customer_id":"c","cider":1}`,
			`{"cvvResult":"M","trackingNumber":"1Z999","pinCode":"x","spin":1,"cardholderName":"J DOE","cvc_check":"pass","cvvResponse":"M","cardHolderVerificationCode":"N","addressVerificationCode":"Z","shipping":"x","trackId":"t","pinVerified":true,"customer_id":"c","cider":1}`},
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
		{"look-alike keys kept", `spin=5&xcvv=7&cvvResult=M`, `spin=5&xcvv=&cvvResult=M`},
		{"quoted keys with spaces", `{"card code": "123", "note":"4111.1111.1111.1111`, `{"card code": "", "note":"4111.11**.****.1111`},
		{"escaped separators", `{"n":"4111\t1111\n1111\/1111","x":`, `{"n":"4111\t11**\n****\/1111","x":`},
		{"escaped Unicode separators", `{"n":"4111\u00a01111\u20131111\u200B1111","x":`, `{"n":"4111\u00a011**\u2013****\u200B1111","x":`},
		{"escaped backslash before u", `{"n":"4111\\u2013 1111 1111 1111","x":`, `{"n":"4111\\u2013 1111 1111 1111","x":`},
		{"Unicode separators", "n=4111\u00a01111\u20141111\u30001111&", "n=4111\u00a011**\u2014****\u30001111&"},
		{"fullwidth digits", "n=４１１１１１１１１１１１１１１１&", "n=４１１１１１＊＊＊＊＊＊１１１１&"},
		{"reference keys are masked", `hostReferenceNumber=4111111111111111`, `hostReferenceNumber=411111******1111`},
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

// Track 1 data is masked up to a length limit; a character the limit
// falls inside is masked whole, never cut into invalid UTF-8.
func TestTrackLimitInsideACharacter(t *testing.T) {
	in := "%B4111111111111111^DOE/J^" + strings.Repeat("1", maxTrack-1) + "é?"
	got := Text(in)
	require.True(t, utf8.ValidString(got), "%q", got)
	require.Equal(t, "%B411111******1111^DOE/J^"+strings.Repeat("*", maxTrack+1)+"?", got)
}

func TestBodyIdempotentOnJSON(t *testing.T) {
	for _, in := range []string{
		`{"a":[{"b":{"c":["x 5555 5555 5555 4444",{"d":378282246310005}]}}],"cvv":1}`,
		`{"hostReferenceNumber":"4111111111111111","u":"\u00e9\u2028<>&","n":4242424242424242}`,
		`"00000000000000 0000000000"`,
		`{"s":"４１１１　１１１１　１１１１　１１１１","t":"4111\u00a01111\u20131111\u200b1111"}`,
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

func TestIDKey(t *testing.T) {
	a, b := NewIDKey([]byte("key a")), NewIDKey([]byte("key b"))
	id := a.ID(visa)
	require.Regexp(t, `^411111\*{6}1111~[a-p]{16}$`, id)
	require.Equal(t, id, a.ID(visa), "stable")
	require.Equal(t, id, a.ID(id), "idempotent")
	require.NotEqual(t, id, b.ID(visa), "another key, another tag")
	// Two numbers that mask alike stay two identifiers.
	other := "4111110000091111"
	require.True(t, luhnString(other))
	require.Equal(t, Text(visa), Text(other))
	require.NotEqual(t, a.ID(visa), a.ID(other))
	// Identifiers without a candidate are kept.
	for _, s := range []string{"pay_123", "ORD-2024-000123", "4111111111111112", "d9a8f1b2-7c7e-4d4e-8f6e-1b2c3d4e5f60", ""} {
		require.Equal(t, s, a.ID(s))
	}
	require.Equal(t, "order-4111.11**.****.1111", Text("order-4111.1111.1111.1111"))
	require.True(t, strings.HasPrefix(a.ID("order-4111.1111.1111.1111"), "order-4111.11**.****.1111~"))
}

type panError struct{}

func (panError) Error() string { return "declined card 4111 1111 1111 1111" }

type panStringer struct{}

func (panStringer) String() string { return "4111111111111111" }

func TestLogHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(LogHandler(slog.NewJSONHandler(&buf, nil))).With("request_id", "4111-1111-1111-1111")
	log.Info("event payment.x4111111111111111", "event", "4111.1111.1111.1111", "err", panError{}, "n", int64(4111111111111111),
		"s", panStringer{}, "list", []string{"a", "4111_1111_1111_1111"}, "card_cvv", "123",
		slog.Group("g", "note", "%B4111111111111111^DOE/J^29121010000?", "CVV2", 456), "amount", 1250,
		"m", map[string]int64{"k": 4111111111111111}, "ok", []int{1, 2})
	out := buf.String()
	require.NotContains(t, out, "123")
	require.NotContains(t, out, "456")
	require.NotContains(t, out, "29121010000")
	require.Empty(t, findCandidates(out), out)
	for _, want := range []string{`"msg":"event payment.x411111******1111"`, `"request_id":"4111-11**-****-1111"`, `"event":"4111.11**.****.1111"`,
		`"err":"declined card 4111 11** **** 1111"`, `"n":"411111******1111"`, `"s":"411111******1111"`, `"amount":1250`,
		`"m":"map[k:411111******1111]"`, `"ok":[1,2]`} {
		require.Contains(t, out, want)
	}
}

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"eleven char", 10, "eleven …"},
		{"ééééé", 8, "éé…"}, // 10 bytes: a cut at 5 falls inside the third é
		{"abc", 2, ""},
	} {
		got := Truncate(tc.in, tc.n)
		require.Equal(t, tc.want, got, "%q to %d", tc.in, tc.n)
		require.LessOrEqual(t, len(got), tc.n)
		require.True(t, utf8.ValidString(got))
	}
}
