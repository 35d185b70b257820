package crashtest

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/paystate/paystate/api"
	"github.com/paystate/paystate/config"
	pb "github.com/paystate/paystate/proto/paystate/v1"
	"github.com/paystate/paystate/providers/magnius"
	"github.com/paystate/paystate/simulator"
)

func secret(prefix string) string {
	b := make([]byte, 16)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// TestSecretsNeverLogged runs the server from a config file (production
// mode: nothing is generated or printed), sends webhooks with right and
// wrong secrets to every provider and API calls with wrong tokens, over
// gRPC and REST, and checks that no secret, token or authentication
// header value, right or wrong, appears in anything the server wrote.
func TestSecretsNeverLogged(t *testing.T) {
	key, pub, err := magnius.GenerateTestKey()
	if err != nil {
		t.Fatal(err)
	}
	right := &config.DevCredentials{
		APIToken:             secret("tok-admin-"),
		NGeniusHeaderName:    "X-Webhook-Token",
		NGeniusHeaderValue:   secret("ng-"),
		PayEngineSecret:      secret("pe-"),
		GenericSecret:        secret("ge-"),
		InyoBearer:           secret("iy-"),
		MagniusPrivateKeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})),
	}
	readerToken, oldNG, inyoPassword := secret("tok-reader-"), secret("ng-old-"), secret("iy-pw-")
	cfg := fmt.Sprintf(`api_tokens:
  - {name: ops, role: admin, token: %q}
  - {name: orders, role: reader, sha256: %q}
providers:
  ngenius: {header_name: %s, header_values: [%q, %q]}
  payengine: {secrets: [%q]}
  generic: {secrets: [%q]}
  inyo: {bearer: [%q], basic: [{user: inyo, password: %q}]}
  magnius:
    public_keys:
      - |
%s`, right.APIToken, api.HashToken(readerToken), right.NGeniusHeaderName, right.NGeniusHeaderValue, oldNG,
		right.PayEngineSecret, right.GenericSecret, right.InyoBearer, inyoPassword, indent(pub, "        "))
	path := filepath.Join(t.TempDir(), "paystate.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startBinary(t, []string{"--config", path})
	base := srv.mustURL()

	// Every value that must never be written: the configured secrets and
	// everything a client sent to authenticate, right or wrong.
	never := []string{right.APIToken, readerToken, right.NGeniusHeaderValue, oldNG, right.PayEngineSecret,
		right.GenericSecret, right.InyoBearer, inyoPassword}
	sentHeader := func(h http.Header) {
		for _, vs := range h {
			never = append(never, vs...)
		}
	}
	body := func(provider string) []byte {
		sc := map[string]func(testing.TB, string, int) scenario{
			"ngenius": ngeniusOrder, "payengine": payengineTransaction, "inyo": inyoPayment,
			"magnius": magniusTransaction, "generic": genericPayment,
		}[provider](t, "secrets", 1)
		return sc.hooks[0].body
	}
	rejected := 0
	for _, provider := range simulator.Names() {
		b := body(provider)
		// Right, then wrong: a wrong secret signed the provider's way,
		// and the provider's header with a made-up value.
		h, err := simulator.Sign(provider, b, right, "", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		sentHeader(h)
		if a := postWith(base, provider, b, h); a.status != 200 {
			t.Fatalf("%s with the right secret: %d %s", provider, a.status, a.raw)
		}
		wrongs := []http.Header{}
		if provider == "magnius" {
			other, _, err := magnius.GenerateTestKey()
			if err != nil {
				t.Fatal(err)
			}
			sig, _ := magnius.Sign(other, b)
			wrongs = append(wrongs, http.Header{magnius.SignatureHeader: {sig}})
		} else {
			h, err := simulator.Sign(provider, b, right, secret("wrong-"), time.Now())
			if err != nil {
				t.Fatal(err)
			}
			wrongs = append(wrongs, h)
		}
		wrongs = append(wrongs,
			http.Header{right.NGeniusHeaderName: {secret("wrong-ng-")}, "X-Signature": {secret("wrong-sig-")},
				"X-Pf-Signature": {"t=" + fmt.Sprint(time.Now().Unix()) + ",s=" + secret("")}},
			http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("inyo:"+secret("wrong-pw-")))}},
			http.Header{"Authorization": {"Bearer " + secret("wrong-bearer-")}},
		)
		for _, h := range wrongs {
			sentHeader(h)
			if a := postWith(base, provider, b, h); a.status != 401 {
				t.Fatalf("%s with a wrong secret: %d %s", provider, a.status, a.raw)
			}
			rejected++
		}
	}

	// API calls with wrong tokens (and a right token with too small a
	// role), over gRPC and over REST.
	conn, err := grpc.NewClient(srv.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	audit := pb.NewAuditServiceClient(conn)
	for _, tok := range []string{secret("wrong-token-"), right.APIToken + "x", readerToken} {
		never = append(never, tok, "Bearer "+tok)
		ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+tok)
		_, err := audit.GetChainHead(ctx, &pb.GetChainHeadRequest{})
		if c := status.Code(err); c != codes.Unauthenticated && c != codes.PermissionDenied {
			t.Fatalf("GetChainHead with a wrong token: %v", err)
		}
		req, _ := http.NewRequest(http.MethodGet, base+"/v1/journal/head", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 && resp.StatusCode != 403 {
			t.Fatalf("REST with a wrong token: %d", resp.StatusCode)
		}
	}
	ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+right.APIToken)
	if _, err := audit.GetChainHead(ctx, &pb.GetChainHeadRequest{}); err != nil {
		t.Fatal(err)
	}
	srv.stop()

	logs := srv.log.Bytes()
	for _, s := range never {
		if s != "" && bytes.Contains(logs, []byte(s)) {
			t.Errorf("the server wrote a secret or authentication value (%d characters, starting %.6q)", len(s), s)
		}
	}
	if n := bytes.Count(logs, []byte("not authenticated")); n < rejected {
		t.Fatalf("%d rejected webhooks, %d logged: the logs were not captured", rejected, n)
	}
	t.Logf("%d webhooks with wrong secrets and 6 API calls with wrong tokens; %d bytes of logs hold none of %d secret values", rejected, len(logs), len(never))
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n") + "\n"
}
