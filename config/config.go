package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Role is what an API token may do; the API's policy grants each RPC to
// roles.
type Role string

// Roles an API token can hold.
const (
	RoleReader  Role = "reader"
	RoleAuditor Role = "auditor"
	RoleFraud   Role = "fraud"
	RoleAdmin   Role = "admin"
)

// Config is the whole configuration.
type Config struct {
	// HTTPAddr serves webhooks, the REST gateway and health.
	HTTPAddr string `yaml:"http_addr"`
	// GRPCAddr serves the gRPC API.
	GRPCAddr string `yaml:"grpc_addr"`
	// DataDir holds the embedded SQLite database and, in development mode,
	// the generated credentials.
	DataDir string `yaml:"data_dir"`
	// Store selects the database: empty for the embedded SQLite file in
	// DataDir, or a PostgreSQL URL (postgres://user@host:5432/db) for
	// several replicas on one database.
	Store string `yaml:"store"`
	// StoreSchema is the PostgreSQL schema (default: public).
	StoreSchema string `yaml:"store_schema"`
	// BatchMaxEvents bounds how many webhooks one commit gathers (group
	// commit). Default 256.
	BatchMaxEvents int `yaml:"batch_max_events"`
	// BatchMaxDelay is how long a commit may wait for more webhooks when
	// the queue is empty. Default 0: no added latency; batches still form
	// under load while the previous commit flushes.
	BatchMaxDelay Duration `yaml:"batch_max_delay"`
	// DeferWindow is how long an early event is held. Default 24h.
	DeferWindow Duration `yaml:"defer_window"`
	// MaxBodyBytes caps a webhook body. Default 65536.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// TLS, when both files are set, serves HTTPS and gRPC over TLS.
	TLS TLS `yaml:"tls"`
	// APITokens may call the API.
	APITokens []APIToken `yaml:"api_tokens"`
	// Providers holds each provider's credentials. A provider with no
	// credentials is disabled unless it says allow_unauthenticated.
	Providers Providers `yaml:"providers"`
	// Reconcile tunes the background reconciler, which runs only when a
	// provider's status API credentials are configured.
	Reconcile Reconcile `yaml:"reconcile"`
	// APIRateLimit bounds the calls each API token may make.
	APIRateLimit RateLimit `yaml:"api_rate_limit"`
	// APIMaxStreams bounds the streams (gRPC and REST watches) each API
	// token may hold open at once; past it a new one is refused with
	// RESOURCE_EXHAUSTED (HTTP 429). Default 128; 0 means no cap.
	APIMaxStreams int `yaml:"api_max_streams"`
	// ReadCacheViews bounds the aggregate views (what GetOrder and
	// GetAggregate read) an SQLite server keeps in memory, exact because
	// every write passes through it (storage/viewcache). Default
	// DefaultReadCacheViews; 0 turns the cache off. PostgreSQL never
	// caches: other replicas' commits do not pass through this process.
	ReadCacheViews int `yaml:"read_cache_views"`
	// WatchPoll is how often a watch stream reads the journal when no
	// commit was announced. Commits on this server are announced at once,
	// and on PostgreSQL so are other replicas' (LISTEN/NOTIFY): polling
	// only closes gaps, e.g. while the listening connection reconnects.
	// Default 1s.
	WatchPoll Duration `yaml:"watch_poll"`
	// CardIDKeyFile holds the key (at least 32 random bytes) that masks
	// identifiers holding a card number; see CardIDKey. Empty: a key
	// generated in DataDir (SQLite and development mode only).
	CardIDKeyFile string `yaml:"card_id_key_file"`
	// CheckpointKeyFile is the Ed25519 private key (PEM, PKCS #8) that
	// signs the journal's chain head into checkpoints; keep it outside the
	// database's reach. Empty: no checkpoints are signed (development
	// mode generates one in DataDir).
	CheckpointKeyFile string `yaml:"checkpoint_key_file"`
	// CheckpointInterval is how often the chain head is signed when it
	// has moved. Default 10m.
	CheckpointInterval Duration `yaml:"checkpoint_interval"`
	// CheckpointLogFile receives every checkpoint this server signs (JSON
	// Lines), outside the database; at start the database must still hold
	// the last one, or serve refuses. Empty: DataDir/checkpoints.jsonl on
	// SQLite, none on PostgreSQL.
	CheckpointLogFile string `yaml:"checkpoint_log_file"`
	// StoreTimeout bounds every store operation, a webhook's commit
	// included: a store that does not answer within it fails the call
	// (webhooks 503, API calls UNAVAILABLE). Default 5s.
	StoreTimeout Duration `yaml:"store_timeout"`
	// ShutdownTimeout bounds a stop (SIGINT, SIGTERM), from the signal to
	// exit, whatever the store does. Default 20s.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// Tracing exports OpenTelemetry spans over OTLP; off by default.
	Tracing Tracing `yaml:"tracing"`

	// Dev is true when no file and no credentials were given: paystate
	// generated credentials into DataDir and prints them at start.
	Dev bool `yaml:"-"`
}

