package engine

import (
	"context"
	"fmt"
	"time"

	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
)

// Mismatch is one difference between stored state and a replay.
type Mismatch struct {
	Key    storage.AggregateKey
	Seq    int64 // journal entry where the replay disagreed, 0 if at the end
	Detail string
}

// Replay rebuilds every aggregate from the journal alone by running each
// applied entry's event through the machines again. It reports where the
// machines no longer agree with what the journal says happened.
func Replay(ctx context.Context, r storage.Reader, machines *sm.Registry) (map[storage.AggregateKey]storage.Aggregate, []Mismatch, error) {
	aggs := map[storage.AggregateKey]storage.Aggregate{}
	var bad []Mismatch
	err := eachEntry(ctx, r, nil, func(e storage.JournalEntry) bool {
		if m := replayEntry(aggs, machines, e); m != nil {
			bad = append(bad, *m)
		}
		return true
	})
	return aggs, bad, err
}

// StateAt rebuilds one aggregate as it stood at time at, from its journal
// entries received up to then. ok is false when nothing had been applied
// to it by then.
func StateAt(ctx context.Context, r storage.Reader, machines *sm.Registry, key storage.AggregateKey, at time.Time) (agg storage.Aggregate, ok bool, err error) {
	aggs := map[storage.AggregateKey]storage.Aggregate{}
	var bad *Mismatch
	err = eachEntry(ctx, r, &key, func(e storage.JournalEntry) bool {
		if e.ReceivedAt.After(at) {
			return false
		}
		bad = replayEntry(aggs, machines, e)
		return bad == nil
	})
	if err == nil && bad != nil {
		err = fmt.Errorf("engine: journal entry %d no longer replays: %s", bad.Seq, bad.Detail)
	}
	agg, ok = aggs[key]
	return agg, ok, err
}

// eachEntry calls fn for the journal (of key, or all) in order until fn
// returns false.
func eachEntry(ctx context.Context, r storage.Reader, key *storage.AggregateKey, fn func(storage.JournalEntry) bool) error {
	const page = 1000
	for after := int64(0); ; {
		entries, err := r.Journal(ctx, key, after, page)
		if err != nil {
			return err
		}
		for _, e := range entries {
			after = e.Seq
			if !fn(e) {
				return nil
			}
		}
		if len(entries) < page {
			return nil
		}
	}
}

// replayEntry applies one journal entry to aggs if it was applied.
func replayEntry(aggs map[storage.AggregateKey]storage.Aggregate, machines *sm.Registry, e storage.JournalEntry) *Mismatch {
	if e.Verdict != string(sm.VerdictApplied) {
		return nil
	}
	p, err := decodePayload(e.Payload)
	if err != nil {
		return &Mismatch{e.Key, e.Seq, "payload unreadable: " + err.Error()}
	}
	agg, exists := aggs[e.Key]
	m := machines.Machine(e.Key.Provider, sm.Kind(e.Key.Kind))
	dec := sm.Decide(m, snapshot(agg, exists), p.input(e.BodySHA256))
	if dec.Verdict != sm.VerdictApplied || string(dec.To) != e.StateAfter {
		return &Mismatch{e.Key, e.Seq, fmt.Sprintf("journal says %s → %s, machine now says %s (%s)",
			e.StateBefore, e.StateAfter, dec.Verdict, dec.Reason())}
	}
	aggs[e.Key] = advance(agg, exists, e.Key, p, dec, e.ReceivedAt)
	return nil
}

// Verify replays the journal and compares every replayed aggregate with
// the stored one.
func Verify(ctx context.Context, r storage.Reader, machines *sm.Registry) ([]Mismatch, error) {
	aggs, bad, err := Replay(ctx, r, machines)
	if err != nil {
		return nil, err
	}
	for key, want := range aggs {
		got, err := r.Aggregate(ctx, key)
		if err != nil {
			bad = append(bad, Mismatch{Key: key, Detail: "stored aggregate: " + err.Error()})
			continue
		}
		if d := diff(got, want); d != "" {
			bad = append(bad, Mismatch{Key: key, Detail: d})
		}
	}
	return bad, nil
}

func diff(got, want storage.Aggregate) string {
	type view struct {
		State, ProviderStatus, Currency, Ref string
		Parent                               storage.AggregateKey
		Amount, Auth, Capt, Ref2, Version    int64
		Created, Updated                     int64
	}
	v := func(a storage.Aggregate) view {
		return view{a.State, a.ProviderStatus, a.Currency, a.MerchantReference, a.Parent,
			a.Amount, a.Authorized, a.Captured, a.Refunded, a.Version, a.CreatedAt.UnixMicro(), a.UpdatedAt.UnixMicro()}
	}
	if g, w := v(got), v(want); g != w {
		return fmt.Sprintf("stored %+v, replay gives %+v", g, w)
	}
	return ""
}
