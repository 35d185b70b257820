package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/paystate/paystate/engine"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
)

// errMismatch makes rebuild --verify exit non-zero.
var errMismatch = errors.New("rebuild: stored state differs from the journal")

// rebuild replays the journal through the machines and compares the
// result with the stored state; --fix rewrites what differs.
func rebuild(ctx context.Context, args []string, env func(string) string) error {
	fs, load := adminFlags("rebuild", env)
	fs.Bool("verify", true, "compare stored state with a replay of the journal (the default)")
	fix := fs.Bool("fix", false, "rewrite every aggregate whose stored state differs from the replay")
	if err := fs.Parse(args); err != nil {
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
	store, _, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	return rebuildStore(ctx, store, reg, *fix)
}

func rebuildStore(ctx context.Context, store storage.Store, reg *sm.Registry, fix bool) error {
	rep, err := storage.VerifyChain(ctx, store)
	if err != nil {
		return err
	}
	if !rep.OK {
		return fmt.Errorf("rebuild: the journal's hash chain is broken at %d (%s): replaying it would not prove anything", rep.FirstBad, rep.Problem)
	}
	aggs, bad, err := engine.Replay(ctx, store, reg)
	if err != nil {
		return err
	}
	if len(bad) > 0 {
		for _, m := range bad {
			fmt.Fprintf(stdout, "journal %d (%s/%s/%s): %s\n", m.Seq, m.Key.Provider, m.Key.Kind, m.Key.ID, m.Detail)
		}
		return fmt.Errorf("rebuild: %d journal entries no longer replay through today's machines", len(bad))
	}
	// Compare the replay just made with the stored state: Verify would
	// replay the whole journal a second time.
	mismatches, err := engine.Compare(ctx, store, aggs)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "replayed %d journal entries into %d aggregates; %d differ from the stored state\n", rep.Checked, aggs.Len(), len(mismatches))
	for _, m := range mismatches {
		fmt.Fprintf(stdout, "  %s/%s/%s: %s\n", m.Key.Provider, m.Key.Kind, m.Key.ID, m.Detail)
	}
	if len(mismatches) == 0 {
		return nil
	}
	if !fix {
		return errMismatch
	}
	err = store.Update(ctx, func(tx storage.Tx) error {
		for _, m := range mismatches {
			a, _ := aggs.Get(m.Key) // Compare reports only aggregates of the replay
			if err := tx.PutAggregate(ctx, a); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "fixed %d aggregates from the journal\n", len(mismatches))
	return nil
}
