package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/paystate/paystate/api"
	"github.com/paystate/paystate/checkpoint"
	"github.com/paystate/paystate/config"
	pb "github.com/paystate/paystate/proto/paystate/v1"
	"github.com/paystate/paystate/storage"
)

// loadCheckpointKey is the configured checkpoint key, or nil when none is
// configured.
func loadCheckpointKey(cfg config.Config) (*checkpoint.Key, error) {
	if cfg.CheckpointKeyFile == "" {
		return nil, nil
	}
	return checkpoint.LoadKey(cfg.CheckpointKeyFile)
}

// signer signs the chain head and appends each new checkpoint to the
// server's checkpoint log, a file outside the database.
type signer struct {
	store storage.Store
	key   *checkpoint.Key
	path  string // the checkpoint log
	log   *slog.Logger
	last  int64 // sequence of the last checkpoint logged
}

// checkpointLogPath is checkpoint_log_file, by default beside the SQLite
// file it guards; on PostgreSQL (whose database is not in data_dir, and
// which several replicas share) only when configured. "" is no log.
func checkpointLogPath(cfg config.Config) string {
	if cfg.CheckpointLogFile == "" && cfg.Store == "" {
		return filepath.Join(cfg.DataDir, "checkpoints.jsonl")
	}
	return cfg.CheckpointLogFile
}

// newSigner checks the database against the last checkpoint in the log
// at path before anything is served: a database that no longer holds it
// (a lost -wal, an older backup restored, the tail cut) is refused, not
// silently served from an older state.
func newSigner(ctx context.Context, store storage.Store, key *checkpoint.Key, path string, log *slog.Logger) (*signer, error) {
	s := &signer{store: store, key: key, path: path, log: log}
	if path == "" {
		return s, nil
	}
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	// A line cut short by a crash while it was appended is dropped (so
	// that the next line starts clean): its checkpoint was committed
	// first and is signed again.
	if cut := bytes.LastIndexByte(raw, '\n') + 1; cut < len(raw) {
		log.Warn("checkpoint log: dropping a last line cut short", "path", path)
		if err := os.Truncate(path, int64(cut)); err != nil {
			return nil, err
		}
		raw = raw[:cut]
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return s, nil
	}
	cps, err := checkpoint.ReadLines(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("checkpoint log %s: %w", path, err)
	}
	last := cps[len(cps)-1]
	found, err := checkpoint.Against(ctx, store, []storage.Checkpoint{last}, key.ID)
	if err != nil {
		return nil, err
	}
	if len(found) > 0 {
		return nil, fmt.Errorf("serve: the database no longer holds the checkpoint this server signed last (%s): %s; "+
			"refusing to serve an older or altered journal. Restore the database, or, if this is the state you mean to serve, move %s aside",
			path, found[0].Detail, path)
	}
	s.last = last.Head.Seq
	return s, nil
}

// sign signs the head if it moved and logs the new checkpoint. It
// reports whether a checkpoint now stands for the journal (false while the
// journal is empty), or why signing failed.
func (s *signer) sign(ctx context.Context) (bool, error) {
	c, err := checkpoint.SignHead(ctx, s.store, s.key, time.Now())
	switch {
	case errors.Is(err, storage.ErrNotFound): // an empty journal
		return false, nil
	case err != nil:
		return false, err
	case c.Head.Seq <= s.last || s.path == "":
		return true, nil
	}
	if err := appendLine(s.path, c); err != nil {
		s.log.Warn("writing the checkpoint log", "path", s.path, "err", err)
		return true, nil // stored: GetChainHead serves it; the log catches up at the next one
	}
	s.last = c.Head.Seq
	return true, nil
}

// signLogged is sign, its failure logged as a warning.
func (s *signer) signLogged(ctx context.Context) bool {
	ok, err := s.sign(ctx)
	if err != nil {
		s.log.Warn("signing a checkpoint", "err", err)
	}
	return ok
}

// appendLine appends c to the file at path and syncs it.
func appendLine(path string, c storage.Checkpoint) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if err := checkpoint.WriteLine(f, c); err != nil {
		f.Close()
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}

// firstSignPoll is how often a server whose journal has no checkpoint
// yet looks for its first entry to sign.
var firstSignPoll = time.Second

