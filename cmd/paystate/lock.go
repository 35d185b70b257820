package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/paystate/paystate/config"
	"github.com/paystate/paystate/storage/postgres"
)

// LockFile is the file beside the SQLite database that serve and
// rebuild --fix lock, so that neither runs on a database another process
// is writing.
const LockFile = "paystate.lock"

// errStoreInUse is what lockStore fails with when another process holds
// the store; its message says who, when it can.
var errStoreInUse = errors.New("the store is in use by another paystate process")

// lockStore takes the store's lock for the rest of the process (until
// release). A server locks for serving: on SQLite one server per data
// directory, on PostgreSQL any number of replicas share the lock. A tool
// that rewrites state behind the engine locks exclusively: on either
// backend it excludes every server. what names the command, for the
// message the next process will read.
func lockStore(ctx context.Context, cfg config.Config, exclusive bool, what string) (release func(), err error) {
	if cfg.Store != "" {
		release, err := postgres.Lock(ctx, cfg.Store, exclusive, pgOptions(cfg)...)
		if errors.Is(err, postgres.ErrLocked) {
			holder := "a server (paystate serve) is using it"
			if !exclusive {
				holder = "a tool rewriting state (paystate rebuild --fix) holds it"
			}
			return nil, fmt.Errorf("%s: %w: %s", redactDSN(cfg.Store), errStoreInUse, holder)
		}
		return release, err
	}
	if _, err := makeDataDir(cfg); err != nil {
		return nil, err
	}
	path := filepath.Join(cfg.DataDir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := flock(f); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, errWouldBlock) {
			who := strings.TrimSpace(string(holder))
			if who == "" {
				who = "unknown"
			}
			return nil, fmt.Errorf("data directory %s: %w (%s)", cfg.DataDir, errStoreInUse, who)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// Who holds it, for the message of the process that finds it locked.
	if err := f.Truncate(0); err == nil {
		fmt.Fprintf(f, "pid %d, paystate %s\n", os.Getpid(), what)
	}
	return func() { f.Close() }, nil
}