// TLS names a PEM certificate (chain) and its private key.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// APIToken is a bearer token for the gRPC and REST API.
type APIToken struct {
	Name string `yaml:"name"`
	Role Role   `yaml:"role"`
	// SHA256 is the hex SHA-256 of the token; prefer it to Token so that
	// the file holds no usable secret.
	SHA256 string `yaml:"sha256"`
	Token  string `yaml:"token"`
}

// Providers holds per-provider settings. A provider whose credentials are
// not configured is disabled (its webhook route answers 404), except in
// development mode, which generates them.
type Providers struct {
	NGenius   NGenius   `yaml:"ngenius"`
	Magnius   Magnius   `yaml:"magnius"`
	PayEngine PayEngine `yaml:"payengine"`
	Inyo      Inyo      `yaml:"inyo"`
	Generic   Generic   `yaml:"generic"`
}

// Magnius signs every webhook with RSA (SHA-1, PKCS#1 v1.5); paystate
// verifies with the public keys Magnius publishes (PKIX public key, PKCS#1
// public key or certificate, PEM). Several keys: test and live, rotation.
type Magnius struct {
	PublicKeys     []string `yaml:"public_keys"`      // PEM text
	PublicKeyFiles []string `yaml:"public_key_files"` // paths to PEM files
}

// PayEngine signs "{t}.{body}" with HMAC-SHA256 in X-PF-Signature.
type PayEngine struct {
	Secrets []string `yaml:"secrets"`
	// Tolerance is the accepted clock skew of the signature's timestamp, in
	// both directions. Default 300s.
	Tolerance Duration `yaml:"tolerance"`
	// DefaultCurrency of transaction amounts, which carry none. Default USD.
	DefaultCurrency string `yaml:"default_currency"`
}

// Inyo sends configured Basic or Bearer credentials with each webhook.
type Inyo struct {
	Basic  []BasicCredential `yaml:"basic"`
	Bearer []string          `yaml:"bearer"`
	// Currency of Inyo amounts, which carry none. Default USD.
	Currency string `yaml:"currency"`
}

// BasicCredential is a user and password for HTTP Basic authentication.
type BasicCredential struct {
	User     string `yaml:"user"`
	Password string `yaml:"password"`
}

// Generic is the generic gateway: X-Signature is an HMAC of the raw body.
type Generic struct {
	Secrets []string `yaml:"secrets"`
	// Algorithm: sha256 (default), sha512 or sha1.
	Algorithm string `yaml:"algorithm"`
	// Encoding of the signature: hex (default) or base64.
	Encoding string `yaml:"encoding"`
}

// NGenius: the optional custom header N-Genius sends with each webhook.
type NGenius struct {
	HeaderName string `yaml:"header_name"`
	// HeaderValues are all accepted, so a value can be rotated.
	HeaderValues []string `yaml:"header_values"`
	// AllowUnauthenticated accepts webhooks with no header at all. Off by
	// default: anyone who can reach the port could then move state.
	AllowUnauthenticated bool `yaml:"allow_unauthenticated"`
	// APIKey, OutletRef and APIBaseURL let the reconciler ask N-Genius
	// for an order's status ("retrieve order status"); all three or none.
	APIKey     string `yaml:"api_key"`
	OutletRef  string `yaml:"outlet_ref"`
	APIBaseURL string `yaml:"api_base_url"`
}

