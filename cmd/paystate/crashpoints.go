//go:build crashpoints

// This file is compiled only with the crashpoints build tag, which the
// crash harness (package crashtest) builds the binary with; no release
// build has it. With PAYSTATE_CRASHPOINT=<point>:<n> set, the server stops
// at the n-th transaction's <point> of the commit path, prints one
// "crashpoint" JSON line on stderr and waits there, so that the harness
// kills it in exactly that window:
//
//   - before-statements: a transaction begins while webhooks no committed
//     transaction holds wait in Submit, before any statement;
//   - before-commit: after the last statement of a transaction that wrote
//     webhook entries, before COMMIT;
//   - after-commit: once COMMIT returned, before the engine answers.
//
// The line names the webhooks (body SHA-256) the kill must cut off, and
// those answered while the transaction was still uncommitted: the engine
// must answer none, and the harness waits to receive any such answer
// before it kills, so that answering before COMMIT is caught every run.

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/paystate/paystate/api"
	"github.com/paystate/paystate/engine"
	"github.com/paystate/paystate/storage"
)

// Points of the commit path a crashpoint can stop at.
const (
	beforeStatements = "before-statements"
	beforeCommit     = "before-commit"
	afterCommit      = "after-commit"
)

func init() {
	v := os.Getenv("PAYSTATE_CRASHPOINT")
	if v == "" {
		return
	}
	point, n, _ := strings.Cut(v, ":")
	at, err := strconv.Atoi(n)
	if err != nil || at < 1 || (point != beforeStatements && point != beforeCommit && point != afterCommit) {
		fmt.Fprintf(os.Stderr, "PAYSTATE_CRASHPOINT=%q: want %s, %s or %s, a colon and a count from 1\n", v, beforeStatements, beforeCommit, afterCommit)
		os.Exit(2)
	}
	crashHooks = &crashpoint{point: point, at: at, pending: map[string]int{}, committed: map[string]bool{}}
}

type crashpoint struct {
	point string
	at    int

	mu   sync.Mutex
	seen int // transactions counted toward at
	// pending counts the Submits in flight, by body hash.
	pending map[string]int
	// committed holds the bodies of committed transactions: a Submit of
	// one may still be in flight, answered but not yet returned.
	committed map[string]bool
	// answered lists the bodies whose Submit returned nil, in order.
	answered []string
}

func (c *crashpoint) Store(s storage.Store) storage.Store { return &crashStore{Store: s, c: c} }

func (c *crashpoint) Engine(e *engine.Engine) api.Submitter { return &crashEngine{Engine: e, c: c} }

// crashEngine notes which webhooks wait in Submit and which were answered.
type crashEngine struct {
	*engine.Engine
	c *crashpoint
}

func (e *crashEngine) Submit(ctx context.Context, d engine.Delivery) ([]engine.Outcome, error) {
	c := e.c
	c.mu.Lock()
	c.pending[d.BodySHA256]++
	c.mu.Unlock()
	out, err := e.Engine.Submit(ctx, d)
	c.mu.Lock()
	if c.pending[d.BodySHA256]--; c.pending[d.BodySHA256] == 0 {
		delete(c.pending, d.BodySHA256)
	}
	if err == nil {
		c.answered = append(c.answered, d.BodySHA256)
	}
	c.mu.Unlock()
	return out, err
}

// crashStore runs the engine's transactions and stops at the crashpoint.
type crashStore struct {
	storage.Store
	c *crashpoint
}

// Unwrap returns the store s wraps (storage.AsSealer finds a Sealer
// through it).
func (s *crashStore) Unwrap() storage.Store { return s.Store }

func (s *crashStore) Update(ctx context.Context, fn func(storage.Tx) error) error {
	c := s.c
	var wrote []string // webhook bodies the transaction wrote entries for
	var answeredBefore int
	err := s.Store.Update(ctx, func(tx storage.Tx) error {
		c.mu.Lock()
		answeredBefore, wrote = len(c.answered), nil
		// Every Submit in flight that no committed transaction holds waits
		// for this committer, which the kill stops.
		var waiting []string
		for sha := range c.pending {
			if !c.committed[sha] {
				waiting = append(waiting, sha)
			}
		}
		c.mu.Unlock()
		if len(waiting) > 0 {
			c.reached(beforeStatements, waiting, nil)
		}
		if err := fn(&crashTx{Tx: tx, wrote: &wrote}); err != nil {
			return err
		}
		slices.Sort(wrote)
		wrote = slices.Compact(wrote)
		if len(wrote) > 0 && c.counts(beforeCommit) {
			c.stop(beforeCommit, wrote, c.answeredSince(answeredBefore, wrote))
		}
		return nil
	})
	if err == nil && len(wrote) > 0 {
		c.mu.Lock()
		for _, sha := range wrote {
			c.committed[sha] = true
		}
		c.mu.Unlock()
		c.reached(afterCommit, wrote, c.answeredSince(answeredBefore, nil))
	}
	return err
}

// reached stops at point if it is the crashpoint's and its turn has come.
func (c *crashpoint) reached(point string, cut, answered []string) {
	if c.counts(point) {
		c.stop(point, cut, answered)
	}
}

// counts counts a transaction at point and reports whether it is the one
// to stop at.
func (c *crashpoint) counts(point string) bool {
	if point != c.point {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen++
	return c.seen == c.at
}

// answeredSince lists the bodies answered after the first n answers. With
// wait set, it first gives those bodies up to two seconds to be answered:
// an engine that answers before COMMIT has handed them their answer, and
// their goroutines only need to run. A correct engine answers none of
// them, so the wait always runs out; nothing is decided by it.
func (c *crashpoint) answeredSince(n int, wait []string) []string {
	deadline := time.Now().Add(2 * time.Second)
	for {
		c.mu.Lock()
		got := append([]string(nil), c.answered[n:]...)
		c.mu.Unlock()
		if len(wait) == 0 || len(got) >= len(wait) || time.Now().After(deadline) {
			return got
		}
		time.Sleep(time.Millisecond)
	}
}

// stop prints the crashpoint line and waits for the kill.
func (c *crashpoint) stop(point string, cut, answered []string) {
	line, _ := json.Marshal(map[string]any{"msg": "crashpoint", "point": point, "cut": cut, "answered": answered})
	fmt.Fprintf(os.Stderr, "%s\n", line)
	select {}
}

// crashTx notes the webhook bodies the transaction writes entries for.
type crashTx struct {
	storage.Tx
	wrote *[]string
}

func (t *crashTx) Append(ctx context.Context, e *storage.JournalEntry) error {
	if err := t.Tx.Append(ctx, e); err != nil {
		return err
	}
	if e.Actor == engine.ActorWebhook && e.BodySHA256 != "" {
		*t.wrote = append(*t.wrote, e.BodySHA256)
	}
	return nil
}
