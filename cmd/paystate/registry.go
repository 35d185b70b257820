package main

import (
	"fmt"
	"os"

	"github.com/paystate/paystate/config"
	"github.com/paystate/paystate/providers"
	"github.com/paystate/paystate/providers/generic"
	"github.com/paystate/paystate/providers/inyo"
	"github.com/paystate/paystate/providers/magnius"
	"github.com/paystate/paystate/providers/ngenius"
	"github.com/paystate/paystate/providers/payengine"
)

// provider is one line of the registry: how to tell whether the operator
// configured the provider, and how to build it from the configuration.
type provider struct {
	name       string
	configured func(config.Providers) bool
	build      func(config.Providers) (providers.Provider, error)
}

// registry lists every provider paystate knows. Adding a provider is one
// line here plus its package.
var providerRegistry = []provider{
	{ngenius.Name,
		func(c config.Providers) bool { return c.NGenius.HeaderName != "" || c.NGenius.AllowUnauthenticated },
		func(c config.Providers) (providers.Provider, error) {
			return ngenius.New(ngenius.Config{HeaderName: c.NGenius.HeaderName, HeaderValues: c.NGenius.HeaderValues,
				AllowUnauthenticated: c.NGenius.AllowUnauthenticated}), nil
		}},
	{magnius.Name,
		func(c config.Providers) bool { return len(c.Magnius.PublicKeys)+len(c.Magnius.PublicKeyFiles) > 0 },
		func(c config.Providers) (providers.Provider, error) {
			keys := append([]string(nil), c.Magnius.PublicKeys...)
			for i, f := range c.Magnius.PublicKeyFiles {
				pem, err := os.ReadFile(f)
				if err != nil {
					return nil, fmt.Errorf("public_key_files[%d]: %w", i, err)
				}
				// Each file on its own first, so that a bad one is named.
				if _, err := magnius.New(magnius.Config{PublicKeysPEM: []string{string(pem)}}); err != nil {
					return nil, fmt.Errorf("public_key_files[%d] %s: %w", i, f, err)
				}
				keys = append(keys, string(pem))
			}
			return magnius.New(magnius.Config{PublicKeysPEM: keys})
		}},
	{payengine.Name,
		func(c config.Providers) bool { return len(c.PayEngine.Secrets) > 0 },
		func(c config.Providers) (providers.Provider, error) {
			cfg := payengineConfig(c)
			if err := cfg.Validate(); err != nil {
				return nil, err
			}
			return payengine.New(cfg), nil
		}},
	{inyo.Name,
		func(c config.Providers) bool { return len(c.Inyo.Basic) > 0 || len(c.Inyo.Bearer) > 0 },
		func(c config.Providers) (providers.Provider, error) {
			return inyo.New(inyoConfig(c)), nil
		}},
	{generic.Name,
		func(c config.Providers) bool { return len(c.Generic.Secrets) > 0 },
		func(c config.Providers) (providers.Provider, error) {
			return generic.New(genericConfig(c)), nil
		}},
}

func payengineConfig(c config.Providers) payengine.Config {
	return payengine.Config{Secrets: c.PayEngine.Secrets, Tolerance: c.PayEngine.Tolerance.Duration, DefaultCurrency: c.PayEngine.DefaultCurrency}
}

func inyoConfig(c config.Providers) inyo.Config {
	cfg := inyo.Config{Bearer: c.Inyo.Bearer, Currency: c.Inyo.Currency}
	for _, b := range c.Inyo.Basic {
		cfg.Basic = append(cfg.Basic, inyo.BasicCredential{User: b.User, Password: b.Password})
	}
	return cfg
}

func genericConfig(c config.Providers) generic.Config {
	return generic.Config{Secrets: c.Generic.Secrets, Algorithm: c.Generic.Algorithm, Encoding: c.Generic.Encoding}
}

// enabledProviders builds the providers the configuration enables; the
// others stay off (their webhook route answers 404).
func enabledProviders(c config.Providers) ([]providers.Provider, []string, error) {
	var out []providers.Provider
	var off []string
	for _, r := range providerRegistry {
		if !r.configured(c) {
			off = append(off, r.name)
			continue
		}
		p, err := r.build(c)
		if err != nil {
			return nil, nil, fmt.Errorf("providers.%s: %w", r.name, err)
		}
		out = append(out, p)
	}
	return out, off, nil
}

// allProviders builds every provider, configured or not, for their tables
// (docs and the machines command).
func allProviders() ([]providers.Provider, error) {
	var out []providers.Provider
	for _, r := range providerRegistry {
		p, err := r.build(config.Providers{})
		if err != nil {
			return nil, fmt.Errorf("providers.%s: %w", r.name, err)
		}
		out = append(out, p)
	}
	return out, nil
}
