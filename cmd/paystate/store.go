package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/paystate/paystate/config"
	"github.com/paystate/paystate/engine"
	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/postgres"
	"github.com/paystate/paystate/storage/sqlite"
)

// checkpointEvery is how often the SQLite WAL is checkpointed. SQLite
// checkpoints as the WAL grows, but a reader that holds a snapshot during
// every automatic attempt lets the WAL grow without bound; a periodic
// TRUNCATE checkpoint brings it back to zero once readers move on.
const checkpointEvery = 5 * time.Minute

// storeFlags are the flags choosing the database, shared by serve and the
// commands that open it themselves (migrate, rebuild, checkpoint sign and
// prove). Empty ones leave the configuration's value: a flag wins over
// its environment variable, which wins over the file.
type storeFlags struct {
	dataDir, store, storeSchema string
}

// add registers --data-dir (with its usage, which differs between serve and
// the others), --store and --store-schema.
func (f *storeFlags) add(cmd *cobra.Command, dataDirUsage, storeUsage string) {
	fs := cmd.Flags()
	fs.StringVar(&f.dataDir, "data-dir", "", dataDirUsage)
	fs.StringVar(&f.store, "store", "", storeUsage)
	fs.StringVar(&f.storeSchema, "store-schema", "", "the PostgreSQL schema, with --store (env PAYSTATE_STORE_SCHEMA; unset: the config's store_schema, or public)")
	_ = cmd.MarkFlagDirname("data-dir")
}

// apply sets the given flags over cfg; a schema for SQLite is refused
// rather than ignored.
func (f *storeFlags) apply(cfg *config.Config) error {
	for dst, v := range map[*string]string{&cfg.DataDir: f.dataDir, &cfg.Store: f.store, &cfg.StoreSchema: f.storeSchema} {
		if v != "" {
			*dst = v
		}
	}
	if f.storeSchema != "" && cfg.Store == "" {
		return errors.New("--store-schema is the PostgreSQL schema: it needs a postgres:// --store (or PAYSTATE_STORE, or the config's store)")
	}
	return nil
}

// openStore opens the configured database and describes it for logs (a
// PostgreSQL password never appears), logging to the default logger. It
// holds no lock on the store but while it applies an upgrade
// (openStoreLocked).
func openStore(ctx context.Context, cfg config.Config) (storage.Store, string, error) {
	store, db, release, err := openStoreLocked(ctx, cfg, slog.Default(), lockNone, "upgrading the store")
	if err == nil {
		release()
	}
	return store, db, err
}

// openStoreLocked opens the configured database holding the store as
// mode says until release (SQLite's lock file) or the store's Close
// (PostgreSQL's lock), logging to log. After the migrations, it derives
// what they left to the journal (engine.DeriveFacts) before it returns,
// so that no command, and no server, decides or reports on facts a
// migration could not fill.
//
// An upgrade (migrations to apply, or facts to derive) is applied only
// with the store held alone: a server of the version before holds it,
// and its code would go on writing under the new schema. The command
// then fails with a message that says to stop it first (on PostgreSQL
// after a short wait, naming how many replicas hold the store). what
// names the command, for the message the next process will read.
func openStoreLocked(ctx context.Context, cfg config.Config, log *slog.Logger, mode lockMode, what string) (_ storage.Store, db string, release func(), err error) {
	if cfg.Store != "" {
		db = redactDSN(cfg.Store)
		opts := append(pgOptions(cfg),
			postgres.WithAfterMigrate(func(ctx context.Context, s *postgres.Store) error { return deriveFacts(ctx, s, log) }),
			postgres.WithWaitNotice(func() {
				log.Info("waiting for another paystate process opening the store (it may be applying an upgrade)")
			}))
		if mode != lockNone {
			opts = append(opts, postgres.WithStoreLock(mode == lockAlone))
		}
		st, err := postgres.Open(ctx, cfg.Store, opts...)
		if err != nil {
			return nil, db, nil, pgLockErr(cfg, mode, err)
		}
		return st, db, func() {}, nil
	}
	path, err := makeDataDir(cfg)
	if err != nil {
		return nil, "", nil, err
	}
	db = "sqlite:" + path
	release = func() {}
	held := mode != lockNone
	alone := func() error {
		if held {
			return nil
		}
		unlock, err := lockForUpgrade(cfg, what)
		if err == nil {
			release, held = unlock, true
		}
		return err
	}
	if held {
		if release, err = lockStore(cfg, what); err != nil {
			return nil, db, nil, err
		}
	} else if due, err := sqliteUpgradeDue(ctx, path); err != nil {
		return nil, db, nil, err
	} else if due {
		if err := alone(); err != nil {
			return nil, db, nil, err
		}
	}
	defer func() {
		if err != nil {
			release()
		}
	}()
	st, err := sqlite.Open(ctx, path, sqlite.WithBusyTimeout(cfg.StoreTimeout.Duration))
	if err != nil {
		return nil, db, nil, err
	}
	// Facts a migration left while a server ran (the migrate of an
	// older binary, which took no lock) are an upgrade too.
	pending, err := st.FactsPending(ctx)
	if err == nil && pending {
		err = alone()
	}
	if err != nil {
		st.Close()
		return nil, db, nil, err
	}
	if err = deriveFacts(ctx, st, log); err != nil {
		st.Close()
		return nil, db, nil, err
	}
	return st, db, release, nil
}

