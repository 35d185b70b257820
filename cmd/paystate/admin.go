package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/paystate/paystate/config"
	"github.com/paystate/paystate/storage"
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

// migrate applies the embedded migrations and reports the schema version.
func migrate(ctx context.Context, args []string, env func(string) string) error {
	fs, load := adminFlags("migrate", env)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := load()
	if err != nil {
		return err
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
