package payengine

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paystate/paystate/money"
	"github.com/paystate/paystate/providers"
)

// fuzzSecondSecret is a second configured secret, so that the fuzzer also
// exercises rotation.
const fuzzSecondSecret = "rotated-secret-value-0001"

// FuzzAuthenticateParse signs a body, tampers with the body and the
// header, presents a free-form header, and parses the body.
func FuzzAuthenticateParse(f *testing.F) {
	var files []string
	for _, pattern := range []string{"*.json", "doc_*.txt"} {
		m, err := filepath.Glob(filepath.Join("testdata", pattern))
		if err != nil {
			f.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		f.Fatal("no fixtures")
	}
	now := time.Unix(1741942800, 0)
	for i, file := range files {
		body, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		switch i % 3 {
		case 0:
			f.Add("s3cr3t", body, Sign("s3cr3t", now, body), uint16(i))
		case 1:
			f.Add("s3cr3t", body, Sign(fuzzSecondSecret, now, body), uint16(i))
		default:
			f.Add("s3cr3t", body, "t=1741942800,s=00,v1=x", uint16(i))
		}
	}
	f.Add("", []byte(`{"event_uid":"u","event":"PAYMENT_AUTH","data":{"transaction_id":"t","auth_response":{"status":"PASS","totalAmount":"1.00"}}}`), "", uint16(0))
	f.Add("k", []byte(`[]`), "s=,t=", uint16(7))
	// Events this package does not know, naming their object or not.
	for i, body := range []string{
		`{"event_uid":"uc1","event":"PAYMENT_CHARGEBACK_REVERSED","data":{"transaction_id":"tc1"}}`,
		`{"event_uid":"uc1","event":"ACH_CREDIT_RETURNED","data":{"transaction_id":"r1","original_transaction_id":"t1"}}`,
		`{"event_uid":"uc1","event":"DISPUTE_CLOSED","data":{"transaction_id":"t1","dispute_id":7}}`,
		`{"event_uid":"uc1","event":"SUBSCRIPTION_UPDATED_CANCELLED","data":{"subscriptionId":"s1"}}`,
		`{"event_uid":"uc1","event":"PAYMENTLINK_PAID","data":{"paymentLinkId":["l1"],"transaction_id":"t1","transaction_id":"t2"}}`,
		`{"event_uid":"uc1","event":"MICRO_DEPOSIT_RETURNED","data":"b1"}`,
	} {
		f.Add("s3cr3t", []byte(body), Sign("s3cr3t", now, []byte(body)), uint16(i))
	}

	f.Fuzz(func(t *testing.T, secret string, body []byte, header string, flip uint16) {
		p := New(Config{Secrets: []string{secret, fuzzSecondSecret}})
		auth := func(h string, b []byte) error {
			hdr := http.Header{}
			if h != "" {
				hdr[http.CanonicalHeaderKey(SignatureHeader)] = []string{h}
			}
			err := p.Authenticate(hdr, b, now)
			if err != nil {
				if !errors.Is(err, providers.ErrUnauthenticated) {
					t.Fatalf("authentication error does not wrap ErrUnauthenticated: %v", err)
				}
				for _, s := range []string{secret, fuzzSecondSecret} {
					if len(s) >= 8 && strings.Contains(err.Error(), s) {
						t.Fatalf("error contains a secret: %v", err)
					}
				}
			}
			return err
		}

		// Signed with either configured secret: accepted.
		for _, s := range []string{secret, fuzzSecondSecret} {
			if s == "" {
				continue
			}
			signed := Sign(s, now, body)
			if err := auth(signed, body); err != nil {
				t.Fatalf("signed body refused: %v", err)
			}
			// The body changed after signing: refused.
			changed := append([]byte(nil), body...)
			if len(changed) > 0 {
				changed[int(flip)%len(changed)] ^= byte(flip>>8) | 1
			} else {
				changed = []byte{byte(flip)}
			}
			if auth(signed, changed) == nil {
				t.Fatalf("body changed after signing authenticated")
			}
			if auth(signed, append(append([]byte(nil), body...), ' ')) == nil {
				t.Fatalf("body extended after signing authenticated")
			}
			// The header changed after signing: refused.
			ts, sig, _ := strings.Cut(strings.TrimPrefix(signed, "t="), ",s=")
			i := int(flip) % len(sig)
			d := "0123456789abcdef"[(strings.IndexByte("0123456789abcdef", sig[i])+1+int(flip>>8)%15)%16]
			if auth("t="+ts+",s="+sig[:i]+string(d)+sig[i+1:], body) == nil {
				t.Fatalf("signature changed after signing authenticated")
			}
			n, _ := strconv.ParseInt(ts, 10, 64)
			if auth("t="+strconv.FormatInt(n+1+int64(flip%300), 10)+",s="+sig, body) == nil {
				t.Fatalf("timestamp changed after signing authenticated")
			}
		}

		// A free-form header: never panics; whatever it authenticates, it
		// authenticates for this body only.
		if auth(header, body) == nil {
			if auth(header, append(append([]byte(nil), body...), 'x')) == nil {
				t.Fatalf("header %q authenticates a changed body", header)
			}
		}
		// No secret configured: nothing authenticates.
		if err := New(Config{}).Authenticate(http.Header{http.CanonicalHeaderKey(SignatureHeader): {header}}, body, now); err == nil {
			t.Fatalf("unconfigured provider accepted a request")
		}

		evs, err := p.Parse(body)
		// An event this package does not know is never refused for its
		// data, and never moves an aggregate.
		if env, envErr := decodeEnvelope(body); envErr == nil && groupOf(strings.TrimSpace(*env.Event)) == groupUnknown {
			if err != nil {
				t.Fatalf("unknown event refused: %v", err)
			}
			if len(evs) != 1 || !evs[0].RecordOnly {
				t.Fatalf("unknown event not recorded only: %+v", evs)
			}
		}
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
		keys := map[string]bool{}
		for _, ev := range evs {
			if ev.Name == "" || ev.DedupeKey == "" || (ev.Kind != "" && ev.AggregateID == "") {
				t.Fatalf("incomplete event: %+v", ev)
			}
			if keys[ev.DedupeKey] {
				t.Fatalf("two events of one webhook share dedupe key %q", ev.DedupeKey)
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
			if ev.Currency != "" {
				if _, err := money.Exponent(ev.Currency); err != nil || ev.Currency != strings.ToUpper(ev.Currency) {
					t.Fatalf("bad currency %q", ev.Currency)
				}
			}
			if ev.Parent != nil && ev.Parent.ID == "" {
				t.Fatalf("parent without id")
			}
		}
		again, err := p.Parse(body)
		if err != nil || len(again) != len(evs) {
			t.Fatalf("parse not deterministic: %v", err)
		}
		for i := range evs {
			if again[i].DedupeKey != evs[i].DedupeKey || again[i].Name != evs[i].Name || again[i].Amount != evs[i].Amount {
				t.Fatalf("parse not deterministic")
			}
		}
	})
}
