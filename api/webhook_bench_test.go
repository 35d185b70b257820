package api

import (
	"bytes"
	"context"
	"crypto/rsa"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
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

type nopEngine struct{}

func (nopEngine) Submit(_ context.Context, d engine.Delivery) ([]engine.Outcome, error) {
	return make([]engine.Outcome, len(d.Events)), nil
}

// BenchmarkWebhook measures the HTTP side of one webhook (authenticate,
// hash, redact, parse, log, reply) for each provider's documented sample,
// with an engine that commits nothing: the part of ingest that runs in
// parallel with the single writer.
//
//	go test -run XXX -bench Webhook -benchmem ./api/
func BenchmarkWebhook(b *testing.B) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	// The RSA key only for Magnius' run: generating it costs more, and
	// more variably, than a thousand webhooks of the others, which spoils
	// an instruction count of their runs.
	var key *rsa.PrivateKey
	magniusProvider := func() providers.Provider {
		k, pub, err := magnius.GenerateTestKey()
		if err != nil {
			b.Fatal(err)
		}
		mg, err := magnius.New(magnius.Config{PublicKeysPEM: []string{pub}})
		if err != nil {
			b.Fatal(err)
		}
		key = k
		return mg
	}
	sample := func(fs interface{ ReadFile(string) ([]byte, error) }, name string) []byte {
		body, err := fs.ReadFile("testdata/" + name)
		if err != nil {
			b.Fatal(err)
		}
		return body
	}
	cases := []struct {
		name string
		p    func() providers.Provider
		body []byte
		sign func(h http.Header, body []byte)
	}{
		{ngenius.Name, provider(ngenius.New(ngenius.Config{HeaderName: "X-Webhook-Token", HeaderValues: []string{"s3cret"}})),
			sample(ngenius.Samples, "sample_captured.json"),
			func(h http.Header, _ []byte) { h.Set("X-Webhook-Token", "s3cret") }},
		{payengine.Name, provider(payengine.New(payengine.Config{Secrets: []string{"s3cret"}})),
			sample(payengine.Samples, "PAYMENT_AUTH.json"),
			func(h http.Header, body []byte) {
				h.Set(payengine.SignatureHeader, payengine.Sign("s3cret", now, body))
			}},
		{generic.Name, provider(generic.New(generic.Config{Secrets: []string{"s3cret"}})),
			sample(generic.Samples, "event_payment.completed.json"),
			func(h http.Header, body []byte) {
				sig, _ := generic.Sign("s3cret", body, "", "")
				h.Set(generic.SignatureHeader, sig)
			}},
		{inyo.Name, provider(inyo.New(inyo.Config{Bearer: []string{"s3cret"}})),
			sample(inyo.Samples, "sample_authorized.json"),
			func(h http.Header, _ []byte) { h.Set("Authorization", "Bearer s3cret") }},
		{magnius.Name, magniusProvider, sample(magnius.Samples, "sample_transaction.json"),
			func(h http.Header, body []byte) {
				sig, _ := magnius.Sign(key, body)
				h.Set(magnius.SignatureHeader, sig)
			}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			h := &Webhooks{Providers: map[string]providers.Provider{c.name: c.p()}, Engine: nopEngine{},
				Now: func() time.Time { return now }, Log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
			mux := http.NewServeMux()
			mux.Handle("POST /webhooks/{provider}", h)
			hdr := http.Header{"Content-Type": {"application/json"}}
			c.sign(hdr, c.body)
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/webhooks/"+c.name, bytes.NewReader(c.body))
				req.Header = hdr.Clone()
				rec := httptest.NewRecorder()
				mux.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("answered %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}

func provider(p providers.Provider) func() providers.Provider {
	return func() providers.Provider { return p }
}
