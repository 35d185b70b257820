package config

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Defaults of the limits.
const (
	DefaultAPIMaxStreams   = 128
	DefaultStoreTimeout    = 5 * time.Second
	DefaultShutdownTimeout = 20 * time.Second
	// DefaultReadCacheViews is about 28 MB of views (~280 bytes each, with
	// a 36-character id; docs/performance.md): the orders read recently,
	// for a merchant's order service. Raise it to the orders read again
	// within a day or so; a million views is ~280 MB of heap.
	DefaultReadCacheViews = 100_000
)

// applyLimitsEnv reads PAYSTATE_API_MAX_STREAMS, PAYSTATE_READ_CACHE_VIEWS,
// PAYSTATE_STORE_TIMEOUT and PAYSTATE_SHUTDOWN_TIMEOUT.
func (c *Config) applyLimitsEnv(env func(string) string) error {
	for name, dst := range map[string]*Duration{"PAYSTATE_STORE_TIMEOUT": &c.StoreTimeout, "PAYSTATE_SHUTDOWN_TIMEOUT": &c.ShutdownTimeout} {
		if v := env(name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("config: %s: %q is not a duration like 90s or 24h", name, v)
			}
			dst.Duration = d
		}
	}
	for name, dst := range map[string]*int{"PAYSTATE_API_MAX_STREAMS": &c.APIMaxStreams, "PAYSTATE_READ_CACHE_VIEWS": &c.ReadCacheViews} {
		if v := env(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("config: %s: %q is not a whole number", name, v)
			}
			*dst = n
		}
	}
	return nil
}

func (c *Config) validateLimits() []error {
	var errs []error
	if c.APIMaxStreams < 0 {
		errs = append(errs, errors.New("api_max_streams must be 0 (no cap) or positive"))
	}
	if c.ReadCacheViews < 0 {
		errs = append(errs, errors.New("read_cache_views must be 0 (no cache) or positive"))
	}
	if d := c.StoreTimeout.Duration; d < 100*time.Millisecond || d > time.Minute {
		errs = append(errs, errors.New("store_timeout must be between 100ms and 1m"))
	}
	if d := c.ShutdownTimeout.Duration; d < c.StoreTimeout.Duration || d > 10*time.Minute {
		errs = append(errs, errors.New("shutdown_timeout must be at least store_timeout (webhooks in flight get that long) and at most 10m"))
	}
	return errs
}
