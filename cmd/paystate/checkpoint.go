package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

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

// keepSigning signs the chain head at start, every interval when it has
// moved, and once more when ctx ends (the last head before a clean stop).
func keepSigning(ctx context.Context, store storage.Store, key *checkpoint.Key, every time.Duration, log *slog.Logger) {
	sign := func(ctx context.Context) {
		c, err := checkpoint.SignHead(ctx, store, key, time.Now())
		switch {
		case errors.Is(err, storage.ErrNotFound): // an empty journal
		case err != nil:
			log.Warn("signing a checkpoint", "err", err)
		default:
			log.Debug("checkpoint", "seq", c.Head.Seq, "key_id", c.KeyID)
		}
	}
	sign(ctx)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			sign(final)
			cancel()
			return
		case <-t.C:
			sign(ctx)
		}
	}
}

// cmdCheckpoint is `paystate checkpoint sign|export`.
func cmdCheckpoint(ctx context.Context, args []string, env func(string) string) error {
	const want = "want sign, export, prove or check-proof"
	if len(args) == 0 {
		return errors.New("checkpoint: " + want)
	}
	switch args[0] {
	case "sign":
		return checkpointSign(ctx, args[1:], env)
	case "export":
		return checkpointExport(ctx, args[1:], env)
	case "prove":
		return checkpointProve(ctx, args[1:], env)
	case "check-proof":
		return checkpointCheckProof(args[1:])
	}
	return fmt.Errorf("checkpoint: unknown subcommand %q: %s", args[0], want)
}

// checkpointSign signs the current head now, with the configured key and
// straight on the database (an administrative command, like rebuild).
func checkpointSign(ctx context.Context, args []string, env func(string) string) error {
	fs, load := adminFlags("checkpoint sign", env)
	tree := fs.Bool("tree", false, "also sign the Merkle root over every entry (reads the whole journal), for inclusion proofs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := load()
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
	if *tree {
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

// checkpointProve writes the proof that entry SEQ is included under the
// oldest stored tree checkpoint that covers it (on the database, like
// rebuild): JSON an auditor checks with check-proof.
func checkpointProve(ctx context.Context, args []string, env func(string) string) error {
	fs, load := adminFlags("checkpoint prove", env)
	if err := fs.Parse(args); err != nil {
		return err
	}
	var seq int64
	if fs.NArg() != 1 {
		return errors.New("checkpoint prove: want the sequence of one journal entry")
	}
	if _, err := fmt.Sscan(fs.Arg(0), &seq); err != nil || seq < 1 {
		return fmt.Errorf("checkpoint prove: %q is not a journal sequence", fs.Arg(0))
	}
	_, store, err := openAdminStore(ctx, load)
	if err != nil {
		return err
	}
	defer store.Close()
	cps, err := checkpoint.Stored(ctx, store)
	if err != nil {
		return err
	}
	for _, cp := range cps {
		if cp.TreeRoot == "" || cp.Head.Seq < seq {
			continue
		}
		p, err := checkpoint.Prove(ctx, store, cp, seq)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(p)
	}
	return fmt.Errorf("checkpoint prove: no stored checkpoint with a tree root covers entry %d (paystate checkpoint sign --tree)", seq)
}

// checkpointCheckProof checks a proof offline; with --checkpoint, its
// checkpoint must also be one of the file's (the auditor's own copies).
func checkpointCheckProof(args []string) error {
	fs := newFlags("checkpoint check-proof")
	file := fs.String("checkpoint", "", "exported checkpoints the proof's checkpoint must be one of")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("checkpoint check-proof: want one proof file")
	}
	raw, err := os.ReadFile(fs.Arg(0))
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
	if *file != "" {
		f, err := os.Open(*file)
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
			return fmt.Errorf("checkpoint check-proof: the proof's checkpoint (sequence %d) is not one of %s", cp.Head.Seq, *file)
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
func checkpointExport(ctx context.Context, args []string, env func(string) string) error {
	var out string
	return clientCommand(ctx, "checkpoint export", "", 0, args, env,
		func(fs *flag.FlagSet) {
			fs.StringVar(&out, "out", "", "append to this file (JSON Lines) instead of printing")
		},
		func(ctx context.Context, c *client, _ []string) error {
			h, err := pb.NewAuditServiceClient(c.conn).GetChainHead(c.ctx(ctx), &pb.GetChainHeadRequest{})
			if err != nil {
				return err
			}
			if h.GetCheckpoint() == nil {
				return errors.New("checkpoint export: the server has signed no checkpoint (is checkpoint_key_file configured?)")
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
}
