package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/paystate/paystate/config"
)

const configUsage = `Usage:
  paystate config check [--no-env] FILE

Reads FILE as "paystate serve --config FILE" would (with the PAYSTATE_*
environment applied, unless --no-env) and reports every problem with its
line. Exit status 1 when there are problems; otherwise prints the effective
configuration with secrets redacted.
`

// cmdConfig is "paystate config ...".
func cmdConfig(args []string, env func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprint(stderr, configUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return nil
		}
		return errors.New("config: want \"config check FILE\"")
	}
	fs := newFlags("config check")
	fs.SetOutput(stderr)
	noEnv := fs.Bool("no-env", false, "ignore PAYSTATE_* environment variables: check the file alone")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() != 1 {
		fmt.Fprint(stderr, configUsage)
		return errors.New("config check: one FILE is required")
	}
	path := fs.Arg(0)
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config check: %w", err)
	}
	if *noEnv {
		env = func(string) string { return "" }
	}
	cfg, problems := config.Check(raw, env)
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
	out, err := config.Redacted(cfg)
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