// run signs at start and every interval until ctx ends; the server signs
// once more after its engine has drained. While no checkpoint stands for
// the journal (a new server's empty journal), it also signs as soon as the
// journal has an entry, within firstSignPoll, so that an auditor can export
// one right away rather than after checkpoint_interval. That checkpoint is
// of a real head, like every other: nothing is signed for an empty journal.
func (s *signer) run(ctx context.Context, every time.Duration) {
	signed := s.signLogged(ctx)
	t := time.NewTicker(every)
	defer t.Stop()
	first := time.NewTicker(firstSignPoll)
	defer first.Stop()
	var failing error // the last poll's failure, logged once, not every poll
	for {
		poll := first.C
		if signed {
			poll = nil
			first.Stop()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			signed = s.signLogged(ctx) || signed
		case <-poll:
			var err error
			signed, err = s.sign(ctx)
			if err != nil && failing == nil {
				s.log.Warn("signing a checkpoint", "err", err)
			}
			failing = err
		}
	}
}

// newCheckpointCmd is `paystate checkpoint sign|export|prove|check-proof`.
func newCheckpointCmd(env func(string) string) *cobra.Command {
	cmd := groupCmd("checkpoint", "sign and prove signed checkpoints of the journal; export one from a server",
		newCheckpointExportCmd(), newCheckpointSignCmd(env), newCheckpointProveCmd(env), newCheckpointCheckProofCmd())
	cmd.Long = `Signed checkpoints of the journal's chain head, for auditors: export (from a
running server), sign (now, on the database), prove (an entry is under a
signed tree root) and check-proof (offline).`
	return cmd
}

// checkpointSign signs the current head now, with the configured key and
// straight on the database (an administrative command, like rebuild).
func newCheckpointSignCmd(env func(string) string) *cobra.Command {
	var tree bool
	cmd := &cobra.Command{
		Use:   "sign",
		Short: "sign the chain head now (admin, on the database); --tree also signs a Merkle root for proofs",
		Args:  cobra.NoArgs,
	}
	o := addAdminFlags(cmd, env)
	cmd.Flags().BoolVar(&tree, "tree", false, "also sign the Merkle root over every entry (reads the whole journal), for inclusion proofs")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return checkpointSign(cmd.Context(), o, tree) }
	return cmd
}

func checkpointSign(ctx context.Context, o *adminOptions, tree bool) error {
	cfg, err := o.load()
	if err != nil {
		return err
	}
	if dev := filepath.Join(cfg.DataDir, config.DevCheckpointKeyFile); cfg.CheckpointKeyFile == "" && fileExists(dev) {
		cfg.CheckpointKeyFile = dev // development mode's
	}
	key, err := loadCheckpointKey(cfg)
	if err != nil {
		return err
	}
	if key == nil {
		return errors.New("checkpoint sign: no checkpoint_key_file is configured")
	}
	store, _, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	sign := checkpoint.SignHead
	if tree {
		sign = checkpoint.SignTreeHead
	}
	c, err := sign(ctx, store, key, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "checkpoint at sequence %d, hash %s, signed %s by key %s\n",
		c.Head.Seq, c.Head.Hash, c.SignedAt.Format(time.RFC3339), c.KeyID)
	if c.TreeRoot != "" {
		fmt.Fprintf(stdout, "tree root %s\n", c.TreeRoot)
	}
	return nil
}

// checkpointProve writes the proof that entry SEQ is included under a
// stored tree checkpoint (on the database, like rebuild): JSON an auditor
// checks with check-proof. By default the newest, the one `sign --tree`
// just signed and `export` hands the auditor; --tree-size picks an older
// one the auditor exported before.
func newCheckpointProveCmd(env func(string) string) *cobra.Command {
	var size int64
	cmd := &cobra.Command{
		Use:   "prove SEQ",
		Short: "prove entry SEQ is under a signed tree checkpoint, the newest by default (JSON, on the database)",
		Args:  exactArgs("SEQ"),
	}
	o := addAdminFlags(cmd, env)
	cmd.Flags().Int64Var(&size, "tree-size", 0,
		"prove under the stored tree checkpoint of this tree size (its sequence) instead of the newest")
	cmd.RunE = func(cmd *cobra.Command, args []string) error { return checkpointProve(cmd.Context(), o, args[0], size) }
	return cmd
}

func checkpointProve(ctx context.Context, o *adminOptions, arg string, size int64) error {
	var seq int64
	if _, err := fmt.Sscan(arg, &seq); err != nil || seq < 1 {
		return fmt.Errorf("checkpoint prove: %q is not a journal sequence", arg)
	}
	if size < 0 {
		return fmt.Errorf("checkpoint prove: --tree-size %d is not a journal sequence", size)
	}
	_, store, err := openAdminStore(ctx, o)
	if err != nil {
		return err
	}
	defer store.Close()
	cps, err := checkpoint.Stored(ctx, store)
	if err != nil {
		return err
	}
	cp, err := treeCheckpoint(cps, seq, size)
	if err != nil {
		return fmt.Errorf("checkpoint prove: %w", err)
	}
	p, err := checkpoint.Prove(ctx, store, cp, seq)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(p)
}

