package redact

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"
)

// decoderJSONBody is the first implementation of jsonBody, on
// encoding/json's Decoder.Token: kept as the oracle the lexer-based
// jsonBody is compared with (FuzzJSONBodyMatchesDecoder). It follows the
// rules of today (no allow-listed keys, SensitiveKey, Text): what the
// comparison proves is that the lexer walks, skips and re-encodes exactly
// as encoding/json does, not that the rules are right (the property and
// end-to-end tests, with oracles of their own, check those).
func decoderJSONBody(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	out := bytes.NewBuffer(make([]byte, 0, len(raw)))
	var stack []frame
	skipping, skipDepth := false, 0 // dropping a sensitive member's value

	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if skipping {
			if d, ok := tok.(json.Delim); ok {
				if d == '{' || d == '[' {
					skipDepth++
				} else {
					skipDepth--
				}
			}
			if skipDepth == 0 {
				skipping = false
			}
			continue
		}

		var top *frame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			if top == nil {
				return nil, errUnbalanced
			}
			out.WriteByte(byte(d))
			stack = stack[:len(stack)-1]
			continue
		}

		if top != nil && top.object && top.expectKey {
			key, ok := tok.(string)
			if !ok {
				return nil, errUnbalanced
			}
			if SensitiveKey(key) {
				skipping, skipDepth = true, 0
				continue
			}
			if top.members > 0 {
				out.WriteByte(',')
			}
			top.members++
			writeString(out, Text(key))
			out.WriteByte(':')
			top.expectKey = false
			continue
		}

		// A value: in an array it needs a separator, in an object the next
		// token is a key again.
		if top != nil {
			if top.object {
				top.expectKey = true
			} else {
				if top.members > 0 {
					out.WriteByte(',')
				}
				top.members++
			}
		}
		switch v := tok.(type) {
		case json.Delim: // '{' or '['
			out.WriteByte(byte(v))
			stack = append(stack, frame{object: v == '{', expectKey: v == '{'})
		case string:
			writeString(out, Text(v))
		case json.Number:
			s := string(v)
			if m := Text(s); m != s {
				writeString(out, m)
			} else {
				out.WriteString(s)
			}
		case bool:
			if v {
				out.WriteString("true")
			} else {
				out.WriteString("false")
			}
		case nil:
			out.WriteString("null")
		default:
			return nil, errUnbalanced
		}
	}
	if len(stack) != 0 || skipping {
		return nil, errUnbalanced
	}
	return out.Bytes(), nil
}

// FuzzJSONBodyMatchesDecoder: on every valid JSON document the lexer-based
// walker writes exactly what the encoding/json-based one did.
func FuzzJSONBodyMatchesDecoder(f *testing.F) {
	for _, s := range []string{
		`{"pan":"4111111111111111","cvv":"123"}`,
		` { "a" : [ 1 , -2.5e+3 , true , false , null , "x" ] , "b" : { } , "c" : [ ] } `,
		`{"u":"caf\u00e9 \u2028 <&> \ud83d\ude00 \ud800 \"q\" \/ \b\f\n\r\t","k":"\u0034111111111111111"}`,
		"{\"bad\":\"\xff\xfe \xe2\x80\xa8\"}",
		`{"track":{"data":"%B5555555555554444^X","n":[1,"]"]},"y":[{"cvv":[1,{"a":2}]},3]}`,
		`{"a":1,"a":2,"hostReferenceNumber":6011000000000004,"externalPaymentId":{"n":"4111.1111.1111.1111"}}`,
		`{"card_cvv":1,"cvvResult":"M","Cvc_Code":[1],"t":";4111111111111111=29121010000012300000?"}`,
		`"6011000000000000001"`, `4242424242424242`, `null`, `[[[[]]]]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if !json.Valid(in) {
			return
		}
		want, werr := decoderJSONBody(in)
		got, gerr := jsonBody(in)
		if (werr == nil) != (gerr == nil) || !bytes.Equal(got, want) {
			t.Fatalf("input %q\nlexer:   %q, %v\ndecoder: %q, %v", in, got, gerr, want, werr)
		}
	})
}

// BenchmarkJSONBody compares the lexer-based walker with the decoder-based
// oracle on a provider sample, in the same run.
//
//	go test -run XXX -bench JSONBody -benchmem ./redact/
func BenchmarkJSONBody(b *testing.B) {
	body := []byte(`{"event_uid":"4a1f7b0e-2b8c-4a51-9d7f-2f1f0e8b9a11","event":"PAYMENT_AUTH","data":{"transaction_id":"d9a8f1b2-7c7e-4d4e-8f6e-1b2c3d4e5f60","merchant_id":"a1b2c3d4","status":"PASS","auth_response":{"transactionAmount":"12.50","cardNumber":"411111******1111","cardType":"VISA","hostReferenceNumber":"412345678901","approvalCode":"TAS123","avsResponse":"Y","cvvResponse":"M"},"billing_address":{"name":"Jane Doe","street":"1 Main St","city":"Springfield","zip":"12345"},"created_at":"2024-12-01T13:22:45Z","amount":1250,"currency":"USD"}}`)
	for _, v := range []struct {
		name string
		fn   func([]byte) ([]byte, error)
	}{{"lexer", jsonBody}, {"decoder", decoderJSONBody}} {
		b.Run(v.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.fn(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
