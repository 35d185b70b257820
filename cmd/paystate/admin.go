package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/paystate/paystate/config"
	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/postgres"
	"github.com/paystate/paystate/storage/sqlite"
)

// adminOptions are the flags of an administrative command working on the
// database itself. Run rebuild --fix with the server stopped, or against a
// copy: it writes.
type adminOptions struct {
	config string
	storeFlags
	env func(string) string
}

func addAdminFlags(cmd *cobra.Command, env func(string) string) *adminOptions {
	o := &adminOptions{env: env}
	f := cmd.Flags()
	f.StringVar(&o.config, "config", "", "YAML config file")
	envFlag(cmd, "config", "PAYSTATE_CONFIG")
	o.storeFlags.add(cmd, "data directory of the SQLite database (env PAYSTATE_DATA_DIR; unset: the config's, or ./paystate-data)",
		"a postgres:// URL instead of SQLite (env PAYSTATE_STORE)")
	_ = cmd.MarkFlagFilename("config", "yaml", "yml")
	return o
}

// load is the configuration: the file, the environment, then the flags.
func (o *adminOptions) load() (config.Config, error) {
	cfg, err := config.Load(o.config, o.env)
	if err != nil {
		return cfg, err
	}
	return cfg, o.storeFlags.apply(&cfg)
}

func newMigrateCmd(env func(string) string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "apply the embedded schema migrations (creating the data directory)",
		Long: `Applies the embedded schema migrations (serve applies them too) and reports
the schema version; creates the data directory as serve does. "migrate
status" lists them, applied or pending, and changes nothing.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("migrate: unexpected %q: want \"migrate\" or \"migrate status\"", args[0])
			}
			return nil
		},
	}
	o := addAdminFlags(cmd, env)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := o.load()
		if err != nil {
			return err
		}
		v, latest, applied, err := migrateStore(cmd.Context(), cfg)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "schema version %d (this binary knows up to %d); applied now: %v\n", v, latest, applied)
		return nil
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "list every migration, its state (applied, pending or unknown) and when applied; changes nothing",
		Args:  cobra.NoArgs,
	}
	so := addAdminFlags(status, env)
	out := outputFlag(status, formatTable)
	status.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := so.load()
		if err != nil {
			return err
		}
		return migrationStatus(cmd.Context(), cfg, out.JSON())
	}
	cmd.AddCommand(status)
	return cmd
}

// openAdminStore loads the configuration of an administrative command and
// opens its database; the caller closes it.
func openAdminStore(ctx context.Context, o *adminOptions) (config.Config, storage.Store, error) {
	cfg, err := o.load()
	if err != nil {
		return cfg, nil, err
	}
	store, _, err := openStore(ctx, cfg)
	return cfg, store, err
}

// migrationStatus prints a table of the migrations and a summary line.
func migrationStatus(ctx context.Context, cfg config.Config, asJSON bool) error {
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
	if asJSON {
		type row struct {
			Version   int        `json:"version"`
			Name      string     `json:"name"`
			State     string     `json:"state"` // applied, pending or unknown (a newer binary's)
			AppliedAt *time.Time `json:"applied_at,omitempty"`
		}
		rows := make([]row, 0, len(ms))
		for _, m := range ms {
			r := row{Version: int(m.Version), Name: m.Name, State: migrationState(m)}
			if r.State != "pending" {
				at := m.AppliedAt.UTC()
				r.AppliedAt = &at
			}
			rows = append(rows, r)
		}
		return writeJSON(stdout, rows)
	}
	t := newTable(stdout, "VERSION", "NAME", "STATE", "APPLIED")
	pending, unknown := 0, 0
	for _, m := range ms {
		state, when := migrationState(m), "-"
		switch state {
		case "unknown":
			unknown++
		case "pending":
			pending++
		}
		if state != "pending" {
			when = m.AppliedAt.UTC().Format(time.RFC3339)
		}
		t.row(m.Version, m.Name, state, when)
	}
	if err := t.flush(stdout, "no migrations"); err != nil {
		return err
	}
	switch {
	case unknown > 0:
		fmt.Fprintf(stdout, "the database is newer than this binary (%d migration(s) it does not know, state unknown: a newer paystate applied them): upgrade paystate\n", unknown)
	case pending > 0:
		fmt.Fprintf(stdout, "%d pending: run \"paystate migrate\" (serve applies them too)\n", pending)
	default:
		fmt.Fprintln(stdout, "up to date")
	}
	return nil
}

// migrationState is "applied", "pending" or "unknown" (applied by a newer
// binary), as both the table and the JSON of migrate status say it.
func migrationState(m storage.MigrationStatus) string {
	switch {
	case m.Unknown:
		return "unknown"
	case m.AppliedAt.IsZero():
		return "pending"
	}
	return "applied"
}
