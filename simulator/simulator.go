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
	"crypto/x509"
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

// SignFunc returns the headers that authenticate body. secret, when not
// empty, replaces the development credential: the header value for
// N-Genius (or "Header-Name: value", naming the header too), the bearer token for Inyo, the HMAC secret for PayEngine and
// the generic gateway, and for Magnius the path of a PKCS #1 private key
// PEM file.
type SignFunc func(body []byte, dev *config.DevCredentials, secret string, now time.Time) (http.Header, error)

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
	ngenius.Name: {ngenius.Name, ngenius.Samples, func(body []byte, dev *config.DevCredentials, secret string, _ time.Time) (http.Header, error) {
		// The header's name is configured too: "Name: value" names it.
		if name, value, ok := strings.Cut(secret, ": "); ok && name != "" && !strings.ContainsAny(name, " \t:") {
			return header(name, value), nil
		}
		return header(dev.NGeniusHeaderName, or(secret, dev.NGeniusHeaderValue)), nil
	}, [][]string{{"transaction", "id"}}, ngenius.New(ngenius.Config{}).Parse},
	inyo.Name: {inyo.Name, inyo.Samples, func(body []byte, dev *config.DevCredentials, secret string, _ time.Time) (http.Header, error) {
		return header("Authorization", "Bearer "+or(secret, dev.InyoBearer)), nil
	}, nil, inyo.New(inyo.Config{}).Parse},
	magnius.Name: {magnius.Name, magnius.Samples, signMagnius, nil, magniusParse},
	payengine.Name: {payengine.Name, payengine.Samples, func(body []byte, dev *config.DevCredentials, secret string, now time.Time) (http.Header, error) {
		return header(payengine.SignatureHeader, payengine.Sign(or(secret, dev.PayEngineSecret), now, body)), nil
	}, [][]string{{"event_uid"}}, payengine.New(payengine.Config{}).Parse},
	generic.Name: {generic.Name, generic.Samples, func(body []byte, dev *config.DevCredentials, secret string, _ time.Time) (http.Header, error) {
		sig, err := generic.Sign(or(secret, dev.GenericSecret), body, generic.AlgorithmSHA256, generic.EncodingHex)
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

func signMagnius(body []byte, dev *config.DevCredentials, secret string, _ time.Time) (http.Header, error) {
	keyPEM := dev.MagniusPrivateKeyPEM
	if secret != "" {
		raw, err := os.ReadFile(secret)
		if err != nil {
			return nil, fmt.Errorf("magnius --secret names the private key PEM file: %w", err)
		}
		keyPEM = string(raw)
	}
	block, _ := pem.Decode([]byte(keyPEM))
	if block == nil {
		return nil, errors.New("no PEM private key for magnius")
	}
	key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("magnius private key: %w", err)
	}
	sig, err := magnius.Sign(key, body)
	return header(magnius.SignatureHeader, sig), err
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
// them, signed with the development credentials dev (or secret; see
// SignFunc).
func Sign(provider string, body []byte, dev *config.DevCredentials, secret string, now time.Time) (http.Header, error) {
	p, ok := all[provider]
	if !ok {
		return nil, fmt.Errorf("simulator: unknown provider %q", provider)
	}
	return p.Sign(body, dev, secret, now)
}
