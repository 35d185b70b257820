package bench

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/config"
)

// Without a DSN, or without a server at it, the PostgreSQL scenario says
// so in the table instead of failing the run or vanishing from it.
func TestBenchPostgresSkipped(t *testing.T) {
	rows, err := benchPostgres(t.Context(), Paystate{}, config.Config{}, nil, Options{}, 0, func(string, ...any) {})
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.True(t, rows[0].Skipped)
	var out bytes.Buffer
	printBench(&out, &Report{Rows: rows})
	require.Contains(t, out.String(), "skipped")
	require.Contains(t, out.String(), "no --postgres DSN")

	// A DSN that nothing answers at is said, not fatal.
	rows, err = benchPostgres(t.Context(), Paystate{}, config.Config{}, nil, Options{postgres: "postgres://nobody@127.0.0.1:1/none?connect_timeout=2"}, 0, func(string, ...any) {})
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.True(t, rows[0].Skipped)
	require.Contains(t, rows[0].Note, "did not answer")
}

// --only takes the scenarios' names and no other.
func TestBenchScenarioSet(t *testing.T) {
	var only scenarioSet
	require.ErrorContains(t, only.Set("reads,bogus"), `unknown scenario "bogus"`)
	require.NoError(t, only.Set("growth"))
	require.True(t, only.runs("growth"))
	require.False(t, only.runs("ingest"))
	require.True(t, scenarioSet(nil).runs("ingest"), "no --only: everything runs")
}

func TestBenchSizesFlag(t *testing.T) {
	var s sizesFlag
	require.NoError(t, s.Set("10000, 1000000,10000000"))
	require.Equal(t, sizesFlag{10000, 1000000, 10000000}, s)
	require.Equal(t, "10000,1000000,10000000", s.String())
	require.Error(t, s.Set("10k"))
	require.Error(t, s.Set("0"))
	require.Error(t, s.Set("100000000"), "ids have eight digits")
	require.Equal(t, "10 000 000", thousands(10000000))
	require.Equal(t, "999", thousands(999))
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
