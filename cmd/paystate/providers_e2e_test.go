package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/config"
	pb "github.com/paystate/paystate/proto/paystate/v1"
	simulatorpkg "github.com/paystate/paystate/simulator"
)

// step is one webhook of a documented sequence: a sample of the provider
// (or an inline body) and the verdict paystate must answer with.
type step struct {
	sample  string
	body    string
	verdict string
}

// signedPost signs body as provider would (with the server's development
// credentials) and posts it over HTTP.
func (s *server) signedPost(t *testing.T, provider string, body []byte) (int, map[string]any) {
	t.Helper()
	sim := simulators[provider]
	header, err := sim.sign(body, s.dev, simulatorpkg.Secret{}, time.Now())
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, s.http+"/webhooks/"+provider, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header = header
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out
}

// TestEveryProviderEndToEnd drives each provider's documented sequences
// through the real server over HTTP, signed as the provider signs, and
// reads the result back over gRPC.
func TestEveryProviderEndToEnd(t *testing.T) {
	s := startServer(t, t.TempDir())
	aggs := pb.NewAggregateServiceClient(s.grpc)
	cases := []struct {
		provider string
		steps    []step
		kind     string
		id       string
		state    string
		parent   string
	}{
		{"inyo", []step{
			{sample: "challenge_authorized_1_CHALLENGE", verdict: "applied"},
			{sample: "challenge_authorized_2_AUTHORIZED", verdict: "applied"},
			{sample: "challenge_authorized_2_AUTHORIZED", verdict: "duplicate"},
		}, "payment", "e2a94c17-0f3b-4d86-9c5e-1b7d3a6f8c33", "authorized", ""},
		{"generic", []step{
			{sample: "partial_refund_1_payment.completed", verdict: "applied"},
			{sample: "partial_refund_2_refund.initiated", verdict: "applied"},
			{sample: "partial_refund_3_refund.completed", verdict: "applied"},
		}, "payment", "pay_9a8b7c6d5e", "partially_refunded", ""},
		{"generic", nil, "refund", "re_0f1e2d3c", "succeeded", "providers/generic/aggregates/payment/pay_9a8b7c6d5e"},
		{"generic", []step{
			{sample: "refund_before_payment_1_refund.completed", verdict: "applied"}, // the refund applies; its payment side waits
			{sample: "refund_before_payment_2_payment.completed", verdict: "applied"},
		}, "payment", "pay_4c0de5e7aa", "refunded", ""},
		{"payengine", []step{
			{sample: "PAYMENT_AUTH", verdict: "applied"},
			// The document reuses this event_uid for the capture: another
			// event, applied; the same body again is a duplicate, and the
			// auth's event_uid, event and transaction with another body a
			// conflict.
			{sample: "PAYMENT_CAPTURED", verdict: "applied"},
			{sample: "PAYMENT_CAPTURED", verdict: "duplicate"},
			{sample: "PAYMENT_AUTH_FAILED", verdict: "rejected"},
			{sample: "BATCH_GENERATED", verdict: "recorded"},
		}, "payment", "efa04765-b876-46b9-8c0e-39f30d27eb73", "captured", ""},
		{"magnius", []step{
			{body: `{"type":"transaction","id":"t-e2e","status":"INITIATED","merchant_reference":"M-1"}`, verdict: "applied"},
			{body: `{"type":"transaction","id":"t-e2e","status":"SETTLEMENT_COMPLETED","amount":2500}`, verdict: "applied"},
			{body: `{"type":"transaction","id":"t-e2e","status":"AUTHORIZED","amount":2500}`, verdict: "rejected"},
			{body: `{"type":"refund","id":"r-e2e","status":"PROCESSED","amount":500}`, verdict: "applied"},
			{body: `{"type":"report_generated","id":"rep-1"}`, verdict: "recorded"},
		}, "payment", "t-e2e", "captured", ""},
	}
	for _, tc := range cases {
		for i, st := range tc.steps {
			body := []byte(st.body)
			if st.sample != "" {
				var err error
				body, err = readBody(simulators[tc.provider].samples, st.sample)
				require.NoError(t, err)
			}
			code, reply := s.signedPost(t, tc.provider, body)
			require.Equal(t, http.StatusOK, code, "%s step %d: %v", tc.provider, i+1, reply)
			require.Equal(t, st.verdict, verdictOf(t, reply), "%s step %d: %v", tc.provider, i+1, reply)
		}
		a, err := aggs.GetAggregate(s.authed(t.Context()), &pb.GetAggregateRequest{Provider: tc.provider, Kind: tc.kind, ProviderId: tc.id})
		require.NoError(t, err, "%s %s %s", tc.provider, tc.kind, tc.id)
		require.Equal(t, tc.state, a.GetState(), "%s %s %s", tc.provider, tc.kind, tc.id)
		require.Equal(t, tc.parent, a.GetParent())
	}

	// Forged deliveries change nothing, for every provider.
	for provider := range simulators {
		code, _ := s.post(t, []byte(`{"type":"transaction","id":"forged","status":"AUTHORIZED"}`),
			map[string]string{"X-Signature": "AAAA", "Authorization": "Bearer nope"}, "/webhooks/"+provider)
		require.Equal(t, http.StatusUnauthorized, code, provider)
	}
	v, err := s.audit.VerifyJournal(s.authed(t.Context()), &pb.VerifyJournalRequest{})
	require.NoError(t, err)
	require.True(t, v.GetOk(), v.GetProblem())
}

