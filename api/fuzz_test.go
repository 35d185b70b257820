package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/paystate/paystate/engine"
	"github.com/paystate/paystate/providers"
	"github.com/paystate/paystate/providers/generic"
	"github.com/paystate/paystate/providers/inyo"
	"github.com/paystate/paystate/providers/magnius"
	"github.com/paystate/paystate/providers/ngenius"
	"github.com/paystate/paystate/providers/payengine"
)

// FuzzPageToken: parsePageToken never panics, accepts only what names a
// positive sequence, and pageToken round-trips.
func FuzzPageToken(f *testing.F) {
	for _, s := range []string{"", pageToken(1), pageToken(1 << 62), "djE6MA", "djE6LTE", "djE6KzU", "v1:5", "!!!", "djE6MDAwNw"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		seq, err := parsePageToken(tok)
		if err != nil {
			if seq != 0 {
				t.Fatalf("%q: error with sequence %d", tok, seq)
			}
			return
		}
		if tok == "" {
			if seq != 0 {
				t.Fatalf("the empty token is the start, got %d", seq)
			}
			return
		}
		if seq <= 0 {
			t.Fatalf("%q accepted as sequence %d", tok, seq)
		}
		again, err := parsePageToken(pageToken(seq))
		if err != nil || again != seq {
			t.Fatalf("%q → %d → %q → %d, %v", tok, seq, pageToken(seq), again, err)
		}
	})
}

// FuzzPageTokenRoundTrip: every positive sequence survives the token.
func FuzzPageTokenRoundTrip(f *testing.F) {
	for _, n := range []int64{1, 2, 99, 1000, 1<<31 - 1, 1<<63 - 1, 0, -1} {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, seq int64) {
		tok := pageToken(seq)
		got, err := parsePageToken(tok)
		if seq <= 0 {
			if err == nil {
				t.Fatalf("sequence %d made a token that parses (%q → %d)", seq, tok, got)
			}
			return
		}
		if err != nil || got != seq {
			t.Fatalf("%d → %q → %d, %v", seq, tok, got, err)
		}
	})
}

// fuzzEngine fails the fuzz target if the handler lets an unauthenticated
// delivery through; otherwise it answers like the engine.
type fuzzEngine struct{ calls int }

func (e *fuzzEngine) Submit(_ context.Context, d engine.Delivery) ([]engine.Outcome, error) {
	e.calls++
	return make([]engine.Outcome, len(d.Events)), nil
}

// FuzzWebhook drives random bodies and headers through the whole webhook
// handler with every provider: it never panics, never answers 2xx unless
// the request was signed with the provider's real credentials (random per
// run, so the fuzzer cannot learn them), and never lets an unsigned
// request reach the engine.
func FuzzWebhook(f *testing.F) {
	secret := func() string {
		b := make([]byte, 16)
		rand.Read(b)
		return hex.EncodeToString(b)
	}
	ngSecret, peSecret, geSecret, iyBearer := secret(), secret(), secret(), secret()
	key, pub, err := magnius.GenerateTestKey()
	if err != nil {
		f.Fatal(err)
	}
	mg, err := magnius.New(magnius.Config{PublicKeysPEM: []string{pub}})
	if err != nil {
		f.Fatal(err)
	}
	provs := map[string]providers.Provider{
		ngenius.Name:   ngenius.New(ngenius.Config{HeaderName: "X-Webhook-Token", HeaderValues: []string{ngSecret}}),
		payengine.Name: payengine.New(payengine.Config{Secrets: []string{peSecret}}),
		generic.Name:   generic.New(generic.Config{Secrets: []string{geSecret}}),
		inyo.Name:      inyo.New(inyo.Config{Bearer: []string{iyBearer}}),
		magnius.Name:   mg,
	}
	names := []string{ngenius.Name, payengine.Name, generic.Name, inyo.Name, magnius.Name, "nosuch", ""}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	sign := func(provider string, body []byte) http.Header {
		h := http.Header{}
		switch provider {
		case ngenius.Name:
			h.Set("X-Webhook-Token", ngSecret)
		case payengine.Name:
			h.Set(payengine.SignatureHeader, payengine.Sign(peSecret, now, body))
		case generic.Name:
			sig, _ := generic.Sign(geSecret, body, "", "")
			h.Set(generic.SignatureHeader, sig)
		case inyo.Name:
			h.Set("Authorization", "Bearer "+iyBearer)
		case magnius.Name:
			sig, _ := magnius.Sign(key, body)
			h.Set(magnius.SignatureHeader, sig)
		}
		return h
	}

	for i, s := range []struct {
		body, headers string
		signed        bool
	}{
		{`{"event":"AUTHORISED","order":{"id":"o1","amount":{"currencyCode":"AED","value":100}},"timestamp":"2024-12-01T13:22:45Z"}`, "", true},
		{`{"event_uid":"u1","event":"PAYMENT_AUTH","data":{"transaction_id":"t1","auth_response":{"transactionAmount":"1.00"}}}`, "X-PF-Signature: t=1767323045,s=00", false},
		{`{"id":"e1","type":"payment.completed","data":{"object":{"id":"p1","amount":"1.00","currency":"USD"}}}`, "X-Signature: sha256=abcd", false},
		{`{"paymentId":"p","parentPaymentId":"p","status":"AUTHORIZED","amount":1}`, "Authorization: Basic aW55bzpwdw==\nContent-Type: text/plain", false},
		{`{"type":"transaction","id":"t","status":"AUTHORIZED"}`, "X-Signature: AAAA\nContent-Type: application/json", true},
		{`{"cvv":"123","pan":"4111111111111111"`, "Content-Type: application/vnd.x+json; charset=utf-8", true},
		{"", "X-Webhook-Token: \nContent-Length: 5", false},
	} {
		f.Add(uint8(i), []byte(s.body), s.headers, s.signed)
	}

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	f.Fuzz(func(t *testing.T, which uint8, body []byte, headers string, signed bool) {
		provider := names[int(which)%len(names)]
		eng := &fuzzEngine{}
		h := &Webhooks{Providers: provs, Engine: eng, MaxBody: 4096, Now: func() time.Time { return now }, Log: quiet}
		mux := http.NewServeMux()
		mux.Handle("POST /webhooks/{provider}", h)
		req := httptest.NewRequest(http.MethodPost, "/webhooks/"+provider, bytes.NewReader(body))
		for _, line := range strings.Split(headers, "\n") {
			k, v, ok := strings.Cut(line, ":")
			k = strings.TrimSpace(k)
			if !ok || k == "" || strings.ContainsAny(k, " \t\r") {
				continue
			}
			req.Header.Add(k, strings.TrimSpace(v))
		}
		if signed {
			for k, v := range sign(provider, body) {
				req.Header[k] = v
			}
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		ok := rec.Code/100 == 2
		if !signed && (ok || eng.calls > 0) {
			t.Fatalf("unsigned request to %q answered %d (engine called %d times): %s", provider, rec.Code, eng.calls, rec.Body)
		}
		if ok && eng.calls != 1 {
			t.Fatalf("answered %d without a commit", rec.Code)
		}
		switch rec.Code {
		case 200, 400, 401, 404, 405, 413, 415:
		default:
			t.Fatalf("unexpected answer %d: %s", rec.Code, rec.Body)
		}
	})
}