// Duration reads "90s", "24h" and the like.
type Duration struct{ time.Duration }

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		// A TypeError lets the decoder go on and report every bad value.
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %q is not a duration like 90s or 24h", n.Line, n.Value)}}
	}
	d.Duration = v
	return nil
}

// Defaults returns the configuration of a fresh, zero-config start.
func Defaults() Config {
	return Config{
		HTTPAddr:           "127.0.0.1:8080",
		GRPCAddr:           "127.0.0.1:9090",
		DataDir:            "paystate-data",
		DeferWindow:        Duration{24 * time.Hour},
		CheckpointInterval: Duration{10 * time.Minute},
		MaxBodyBytes:       64 << 10,
		Reconcile:          defaultReconcile(),
		APIRateLimit:       defaultRateLimit(),
		APIMaxStreams:      DefaultAPIMaxStreams,
		ReadCacheViews:     DefaultReadCacheViews,
		StoreTimeout:       Duration{DefaultStoreTimeout},
		ShutdownTimeout:    Duration{DefaultShutdownTimeout},
		WatchPoll:          Duration{time.Second},
		Tracing:            defaultTracing(),
	}
}

// Load reads the file at path (none if empty) over the defaults, then the
// environment over both.
func Load(path string, env func(string) string) (Config, error) {
	var raw []byte
	if path != "" {
		var err error
		if raw, err = os.ReadFile(path); err != nil {
			return Defaults(), fmt.Errorf("config: %w", err)
		}
	}
	return Parse(raw, path, env)
}

// Parse is Load for a file's contents; name is used in messages. Unknown
// keys are errors, reported with their line.
func Parse(raw []byte, name string, env func(string) string) (Config, error) {
	c := Defaults()
	if len(raw) > 0 {
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return c, fmt.Errorf("config: %s: %w", name, err)
		}
	}
	if err := c.applyEnv(env); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// applyEnv lets PAYSTATE_* variables override the file.
