package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"
)

// Reconcile tunes the background reconciler. It runs only when a provider's
// status API credentials are configured (today: N-Genius api_key and
// outlet_ref); these settings are then its rhythm.
type Reconcile struct {
	// Interval is how often the reconciler looks for candidates. Default 5m.
	Interval Duration `yaml:"interval"`
	// MinAge is how long an aggregate must have stood still in a
	// non-terminal state before the provider is asked about it. Default 15m.
	MinAge Duration `yaml:"min_age"`
	// MaxAge is when the reconciler stops asking about an aggregate that
	// does not move: checks back off (min_age, then twice as long, ...)
	// until the aggregate has stood still this long. Default 168h (7 days).
	MaxAge Duration `yaml:"max_age"`
}

func defaultReconcile() Reconcile {
	return Reconcile{
		Interval: Duration{5 * time.Minute},
		MinAge:   Duration{15 * time.Minute},
		MaxAge:   Duration{7 * 24 * time.Hour},
	}
}

// ReconcileEnabled reports whether the reconciler runs: a provider's status
// API credentials are configured.
func (c *Config) ReconcileEnabled() bool {
	ng := c.Providers.NGenius
	return ng.APIKey != "" && ng.OutletRef != "" && ng.APIBaseURL != ""
}

// MarshalYAML writes a duration the way it is read ("24h0m0s").
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

func (c *Config) applyReconcileEnv(env func(string) string) error {
	str := func(name string, dst *string) {
		if v := env(name); v != "" {
			*dst = v
		}
	}
	ng := &c.Providers.NGenius
	str("PAYSTATE_NGENIUS_API_KEY", &ng.APIKey)
	str("PAYSTATE_NGENIUS_OUTLET_REF", &ng.OutletRef)
	str("PAYSTATE_NGENIUS_API_BASE_URL", &ng.APIBaseURL)
	for name, dst := range map[string]*Duration{
		"PAYSTATE_RECONCILE_INTERVAL": &c.Reconcile.Interval,
		"PAYSTATE_RECONCILE_MIN_AGE":  &c.Reconcile.MinAge,
		"PAYSTATE_RECONCILE_MAX_AGE":  &c.Reconcile.MaxAge,
	} {
		if v := env(name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("config: %s: %q is not a duration like 90s or 24h", name, v)
			}
			dst.Duration = d
		}
	}
	return nil
}

// validateReconcile checks the reconciler's settings and the N-Genius API
// credentials. Each message starts with the path of the offending key, so
// that `paystate config check` can point at its line.
func (c *Config) validateReconcile() []error {
	var errs []error
	ng := c.Providers.NGenius
	set := map[string]bool{"api_key": ng.APIKey != "", "outlet_ref": ng.OutletRef != "", "api_base_url": ng.APIBaseURL != ""}
	if set["api_key"] || set["outlet_ref"] || set["api_base_url"] {
		for _, k := range []string{"api_key", "outlet_ref", "api_base_url"} {
			if !set[k] {
				errs = append(errs, fmt.Errorf("providers.ngenius.%s must be set: the status API needs api_key, outlet_ref and api_base_url together", k))
			}
		}
	}
	if ng.APIBaseURL != "" {
		if err := checkAPIBaseURL(ng.APIBaseURL); err != nil {
			errs = append(errs, fmt.Errorf("providers.ngenius.api_base_url %w", err))
		}
	}
	r := c.Reconcile
	if r.Interval.Duration < time.Second {
		errs = append(errs, errors.New("reconcile.interval must be at least 1s"))
	}
	if r.MinAge.Duration <= 0 {
		errs = append(errs, errors.New("reconcile.min_age must be positive"))
	}
	if r.MaxAge.Duration < r.MinAge.Duration {
		errs = append(errs, errors.New("reconcile.max_age must not be shorter than min_age"))
	}
	return errs
}

// checkAPIBaseURL wants https, or http to a loopback address (a local
// test server): the API key travels in every token request.
func checkAPIBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" {
		return fmt.Errorf("%q is not a base URL like https://api-gateway.example.com", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if ip := net.ParseIP(u.Hostname()); (ip != nil && ip.IsLoopback()) || u.Hostname() == "localhost" {
			return nil
		}
	}
	return fmt.Errorf("%q must use https (http only to a loopback test server)", raw)
}
