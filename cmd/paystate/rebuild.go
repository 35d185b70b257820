package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/paystate/paystate/engine"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
)

// errMismatch makes rebuild --verify exit non-zero.
var errMismatch = errors.New("rebuild: stored state differs from the journal")

// rebuild checks every table derived from the journal (receipts, held
// events, aggregates) against it; --fix rewrites what differs.
func rebuild(ctx context.Context, args []string, env func(string) string) error {
	fs, load := adminFlags("rebuild", env)
	fs.Bool("verify", true, "compare the stored tables with the journal and a replay of it (the default)")
	fix := fs.Bool("fix", false, "rewrite every receipt, held event and aggregate that differs from the journal; remove those it does not explain")
	force := fs.Bool("force", false, "with --fix: rewrite even while another paystate process (a running server) holds the store")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // asked for help, and got it
		}
		return err
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	reg, err := registry()
	if err != nil {
		return err
	}
	// Rewriting rows under a running engine would race its commits: --fix
	// takes the store alone, unless the operator says otherwise.
	if *fix && !*force {
		unlock, err := lockStore(ctx, cfg, true, "rebuild --fix")
		if err != nil {
			return fmt.Errorf("rebuild --fix: %w; stop it first, or pass --force if you are sure nothing writes", err)
		}
		defer unlock()
	}
	store, _, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	return rebuildStore(ctx, store, reg, cfg.DeferWindow.Duration, *fix)
}

func rebuildStore(ctx context.Context, store storage.Store, reg *sm.Registry, window time.Duration, fix bool) error {
	cfg := engine.AuditConfig{DeferWindow: window}
	p := newProgress("checking the journal")
	if p != nil {
		cfg.Progress = p.Update
	}
	rep, err := engine.Audit(ctx, store, reg, cfg)
	p.Done()
	if err != nil {
		return err
	}
	if !rep.Chain.OK {
		return fmt.Errorf("rebuild: the journal's hash chain is broken at %d (%s): replaying it would not prove anything", rep.Chain.FirstBad, rep.Chain.Problem)
	}
	fmt.Fprintf(stdout, "checked %d journal entries against %d receipts, %d held events and %d aggregates; %d differ from the journal\n",
		rep.Chain.Checked, rep.Receipts, rep.Deferred, rep.Aggregates, len(rep.Problems))
	fixable := 0
	for _, p := range rep.Problems {
		fmt.Fprintf(stdout, "  %s\n", p)
		if p.Fixable() {
			fixable++
		}
	}
	if len(rep.Problems) == 0 {
		return nil
	}
	if !fix {
		return errMismatch
	}
	n, err := engine.Repair(ctx, store, rep)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "fixed %d rows from the journal\n", n)
	if n < len(rep.Problems) {
		return fmt.Errorf("rebuild: %d problems are in the journal itself and cannot be rewritten: %w", len(rep.Problems)-n, errMismatch)
	}
	return nil
}
