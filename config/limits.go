package config

import (
	"errors"
	"fmt"
	"strconv"
)

// DefaultAPIMaxStreams is the default of APIMaxStreams.
const DefaultAPIMaxStreams = 128

// applyLimitsEnv reads PAYSTATE_API_MAX_STREAMS.
func (c *Config) applyLimitsEnv(env func(string) string) error {
	if v := env("PAYSTATE_API_MAX_STREAMS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("config: PAYSTATE_API_MAX_STREAMS: %q is not a whole number", v)
		}
		c.APIMaxStreams = n
	}
	return nil
}

func (c *Config) validateLimits() []error {
	var errs []error
	if c.APIMaxStreams < 0 {
		errs = append(errs, errors.New("api_max_streams must be 0 (no cap) or positive"))
	}
	return errs
}
