package config

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/paystate/paystate/checkpoint"
)

// DevHeaderName is the N-Genius header development mode expects.
const DevHeaderName = "X-Paystate-Webhook-Token"

// DevCredentials are generated once per data directory and kept there, so
// a restarted development server accepts the same secrets and `paystate
// send` can sign as each provider would.
type DevCredentials struct {
	APIToken           string `json:"api_token"`
	NGeniusHeaderName  string `json:"ngenius_header_name"`
	NGeniusHeaderValue string `json:"ngenius_header_value"`
	PayEngineSecret    string `json:"payengine_secret"`
	GenericSecret      string `json:"generic_secret"`
	InyoBearer         string `json:"inyo_bearer"`
	// MagniusPrivateKeyPEM stands in for Magnius' signing key; its public
	// half is what paystate verifies with.
	MagniusPrivateKeyPEM string `json:"magnius_private_key_pem"`
	MagniusPublicKeyPEM  string `json:"magnius_public_key_pem"`
}

// DevFile is where development credentials are kept inside the data dir.
const DevFile = "dev-credentials.json"

// DevCheckpointKeyFile is the checkpoint signing key development mode
// generates beside DevFile. A key in the data dir signs, but does not
// protect against whoever holds the data dir: configure
// checkpoint_key_file elsewhere in production.
const DevCheckpointKeyFile = "checkpoint-ed25519.pem"

// FillDev is development mode: every credential the configuration lacks
// (API tokens, each provider's secrets) is generated, kept in
// DataDir/dev-credentials.json (mode 0600) and used, instead of accepting
// anything unauthenticated. It sets c.Dev and returns the credentials, or
// nil when nothing was missing.
func FillDev(c *Config) (*DevCredentials, error) {
	pr := &c.Providers
	need := []bool{
		len(c.APITokens) == 0,
		pr.NGenius.HeaderName == "" && !pr.NGenius.AllowUnauthenticated,
		len(pr.PayEngine.Secrets) == 0,
		len(pr.Generic.Secrets) == 0,
		len(pr.Inyo.Bearer) == 0 && len(pr.Inyo.Basic) == 0,
		len(pr.Magnius.PublicKeys) == 0 && len(pr.Magnius.PublicKeyFiles) == 0,
	}
	if !slicesAny(need) {
		return nil, nil
	}
	creds, err := LoadDev(c.DataDir, true)
	if err != nil {
		return nil, err
	}
	if need[0] {
		c.APITokens = []APIToken{{Name: "development", Role: RoleAdmin, Token: creds.APIToken}}
	}
	if need[1] {
		pr.NGenius.HeaderName, pr.NGenius.HeaderValues = creds.NGeniusHeaderName, []string{creds.NGeniusHeaderValue}
	}
	if need[2] {
		pr.PayEngine.Secrets = []string{creds.PayEngineSecret}
	}
	if need[3] {
		pr.Generic.Secrets = []string{creds.GenericSecret}
	}
	if need[4] {
		pr.Inyo.Bearer = []string{creds.InyoBearer}
	}
	if need[5] {
		pr.Magnius.PublicKeys = []string{creds.MagniusPublicKeyPEM}
	}
	if c.CheckpointKeyFile == "" {
		path := filepath.Join(c.DataDir, DevCheckpointKeyFile)
		if err := checkpoint.CreateKeyFile(path); err != nil {
			return nil, err
		}
		c.CheckpointKeyFile = path
	}
	c.Dev = true
	return creds, nil
}

func slicesAny(bs []bool) bool {
	for _, b := range bs {
		if b {
			return true
		}
	}
	return false
}

// LoadDev reads the development credentials of dataDir. With create, a
// missing file is generated and missing fields (from an older paystate) are
// filled in and saved.
func LoadDev(dataDir string, create bool) (*DevCredentials, error) {
	path := filepath.Join(dataDir, DevFile)
	var c DevCredentials
	raw, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("config: %s is damaged; delete it to generate new credentials", path)
		}
	case errors.Is(err, fs.ErrNotExist) && create:
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("config: no development credentials in %s (start `paystate serve` without a config file first)", dataDir)
	default:
		return nil, fmt.Errorf("config: %w", err)
	}
	before := c
	fill := func(dst *string, gen func() string) {
		if *dst == "" {
			*dst = gen()
		}
	}
	fill(&c.APIToken, func() string { return "pst_" + randomHex(24) })
	fill(&c.NGeniusHeaderName, func() string { return DevHeaderName })
	fill(&c.NGeniusHeaderValue, func() string { return randomHex(24) })
	fill(&c.PayEngineSecret, func() string { return randomHex(32) })
	fill(&c.GenericSecret, func() string { return randomHex(32) })
	fill(&c.InyoBearer, func() string { return randomHex(24) })
	if c.MagniusPrivateKeyPEM == "" || c.MagniusPublicKeyPEM == "" {
		priv, pub, err := newRSAKeyPEM()
		if err != nil {
			return nil, err
		}
		c.MagniusPrivateKeyPEM, c.MagniusPublicKeyPEM = priv, pub
	}
	if c == before {
		return &c, nil
	}
	if !create {
		return nil, fmt.Errorf("config: %s is incomplete; restart `paystate serve` to complete it", path)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	raw, _ = json.MarshalIndent(c, "", "  ")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return &c, nil
}

func newRSAKeyPEM() (private, public string, err error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", "", fmt.Errorf("config: generating the development Magnius key: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return "", "", err
	}
	private = string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	public = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))
	return private, public, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}
