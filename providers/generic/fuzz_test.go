package generic

import (
	"bytes"
	"crypto/hmac"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paystate/paystate/providers"
)

// fuzzSecondSecret is a second configured secret, so that the fuzzer also
// exercises rotation.
const fuzzSecondSecret = "whsec_rotated_fuzz_0001"

// authErrors are every error Authenticate returns. Each is a fixed
// message, so none can contain a secret or a presented value.
var authErrors = []error{errConfig, errNoSecret, errMissingHeader, errUnknownPrefix, errPrefixMismatch, errEncoding, errLength, errMismatch}

// fuzzConfig picks the algorithm, the encoding and whether to send the
// prefix from mode.
func fuzzConfig(mode uint8) (alg, enc string, prefix bool) {
	alg = []string{AlgorithmSHA256, AlgorithmSHA512, AlgorithmSHA1}[mode%3]
	enc = []string{EncodingHex, EncodingBase64}[(mode/3)%2]
	return alg, enc, (mode/6)%2 == 1
}

// sameSignatureChar reports whether two characters of an encoded signature
// are spellings of the same value: hex is case-insensitive, and base64 is
// accepted in the standard and the URL-safe alphabet.
func sameSignatureChar(enc string, a, b byte) bool {
	if enc == EncodingHex {
		return a|0x20 == b|0x20 && a|0x20 >= 'a' && a|0x20 <= 'f' || a == b
	}
	norm := func(c byte) byte {
		switch c {
		case '-':
			return '+'
		case '_':
			return '/'
		}
		return c
	}
	return norm(a) == norm(b)
}

// FuzzAuthenticateParse signs body with secret, then checks that the
// signature authenticates, that a changed body or signature never does,
// that an arbitrary presented header authenticates only if it really is a
// signature of the body, and that Parse either returns complete events or
// an error wrapping ErrMalformed.
func FuzzAuthenticateParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no fixtures: %v", err)
	}
	for i, file := range files {
		body, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add("whsec_fuzz", uint8(i), uint16(i*7), "", body)
	}
	f.Add("", uint8(0), uint16(0), "sha256=00", []byte(`{"type":"payment.completed","data":{"id":"p1","amount":1.5,"currency":"USD"}}`))
	f.Add("k", uint8(3), uint16(1), "sha512=AAAA", []byte(`{"type":"refund.completed","data":{"object":{"id":"r1","payment_id":"p1","amount":"1.005","currency":"usd"}}} x`))

	now := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, secret string, mode uint8, pos uint16, presented string, body []byte) {
		alg, enc, prefix := fuzzConfig(mode)
		p := New(Config{Secrets: []string{secret, fuzzSecondSecret}, Algorithm: alg, Encoding: enc})
		header := func(v string) http.Header { return http.Header{"X-Signature": {v}} }
		checkErr := func(what string, err error) {
			if !errors.Is(err, providers.ErrUnauthenticated) {
				t.Fatalf("%s: error does not wrap ErrUnauthenticated: %v", what, err)
			}
			for _, known := range authErrors {
				if err == known {
					return
				}
			}
			t.Fatalf("%s: unexpected error %q (messages must be fixed)", what, err)
		}

		signer := secret
		if signer == "" {
			signer = fuzzSecondSecret // an empty secret is ignored: sign with the other
		}
		sig, err := Sign(signer, body, alg, enc)
		if err != nil {
			t.Fatalf("Sign: %v", err)
		}
		if prefix {
			sig = alg + "=" + sig
		}
		if err := p.Authenticate(header(sig), body, now); err != nil {
			t.Fatalf("valid signature refused: %v", err)
		}
		// One changed byte of the body.
		if len(body) > 0 {
			changed := bytes.Clone(body)
			changed[int(pos)%len(changed)] ^= byte(mode | 1)
			err := p.Authenticate(header(sig), changed, now)
			if err == nil {
				t.Fatalf("changed body authenticated")
			}
			checkErr("changed body", err)
		}
		// One changed character of the signature value (not a second
		// spelling of the same character; the prefix is case-insensitive
		// and left alone).
		if len(presented) > 0 {
			b := []byte(sig)
			start := 0
			if prefix {
				start = len(alg) + 1
			}
			i := start + int(pos)%(len(b)-start)
			// Padding turned into trailing white space is the unpadded
			// spelling (the header is trimmed; both are accepted).
			if c := presented[0]; !sameSignatureChar(enc, b[i], c) && !(b[i] == '=' && strings.TrimSpace(string(c)) == "") {
				b[i] = c
				err := p.Authenticate(header(string(b)), body, now)
				if err == nil {
					t.Fatalf("changed signature %q (was %q) authenticated", b, sig)
				}
				checkErr("changed signature", err)
			}
		}
		// An arbitrary header authenticates only as a real signature.
		if err := p.Authenticate(header(presented), body, now); err != nil {
			checkErr("arbitrary header", err)
		} else {
			got, derr := p.decodeSignature(strings.TrimSpace(presented))
			if derr != nil || !(hmac.Equal(got, p.alg.mac([]byte(signer), body)) || hmac.Equal(got, p.alg.mac([]byte(fuzzSecondSecret), body))) {
				t.Fatalf("header %q authenticated without being a signature of the body", presented)
			}
		}
		// Nothing configured: nothing authenticates.
		if err := New(Config{Algorithm: alg, Encoding: enc}).Authenticate(header(sig), body, now); !errors.Is(err, errNoSecret) {
			t.Fatalf("unconfigured provider: %v", err)
		}

		evs, err := p.Parse(body)
		if err != nil {
			if !errors.Is(err, providers.ErrMalformed) {
				t.Fatalf("parse error does not wrap ErrMalformed: %v", err)
			}
			if evs != nil {
				t.Fatalf("events returned with an error")
			}
			return
		}
		if len(evs) == 0 || len(evs) > 2 {
			t.Fatalf("%d events", len(evs))
		}
		keys := map[string]bool{}
		for _, ev := range evs {
			if ev.Name == "" || ev.DedupeKey == "" || (ev.Kind != "" && ev.AggregateID == "") {
				t.Fatalf("incomplete event: %+v", ev)
			}
			if keys[ev.DedupeKey] {
				t.Fatalf("two events of one delivery share the key %q", ev.DedupeKey)
			}
			keys[ev.DedupeKey] = true
			if ev.Provider != Name {
				t.Fatalf("provider %q", ev.Provider)
			}
			if ev.Amount < 0 || (!ev.HasAmount && ev.Amount != 0) {
				t.Fatalf("bad amount %d (has %v)", ev.Amount, ev.HasAmount)
			}
			if ev.HasAmount && ev.Currency == "" {
				t.Fatalf("amount without currency")
			}
			if ev.Currency != "" && (len(ev.Currency) != 3 || strings.ToUpper(ev.Currency) != ev.Currency) {
				t.Fatalf("bad currency %q", ev.Currency)
			}
			if ev.Kind == "" && ev.Parent != nil {
				t.Fatalf("an event without a kind has a parent")
			}
		}
		again, err := p.Parse(body)
		if err != nil || len(again) != len(evs) || again[0].DedupeKey != evs[0].DedupeKey {
			t.Fatalf("parse not deterministic: %v", err)
		}
	})
}