// treeCheckpoint picks, from the stored checkpoints in sequence order, the
// tree checkpoint to prove entry seq under: the one of tree size size, or
// with size 0 the newest.
func treeCheckpoint(cps []storage.Checkpoint, seq, size int64) (storage.Checkpoint, error) {
	var sizes []int64
	for _, cp := range slices.Backward(cps) {
		if cp.TreeRoot == "" {
			continue
		}
		if size == 0 || cp.Head.Seq == size {
			if cp.Head.Seq < seq {
				return storage.Checkpoint{}, fmt.Errorf("entry %d is after the tree checkpoint of size %d (paystate checkpoint sign --tree signs the head now)", seq, cp.Head.Seq)
			}
			return cp, nil
		}
		sizes = append(sizes, cp.Head.Seq)
	}
	if len(sizes) == 0 {
		return storage.Checkpoint{}, errors.New("no stored checkpoint signs a tree root (paystate checkpoint sign --tree)")
	}
	return storage.Checkpoint{}, fmt.Errorf("no stored tree checkpoint has size %d; the stored ones, newest first: %v", size, sizes)
}

// checkpointCheckProof checks a proof offline; with --checkpoint, its
// checkpoint must also be one of the file's (the auditor's own copies).
func newCheckpointCheckProofCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "check-proof PROOF",
		Short: "check a proof made by prove, offline",
		Args:  exactArgs("PROOF"),
		RunE:  func(_ *cobra.Command, args []string) error { return checkpointCheckProof(args[0], file) },
	}
	cmd.Flags().StringVar(&file, "checkpoint", "", "exported checkpoints the proof's checkpoint must be one of")
	return cmd
}

func checkpointCheckProof(proof, file string) error {
	raw, err := os.ReadFile(proof)
	if err != nil {
		return err
	}
	var p checkpoint.Proof
	if err := json.Unmarshal(raw, &p); err != nil {
		return fmt.Errorf("checkpoint check-proof: %w", err)
	}
	if err := p.Check(); err != nil {
		return fmt.Errorf("checkpoint check-proof: %w", err)
	}
	cp := p.Checkpoint.Checkpoint()
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		held, err := checkpoint.ReadLines(f)
		f.Close()
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(held, func(h storage.Checkpoint) bool {
			return h.Head == cp.Head && h.TreeRoot == cp.TreeRoot && bytes.Equal(h.Signature, cp.Signature)
		}) {
			return fmt.Errorf("checkpoint check-proof: the proof's checkpoint (sequence %d) is not one of %s", cp.Head.Seq, file)
		}
	}
	fmt.Fprintf(stdout, "entry %d (%s %s) is included under checkpoint %d, signed %s by key %s\n",
		p.Entry.Seq, p.Entry.Event, p.Entry.Verdict, cp.Head.Seq, cp.SignedAt.Format(time.RFC3339), cp.KeyID)
	return nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// checkpointExport appends the server's newest signed checkpoint to a
// file (JSON Lines), for an auditor to keep where paystate cannot write.
func newCheckpointExportCmd() *cobra.Command {
	var out string
	cmd := clientCmd("export", "append the server's newest signed checkpoint (JSON Lines) to --out, or print it", cobra.NoArgs,
		func(ctx context.Context, c *client, _ []string) error {
			h, err := pb.NewAuditServiceClient(c.conn).GetChainHead(c.ctx(ctx), &pb.GetChainHeadRequest{})
			if err != nil {
				return err
			}
			if h.GetCheckpoint() == nil {
				// A server with a key signs its head within a second of the
				// journal's first entry; before that there is nothing to
				// sign. Without a key it never signs.
				if h.GetSequence() == 0 {
					return errors.New("checkpoint export: the journal is empty, so there is no checkpoint yet: " +
						"the server signs its chain head as soon as the journal has an entry")
				}
				return errors.New("checkpoint export: the server has signed no checkpoint: it signs its chain head " +
					"only with a checkpoint_key_file (development mode makes one); `paystate checkpoint sign` signs now")
			}
			cp := api.FromSignedCheckpoint(h.GetCheckpoint())
			if err := checkpoint.Verify(cp); err != nil {
				return fmt.Errorf("checkpoint export: the server's checkpoint does not verify: %w", err)
			}
			var w io.Writer = stdout
			if out != "" {
				f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			if err := checkpoint.WriteLine(w, cp); err != nil {
				return err
			}
			if out != "" {
				fmt.Fprintf(stdout, "checkpoint at sequence %d (key %s) appended to %s\n", cp.Head.Seq, cp.KeyID, out)
			}
			return nil
		})
	cmd.Flags().StringVar(&out, "out", "", "append to this file (JSON Lines) instead of printing")
	return cmd
}