// TestSendWithEverySecretForm: against a server whose config gives every
// provider credentials of its own, in the forms the README's
// configuration shows (N-Genius under another header name, a Magnius key
// pair made with openssl's PKCS #8, Inyo Basic credentials and a bearer
// token, the generic gateway's SHA-512 in base64), send with --secret
// (and --algorithm, --encoding) is accepted for each; a wrong secret gets
// the 401 hint saying what --secret holds for that provider.
func TestSendWithEverySecretForm(t *testing.T) {
	dir := t.TempDir()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	privFile := filepath.Join(dir, "magnius-private.pem")
	require.NoError(t, os.WriteFile(privFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	require.NoError(t, err)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	otherFile := filepath.Join(dir, "other.pem")
	require.NoError(t, os.WriteFile(otherFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(other)}), 0o600))

	cfg := config.Defaults()
	cfg.HTTPAddr, cfg.GRPCAddr, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", filepath.Join(dir, "server")
	cfg.APITokens = []config.APIToken{{Name: "ops", Role: config.RoleReader, Token: "reader-tok"}}
	pr := &cfg.Providers
	pr.NGenius.HeaderName, pr.NGenius.HeaderValues = "X-Shop-Auth", []string{"shop-value"}
	pr.Magnius.PublicKeys = []string{string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))}
	pr.PayEngine.Secrets = []string{"pe-secret"}
	pr.Inyo.Basic = []config.BasicCredential{{User: "inyo", Password: "in:pw"}}
	pr.Inyo.Bearer = []string{"in-token"}
	pr.Generic.Secrets, pr.Generic.Algorithm, pr.Generic.Encoding = []string{"g-secret"}, "sha512", "base64"
	s := startServerWith(t, cfg, &config.DevCredentials{})
	client := t.TempDir() // no development credentials on the client's side

	for _, c := range []struct {
		provider string
		right    []string // the credential flags
		wrong    []string
	}{
		{"ngenius", []string{"--secret", "X-Shop-Auth: shop-value"}, []string{"--secret", "shop-value"}},
		{"magnius", []string{"--secret", privFile}, []string{"--secret", otherFile}},
		{"payengine", []string{"--secret", "pe-secret"}, []string{"--secret", "pe-secreT"}},
		{"inyo", []string{"--secret", "Basic inyo:in:pw"}, []string{"--secret", "inyo:in:pw"}},
		{"inyo", []string{"--secret", "in-token"}, []string{"--secret", "Basic in-token:"}},
		{"generic", []string{"--secret", "g-secret", "--algorithm", "sha512", "--encoding", "base64"},
			[]string{"--secret", "g-secret", "--algorithm", "sha512"}},
	} {
		samples, err := sampleNames(simulators[c.provider].samples)
		require.NoError(t, err)
		args := func(cred []string) []string {
			return append(append([]string{"send", "--url", s.http, "--data-dir", client}, cred...), c.provider, samples[0])
		}
		var out bytes.Buffer
		require.NoError(t, runTo(t, &out, noEnv, args(c.right)...), "%s %v: %s", c.provider, c.right, out.String())
		require.Contains(t, out.String(), "200 OK")
		err = runTo(t, io.Discard, noEnv, args(c.wrong)...)
		require.ErrorContains(t, err, "401 Unauthorized", "%s %v", c.provider, c.wrong)
		require.ErrorContains(t, err, "--secret is not what this server has configured for "+c.provider+" ("+c.provider+": "+secretForms[c.provider]+")")
	}
	err = runTo(t, io.Discard, noEnv, "send", "--url", s.http, "--data-dir", client, "--secret", "pe-secret", "--algorithm", "sha512", "payengine", "PAYMENT_AUTH")
	require.ErrorContains(t, err, "--algorithm and --encoding are the generic gateway's signature options, not payengine's")
	err = runTo(t, io.Discard, noEnv, "send", "--url", s.http, "--data-dir", client, "--secret", "g", "--encoding", "base32", "generic", "-")
	require.ErrorContains(t, err, `--encoding "base32": want hex or base64`)
}
