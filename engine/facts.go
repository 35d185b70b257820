package engine

import (
	"context"
	"fmt"

	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
)

// factsBatch is how many aggregates' facts DeriveFacts writes per
// transaction.
const factsBatch = 1000

// FactsProgress is what DeriveFacts reports as it goes: whether the
// journal is replayed yet, the stored aggregates compared with the replay
// so far, and how many of them it rewrote.
type FactsProgress struct {
	Replayed            bool
	Compared, Rewritten int
}

// DeriveFacts derives the facts a migration left to be derived
// (storage.FactsDeriver: what a row cannot tell, such as AmountKnown of a
// zero amount, and the columns a release's rules derive differently from
// the same verdicts, such as the provider status and the totals) from the
// journal, by the replay `rebuild --fix` uses, restricted to those
// columns, and records them derived. Verdicts and states are the
// journal's and are not among them: a row that differs from the replay
// elsewhere too (its state, say) stays as it is, for the audit. It does nothing
// (nil) when s is not a FactsDeriver or nothing is pending, so it costs one
// read on every open after the first. Run it before an engine decides on
// s: until it is done, a late part after a capture in full is decided
// against a rest of 0.
//
// An aggregate the replay cannot rebuild (the machines no longer agree
// with an entry their own version decided) keeps its row: the audit
// reports it. One with an applied entry an older version decided and
// today's rules decide otherwise is rebuilt as Replay honours it. A row whose
// version moved since the replay read the journal (another process
// derived it and then decided on it) keeps its own. Interrupted, it
// starts again at the next open: the writes are idempotent. progress, if
// not nil, is called before the replay and after each page of stored
// aggregates compared.
func DeriveFacts(ctx context.Context, s storage.Store, machines *sm.Registry, progress func(FactsProgress)) (*FactsProgress, error) {
	d, ok := storage.AsFactsDeriver(s)
	if !ok {
		return nil, nil
	}
	pending, err := d.FactsPending(ctx)
	if err != nil || !pending {
		return nil, err
	}
	// The replay must see every acknowledged entry (PostgreSQL chains
	// after commit), as rebuild --fix does.
	if err := storage.SealAll(ctx, s); err != nil {
		return nil, fmt.Errorf("engine: derive amount facts: seal: %w", err)
	}
	if progress != nil {
		progress(FactsProgress{})
	}
	aggs, bad, err := Replay(ctx, s, machines)
	if err != nil {
		return nil, fmt.Errorf("engine: derive amount facts: %w", err)
	}
	broken := make(map[storage.AggregateKey]bool, len(bad))
	for _, m := range bad {
		broken[m.Key] = true
	}
	p := FactsProgress{Replayed: true}
	var batch []storage.Aggregate
	flush := func() error {
		if len(batch) > 0 {
			if err := d.SetFacts(ctx, batch); err != nil {
				return fmt.Errorf("engine: derive amount facts: %w", err)
			}
			p.Rewritten += len(batch)
			batch = batch[:0]
		}
		return nil
	}
	for after := (storage.AggregateKey{}); ; {
		page, err := s.ListAggregates(ctx, storage.AggregateFilter{}, after, replayPage)
		if err != nil {
			return nil, fmt.Errorf("engine: derive amount facts: %w", err)
		}
		for _, got := range page {
			p.Compared++
			w, ok := aggs.Get(got.Key)
			if !ok || broken[got.Key] || w.Version != got.Version {
				continue
			}
			// Only the derived columns are written, and only where the rest
			// of the row is what the replay gives: a row changed elsewhere
			// (its state, say) is the audit's to report, not ours to touch.
			if !sameFacts(w, got.Aggregate) && diff(withFacts(got.Aggregate, w), w) == "" {
				batch = append(batch, w)
			}
		}
		if len(batch) >= factsBatch || len(page) < replayPage {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		if progress != nil {
			progress(p)
		}
		if len(page) < replayPage {
			break
		}
		after = page[len(page)-1].Key
	}
	if err := d.FactsDerived(ctx); err != nil {
		return nil, fmt.Errorf("engine: derive amount facts: %w", err)
	}
	return &p, nil
}
