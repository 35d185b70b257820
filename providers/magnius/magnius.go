package magnius

import (
	"crypto"
	"crypto/fips140"
	"crypto/rsa"
	"crypto/sha1" // Magnius signs with SHA-1; see doc.go.
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/paystate/paystate/providers"
	sm "github.com/paystate/paystate/statemachine"
)

// Name is the provider's URL segment and storage name.
const Name = "magnius"

// SignatureHeader carries the base64 RSA signature of the raw body.
const SignatureHeader = "X-Signature"

// minKeyBits is the smallest RSA key crypto/rsa verifies with (Go refuses
// smaller keys by default).
const minKeyBits = 1024

// Config is what an operator configures for Magnius.
type Config struct {
	// PublicKeysPEM are Magnius' webhook public keys as downloaded from
	// Magnius (payground and live, and a new key during a rotation). Each
	// entry is PEM text holding one or more blocks, each a PKIX "PUBLIC
	// KEY", a PKCS #1 "RSA PUBLIC KEY" or a "CERTIFICATE" whose RSA public
	// key is used. A signature made with any of them is accepted.
	PublicKeysPEM []string
}

// Provider is the Magnius webhook integration. It is safe for concurrent
// use.
type Provider struct {
	keys []*rsa.PublicKey
}

var _ providers.Provider = (*Provider)(nil)

// New returns a provider for cfg. A key that cannot be used is a
// configuration error naming the entry. With no key configured the
// provider authenticates nothing: Magnius always signs, so there is no
// unauthenticated mode.
func New(cfg Config) (*Provider, error) {
	if len(cfg.PublicKeysPEM) > 0 && fips140.Enforced() {
		// crypto/rsa refuses SHA-1 in FIPS 140-only mode; failing here
		// beats rejecting every webhook later.
		return nil, errors.New("magnius: Magnius signs webhooks with SHA-1, which GODEBUG=fips140=only forbids")
	}
	p := &Provider{}
	for i, text := range cfg.PublicKeysPEM {
		keys, err := parsePublicKeys([]byte(text))
		if err != nil {
			return nil, fmt.Errorf("magnius: PublicKeysPEM[%d]: %w", i, err)
		}
		p.keys = append(p.keys, keys...)
	}
	return p, nil
}

// parsePublicKeys returns the RSA public key of every PEM block in text.
// Text around the blocks (an openssl -text dump, comments) is ignored; a
// block that is not an RSA public key or certificate is an error.
func parsePublicKeys(text []byte) ([]*rsa.PublicKey, error) {
	var keys []*rsa.PublicKey
	for n := 1; ; n++ {
		var block *pem.Block
		block, text = pem.Decode(text)
		if block == nil {
			break
		}
		key, err := publicKey(block)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d (%s): %w", n, block.Type, err)
		}
		if key.N.BitLen() < minKeyBits {
			return nil, fmt.Errorf("PEM block %d (%s): RSA key of %d bits is too small", n, block.Type, key.N.BitLen())
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		return nil, errors.New("no PEM block found")
	}
	return keys, nil
}

func publicKey(block *pem.Block) (*rsa.PublicKey, error) {
	switch block.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, errors.New("cannot parse the PKIX public key")
		}
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("a %T, not an RSA key", k)
		}
		return rk, nil
	case "RSA PUBLIC KEY":
		k, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, errors.New("cannot parse the PKCS #1 public key")
		}
		return k, nil
	case "CERTIFICATE":
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, errors.New("cannot parse the certificate")
		}
		rk, ok := c.PublicKey.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("the certificate holds a %T, not an RSA key", c.PublicKey)
		}
		return rk, nil
	}
	if strings.Contains(block.Type, "PRIVATE KEY") {
		return nil, errors.New("a private key: configure Magnius' public key")
	}
	return nil, errors.New("not a public key or certificate")
}

// Name implements providers.Provider.
func (p *Provider) Name() string { return Name }

// Tables implements providers.Provider. The tables are copies: a caller may
// modify them without affecting the provider.
func (p *Provider) Tables() []sm.Table {
	return providers.CloneTables(tables...)
}

// Authenticate implements providers.Provider: X-Signature must be the
// base64 RSA PKCS #1 v1.5 SHA-1 signature of the raw body made with the
// private key of one of the configured public keys. Nothing secret is
// compared (the keys are public), and the error never contains the
// presented header.
func (p *Provider) Authenticate(h providers.Headers, body []byte, _ time.Time) error {
	if len(p.keys) == 0 {
		return fmt.Errorf("%w: magnius: no public key configured", providers.ErrUnauthenticated)
	}
	var header string
	if h != nil {
		header = strings.TrimSpace(h.Get(SignatureHeader))
	}
	if header == "" {
		return fmt.Errorf("%w: magnius: %s missing or empty", providers.ErrUnauthenticated, SignatureHeader)
	}
	sig, err := base64.StdEncoding.Strict().DecodeString(header)
	if err != nil || len(sig) == 0 {
		return fmt.Errorf("%w: magnius: %s is not base64", providers.ErrUnauthenticated, SignatureHeader)
	}
	digest := sha1.Sum(body)
	for _, k := range p.keys {
		if rsa.VerifyPKCS1v15(k, crypto.SHA1, digest[:], sig) == nil {
			return nil
		}
	}
	return fmt.Errorf("%w: magnius: %s does not verify with any configured key", providers.ErrUnauthenticated, SignatureHeader)
}

