package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/paystate/paystate/config"
	"github.com/paystate/paystate/engine"
	"github.com/paystate/paystate/storage/postgres"
)

const configCheckLong = `Reads FILE as "paystate serve --config FILE" would (with the PAYSTATE_*
environment applied, unless --no-env) and reports every problem with its
line: unknown keys, bad values, and what serve would refuse at start —
TLS certificate and key files that are missing, unreadable, do not match
or have expired, Magnius public key files and the card-id key file that
do not hold a usable key, listen addresses and the PostgreSQL URL that do
not parse, a data_dir that is a file. It connects to nothing and creates
nothing. Exit status 1 when there are problems; otherwise prints the
effective configuration with secrets redacted.`

// newConfigCmd is "paystate config check FILE".
func newConfigCmd(env func(string) string) *cobra.Command {
	var noEnv bool
	check := &cobra.Command{
		Use:   "check FILE",
		Short: "explain every problem of a config file, with its line; or print the effective configuration, secrets redacted",
		Long:  configCheckLong,
		Args:  exactArgs("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return configCheck(args[0], noEnv, env, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	check.Flags().BoolVar(&noEnv, "no-env", false, "ignore PAYSTATE_* environment variables: check the file alone")
	return groupCmd("config", "check a config file", check)
}

// configCheck is "paystate config check [--no-env] FILE".
func configCheck(path string, noEnv bool, env func(string) string, stdout, stderr io.Writer) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config check: %w", err)
	}
	if noEnv {
		env = func(string) string { return "" }
	}
	cfg, problems := config.Check(raw, env, startupErrors)
	if len(problems) > 0 {
		for _, p := range problems {
			// file:line: is what editors and CI annotate.
			if p.Line > 0 {
				fmt.Fprintf(stderr, "%s:%d:%d: %s: %s\n", path, p.Line, p.Column, p.Path, p.Msg)
			} else {
				fmt.Fprintf(stderr, "%s: %s\n", path, p)
			}
		}
		return fmt.Errorf("config check: %s has %d problem(s)", path, len(problems))
	}
	out, err := config.Redacted(withDefaults(cfg))
	if err != nil {
		return err
	}
	reconcile := "off (no provider status API credentials)"
	if cfg.ReconcileEnabled() {
		reconcile = "on (N-Genius)"
	}
	fmt.Fprintf(stdout, "# %s is valid. Reconciler: %s.\n# The effective configuration (defaults, the file, then the environment), secrets redacted:\n%s", path, reconcile, out)
	return nil
}

// withDefaults is cfg with the defaults the engine and the providers
// apply to what it leaves unset (a zero batch size, tolerance, currency
// or algorithm) filled in, as they will run: what "config check" prints
// as the effective configuration. Each value comes from the component
// that applies it, through the same conversion serve makes.
func withDefaults(cfg config.Config) config.Config {
	cfg.BatchMaxEvents = engine.Config{MaxBatch: cfg.BatchMaxEvents}.WithDefaults().MaxBatch
	p := &cfg.Providers
	pe := payengineConfig(*p).WithDefaults()
	p.PayEngine.Tolerance.Duration, p.PayEngine.DefaultCurrency = pe.Tolerance, pe.DefaultCurrency
	p.Inyo.Currency = inyoConfig(*p).WithDefaults().Currency
	g := genericConfig(*p).WithDefaults()
	p.Generic.Algorithm, p.Generic.Encoding = g.Algorithm, g.Encoding
	return cfg
}

// startupErrors is what serve would refuse at start that the
// configuration's own rules cannot see: the files, keys and URLs it names.
// It shares the code serve starts with (ServerTLS, the provider registry).
func startupErrors(cfg config.Config) []error {
	errs := cfg.StartupErrors(time.Now())
	if _, _, err := enabledProviders(cfg.Providers); err != nil {
		errs = append(errs, err)
	}
	if cfg.Store != "" {
		if err := postgres.CheckDSN(cfg.Store); err != nil {
			errs = append(errs, fmt.Errorf("store: %w", err))
		}
	}
	if cfg.StoreSchema != "" {
		if err := postgres.CheckSchema(cfg.StoreSchema); err != nil {
			errs = append(errs, fmt.Errorf("store_schema: %w", err))
		}
	}
	return errs
}
