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
