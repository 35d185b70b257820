package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/config"
)

// TestBenchQuickPlumbing runs every bench scenario once on tiny sizes, so
// that the bench never rots. Figures are reported, never asserted: only
// that each scenario ran, saw no failure, and rebuilt a consistent journal.
func TestBenchQuickPlumbing(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bench.json")
	var stdout bytes.Buffer
	require.NoError(t, bench(t.Context(), []string{"--quick", "--webhooks", "200", "--rate", "200", "--rate-for", "250ms",
		"--orders", "50", "--read-for", "50ms", "--watchers", "3", "--watched", "3", "--data-dir", t.TempDir(), "--json", out}, &stdout))
	raw, err := os.ReadFile(out)
	require.NoError(t, err)
	var rep benchReport
	require.NoError(t, json.Unmarshal(raw, &rep))
	seen := map[string]int{}
	for _, r := range rep.Rows {
		seen[r.Scenario]++
		require.Zero(t, r.Failed, "%s, %s: %s", r.Scenario, r.Variant, r.Note)
		require.Positive(t, r.Ops, "%s, %s", r.Scenario, r.Variant)
	}
	require.Equal(t, map[string]int{"preload": 1, "ingest": 3, "read gRPC": 6, "read REST": 2, "watch": 1, "rebuild": 1}, seen)
	last := rep.Rows[len(rep.Rows)-1]
	require.Contains(t, last.Note, " 0 mismatches")
	require.Contains(t, stdout.String(), "× baseline")
}

// The ingest plan holds legal sequences of several providers, with exact
// duplicates among them.
func TestBenchIngestPlan(t *testing.T) {
	plan, err := ingestPlan(benchDev(t), "t", 500, 1)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(plan), 500)
	providers, bodies, dups := map[string]bool{}, map[string]bool{}, 0
	for _, h := range plan {
		providers[h.provider] = true
		if bodies[string(h.body)] {
			dups++
		}
		bodies[string(h.body)] = true
	}
	require.Len(t, providers, 5)
	require.Greater(t, dups, len(plan)/20)
	require.Less(t, dups, len(plan)/5)
}

func benchDev(t *testing.T) *config.DevCredentials {
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	dev, err := config.FillDev(&cfg)
	require.NoError(t, err)
	return dev
}
