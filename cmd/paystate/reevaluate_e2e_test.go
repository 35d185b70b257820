package main

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/config"
	pb "github.com/paystate/paystate/proto/paystate/v1"
	"github.com/paystate/paystate/providers"
	sm "github.com/paystate/paystate/statemachine"
)

// withTables is p with its tables replaced: a provider whose machine is
// being corrected.
type withTables struct {
	providers.Provider
	tables []sm.Table
}

func (w withTables) Tables() []sm.Table { return w.tables }

// swapTables makes the registry build name's provider with its tables
// passed through edit, until restore is called or the test ends. Tests
// that call it must not be parallel: the registry is the process's.
func swapTables(t *testing.T, name string, edit func([]sm.Table) []sm.Table) (restore func()) {
	t.Helper()
	saved := providerRegistry
	restore = func() { providerRegistry = saved }
	providerRegistry = slices.Clone(saved)
	t.Cleanup(restore)
	i := slices.IndexFunc(providerRegistry, func(p provider) bool { return p.name == name })
	require.GreaterOrEqual(t, i, 0)
	build := providerRegistry[i].build
	providerRegistry[i].build = func(c config.Providers) (providers.Provider, error) {
		p, err := build(c)
		if err != nil {
			return nil, err
		}
		return withTables{p, edit(slices.Clone(p.Tables()))}, nil
	}
	return restore
}

