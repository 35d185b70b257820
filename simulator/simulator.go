// Package simulator signs webhook bodies the way each provider does, so
// that a body can be posted to paystate as that provider would post it.
// `paystate send`, the end-to-end tests and the crash harness (package
// crashtest) all sign through it, with the development credentials that
// `paystate serve` writes without a config file, or with a secret of the
// caller's choosing. A Rewriter prepares a documented sample for one more
// send (fresh event ids, and the run's order in place of the sample's),
// and the Scenarios are documented sequences of one provider's samples
// that `paystate simulate` plays on one order.
package simulator

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/paystate/paystate/config"
	"github.com/paystate/paystate/providers"
	"github.com/paystate/paystate/providers/generic"
	"github.com/paystate/paystate/providers/inyo"
	"github.com/paystate/paystate/providers/magnius"
	"github.com/paystate/paystate/providers/ngenius"
	"github.com/paystate/paystate/providers/payengine"
)

// SignFunc returns the headers that authenticate body, with the
// development credentials dev unless secret replaces them.
type SignFunc func(body []byte, dev *config.DevCredentials, secret Secret, now time.Time) (http.Header, error)

// Secret replaces the development credentials a body is signed with, for
// a server with a config file of its own: every form each provider's
// verifier accepts can be expressed. The zero Secret signs with the
// development credentials, as a development server expects.
type Secret struct {
	// Value, when not empty, is what the provider's config holds:
	//   - ngenius: a header value, or "Header-Name: value" when the server's
	//     header_name is not the development one;
	//   - magnius: the path of the RSA private key PEM file (PKCS #1 or
	//     PKCS #8) whose public key the server has;
	//   - payengine, generic: the shared HMAC secret;
	//   - inyo: "Basic user:password" (or "Basic " and its base64),
	//     "Bearer token", or a bare bearer token.
	Value string
	// Algorithm and Encoding are the generic gateway's signature options,
	// as its providers.generic.algorithm and encoding: "sha256" (when
	// empty), "sha512" or "sha1"; "hex" (when empty) or "base64". They
	// apply with the development secret too.
	Algorithm, Encoding string
}

// Provider is what the simulator knows of one provider: its documented
// samples (testdata/*.json), how it signs, where its bodies carry an event
// id, and how it reads them (to find the object ids a Rewriter replaces).
type Provider struct {
	Name    string
	Samples fs.FS
	Sign    SignFunc
	// eventIDs are the paths of the body's event (delivery) ids, which a
	// Rewriter makes fresh: none for providers whose bodies are status
	// snapshots, since the status is their identity.
	eventIDs [][]string
	parse    func([]byte) ([]providers.Event, error)
}

// header is a one-field header with its name in canonical form, so that
// Get finds it whether the header is sent or handed to a provider.
func header(name, value string) http.Header {
	h := http.Header{}
	h.Set(name, value)
	return h
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

var all = map[string]Provider{
	ngenius.Name: {ngenius.Name, ngenius.Samples, func(body []byte, dev *config.DevCredentials, secret Secret, _ time.Time) (http.Header, error) {
		// The header's name is configured too: "Name: value" names it.
		if name, value, ok := strings.Cut(secret.Value, ": "); ok && name != "" && !strings.ContainsAny(name, " \t:") {
			return header(name, value), nil
		}
		return header(dev.NGeniusHeaderName, or(secret.Value, dev.NGeniusHeaderValue)), nil
	}, [][]string{{"transaction", "id"}}, ngenius.New(ngenius.Config{}).Parse},
	inyo.Name: {inyo.Name, inyo.Samples, func(body []byte, dev *config.DevCredentials, secret Secret, _ time.Time) (http.Header, error) {
		return header("Authorization", inyoAuthorization(secret.Value, dev.InyoBearer)), nil
	}, nil, inyo.New(inyo.Config{}).Parse},
	magnius.Name: {magnius.Name, magnius.Samples, signMagnius, nil, magniusParse},
	payengine.Name: {payengine.Name, payengine.Samples, func(body []byte, dev *config.DevCredentials, secret Secret, now time.Time) (http.Header, error) {
		return header(payengine.SignatureHeader, payengine.Sign(or(secret.Value, dev.PayEngineSecret), now, body)), nil
	}, [][]string{{"event_uid"}}, payengine.New(payengine.Config{}).Parse},
	generic.Name: {generic.Name, generic.Samples, func(body []byte, dev *config.DevCredentials, secret Secret, _ time.Time) (http.Header, error) {
		sig, err := generic.Sign(or(secret.Value, dev.GenericSecret), body, secret.Algorithm, secret.Encoding)
		return header(generic.SignatureHeader, sig), err
	}, [][]string{{"id"}}, generic.New(generic.Config{}).Parse},
}

// magniusParse reads a Magnius body; parsing needs no key.
func magniusParse(body []byte) ([]providers.Event, error) {
	p, err := magnius.New(magnius.Config{})
	if err != nil {
		return nil, err
	}
	return p.Parse(body)
}

// inyoAuthorization is the Authorization header Inyo sends: Basic or
// Bearer, as the merchant configured it (see Secret).
func inyoAuthorization(secret, devBearer string) string {
	if secret == "" {
		return "Bearer " + devBearer
	}
	scheme, rest, _ := strings.Cut(secret, " ")
	switch {
	case strings.EqualFold(scheme, "Basic") && strings.Contains(rest, ":"):
		// user:password as configured; base64 never holds a ':', so one
		// already encoded is sent as it is below.
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(rest))
	case strings.EqualFold(scheme, "Basic"), strings.EqualFold(scheme, "Bearer"):
		return secret
	}
	return "Bearer " + secret
}

func signMagnius(body []byte, dev *config.DevCredentials, secret Secret, _ time.Time) (http.Header, error) {
	keyPEM := dev.MagniusPrivateKeyPEM
	if secret.Value != "" {
		raw, err := os.ReadFile(secret.Value)
		if err != nil {
			return nil, fmt.Errorf("magnius --secret names the private key PEM file: %w", err)
		}
		keyPEM = string(raw)
	}
	block, _ := pem.Decode([]byte(keyPEM))
	if block == nil {
		return nil, errors.New("no PEM private key for magnius")
	}
	key, err := rsaPrivateKey(block)
	if err != nil {
		return nil, fmt.Errorf("magnius private key: %w", err)
	}
	sig, err := magnius.Sign(key, body)
	return header(magnius.SignatureHeader, sig), err
}

// rsaPrivateKey reads "RSA PRIVATE KEY" (PKCS #1, what development mode
// writes) or "PRIVATE KEY" (PKCS #8, what openssl genpkey writes).
func rsaPrivateKey(block *pem.Block) (*rsa.PrivateKey, error) {
	if block.Type != "PRIVATE KEY" {
		return x509.ParsePKCS1PrivateKey(block.Bytes)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("a %T, not an RSA key", k)
	}
	return rk, nil
}

// Lookup returns the named provider's simulator.
func Lookup(name string) (Provider, bool) {
	p, ok := all[name]
	return p, ok
}

// Names lists the providers the simulator can sign for, sorted.
func Names() []string {
	out := make([]string, 0, len(all))
	for n := range all {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Sign returns the headers that authenticate body as provider would send
// them, signed with the development credentials dev, or with secret (see
// Secret.Value) when it is not empty.
func Sign(provider string, body []byte, dev *config.DevCredentials, secret string, now time.Time) (http.Header, error) {
	p, ok := all[provider]
	if !ok {
		return nil, fmt.Errorf("simulator: unknown provider %q", provider)
	}
	return p.Sign(body, dev, Secret{Value: secret}, now)
}
