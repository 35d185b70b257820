package redact

import (
	"encoding/json"
	"testing"
)

// FuzzBody checks that Body never panics, keeps valid JSON valid (and is
// idempotent on it), leaves no PAN candidate in its output (so none of the
// input's), and only ever shortens a body that is not JSON.
func FuzzBody(f *testing.F) {
	for _, s := range []string{
		`{"pan":"4111111111111111","cvv":"123"}`,
		`{"a":[{"b":{"c":["x 5555 5555 5555 4444",{"d":378282246310005}]}}],"Track_2":";4111111111111111=25?"}`,
		`{"pan":4242424242424242,"hostReferenceNumber":"6011000000000004","n":12345678901234567894}`,
		`{"card_cvv":"1","Cvc_Code":"2","cvvResult":"M","note":"4111.1111.1111.1111 \/ 4111\t1111\n1111 1111"}`,
		`{"card code":"123","x":"4111__1111  1111--1111","t":"%B4111111111111111^DOE/J^29121010000?"`,
		`"6011000000000000001"`,
		`[1,4242424242424242,3,"4222222222222","123456789015"]`,
		`{"u":"caf\u00e9 \u2028 <&>","k":"\u0034111111111111111"}`,
		`{"cvv":"123","pan":"4111111111111111","amount":10`,
		`cvv=123&card=4111 1111 1111 1111&x=1`,
		`<card><number>5555555555554444</number><cvv>123</cvv></card>`,
		`{"track":{"data":"%B5555555555554444^X","n":[1,"]"]},"y":1`,
		`{"pinBlock":"0412AC89`,
		"ref 12 4111 1111 1111 1111 4242-4242-4242-4242",
		"{\"s\":\"4111\u00a01111\u20131111\u200b1111 ４１１１　１１１１　１１１１　１１１１\"}",
		`{"s":"4111\u00a01111\u20131111\u2028\u00ad1111","x":`,
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		orig := string(in)
		out := Body(in)
		if string(in) != orig {
			t.Fatalf("input modified")
		}
		isJSON := json.Valid(in)
		if isJSON && !json.Valid(out) {
			t.Fatalf("valid JSON in, invalid JSON out: %q", out)
		}
		if !isJSON && len(out) > len(in) {
			t.Fatalf("raw path grew the body: %q -> %q", in, out)
		}
		if isJSON {
			if again := Body(out); string(again) != string(out) {
				t.Fatalf("not idempotent: %q -> %q", out, again)
			}
		}
		// No candidate survives (by the tests' own finder): in particular
		// no candidate of the input appears in the output.
		texts, find := []string{string(out)}, findRawCandidates
		if isJSON {
			texts, find = jsonTexts(t, out), findCandidates
		}
		for _, s := range texts {
			if c := find(s); len(c) > 0 {
				t.Fatalf("candidate %s in the output\ninput:  %q\noutput: %q", c[0], in, out)
			}
		}
	})
}

// FuzzText: Text keeps the length, leaves no candidate, and is
// idempotent; IDKey.ID leaves no candidate and is idempotent.
func FuzzText(f *testing.F) {
	for _, s := range []string{"4111111111111111", "4111.1111.1111.1111", "a 4111\t1111 _ 1111//1111 b",
		";4111111111111111=29121010000012300000?", "%B4111111111111111^DOE/JANE^2912101000000000000000123000000?",
		"00000000000000 0000000000", "12 34 56 78 90 12 34 56 78", "4111\u00a01111\u202f1111\u30001111",
		"4111\u20131111\u20141111\u22121111", "4111\u200b1111\ufeff1111\u20601111", "４１１１　１１１１　１１１１　１１１１",
		"%B４１１１１１１１１１１１１１１１^DOE/J^2912é101?", ""} {
		f.Add(s)
	}
	ids := NewIDKey([]byte("fuzz"))
	f.Fuzz(func(t *testing.T, in string) {
		out := Text(in)
		if len(out) != len(in) || Text(out) != out {
			t.Fatalf("%q -> %q: length changed or not idempotent", in, out)
		}
		if c := findCandidates(out); len(c) > 0 {
			t.Fatalf("candidate %s in %q (from %q)", c[0], out, in)
		}
		id := ids.ID(in)
		if c := findCandidates(id); len(c) > 0 || ids.ID(id) != id {
			t.Fatalf("identifier %q (from %q) holds a candidate or is not idempotent", id, in)
		}
	})
}