// TestReevaluateCommand: a server whose N-Genius table did not take a
// refund after a capture (a wrong table) rejects one; the corrected table
// is deployed, and "paystate reevaluate" first shows, then appends, the
// refund as applied. History keeps the rejection beside the revision, the
// chain verifies, a replay equals the stored state, and a second run
// changes nothing.
func TestReevaluateCommand(t *testing.T) {
	dir := t.TempDir()
	restore := swapTables(t, "ngenius", func(ts []sm.Table) []sm.Table {
		for i, tb := range ts {
			if tb.Kind != sm.KindPayment {
				continue
			}
			tb.Transitions = slices.Clone(tb.Transitions)
			for j, tr := range tb.Transitions {
				if tr.Event == "REFUNDED" {
					tr.From = []sm.State{sm.Authorized} // wrong: refunds follow captures
					tb.Transitions[j] = tr
				}
			}
			ts[i] = tb
		}
		return ts
	})
	s := startServer(t, dir)
	// r1 is entries 1 to 3, r2 4 to 6.
	for n, id := range []string{"r1", "r2"} {
		for i, ev := range []string{"AUTHORISED", "CAPTURED", "REFUNDED"} {
			code, reply := s.webhook(t, ngeniusOrder(id, ev, 10*n+i))
			require.Equal(t, http.StatusOK, code)
			want := "applied"
			if ev == "REFUNDED" {
				want = "rejected"
			}
			require.Equal(t, want, verdictOf(t, reply), ev)
		}
	}
	wrong, err := registry()
	require.NoError(t, err)
	v1 := wrong.Machine("ngenius", sm.KindPayment).Version()
	s.shutdown()

	// The corrected (real) table is deployed.
	restore()
	s = startServer(t, dir)
	right, err := registry()
	require.NoError(t, err)
	v2 := right.Machine("ngenius", sm.KindPayment).Version()
	require.NotEqual(t, v1, v2)

	env, out := s.cli(t)
	state := func() string {
		o, err := s.orders.GetOrder(s.authed(t.Context()), &pb.GetOrderRequest{Provider: "ngenius", OrderId: "r1"})
		require.NoError(t, err)
		return o.GetStateName()
	}

	// One aggregate a call: the pages merge into the output of one call.
	oldPage, oldProgress := reevaluatePage, newProgress
	t.Cleanup(func() { reevaluatePage, newProgress = oldPage, oldProgress })
	reevaluatePage = 1

	// In a pipe or a file: no progress.
	quiet, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	require.NoError(t, err)
	defer quiet.Close()
	newProgress = func(what string) *progress { return progressOn(quiet, what) }
	require.NoError(t, run(t.Context(), []string{"reevaluate", "--dry-run"}, env))
	dry := out.String()
	require.Contains(t, dry, "ngenius payment r1: captured (authorized 500, captured 500, refunded 0) -> refunded (authorized 500, captured 500, refunded 500)")
	require.Contains(t, dry, "entry 3 REFUNDED: rejected under "+v1+" -> applied under "+v2+"\n")
	require.Contains(t, dry, "ngenius payment r2: captured (authorized 500, captured 500, refunded 0) -> refunded (authorized 500, captured 500, refunded 500)")
	require.Contains(t, dry, "entry 6 REFUNDED: rejected under "+v1+" -> applied under "+v2+"\n")
	require.Contains(t, dry, "2 aggregates re-decided; 2 would change, 0 cannot be changed by appending (dry run: nothing written)")
	require.Equal(t, "captured", state(), "a dry run writes nothing")
	fi, err := quiet.Stat()
	require.NoError(t, err)
	require.Zero(t, fi.Size(), "no progress in a file or a pipe")

	// On a terminal (a clock that moves a second a reading): aggregates
	// done of total, rate, time left; the output is the same.
	var term bytes.Buffer
	clock := time.Unix(0, 0)
	newProgress = func(what string) *progress {
		return newProgressTo(&term, what, func() time.Time { clock = clock.Add(time.Second); return clock })
	}
	out.Reset()
	require.NoError(t, run(t.Context(), []string{"reevaluate", "--dry-run"}, env))
	require.Equal(t, dry, out.String())
	require.Equal(t, "\rre-evaluating aggregates: 1 of 2 (50%), 1/s, about 1s left\x1b[K"+
		"\rre-evaluating aggregates: 2 of 2 (100%), 1/s\x1b[K\n", term.String())
	newProgress = oldProgress

	out.Reset()
	require.NoError(t, run(t.Context(), []string{"reevaluate", "--provider", "ngenius", "--since", "2000-01-01"}, env))
	require.Contains(t, out.String(), "entry 3 REFUNDED: rejected under "+v1+" -> applied under "+v2+" (entry 7)")
	require.Contains(t, out.String(), "entry 6 REFUNDED: rejected under "+v1+" -> applied under "+v2+" (entry 8)")
	require.Equal(t, "refunded", state())

	out.Reset()
	require.NoError(t, run(t.Context(), []string{"history", "ngenius", "r1"}, env))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 5, out.String())
	require.Regexp(t, `^SEQ\s+RECEIVED\s+EVENT\s+VERDICT\s+ACTOR\s+MACHINE\s+TRANSITION\s+REASON$`, lines[0])
	require.Regexp(t, `^3\s+.* REFUNDED\s+REJECTED\s+webhook\s+`+v1+`\s+captured -> captured`, lines[3])
	require.Regexp(t, `^7\s+.* REFUNDED\s+APPLIED\s+reevaluation\s+`+v2+`\s+captured -> refunded\s+reevaluated under `+v2+`: rejected under `+v1+` at entry 3`, lines[4])

	events, err := s.audit.ListOrderEvents(s.authed(t.Context()), &pb.ListOrderEventsRequest{Provider: "ngenius", OrderId: "r1"})
	require.NoError(t, err)
	require.Len(t, events.GetEntries(), 4)
	require.Equal(t, int64(3), events.GetEntries()[3].GetRevisesSequence(), "the audit API names the entry revised")
	require.Equal(t, v2, events.GetEntries()[3].GetMachineVersion())
	require.Equal(t, "reevaluation", events.GetEntries()[3].GetActor(), "the audit API says who appended the entry")
	require.Equal(t, "webhook", events.GetEntries()[2].GetActor())

	// A watcher of refunds sees the revision as the transition it is.
	stream, err := pb.NewWatchServiceClient(s.grpc).Watch(s.authed(t.Context()),
		&pb.WatchRequest{AfterSequence: 3, States: []string{"refunded"}})
	require.NoError(t, err)
	msg, err := stream.Recv()
	require.NoError(t, err)
	require.Equal(t, int64(7), msg.GetEntry().GetSequence())
	require.Equal(t, int64(3), msg.GetEntry().GetRevisesSequence())
	require.Equal(t, "refunded", msg.GetEntry().GetStateAfter())

	out.Reset()
	require.NoError(t, run(t.Context(), []string{"reevaluate"}, env))
	require.Contains(t, out.String(), "2 aggregates re-decided; 0 changed", "a second run changes nothing")
	out.Reset()
	require.NoError(t, run(t.Context(), []string{"reevaluate", "--dry-run", "-o", "json"}, env))
	require.Regexp(t, `(?s)^\{\n  "examined": 2,\n.*"dryRun": true,\n  "total": 2\n\}\n$`, out.String())
	require.NotContains(t, out.String(), "nextPageToken", "one merged response")
	out.Reset()
	require.NoError(t, run(t.Context(), []string{"verify", "-o", "json"}, env))
	require.Regexp(t, `"ok":\s*true`, out.String())

	s.shutdown()
	require.NoError(t, run(t.Context(), []string{"rebuild", "--data-dir", dir}, func(string) string { return "" }),
		"a replay of the journal equals the stored state")
}