func (c *Config) applyEnv(env func(string) string) error {
	str := func(name string, dst *string) {
		if v := env(name); v != "" {
			*dst = v
		}
	}
	list := func(name string, dst *[]string) {
		if v := env(name); v != "" {
			*dst = splitList(v)
		}
	}
	str("PAYSTATE_HTTP_ADDR", &c.HTTPAddr)
	str("PAYSTATE_GRPC_ADDR", &c.GRPCAddr)
	str("PAYSTATE_DATA_DIR", &c.DataDir)
	str("PAYSTATE_STORE", &c.Store)
	str("PAYSTATE_STORE_SCHEMA", &c.StoreSchema)
	str("PAYSTATE_TLS_CERT_FILE", &c.TLS.CertFile)
	str("PAYSTATE_TLS_KEY_FILE", &c.TLS.KeyFile)
	str("PAYSTATE_CARD_ID_KEY_FILE", &c.CardIDKeyFile)
	str("PAYSTATE_CHECKPOINT_KEY_FILE", &c.CheckpointKeyFile)
	str("PAYSTATE_CHECKPOINT_LOG_FILE", &c.CheckpointLogFile)
	dur := func(name string, dst *Duration) error {
		if v := env(name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("config: %s: %q is not a duration like 90s or 24h", name, v)
			}
			dst.Duration = d
		}
		return nil
	}
	pr := &c.Providers
	str("PAYSTATE_NGENIUS_HEADER_NAME", &pr.NGenius.HeaderName)
	list("PAYSTATE_NGENIUS_HEADER_VALUES", &pr.NGenius.HeaderValues)
	list("PAYSTATE_MAGNIUS_PUBLIC_KEY_FILES", &pr.Magnius.PublicKeyFiles)
	// PEM text of one or more keys; PEM blocks separate themselves.
	if v := env("PAYSTATE_MAGNIUS_PUBLIC_KEYS"); v != "" {
		pr.Magnius.PublicKeys = []string{v}
	}
	if v := env("PAYSTATE_NGENIUS_ALLOW_UNAUTHENTICATED"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("config: PAYSTATE_NGENIUS_ALLOW_UNAUTHENTICATED: %q is not true or false", v)
		}
		pr.NGenius.AllowUnauthenticated = b
	}
	list("PAYSTATE_PAYENGINE_SECRETS", &pr.PayEngine.Secrets)
	str("PAYSTATE_PAYENGINE_DEFAULT_CURRENCY", &pr.PayEngine.DefaultCurrency)
	list("PAYSTATE_INYO_BEARER", &pr.Inyo.Bearer)
	str("PAYSTATE_INYO_CURRENCY", &pr.Inyo.Currency)
	list("PAYSTATE_GENERIC_SECRETS", &pr.Generic.Secrets)
	str("PAYSTATE_GENERIC_ALGORITHM", &pr.Generic.Algorithm)
	str("PAYSTATE_GENERIC_ENCODING", &pr.Generic.Encoding)
	if err := c.applyReconcileEnv(env); err != nil {
		return err
	}
	if err := c.applyRateLimitEnv(env); err != nil {
		return err
	}
	if err := c.applyLimitsEnv(env); err != nil {
		return err
	}
	if err := c.applyTracingEnv(env); err != nil {
		return err
	}
	// PAYSTATE_INYO_BASIC: comma-separated user:password pairs.
	if v := env("PAYSTATE_INYO_BASIC"); v != "" {
		pr.Inyo.Basic = nil
		for i, pair := range splitList(v) {
			user, pass, ok := strings.Cut(pair, ":")
			if !ok {
				return fmt.Errorf("config: PAYSTATE_INYO_BASIC item %d: want user:password", i+1)
			}
			pr.Inyo.Basic = append(pr.Inyo.Basic, BasicCredential{User: user, Password: pass})
		}
	}
	if err := dur("PAYSTATE_CHECKPOINT_INTERVAL", &c.CheckpointInterval); err != nil {
		return err
	}
	if err := dur("PAYSTATE_DEFER_WINDOW", &c.DeferWindow); err != nil {
		return err
	}
	if err := dur("PAYSTATE_BATCH_MAX_DELAY", &c.BatchMaxDelay); err != nil {
		return err
	}
	if err := dur("PAYSTATE_WATCH_POLL", &c.WatchPoll); err != nil {
		return err
	}
	if v := env("PAYSTATE_BATCH_MAX_EVENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("config: PAYSTATE_BATCH_MAX_EVENTS: %q is not a number", v)
		}
		c.BatchMaxEvents = n
	}
	if err := dur("PAYSTATE_PAYENGINE_TOLERANCE", &pr.PayEngine.Tolerance); err != nil {
		return err
	}
	if v := env("PAYSTATE_MAX_BODY_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("config: PAYSTATE_MAX_BODY_BYTES: %q is not a number", v)
		}
		c.MaxBodyBytes = n
	}
	// PAYSTATE_API_TOKENS: comma-separated role:token pairs.
	if v := env("PAYSTATE_API_TOKENS"); v != "" {
		for i, pair := range splitList(v) {
			role, tok, ok := strings.Cut(pair, ":")
			if !ok {
				return fmt.Errorf("config: PAYSTATE_API_TOKENS item %d: want role:token", i+1)
			}
			c.APITokens = append(c.APITokens, APIToken{Name: fmt.Sprintf("env-%d", i+1), Role: Role(role), Token: tok})
		}
	}
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Validate explains the first problem found.
func (c *Config) Validate() error {
	var errs []error
	if c.HTTPAddr == "" || c.GRPCAddr == "" {
		errs = append(errs, errors.New("http_addr and grpc_addr must be set"))
	}
	if c.Store != "" && !strings.HasPrefix(c.Store, "postgres://") && !strings.HasPrefix(c.Store, "postgresql://") {
		errs = append(errs, errors.New("store: empty for SQLite in data_dir, or a postgres:// URL"))
	}
	if c.StoreSchema != "" && c.Store == "" {
		// Set for a PostgreSQL store and left behind, it would be read as
		// choosing something when the store is SQLite in data_dir.
		errs = append(errs, errors.New("store_schema is the PostgreSQL schema: it needs a postgres:// store (SQLite has no schemas)"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir must be set"))
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		errs = append(errs, errors.New("tls: set both cert_file and key_file, or neither"))
	}
	if c.BatchMaxEvents < 0 || c.BatchMaxEvents > 10000 {
		errs = append(errs, errors.New("batch_max_events must be between 0 (default 256) and 10000"))
	}
	if c.BatchMaxDelay.Duration < 0 || c.BatchMaxDelay.Duration > time.Second {
		errs = append(errs, errors.New("batch_max_delay must be between 0s and 1s"))
	}
	if c.WatchPoll.Duration < 10*time.Millisecond || c.WatchPoll.Duration > 24*time.Hour {
		errs = append(errs, errors.New("watch_poll must be between 10ms and 24h"))
	}
	if c.DeferWindow.Duration <= 0 {
		errs = append(errs, errors.New("defer_window must be positive"))
	}
	if c.CheckpointInterval.Duration < time.Second {
		errs = append(errs, errors.New("checkpoint_interval must be at least 1s"))
	}
	if c.MaxBodyBytes < 1024 || c.MaxBodyBytes > 16<<20 {
		errs = append(errs, errors.New("max_body_bytes must be between 1024 and 16777216"))
	}
	for i, t := range c.APITokens {
		switch t.Role {
		case RoleReader, RoleAuditor, RoleFraud, RoleAdmin:
		default:
			errs = append(errs, fmt.Errorf("api_tokens[%d] (%s): role %q is not reader, auditor, fraud or admin", i, t.Name, t.Role))
		}
		if (t.SHA256 == "") == (t.Token == "") {
			errs = append(errs, fmt.Errorf("api_tokens[%d] (%s): set exactly one of sha256 and token", i, t.Name))
		}
		if t.SHA256 != "" && len(t.SHA256) != 64 {
			errs = append(errs, fmt.Errorf("api_tokens[%d] (%s): sha256 must be 64 hex digits", i, t.Name))
		}
	}
	ng := c.Providers.NGenius
	if len(ng.HeaderValues) > 0 && ng.HeaderName == "" {
		errs = append(errs, errors.New("providers.ngenius: header_values set without header_name"))
	}
	if ng.HeaderName != "" && len(ng.HeaderValues) == 0 {
		errs = append(errs, errors.New("providers.ngenius: header_name set without header_values"))
	}
	for i, v := range ng.HeaderValues {
		// Authenticate refuses an absent or empty header, so an empty
		// value accepts nothing: with no other, every webhook is 401.
		if strings.TrimSpace(v) == "" {
			errs = append(errs, fmt.Errorf("providers.ngenius: header_values value %d is empty: it can never match (an absent or empty header is refused); remove it or set the secret", i+1))
		}
	}
	pe := c.Providers.PayEngine
	if pe.Tolerance.Duration < 0 || pe.Tolerance.Duration > time.Hour {
		errs = append(errs, errors.New("providers.payengine.tolerance must be between 0s and 1h"))
	}
	for i, b := range c.Providers.Inyo.Basic {
		if b.User == "" || b.Password == "" {
			errs = append(errs, fmt.Errorf("providers.inyo.basic[%d]: user and password are both required", i))
		}
	}
	switch c.Providers.Generic.Algorithm {
	case "", "sha256", "sha512", "sha1":
	default:
		errs = append(errs, fmt.Errorf("providers.generic.algorithm %q: want sha256, sha512 or sha1", c.Providers.Generic.Algorithm))
	}
	switch c.Providers.Generic.Encoding {
	case "", "hex", "base64":
	default:
		errs = append(errs, fmt.Errorf("providers.generic.encoding %q: want hex or base64", c.Providers.Generic.Encoding))
	}
	errs = append(errs, c.validateReconcile()...)
	errs = append(errs, c.validateRateLimit()...)
	errs = append(errs, c.validateLimits()...)
	errs = append(errs, c.validateTracing()...)
	if len(errs) > 0 {
		return fmt.Errorf("config: %w", errors.Join(errs...))
	}
	return nil
}
