package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	paybench "github.com/paystate/paystate/bench"
)

// The bench's scenarios against the real server, through the command's
// entry point; package bench tests its parts.

// TestBenchQuickPlumbing runs every bench scenario once on tiny sizes, so
// that the bench never rots. Figures are reported, never asserted: only
// that each scenario ran, saw no failure, and rebuilt a consistent journal.
func TestBenchQuickPlumbing(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bench.json")
	var stdout bytes.Buffer
	require.NoError(t, bench(t.Context(), []string{"--quick", "--webhooks", "200", "--conns", "4,8", "--rate", "200", "--rate-for", "250ms",
		"--orders", "50", "--read-for", "50ms", "--watchers", "3", "--watched", "3", "--growth", "300,100",
		"--data-dir", t.TempDir(), "--json", out}, &stdout))
	raw, err := os.ReadFile(out)
	require.NoError(t, err)
	var rep paybench.Report
	require.NoError(t, json.Unmarshal(raw, &rep))
	seen := map[string]int{}
	var rebuild paybench.Row
	var growthCompared, sized, warmed, writerNoted int
	for _, r := range rep.Rows {
		seen[r.Scenario]++
		require.Zero(t, r.Failed, "%s, %s: %s", r.Scenario, r.Variant, r.Note)
		if r.Skipped {
			require.Contains(t, r.Note, "skipped: ")
			continue
		}
		require.Positive(t, r.Ops, "%s, %s", r.Scenario, r.Variant)
		if r.Scenario == "rebuild" {
			rebuild = r
		}
		if r.P99Growth > 0 {
			require.Contains(t, r.Variant, ", 300 orders")
			growthCompared++
		}
		if r.BytesPerEvent > 0 {
			sized++
		}
		if strings.HasPrefix(r.Variant, "paystate SQLite FULL, ") {
			require.Regexp(t, `writer busy [0-9]+ % of the run, [0-9]+ % of that making batches durable`, r.Note,
				"each closed-loop ingest row says what its writer did, from the server's metrics")
			writerNoted++
		}
		if strings.HasPrefix(r.Variant, "paystate PostgreSQL, ") {
			require.Contains(t, r.Note, "lock waits (pg_stat_activity sampled", "each PostgreSQL row says how long its backends waited on locks")
		}
		if strings.HasPrefix(r.Variant, "GetOrder gRPC, 1 stream") {
			require.Regexp(t, `through once \([1-9][0-9]* rows`, r.Note, "the steady-state GetOrder runs on a warmed store")
			warmed++
		}
	}
	// Ingest: a no-op and a paystate row per --conns level, the fixed-rate
	// row, and PostgreSQL's: two rows (1 and 2 replicas) with a DSN, one
	// skipped row without. With a DSN, a second watch row: cross-replica
	// delivery.
	ingest, watch := 6, 1
	if os.Getenv("PAYSTATE_TEST_POSTGRES_DSN") != "" {
		ingest, watch = 7, 2
	}
	require.Equal(t, map[string]int{"preload": 1, "ingest": ingest, "read gRPC": 6, "read REST": 2, "watch": watch, "rebuild": 1, "growth": 12}, seen)
	require.Contains(t, rebuild.Note, " 0 mismatches")
	require.Equal(t, 4, growthCompared, "every read of the larger store compared with the smaller's")
	require.Equal(t, 2, sized, "one size per store")
	require.Equal(t, 2, warmed, "one warmed GetOrder per store")
	require.Equal(t, 2, writerNoted, "one per --conns level")
	require.Contains(t, stdout.String(), "× baseline")
}

// --only runs the scenarios named and no other.
func TestBenchOnly(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bench.json")
	require.NoError(t, bench(t.Context(), []string{"--quick", "--only", "reads,rebuild", "--orders", "50", "--read-for", "50ms",
		"--data-dir", t.TempDir(), "--json", out}, &bytes.Buffer{}))
	raw, err := os.ReadFile(out)
	require.NoError(t, err)
	var rep paybench.Report
	require.NoError(t, json.Unmarshal(raw, &rep))
	seen := map[string]int{}
	for _, r := range rep.Rows {
		seen[r.Scenario]++
	}
	// The pre-load always runs: reads and the rebuild need its orders.
	require.Equal(t, map[string]int{"preload": 1, "read gRPC": 6, "read REST": 2, "rebuild": 1}, seen)

}
