package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/paystate/paystate/config"
	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/postgres"
	"github.com/paystate/paystate/storage/sqlite"
)

// adminFlags are the flags of an administrative command working on the
// database itself. Run rebuild --fix with the server stopped, or against a
// copy: it writes.
func adminFlags(name string, env func(string) string) (*flag.FlagSet, func() (config.Config, error)) {
	fs := newFlags(name)
	cfgPath := fs.String("config", env("PAYSTATE_CONFIG"), "YAML config file (env PAYSTATE_CONFIG)")
	dataDir := fs.String("data-dir", "", "data directory of the SQLite database (env PAYSTATE_DATA_DIR)")
	store := fs.String("store", "", "a postgres:// URL instead of SQLite (env PAYSTATE_STORE)")
	return fs, func() (config.Config, error) {
		cfg, err := config.Load(*cfgPath, env)
		if err != nil {
			return cfg, err
		}
		if *dataDir != "" {
			cfg.DataDir = *dataDir
		}
		if *store != "" {
			cfg.Store = *store
		}
		return cfg, nil
	}
}

// migrate applies the embedded migrations and reports the schema version;
// "migrate status" lists them, applied and pending, changing nothing.
func migrate(ctx context.Context, args []string, env func(string) string) error {
	status := len(args) > 0 && args[0] == "status"
	if status {
		args = args[1:]
	}
	fs, load := adminFlags("migrate", env)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage:\n  paystate migrate [flags]          apply the embedded schema migrations (creates the data directory)\n  paystate migrate status [flags]   list every migration, applied (when) or pending; changes nothing\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // asked for help, and got it
		}
		return err
	}
	if fs.NArg() == 1 && fs.Arg(0) == "status" && !status {
		status = true
	} else if fs.NArg() > 0 {
		return fmt.Errorf("migrate: unexpected %q: want \"migrate\" or \"migrate status\"", fs.Arg(0))
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	if status {
		return migrationStatus(ctx, cfg)
	}
	v, latest, applied, err := migrateStore(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "schema version %d (this binary knows up to %d); applied now: %v\n", v, latest, applied)
	return nil
}

// openAdminStore loads the configuration of an administrative command and
// opens its database; the caller closes it.
func openAdminStore(ctx context.Context, load func() (config.Config, error)) (config.Config, storage.Store, error) {
	cfg, err := load()
	if err != nil {
		return cfg, nil, err
	}
	store, _, err := openStore(ctx, cfg)
	return cfg, store, err
}

// migrationStatus prints a table of the migrations and a summary line.
func migrationStatus(ctx context.Context, cfg config.Config) error {
	var ms []storage.MigrationStatus
	var err error
	if cfg.Store == "" {
		ms, err = sqlite.MigrationStatus(ctx, sqlitePath(cfg))
	} else {
		ms, err = postgres.MigrationStatus(ctx, cfg.Store, pgOptions(cfg)...)
	}
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tNAME\tAPPLIED")
	pending, unknown := 0, 0
	for _, m := range ms {
		when := m.AppliedAt.Format(time.RFC3339)
		switch {
		case m.Unknown:
			unknown++
			when += " (unknown to this binary: a newer paystate migrated the database)"
		case m.AppliedAt.IsZero():
			pending++
			when = "pending"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\n", m.Version, m.Name, when)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	switch {
	case unknown > 0:
		fmt.Fprintf(stdout, "the database is newer than this binary (%d migration(s) it does not know): upgrade paystate\n", unknown)
	case pending > 0:
		fmt.Fprintf(stdout, "%d pending: run \"paystate migrate\" (serve applies them too)\n", pending)
	default:
		fmt.Fprintln(stdout, "up to date")
	}
	return nil
}
