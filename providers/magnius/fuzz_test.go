package magnius

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/paystate/paystate/providers"
)

// fuzzKey makes a 1024-bit key (the smallest Go verifies with) so that
// the fuzzer spends its time in Authenticate and Parse, not in signing.
func fuzzKey(f *testing.F) (*rsa.PrivateKey, string) {
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		f.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		f.Fatal(err)
	}
	return k, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// FuzzAuthenticateParse signs a body with one of two configured keys
// (rotation), then checks that the signature authenticates, that the body
// or the signature changed after signing never does, that an arbitrary
// presented header authenticates only if it is the signature, and that
// Parse either returns complete events or an error wrapping ErrMalformed.
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
		f.Add(body, "", uint16(i*7), i%2 == 0)
	}
	f.Add([]byte(`{"type":"transaction","id":"t1","status":"AUTHORIZED","amount":100}`), "AAAA", uint16(0), false)
	f.Add([]byte(`{"type":"refund","id":"r","amount":1e3}`), "not base64", uint16(3), true)
	f.Add([]byte(`[]`), "", uint16(1), true)
	f.Add([]byte{}, "", uint16(0), false)

	oldKey, oldPEM := fuzzKey(f)
	newKey, newPEM := fuzzKey(f)
	_, strangerPEM := fuzzKey(f)
	p, err := New(Config{PublicKeysPEM: []string{oldPEM, newPEM}})
	if err != nil {
		f.Fatal(err)
	}
	// Verifying with a stranger's public key is the cheap way to check
	// "wrong key": signing with its private key costs far more.
	wrongKey, err := New(Config{PublicKeysPEM: []string{strangerPEM}})
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	header := func(v string) http.Header { return http.Header{SignatureHeader: {v}} }
	mustFail := func(t *testing.T, what string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s authenticated", what)
		}
		if !errors.Is(err, providers.ErrUnauthenticated) {
			t.Fatalf("%s: error does not wrap ErrUnauthenticated: %v", what, err)
		}
		switch err.Error() {
		case "webhook not authenticated: magnius: X-Signature missing or empty",
			"webhook not authenticated: magnius: X-Signature is not base64",
			"webhook not authenticated: magnius: X-Signature does not verify with any configured key":
		default:
			t.Fatalf("%s: unexpected message (it must not carry presented values): %q", what, err)
		}
	}

	f.Fuzz(func(t *testing.T, body []byte, presented string, flip uint16, useOld bool) {
		key := newKey
		if useOld {
			key = oldKey
		}
		sig, err := Sign(key, body)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Authenticate(header(sig), body, now); err != nil {
			t.Fatalf("a signature by a configured key was rejected: %v", err)
		}
		if len(body) > 0 {
			changed := bytes.Clone(body)
			changed[int(flip)%len(changed)] ^= byte(flip>>8) | 1
			mustFail(t, "a body changed after signing", p.Authenticate(header(sig), changed, now))
		}
		mustFail(t, "a body with a byte appended", p.Authenticate(header(sig), append(bytes.Clone(body), byte(flip)), now))
		raw, _ := base64.StdEncoding.DecodeString(sig)
		raw[int(flip)%len(raw)] ^= byte(flip>>8) | 1
		mustFail(t, "a signature changed after signing", p.Authenticate(header(base64.StdEncoding.EncodeToString(raw)), body, now))
		mustFail(t, "a signature checked against another key", wrongKey.Authenticate(header(sig), body, now))

		// An arbitrary header authenticates only if it decodes to the
		// signature of one of the configured keys.
		if err := p.Authenticate(header(presented), body, now); err == nil {
			got, _ := base64.StdEncoding.DecodeString(presented)
			oldSig, _ := Sign(oldKey, body)
			newSig, _ := Sign(newKey, body)
			o, _ := base64.StdEncoding.DecodeString(oldSig)
			n, _ := base64.StdEncoding.DecodeString(newSig)
			if !bytes.Equal(got, o) && !bytes.Equal(got, n) {
				t.Fatalf("header %q authenticated without being the signature", presented)
			}
		} else {
			mustFail(t, "an arbitrary header", err)
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
		if len(evs) != 1 {
			t.Fatalf("%d events", len(evs))
		}
		ev := evs[0]
		if ev.Name == "" || ev.DedupeKey == "" || ev.AggregateID == "" {
			t.Fatalf("incomplete event: %+v", ev)
		}
		if ev.Provider != Name || ev.Currency != "" {
			t.Fatalf("provider %q, currency %q", ev.Provider, ev.Currency)
		}
		if ev.Amount < 0 || (!ev.HasAmount && ev.Amount != 0) {
			t.Fatalf("bad amount %d (has %v)", ev.Amount, ev.HasAmount)
		}
		if ev.Kind == "" && ev.Parent != nil {
			t.Fatalf("an event with no aggregate has a parent")
		}
		if ev.Parent != nil && ev.Parent.ID == "" {
			t.Fatalf("parent without id")
		}
		again, err := p.Parse(body)
		if err != nil || len(again) != 1 || again[0].DedupeKey != ev.DedupeKey {
			t.Fatalf("parse not deterministic: %v", err)
		}
	})
}
