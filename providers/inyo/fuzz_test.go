package inyo

import (
	"encoding/base64"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paystate/paystate/money"
	"github.com/paystate/paystate/providers"
)

// Credentials the fuzzer runs against besides the fuzzed secret, so that
// rotation is exercised too.
const (
	fuzzUser         = "merchant"
	fuzzSecondToken  = "rotated-token-value-0001"
	fuzzSecondSecret = "rotated-basic-password-0001"
)

// oracleAccepts says, independently of Authenticate's code path, whether
// header value v carries one of the configured credentials.
func oracleAccepts(v, bearerSecret, basicSecret string) bool {
	scheme, rest, ok := strings.Cut(v, " ")
	rest = strings.TrimLeft(rest, " ")
	if !ok || rest == "" {
		return false
	}
	switch strings.ToLower(scheme) {
	case "bearer":
		return (bearerSecret != "" && rest == bearerSecret) || rest == fuzzSecondToken
	case "basic":
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return false
		}
		return (basicSecret != "" && string(raw) == fuzzUser+":"+basicSecret) || string(raw) == fuzzUser+":"+fuzzSecondSecret
	}
	return false
}

// allowedMessages collects every message Authenticate can give, from
// inputs that reach each refusal.
func allowedMessages(p *Provider, now time.Time) map[string]bool {
	out := map[string]bool{}
	for _, v := range []string{
		"", "x", "Bearer ", "Basic !", "Basic " + base64.StdEncoding.EncodeToString([]byte("no-colon")),
		"Digest x", "Bearer \x00never-configured\x00",
	} {
		if err := p.Authenticate(http.Header{"Authorization": {v}}, nil, now); err != nil {
			out[err.Error()] = true
		}
	}
	if err := New(Config{}).Authenticate(http.Header{}, nil, now); err != nil {
		out[err.Error()] = true
	}
	return out
}

// FuzzAuthenticateParse feeds a configured secret (used as a bearer token
// and as a Basic password), a presented Authorization value, a byte to flip
// and a body through Authenticate and Parse.
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
		switch i % 4 {
		case 0:
			f.Add("s3cr3t", "Bearer s3cr3t", uint16(i), body)
		case 1:
			f.Add("s3cr3t", "Basic "+base64.StdEncoding.EncodeToString([]byte(fuzzUser+":s3cr3t")), uint16(i), body)
		case 2:
			f.Add("s3cr3t", "Bearer "+fuzzSecondToken, uint16(i), body)
		default:
			f.Add("s3cr3t", "Bearer s3cr3u", uint16(i), body)
		}
	}
	f.Add("", "Basic Og==", uint16(0), []byte(`{"paymentId":"p","status":"REFUNDED","parentPaymentId":"q","amount":1.5}`))
	f.Add("tok", "", uint16(3), []byte(`[]`))

	now := time.Date(2025, 1, 21, 16, 31, 5, 0, time.UTC)
	f.Fuzz(func(t *testing.T, secret, presented string, flip uint16, body []byte) {
		cfg := Config{
			Basic:  []BasicCredential{{fuzzUser, secret}, {fuzzUser, fuzzSecondSecret}},
			Bearer: []string{secret, fuzzSecondToken},
		}
		p := New(cfg)
		// New ignores an empty secret, and a blank-padded one as a token.
		bearerSecret, basicSecret := secret, secret
		if strings.TrimSpace(secret) != secret {
			bearerSecret = ""
		}
		messages := allowedMessages(p, now)

		check := func(v string) error {
			h := http.Header{}
			if v != "" {
				h["Authorization"] = []string{v}
			}
			err := p.Authenticate(h, body, now)
			want := v != "" && oracleAccepts(v, bearerSecret, basicSecret)
			if want && err != nil {
				t.Fatalf("configured credential refused: %v", err)
			}
			if !want && err == nil {
				t.Fatalf("a header carrying no configured credential authenticated")
			}
			if err != nil {
				if !errors.Is(err, providers.ErrUnauthenticated) {
					t.Fatalf("authentication error does not wrap ErrUnauthenticated: %v", err)
				}
				// Every message is one of a fixed few, so none can carry a
				// configured or a presented value.
				if !messages[err.Error()] {
					t.Fatalf("unexpected error message %q", err)
				}
			}
			return err
		}

		// The presented value authenticates exactly when it carries a
		// configured credential.
		check(presented)

		// Right credentials authenticate; changed after the fact, they do
		// not (unless the change lands on another configured credential,
		// which the oracle knows).
		var valid []string
		if bearerSecret != "" {
			valid = append(valid, "Bearer "+secret)
		}
		if basicSecret != "" {
			valid = append(valid, "Basic "+base64.StdEncoding.EncodeToString([]byte(fuzzUser+":"+secret)))
		}
		for _, v := range valid {
			if check(v) != nil {
				t.Fatalf("valid credential refused")
			}
			b := []byte(v)
			i := int(flip) % len(b)
			b[i] ^= 1 << (flip % 8)
			check(string(b))
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
			if ev.Kind == "" && !ev.RecordOnly {
				t.Fatalf("event without kind is not record-only: %+v", ev)
			}
			if keys[ev.DedupeKey] {
				t.Fatalf("two events share a dedupe key")
			}
			keys[ev.DedupeKey] = true
			if ev.Provider != Name {
				t.Fatalf("provider %q", ev.Provider)
			}
			if ev.Amount < 0 || (!ev.HasAmount && ev.Amount != 0) {
				t.Fatalf("bad amount %d (has %v)", ev.Amount, ev.HasAmount)
			}
			if _, err := money.Exponent(ev.Currency); err != nil {
				t.Fatalf("bad currency %q", ev.Currency)
			}
		}
		again, err := p.Parse(body)
		if err != nil || len(again) != len(evs) {
			t.Fatalf("parse not deterministic: %v", err)
		}
		for i := range evs {
			if again[i].DedupeKey != evs[i].DedupeKey {
				t.Fatalf("dedupe key not deterministic")
			}
		}
	})
}
