package main

import (
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

// errUpgradeUnderServer is what a command with an upgrade to apply fails
// with while a server of the version before runs on the store.
var errUpgradeUnderServer = errors.New("the store has an upgrade to apply while another paystate process uses it")

// lockMode is how a command holds the store (openStoreLocked).
type lockMode int

const (
	// lockNone: a tool that writes through the engine or not at all; it
	// holds the store alone only while it applies an upgrade.
	lockNone lockMode = iota
	// lockServe: a server. On SQLite one server per data directory; on
	// PostgreSQL any number of replicas share the lock, which keeps
	// rebuild --fix away while any of them runs.
	lockServe
	// lockAlone: a tool that rewrites state behind the engine
	// (rebuild --fix); on either backend it excludes every server.
	lockAlone
)

// pgLockErr says who holds a PostgreSQL store's lock that Open could not
// take in the mode asked for.
func pgLockErr(cfg config.Config, mode lockMode, err error) error {
	if !errors.Is(err, postgres.ErrLocked) {
		return err
	}
	holder := "a server (paystate serve) is using it"
	if mode == lockServe {
		holder = "a tool rewriting state (paystate rebuild --fix) holds it"
	}
	return fmt.Errorf("%s: %w: %s", redactDSN(cfg.Store), errStoreInUse, holder)
}

// lockStore takes an SQLite store's lock (the file beside the database)
// for the rest of the process (until release); it is exclusive, taken by
// a server and by a tool that must run alone. what names the command,
// for the message the next process will read.
func lockStore(cfg config.Config, what string) (release func(), err error) {
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