// lockForUpgrade takes an SQLite store's lock to apply an upgrade; held
// by a server, it says to stop that first.
func lockForUpgrade(cfg config.Config, what string) (release func(), err error) {
	release, err = lockStore(cfg, what)
	if errors.Is(err, errStoreInUse) {
		return nil, fmt.Errorf("%w: %w: stop the server running the older version, then run this one", err, errUpgradeUnderServer)
	}
	return release, err
}

// sqliteUpgradeDue reports whether the SQLite database at path exists and
// has migrations to apply.
func sqliteUpgradeDue(ctx context.Context, path string) (bool, error) {
	v, err := sqlite.SchemaVersion(ctx, path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil && v < sqlite.LatestSchemaVersion(), err
}

// factsLogEvery is how often deriveFacts logs its progress.
const factsLogEvery = 5 * time.Second

// deriveFacts runs engine.DeriveFacts with its progress in the log. A
// login that may not write (an auditor's) leaves them to the next open
// that may; the audit does not report them meanwhile.
func deriveFacts(ctx context.Context, s storage.Store, log *slog.Logger) error {
	reg, err := registry()
	if err != nil {
		return err
	}
	start := time.Now()
	last := start
	replayed := false
	done, err := engine.DeriveFacts(ctx, s, reg, func(p engine.FactsProgress) {
		switch {
		case !p.Replayed:
			log.Info("deriving the amount facts the migration left from the journal: replaying it (no verdict is decided until this is done)")
		case !replayed:
			replayed = true
			log.Info("deriving amount facts: journal replayed", "elapsed", time.Since(start).Round(time.Millisecond))
		default:
			if now := time.Now(); now.Sub(last) >= factsLogEvery {
				last = now
				log.Info("deriving amount facts", "aggregates_compared", p.Compared, "rewritten", p.Rewritten)
			}
		}
	})
	if errors.Is(err, storage.ErrReadOnly) {
		log.Warn("this login may not write: the amount facts the migration left are derived at the next open by one that may", "err", err)
		return nil
	}
	if done != nil {
		log.Info("amount facts derived from the journal", "aggregates", done.Compared, "rewritten", done.Rewritten,
			"elapsed", time.Since(start).Round(time.Millisecond))
	}
	return err
}

// startAttrs are the start line's words on what serve runs with: the
// database (and, on PostgreSQL, its schema), development mode, the
// reconciler, TLS and the tracing collector ("off" without one).
func startAttrs(cfg config.Config, db string) []any {
	attrs := []any{"db", db}
	if cfg.Store != "" {
		attrs = append(attrs, "schema", or(cfg.StoreSchema, "public"))
	}
	tracing := "off"
	if cfg.Tracing.Enabled() {
		tracing = cfg.Tracing.Protocol + " " + cfg.Tracing.OTLPEndpoint
	}
	return append(attrs, "dev_mode", cfg.Dev, "reconcile", cfg.ReconcileEnabled(), "tls", cfg.TLS.CertFile != "", "tracing", tracing)
}

// sqlitePath is the SQLite database's path in the data directory.
func sqlitePath(cfg config.Config) string { return filepath.Join(cfg.DataDir, "paystate.db") }

// makeDataDir creates the data directory as serve does (private to the
// user) and returns the database's path in it.
func makeDataDir(cfg config.Config) (string, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return "", err
	}
	return sqlitePath(cfg), nil
}

func pgOptions(cfg config.Config) []postgres.Option {
	opts := []postgres.Option{postgres.WithTimeout(cfg.StoreTimeout.Duration)}
	if cfg.StoreSchema != "" {
		opts = append(opts, postgres.WithSchema(cfg.StoreSchema))
	}
	return opts
}

// migrateStore applies the embedded migrations of the configured backend,
// and derives what they left to the journal (openStore) now rather than
// at serve's first open.
func migrateStore(ctx context.Context, cfg config.Config) (version, latest int, applied []int, err error) {
	if version, latest, applied, err = migrateSchema(ctx, cfg); err != nil {
		return 0, 0, nil, err
	}
	store, _, err := openStore(ctx, cfg)
	if err != nil {
		return 0, 0, nil, err
	}
	return version, latest, applied, store.Close()
}

// migrateSchema applies the embedded migrations of the configured backend.
func migrateSchema(ctx context.Context, cfg config.Config) (version, latest int, applied []int, err error) {
	if cfg.Store == "" {
		path, err := makeDataDir(cfg)
		if err != nil {
			return 0, 0, nil, err
		}
		// Not under a server of the version before (openStoreLocked).
		if due, err := sqliteUpgradeDue(ctx, path); err != nil {
			return 0, 0, nil, err
		} else if due {
			unlock, err := lockForUpgrade(cfg, "migrate")
			if err != nil {
				return 0, 0, nil, err
			}
			defer unlock()
		}
		if applied, err = sqlite.Migrate(ctx, path); err != nil {
			return 0, 0, nil, err
		}
		version, err = sqlite.SchemaVersion(ctx, path)
		return version, sqlite.LatestSchemaVersion(), applied, err
	}
	if applied, err = postgres.Migrate(ctx, cfg.Store, pgOptions(cfg)...); err != nil {
		return 0, 0, nil, err
	}
	version, err = postgres.SchemaVersion(ctx, cfg.Store, pgOptions(cfg)...)
	return version, postgres.LatestSchemaVersion(), applied, err
}

// keepCheckpointing checkpoints an SQLite store until ctx ends.
func keepCheckpointing(ctx context.Context, store storage.Store, log *slog.Logger) {
	s, ok := store.(*sqlite.Store)
	if !ok {
		return
	}
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Checkpoint(ctx); err != nil {
				log.Warn("wal checkpoint", "err", err)
			}
		}
	}
}

func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "postgres"
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	return u.String()
}
