package generic

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzObjectMemberMatchesMap: objectMember finds data.object, and tells
// an object from anything else, as decoding data into a map of its
// members did.
func FuzzObjectMemberMatchesMap(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"object":"payment","id":"pay_1"}`, `{"object":{"id":"pay_1","amount":10}}`, ` { "object" : { } } `,
		`{"object":{"a":[1,{"b":"}"}]},"object":"x"}`, `{"object":"x","object":{"id":"2"}}`, `{"obj\u0065ct":{"id":"3"}}`,
		`{"Object":{"id":"4"}}`, `{"a":1,"object":2}`, `{"a":true,"b":null,"object":[{"c":"\"}"}]}`, `{"a":-1.5e3}`,
		`[]`, `[{"object":{}}]`, `"object"`, `12`, `true`, `{"object":{"x":"\\"},"y":1}`, "{\"\xff\":1,\"object\":{}}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) || isNull(data) {
			return
		}
		var fields map[string]json.RawMessage
		wantOK := json.Unmarshal(data, &fields) == nil
		want := bytes.TrimSpace(fields["object"])
		got, ok := objectMember(data)
		if ok != wantOK || ok && !bytes.Equal(got, want) {
			t.Fatalf("objectMember(%q) = %q, %v; the map says %q, %v", data, got, ok, want, wantOK)
		}
	})
}

// FuzzUnquoteMatchesUnmarshal: unquote decodes a string, and refuses
// anything else, as json.Unmarshal into a string does.
func FuzzUnquoteMatchesUnmarshal(f *testing.F) {
	for _, s := range []string{`"pay_1"`, `""`, `" EUR "`, `"a\"b"`, `"caf\u00e9"`, "\"caf\xc3\xa9\"", "\"\xff\"", "\"a\tb\"",
		`"a"b"`, `"`, `12`, `null`, `"2025-03-14T09:26:53Z"`, `"\ud800"`, `x"a"`, `"a"x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var want string
		wantErr := json.Unmarshal(raw, &want)
		got, err := unquote(raw)
		if (err == nil) != (wantErr == nil) || err == nil && got != want {
			t.Fatalf("unquote(%q) = %q, %v; json.Unmarshal says %q, %v", raw, got, err, want, wantErr)
		}
	})
}
