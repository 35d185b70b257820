package redact

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzValidJSONMatchesEncodingJSON: validJSON accepts exactly what
// json.Valid accepts.
func FuzzValidJSONMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{
		``, ` `, `{}`, `[]`, ` { } `, `{"a":1}`, `{"a":1,}`, `{,}`, `[1,]`, `[,1]`, `{"a"}`, `{"a":}`, `{1:2}`, `{"a" 1}`,
		`[1 2]`, `"x"`, `"x`, `"\u00e9\ud83d\ude00\/\b\f\n\r\t\"\\"`, `"\u00g0"`, `"\u00e"`, `"\x"`, "\"\x01\"", "\"\xff\xfe\"",
		`-`, `-0`, `01`, `-01`, `0.`, `0.5`, `.5`, `1e`, `1e+`, `1E-7`, `1.5e+03`, `-12.34E5`, `+1`, `1 2`,
		`true`, `tru`, `truex`, `false`, `null`, `nul`, `NaN`, `[true,false,null]`, "\t[\r\n1\n]\t", "\v1",
		`{"a":[{"b":{"c":[1,"]",{}]}}],"d":"}"}`, `{"a":1}}`, `[[]`, `]`, `}`, `{"a":1]`, `[1}`,
		`{"pan":"4111111111111111","cvv":"123"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid says %v", b, got, want)
		}
	})
}

// TestValidJSONNesting: as deep as encoding/json takes, and no deeper.
func TestValidJSONNesting(t *testing.T) {
	for _, depth := range []int{63, 64, 65, maxNesting - 1, maxNesting, maxNesting + 1} {
		for _, open := range []string{"[", `{"a":`} {
			closer := "]"
			if open != "[" {
				closer = "}"
			}
			b := []byte(strings.Repeat(open, depth) + "1" + strings.Repeat(closer, depth))
			if got, want := validJSON(b), json.Valid(b); got != want {
				t.Fatalf("depth %d of %s: validJSON %v, json.Valid %v", depth, open, got, want)
			}
		}
	}
}

// BenchmarkValidJSON compares validJSON with json.Valid on a provider
// sample.
//
//	go test -run XXX -bench ValidJSON -benchmem ./redact/
func BenchmarkValidJSON(b *testing.B) {
	body := []byte(`{"event_uid":"4a1f7b0e-2b8c-4a51-9d7f-2f1f0e8b9a11","event":"PAYMENT_AUTH","data":{"transaction_id":"d9a8f1b2-7c7e-4d4e-8f6e-1b2c3d4e5f60","merchant_id":"a1b2c3d4","status":"PASS","auth_response":{"transactionAmount":"12.50","cardNumber":"411111******1111","cardType":"VISA","hostReferenceNumber":"412345678901","approvalCode":"TAS123","avsResponse":"Y","cvvResponse":"M"},"billing_address":{"name":"Jane Doe","street":"1 Main St","city":"Springfield","zip":"12345"},"created_at":"2024-12-01T13:22:45Z","amount":1250,"currency":"USD"}}`)
	for _, v := range []struct {
		name string
		fn   func([]byte) bool
	}{{"validJSON", validJSON}, {"json.Valid", json.Valid}} {
		b.Run(v.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !v.fn(body) {
					b.Fatal("not valid")
				}
			}
		})
	}
}
