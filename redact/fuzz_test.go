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
		`"6011000000000000001"`,
		`[1,4242424242424242,3,"4222222222222","123456789015"]`,
		`{"u":"caf\u00e9 \u2028 <&>","k":"\u0034111111111111111"}`,
		`{"cvv":"123","pan":"4111111111111111","amount":10`,
		`cvv=123&card=4111 1111 1111 1111&x=1`,
		`<card><number>5555555555554444</number><cvv>123</cvv></card>`,
		`{"track":{"data":"%B5555555555554444^X","n":[1,"]"]},"y":1`,
		`{"pinBlock":"0412AC89`,
		"ref 12 4111 1111 1111 1111 4242-4242-4242-4242",
		"",
	} {
		f.Add([]byte(s))
	}
	noAllow := redactor{sensitive: sensitiveKeys}
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

		// Without the allow-list, no candidate survives: in particular no
		// candidate of the input appears in the output.
		out = noAllow.body(in)
		texts := func(doc []byte) []string {
			if isJSON {
				return jsonTexts(t, doc)
			}
			return []string{string(doc)}
		}
		for _, s := range texts(out) {
			if c := findCandidates(s); len(c) > 0 {
				t.Fatalf("candidate %s in the output\ninput:  %q\noutput: %q", c[0], in, out)
			}
		}
	})
}
