package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/paystate/paystate/proto/paystate/v1"
)

// TestReadCommandsOutput: every read command's table has a header and
// says when it is empty; its JSON parses, [] when a list is empty; the
// server's answers read as the server says them (an unknown provider
// names the known ones, an order whose only event is held says so).
func TestReadCommandsOutput(t *testing.T) {
	s := startServer(t, t.TempDir())
	env, out := s.cli(t)
	cli := func(args ...string) string {
		t.Helper()
		out.Reset()
		require.NoError(t, run(t.Context(), args, env), strings.Join(args, " "))
		return out.String()
	}

	// Empty: the table says so, JSON is an empty array.
	require.Equal(t, "no orders found in fraud_review\n", cli("list", "--state", "fraud_review"))
	require.Equal(t, "no aggregates found\n", cli("list", "--kind", "all"))
	require.Equal(t, "[]\n", cli("list", "-o", "json"))

	// Held: the order has no state yet, and get says why.
	code, _ := s.webhook(t, sample(t, "CAPTURED"))
	require.Equal(t, http.StatusOK, code)
	err := run(t.Context(), []string{"get", "ngenius", "abc123xyz"}, env)
	require.ErrorContains(t, err, "payment abc123xyz at ngenius has no state yet: 1 event(s) are held")
	require.NotContains(t, err.Error(), "rpc error")
	require.Equal(t, codes.NotFound, status.Code(err), "the code survives the rewording")
	err = run(t.Context(), []string{"get", "ngenuis", "abc123xyz"}, env)
	require.ErrorContains(t, err, `unknown provider "ngenuis": this server knows generic, inyo, magnius, ngenius, payengine`)

	code, _ = s.webhook(t, sample(t, "AUTHORISED"))
	require.Equal(t, http.StatusOK, code)
	table := cli("get", "ngenius", "abc123xyz")
	lines := strings.Split(strings.TrimSpace(table), "\n")
	require.Len(t, lines, 2, table)
	require.Regexp(t, `^PROVIDER\s+KIND\s+ID\s+STATE\s+PROVIDER STATUS`, lines[0])
	// The order's own amount, as simulate shows it, then its totals.
	require.Regexp(t, `^ngenius\s+payment\s+abc123xyz\s+captured\s+CAPTURED\s+AED\s+10000\s+10000\s+10000\s+0\s+2\s+0\s+`, lines[1])
	columnsAligned(t, lines)

	var order map[string]any
	require.NoError(t, json.Unmarshal([]byte(cli("get", "-o", "json", "ngenius", "abc123xyz")), &order))
	require.Equal(t, "captured", order["stateName"])
	require.Equal(t, "10000", order["amountMinor"], "the amount the table shows is the Order's")
	require.Equal(t, cli("get", "-o", "json", "ngenius", "abc123xyz"), cli("get", "-o", "json", "ngenius", "abc123xyz"), "a stable layout")

	hist := cli("history", "ngenius", "abc123xyz")
	require.NotRegexp(t, `(?m) $`, hist, "no trailing blanks where the reason is empty")
	lines = strings.Split(strings.TrimSpace(hist), "\n")
	require.Len(t, lines, 4, hist)
	columnsAligned(t, lines)
	var entries []map[string]any
	require.NoError(t, json.Unmarshal([]byte(cli("history", "-o", "json", "ngenius", "abc123xyz")), &entries))
	require.Len(t, entries, 3)
	require.Equal(t, "VERDICT_DEFERRED", entries[0]["verdict"])
	var actors []any
	for _, e := range entries {
		actors = append(actors, e["actor"])
	}
	require.Equal(t, []any{"webhook", "webhook", "engine"}, actors, "the held CAPTURED is released by the engine")
	err = run(t.Context(), []string{"history", "ngenius", "nope"}, env)
	require.ErrorContains(t, err, "history: payment nope at ngenius: no events for this aggregate")
	err = run(t.Context(), []string{"history", "ngenuis", "abc123xyz"}, env)
	require.ErrorContains(t, err, `unknown provider "ngenuis": this server knows generic, inyo, magnius, ngenius, payengine`)
	require.Equal(t, codes.InvalidArgument, status.Code(err), "not NotFound")
	_, err = s.audit.ListOrderEvents(s.authed(t.Context()), &pb.ListOrderEventsRequest{Provider: "ngenuis", OrderId: "abc123xyz"})
	require.Equal(t, codes.InvalidArgument, status.Code(err), "ListOrderEvents says the same")
	err = run(t.Context(), []string{"list", "--provider", "ngenuis"}, env)
	require.ErrorContains(t, err, `unknown provider "ngenuis": this server knows generic, inyo, magnius, ngenius, payengine`,
		"a listing refuses the provider as get does, not an empty list")
	require.Equal(t, codes.InvalidArgument, status.Code(err))

	var aggs []map[string]any
	require.NoError(t, json.Unmarshal([]byte(cli("list", "-o", "json")), &aggs))
	require.Len(t, aggs, 1)
	require.Equal(t, "abc123xyz", aggs[0]["providerId"])
	require.Regexp(t, `(?m)^ngenius\s+payment\s+abc123xyz\s+captured\s+2\s+`, cli("list"))

	require.Regexp(t, `(?m)^journal\s+ok$`, cli("verify"))
	var verdict map[string]any
	require.NoError(t, json.Unmarshal([]byte(cli("verify", "-o", "json")), &verdict))
	require.Equal(t, true, verdict["ok"])

	var machines []map[string]any
	require.NoError(t, json.Unmarshal([]byte(cli("machines", "-o", "json")), &machines))
	require.NotEmpty(t, machines)
	require.Contains(t, machines[0], "transitions")
	require.Regexp(t, `(?m)^ngenius\s+payment\s+\S+\s+`, cli("machines", "-o", "table"))

	// watch: one line per entry, and a malformed delivery with its reason.
	code, _ = s.post(t, []byte(`{"not": "an ngenius event"`), map[string]string{s.dev.NGeniusHeaderName: s.dev.NGeniusHeaderValue}, "/webhooks/ngenius")
	require.Equal(t, http.StatusBadRequest, code)
	// Each watch runs until it printed the last entry's line.
	watched := watchUntil(t, env, "malformed webhook body: ngenius: invalid JSON")
	require.Contains(t, watched, "ngenius/abc123xyz AUTHORISED: new -> authorized (APPLIED)")
	require.Regexp(t, `cursor=4 \S+ ngenius: malformed delivery REJECTED: malformed webhook body: ngenius: invalid JSON`, watched)
	watched = watchUntil(t, env, "\n", "-o", "json", "--after", "3")
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(strings.SplitN(watched, "\n", 2)[0]), &m))
	require.Equal(t, "4", m["cursor"])

	// A child refund shows its own amount, and no payment totals.
	require.NoError(t, runTo(t, io.Discard, noEnv, "simulate", "--url", s.http, "--data-dir", s.cfg.DataDir, "--token", s.dev.APIToken,
		"--order-id", "pe-1", "payengine", "auth-capture-refund"))
	table = cli("get", "payengine", "pe-1")
	lines = strings.Split(strings.TrimSpace(table), "\n")
	require.Len(t, lines, 3, table)
	require.Regexp(t, `^payengine\s+payment\s+pe-1\s+partially_refunded\s+.+\s+USD\s+(\d+)\s+\d+\s+\d+\s+[1-9]\d*\s+`, lines[1])
	require.Regexp(t, `^payengine\s+└ refund\s+\S+\s+succeeded\s+.+\s+USD\s+[1-9]\d*\s+-\s+-\s+-\s+`, lines[2])
	lines[2] = strings.Replace(lines[2], "└", "|", 1) // columnsAligned counts bytes; tabwriter, runes
	columnsAligned(t, lines)
}

