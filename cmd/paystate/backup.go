package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/paystate/paystate/checkpoint"
	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/sqlite"
)

// errBackupUnverified makes backup exit non-zero when the copy it made
// does not verify.
var errBackupUnverified = errors.New("backup: the copy does not verify")

// newBackupCmd: backup copies the SQLite database beside a running
// server. Unlike migrate and rebuild --fix it takes no lock: it only
// reads, and a backup is meant to run while the server serves.
func newBackupCmd(env func(string) string) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "backup --out FILE",
		Short: "copy the SQLite database, consistent while a server runs, and verify the copy",
		Long: `Copies the SQLite database as of one commit into FILE, while a server may be
running and writing (it takes no lock), then opens the copy read-only and
verifies its hash chain and its stored checkpoints (not the tables derived
from the journal: run rebuild or verify after a restore). It prints the
copy's journal head, its aggregates and its size, and exits 1 if the copy
does not verify (nothing is then left under FILE). An existing FILE is never
overwritten. On PostgreSQL, use pg_dump. To restore, see the README,
"Backing up and restoring".`,
		Args: cobra.NoArgs,
	}
	o := addAdminFlags(cmd, env)
	cmd.Flags().StringVar(&out, "out", "", "the file to write (must not exist)")
	_ = cmd.MarkFlagRequired("out")
	_ = cmd.MarkFlagFilename("out", "db")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return backup(cmd.Context(), o, out) }
	return cmd
}

func backup(ctx context.Context, o *adminOptions, out string) error {
	cfg, err := o.load()
	if err != nil {
		return err
	}
	if cfg.Store != "" {
		return fmt.Errorf("backup: the store is PostgreSQL (%s): back it up with pg_dump, or your usual PostgreSQL backups; "+
			"paystate backup copies the embedded SQLite database only", redactDSN(cfg.Store))
	}
	src := sqlitePath(cfg)
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("backup: no database to copy: %w", err)
	}
	if _, err := os.Lstat(out); err == nil {
		return fmt.Errorf("backup: %s already exists: refusing to overwrite it", out)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("backup: %w", err)
	}
	start := time.Now()
	tmp, err := copyDatabase(ctx, src, out)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // after the link: only the temporary name goes
	copied := time.Since(start)
	sum, err := verifyCopy(ctx, tmp)
	if err != nil {
		return err
	}
	sum.src, sum.copied, sum.checked = src, copied, time.Since(start)-copied
	sum.print(stdout)
	// A copy that does not verify gets no name: it must not pass for a
	// good backup later. The store it came from is what to look at.
	if !sum.ok() {
		return fmt.Errorf("%w, so nothing was written to %s: the store itself is likely damaged: run paystate verify", errBackupUnverified, out)
	}
	if err := publish(tmp, out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "written to %s\n", out)
	return nil
}

// copyDatabase copies the database at src into a new temporary file beside
// out, synced, and returns its name. The copy goes to a temporary name in
// out's directory first, so that a crash never leaves half a file under
// out, and publish can give it its name without copying it again.
func copyDatabase(ctx context.Context, src, out string) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*.tmp") // mode 0600, as the database
	if err != nil {
		return "", fmt.Errorf("backup: %w", err)
	}
	tmp := f.Name()
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return "", err
	}
	if err := sqlite.Backup(ctx, src, tmp); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("backup: copy %s: %w", src, err)
	}
	if err := syncFile(tmp); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("backup: %w", err)
	}
	return tmp, nil
}

// publish gives the synced copy at tmp the name out. A hard link, not a
// rename: it fails if out appeared meanwhile, where a rename would
// replace it. The directory is synced so that the name survives a crash.
func publish(tmp, out string) error {
	if err := os.Link(tmp, out); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("backup: %s already exists: refusing to overwrite it", out)
		}
		return fmt.Errorf("backup: %w", err)
	}
	if err := syncFile(filepath.Dir(out)); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}

// backupSummary is what a backup holds and how its verification went.
type backupSummary struct {
	src             string
	size            int64
	chain           storage.ChainReport
	aggregates      int64
	checkpoints     []storage.Checkpoint
	findings        []checkpoint.Finding
	copied, checked time.Duration
}

func (s *backupSummary) ok() bool { return s.chain.OK && len(s.findings) == 0 }

// verifyCopy opens the database file at path read-only and checks its
// hash chain (storage.VerifyChain, as paystate verify does first) and its
// stored checkpoints against that journal, and counts its aggregates.
// Not the replay of every derived table that verify adds: that holds the
// whole replay in memory, minutes and gigabytes on a large store, beside
// a live server; the tables derive from the journal, and the restore
// procedure runs rebuild on the restored file. Only an error reading the
// file is returned as an error; what the checks find is in the summary.
func verifyCopy(ctx context.Context, path string) (*backupSummary, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	r, err := sqlite.OpenReadOnly(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("backup: open the copy: %w", err)
	}
	defer r.Close()
	s := &backupSummary{size: fi.Size()}
	if s.chain, err = storage.VerifyChain(ctx, r); err == nil {
		s.checkpoints, err = checkpoint.Stored(ctx, r)
	}
	if err == nil {
		s.findings, err = checkpoint.Against(ctx, r, s.checkpoints, "")
	}
	if err == nil {
		s.aggregates, err = r.AggregateCount(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("backup: verify the copy: %w", err)
	}
	return s, nil
}

func (s *backupSummary) print(w io.Writer) {
	fmt.Fprintf(w, "copied %s: %d bytes in %s, checked in %s\n", s.src, s.size,
		s.copied.Round(time.Millisecond), s.checked.Round(time.Millisecond))
	fmt.Fprintf(w, "journal head      %d %s\n", s.chain.Head.Seq, s.chain.Head.Hash)
	fmt.Fprintf(w, "aggregates        %d\n", s.aggregates)
	if n := len(s.checkpoints); n > 0 {
		c := s.checkpoints[n-1]
		fmt.Fprintf(w, "newest checkpoint sequence %d, signed %s by key %s\n", c.Head.Seq, c.SignedAt.UTC().Format(time.RFC3339), c.KeyID)
	} else {
		fmt.Fprintln(w, "newest checkpoint none")
	}
	switch {
	case !s.chain.OK:
		fmt.Fprintf(w, "NOT VERIFIED: the hash chain is broken at %d (%s)\n", s.chain.FirstBad, s.chain.Problem)
	case !s.ok():
		fmt.Fprintf(w, "NOT VERIFIED: %d checkpoint(s) the journal does not hold as signed\n", len(s.findings))
		for _, f := range s.findings {
			fmt.Fprintf(w, "  checkpoints %d: %s\n", f.Seq, f.Detail)
		}
	default:
		fmt.Fprintf(w, "verified: the hash chain (%d entries) and %d stored checkpoint(s)\n", s.chain.Checked, len(s.checkpoints))
	}
}
