package ngenius

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/paystate/paystate/money"
	"github.com/paystate/paystate/providers"
)

// fuzzSecondValue is a second configured value, so that the fuzzer also
// exercises rotation.
const fuzzSecondValue = "rotated-secret-value-0001"

// FuzzAuthenticateParse feeds a configured secret, a presented header value
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
		switch i % 3 {
		case 0:
			f.Add("s3cr3t", "s3cr3t", body)
		case 1:
			f.Add("s3cr3t", fuzzSecondValue, body)
		default:
			f.Add("s3cr3t", "s3cr3u", body)
		}
	}
	f.Add("", "anything", []byte(`{"event":"AUTHORISED","order":{"id":"o1","amount":{"currencyCode":"AED","value":1}}}`))
	f.Add("tok", "", []byte(`[]`))

	now := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, secret, presented string, body []byte) {
		p := New(Config{HeaderName: "X-Webhook-Token", HeaderValues: []string{secret, fuzzSecondValue}})
		h := http.Header{}
		if presented != "" {
			h["X-Webhook-Token"] = []string{presented}
		}
		err := p.Authenticate(h, body, now)
		matches := presented != "" && (presented == secret || presented == fuzzSecondValue)
		if matches && err != nil {
			t.Fatalf("configured value rejected: %v", err)
		}
		if !matches {
			if err == nil {
				t.Fatalf("value %q matching no configured value authenticated", presented)
			}
			if !errors.Is(err, providers.ErrUnauthenticated) {
				t.Fatalf("authentication error does not wrap ErrUnauthenticated: %v", err)
			}
			// The message must not depend on the values: then it cannot
			// contain them.
			ref := p.Authenticate(http.Header{"X-Webhook-Token": {"\x00not-configured\x00"}}, nil, now)
			if presented == "" {
				ref = p.Authenticate(http.Header{}, nil, now)
			}
			if ref == nil || err.Error() != ref.Error() {
				t.Fatalf("error message depends on the values: %q vs %v", err, ref)
			}
		}

		// Unconfigured authentication refuses everything, unless
		// unauthenticated requests are allowed in so many words.
		if err := New(Config{}).Authenticate(h, body, now); !errors.Is(err, providers.ErrUnauthenticated) {
			t.Fatalf("unconfigured provider did not refuse a request: %v", err)
		}
		if err := New(Config{AllowUnauthenticated: true}).Authenticate(h, body, now); err != nil {
			t.Fatalf("a provider allowing unauthenticated requests rejected one: %v", err)
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
		if len(evs) == 0 {
			t.Fatalf("no events and no error")
		}
		for _, ev := range evs {
			if ev.AggregateID == "" || ev.Name == "" || ev.DedupeKey == "" {
				t.Fatalf("incomplete event: %+v", ev)
			}
			if ev.Provider != Name {
				t.Fatalf("provider %q", ev.Provider)
			}
			if ev.Amount < 0 || (!ev.HasAmount && ev.Amount != 0) {
				t.Fatalf("bad amount %d (has %v)", ev.Amount, ev.HasAmount)
			}
			if c, err := money.Currency(ev.Currency); ev.Currency != "" && (err != nil || c != ev.Currency) {
				t.Fatalf("bad currency %q", ev.Currency)
			}
		}
		// Parsing is deterministic.
		again, err := p.Parse(body)
		if err != nil || len(again) != len(evs) || again[0].DedupeKey != evs[0].DedupeKey {
			t.Fatalf("parse not deterministic: %v", err)
		}
	})
}
