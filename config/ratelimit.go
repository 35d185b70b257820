package config

import (
	"errors"
	"fmt"
	"strconv"
)

// RateLimit bounds how fast one API token (one principal: tokens that
// share a name share a bucket) may call the gRPC and REST API: a token
// bucket refilled at PerSecond calls per second, holding at most Burst.
// A call over the limit is refused with RESOURCE_EXHAUSTED (HTTP 429).
// Webhooks are not limited here: providers are authenticated per request
// and their retries must not be refused.
type RateLimit struct {
	// PerSecond is the sustained rate. Default 500; 0 turns limiting off.
	PerSecond float64 `yaml:"per_second"`
	// Burst is how many calls may come at once. Default 1000.
	Burst int `yaml:"burst"`
}

func defaultRateLimit() RateLimit { return RateLimit{PerSecond: 500, Burst: 1000} }

// applyRateLimitEnv reads PAYSTATE_API_RATE_PER_SECOND and
// PAYSTATE_API_RATE_BURST.
func (c *Config) applyRateLimitEnv(env func(string) string) error {
	if v := env("PAYSTATE_API_RATE_PER_SECOND"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("config: PAYSTATE_API_RATE_PER_SECOND: %q is not a number", v)
		}
		c.APIRateLimit.PerSecond = f
	}
	if v := env("PAYSTATE_API_RATE_BURST"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("config: PAYSTATE_API_RATE_BURST: %q is not a whole number", v)
		}
		c.APIRateLimit.Burst = n
	}
	return nil
}

func (c *Config) validateRateLimit() []error {
	r := c.APIRateLimit
	var errs []error
	if r.PerSecond < 0 || r.PerSecond != r.PerSecond { // NaN
		errs = append(errs, errors.New("api_rate_limit.per_second must be 0 (off) or positive"))
	}
	if r.PerSecond > 0 && r.Burst < 1 {
		errs = append(errs, errors.New("api_rate_limit.burst must be at least 1"))
	}
	return errs
}