// payload is the webhook body. Unknown fields are ignored: Magnius may add
// some. Strings that are null or absent read as "".
type payload struct {
	Type              string          `json:"type"`
	ID                string          `json:"id"`
	Status            string          `json:"status"`
	StatusReason      string          `json:"status_reason"`
	Amount            json.RawMessage `json:"amount"`
	MerchantReference string          `json:"merchant_reference"`
	PaymentLinkID     string          `json:"paymentlink_id"`
	SubscriptionID    string          `json:"subscription_id"`
	// TransactionID is not documented; a refund or chargeback that names
	// its transaction is linked to it.
	TransactionID string `json:"transaction_id"`
}

// lifecycle maps the documented types with a status lifecycle to their
// aggregate kind.
var lifecycle = map[string]sm.Kind{
	"transaction":  sm.KindPayment,
	"refund":       sm.KindRefund,
	"chargeback":   sm.KindChargeback,
	"cardlink":     sm.KindLink,
	"subscription": sm.KindSubscription,
}

// amountTypes are the types whose amount the document defines.
var amountTypes = map[string]bool{"transaction": true, "refund": true, "chargeback": true}

// recordOnlyTypes are the documented types with no lifecycle.
var recordOnlyTypes = map[string]bool{"validationruleset": true, "report_generated": true}

// isRuleTrigger tells the tag rule and anti-fraud rule triggers, which the
// document lists as webhooks without giving their type strings: any type
// naming a rule is taken for one.
func isRuleTrigger(typ string) bool { return strings.Contains(typ, "rule") }

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: magnius: %s", providers.ErrMalformed, fmt.Sprintf(format, args...))
}

// Parse implements providers.Provider. It returns exactly one event:
//   - a lifecycle type (transaction, refund, chargeback, cardlink,
//     subscription) with a status: that status on the aggregate, whatever
//     the status (an undocumented one is recorded by the engine);
//   - a lifecycle type without a status: a record-only event on the
//     aggregate (nothing says what changed);
//   - validationruleset, report_generated and rule triggers: record-only,
//     Kind "";
//   - any other type: Kind "", recorded by the engine as having no machine.
func (p *Provider) Parse(body []byte) ([]providers.Event, error) {
	var pl payload
	if err := providers.DecodeObject(body, &pl); err != nil {
		return nil, malformed("%v", err)
	}

	typ := strings.ToLower(strings.TrimSpace(pl.Type))
	if typ == "" {
		return nil, malformed("missing type")
	}
	if strings.TrimSpace(pl.ID) == "" {
		return nil, malformed("missing id")
	}
	amount, hasAmount, err := parseAmount(pl.Amount)
	if err != nil {
		return nil, err
	}
	status := strings.TrimSpace(pl.Status)

	ev := providers.Event{
		Provider:          Name,
		AggregateID:       pl.ID,
		MerchantReference: strings.TrimSpace(pl.MerchantReference),
		Name:              status,
		ProviderStatus:    status,
		DedupeKey:         dedupeKey(typ, pl.ID, status),
	}
	kind, known := lifecycle[typ]
	switch {
	case known:
		ev.Kind = kind
		if amountTypes[typ] && hasAmount {
			ev.Amount, ev.HasAmount = amount, true
		}
		ev.Parent = parent(typ, pl)
		if status == "" {
			ev.Name, ev.RecordOnly = typ, true
		} else {
			// A status snapshot with no identity of its own: the same
			// body is sent again when the object returns to a status.
			ev.Snapshot = true
		}
	default:
		ev.Name = typ
		ev.RecordOnly = recordOnlyTypes[typ] || isRuleTrigger(typ)
	}
	return []providers.Event{ev}, nil
}

// parent names the aggregate a transaction, refund or chargeback belongs
// to, when the payload says.
func parent(typ string, pl payload) *providers.Ref {
	ref := func(k sm.Kind, id string) *providers.Ref {
		if id = strings.TrimSpace(id); id == "" {
			return nil
		}
		return &providers.Ref{Kind: k, ID: id}
	}
	switch typ {
	case "transaction":
		if r := ref(sm.KindSubscription, pl.SubscriptionID); r != nil {
			return r
		}
		return ref(sm.KindLink, pl.PaymentLinkID)
	case "refund", "chargeback":
		return ref(sm.KindPayment, pl.TransactionID)
	}
	return nil
}

// parseAmount validates amount: absent or null, or a JSON integer of cents
// (no sign, fraction, exponent or quotes) that fits int64.
func parseAmount(raw json.RawMessage) (int64, bool, error) {
	s := string(raw)
	if s == "" || s == "null" {
		return 0, false, nil
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false, malformed("amount is not a non-negative integer in cents")
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false, malformed("amount is out of range")
	}
	return v, true, nil
}

// dedupeKey derives a delivery key from what identifies a snapshot: Magnius
// sends no event id. Length prefixes keep the fields from running into each
// other.
func dedupeKey(typ, id, status string) string {
	return Name + ":" + providers.HashFields(typ, id, status)
}
