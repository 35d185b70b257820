package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/paystate/paystate/engine"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
)

// errMismatch makes rebuild exit non-zero when stored state differs.
var errMismatch = errors.New("rebuild: stored state differs from the journal")

// newRebuildCmd: rebuild checks every table derived from the journal
// (receipts, held events, aggregates) against it; --fix rewrites what
// differs.
func newRebuildCmd(env func(string) string) *cobra.Command {
	var fix, force bool
	cmd := &cobra.Command{
		Use:   "rebuild",
		Short: "replay the journal; report (or --fix) state that differs",
		Long: `Replays the journal and compares every table derived from it (receipts, held
events, aggregates) with the replay, on the database itself; exit status 1
when anything differs. --fix rewrites what differs, and refuses while a
server runs on the store (--force overrides). On a terminal it shows its
progress on stderr.`,
		Args: cobra.NoArgs,
	}
	o := addAdminFlags(cmd, env)
	f := cmd.Flags()
	f.BoolVar(&fix, "fix", false, "rewrite every receipt, held event and aggregate that differs from the journal; remove those it does not explain")
	f.BoolVar(&force, "force", false, "with --fix: rewrite even while another paystate process (a running server) holds the store")
	// Checking is what rebuild does without --fix: --verify never changed
	// anything. Still accepted, so that scripts that say it keep working.
	f.Bool("verify", false, "")
	_ = f.MarkDeprecated("verify", "checking is what rebuild does without --fix; drop --verify")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if force && !fix {
			return errors.New("rebuild: --force only goes with --fix")
		}
		if fix && f.Changed("verify") {
			return errors.New("rebuild: --verify (only check) and --fix (rewrite) exclude each other")
		}
		return rebuild(cmd.Context(), o, fix, force)
	}
	return cmd
}

func rebuild(ctx context.Context, o *adminOptions, fix, force bool) error {
	cfg, err := o.load()
	if err != nil {
		return err
	}
	reg, err := registry()
	if err != nil {
		return err
	}
	// Rewriting rows under a running engine would race its commits: --fix
	// takes the store alone, unless the operator says otherwise (an
	// upgrade to apply takes it alone all the same).
	mode := lockNone
	if fix && !force {
		mode = lockAlone
	}
	store, _, unlock, err := openStoreLocked(ctx, cfg, slog.Default(), mode, "rebuild --fix")
	if mode == lockAlone && errors.Is(err, errStoreInUse) && !errors.Is(err, errUpgradeUnderServer) {
		return fmt.Errorf("rebuild --fix: %w; stop it first, or pass --force if you are sure nothing writes", err)
	}
	if err != nil {
		return err
	}
	defer unlock()
	defer store.Close()
	return rebuildStore(ctx, store, reg, cfg.DeferWindow.Duration, fix)
}

func rebuildStore(ctx context.Context, store storage.Store, reg *sm.Registry, window time.Duration, fix bool) error {
	cfg := engine.AuditConfig{DeferWindow: window}
	if fix {
		// A PostgreSQL store chains entries after they commit: every
		// acknowledged entry is sealed into the journal before the tables
		// are rewritten from it, so that nothing in flight is "fixed"
		// back to what the journal said before it.
		if err := storage.SealAll(ctx, store); err != nil {
			return fmt.Errorf("rebuild --fix: seal the acknowledged entries: %w", err)
		}
	}
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
	if len(rep.Honoured) > 0 {
		fmt.Fprintf(stdout, "%d applied entries were decided under older rules that today's rules decide otherwise; their verdicts stand (notices, not differences):\n", len(rep.Honoured))
		for _, n := range rep.Honoured {
			fmt.Fprintf(stdout, "  notice: %s\n", n)
		}
	}
	if rep.FactsPending > 0 {
		fmt.Fprintf(stdout, "%d aggregates differ from the journal only in the amount facts the migration left to be derived; the first open by a login that may write derives them\n", rep.FactsPending)
	}
	if rep.ExpiryUnrecorded > 0 {
		fmt.Fprintf(stdout, "%d held events were deferred before the journal recorded expiries: their expiry was not checked\n", rep.ExpiryUnrecorded)
	}
	switch {
	case rep.ReadOnly:
		fmt.Fprintf(stdout, "this login may not write, so nothing was sealed: %d entries committed and not sealed yet, and the aggregates and held events they touch, were not checked\n", rep.Unsealed)
	case rep.Unsealed > 0:
		fmt.Fprintf(stdout, "%d entries committed since are not sealed yet (in flight, not checked)\n", rep.Unsealed)
	}
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