// columnsAligned: every column of a table starts at the same offset on
// every line (text/tabwriter's two-space padding).
func columnsAligned(t *testing.T, lines []string) {
	t.Helper()
	starts := func(l string) []int {
		var at []int
		for _, m := range regexp.MustCompile(`  +\S`).FindAllStringIndex(l, -1) {
			at = append(at, m[1]-1)
		}
		return at
	}
	head := starts(lines[0])
	for _, l := range lines[1:] {
		for _, at := range starts(l) {
			require.Contains(t, head, at, "a cell of %q starts where no header does:\n%s", l, strings.Join(lines, "\n"))
		}
	}
}

// TestVerifyAndReevaluateProgress: on a terminal, verify walks the chain
// in ranges (entries done of total, rate, time left) and then shows the
// time the server's whole check takes; reevaluate with nothing to
// re-decide draws no line; off a terminal both stay quiet, and print the
// same.
func TestVerifyAndReevaluateProgress(t *testing.T) {
	s := startServer(t, t.TempDir())
	for _, ev := range []string{"AUTHORISED", "CAPTURED", "PARTIALLY_REFUNDED"} {
		code, _ := s.webhook(t, sample(t, ev))
		require.Equal(t, http.StatusOK, code)
	}
	env, out := s.cli(t)
	old, oldStep := newProgress, verifyStep
	t.Cleanup(func() { newProgress, verifyStep = old, oldStep })
	verifyStep = 2 // three entries: two ranges

	// Off a terminal: nothing at all.
	quiet, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	require.NoError(t, err)
	defer quiet.Close()
	newProgress = func(what string) *progress { return progressOn(quiet, what) }
	require.NoError(t, run(t.Context(), []string{"verify"}, env))
	piped := out.String()
	out.Reset()
	require.NoError(t, run(t.Context(), []string{"reevaluate", "--dry-run"}, env))
	fi, err := quiet.Stat()
	require.NoError(t, err)
	require.Zero(t, fi.Size(), "no progress in a file or a pipe")

	// On a terminal (the seam progress_test uses, with a clock that moves
	// a second a reading).
	var term bytes.Buffer
	clock := time.Unix(0, 0)
	newProgress = func(what string) *progress {
		return newProgressTo(&term, what, func() time.Time { clock = clock.Add(time.Second); return clock })
	}
	out.Reset()
	require.NoError(t, run(t.Context(), []string{"verify"}, env))
	require.Equal(t, piped, out.String(), "the output is the same; progress goes to stderr")
	lines := term.String()
	// Readings at 1 s (start), 2 s (2 of 3) and 3 s (3 of 3).
	require.Contains(t, lines, "\rchecking the hash chain: 2 of 3 (66%), 2/s, about 1s left\x1b[K")
	require.Contains(t, lines, "\rchecking the hash chain: 3 of 3 (100%), 2/s\x1b[K\n")
	require.Regexp(t, `\rreplaying 3 journal entries against the derived tables on the server: \d+s\x1b\[K`, lines)

	term.Reset()
	out.Reset()
	require.NoError(t, run(t.Context(), []string{"reevaluate", "--dry-run"}, env))
	require.Empty(t, term.String(), "no aggregate selected: no line (TestReevaluateCommand shows one)")
	require.Contains(t, out.String(), "0 aggregates re-decided")
}
