package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/paystate/paystate/buildinfo"
	pb "github.com/paystate/paystate/proto/paystate/v1"
	simulatorpkg "github.com/paystate/paystate/simulator"
)

// runTo runs the command line args with stdout going to w.
func runTo(t *testing.T, w io.Writer, env func(string) string, args ...string) error {
	t.Helper()
	old := stdout
	stdout = w
	defer func() { stdout = old }()
	return run(t.Context(), args, env)
}

// commandPaths is every command of the tree but cobra's own help and
// completion plumbing, as the words that run it.
func commandPaths(root *cobra.Command) [][]string {
	var out [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" {
				continue
			}
			p := append(slices.Clone(path), sub.Name())
			out = append(out, p)
			walk(sub, p)
		}
	}
	walk(root, nil)
	return out
}

// TestEveryCommandHasHelp walks the command tree (so a new command is
// covered without touching this test): -h and --help exit 0 and print a
// usage; an unknown flag fails, naming it; every flag's help text is there
// and does not contradict its default.
func TestEveryCommandHasHelp(t *testing.T) {
	paths := commandPaths(newRoot(noEnv))
	require.Greater(t, len(paths), 15, "the walk sees the whole tree")
	for _, path := range paths {
		name := strings.Join(path, " ")
		for _, h := range []string{"-h", "--help"} {
			var out bytes.Buffer
			require.NoError(t, runTo(t, &out, noEnv, append(slices.Clone(path), h)...), "%s %s", name, h)
			require.Contains(t, out.String(), "Usage:\n  paystate "+name, name)
			require.Contains(t, out.String(), "-h, --help", name)
		}
		err := runTo(t, io.Discard, noEnv, append(slices.Clone(path), "--no-such-flag")...)
		require.Error(t, err, name)
		require.Contains(t, err.Error(), "no-such-flag", name)
	}

	root := newRoot(noEnv)
	var check func(c *cobra.Command)
	check = func(c *cobra.Command) {
		require.NotEmpty(t, c.Short, c.CommandPath())
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			where := c.CommandPath() + " --" + f.Name
			if f.Hidden {
				return
			}
			require.NotEmpty(t, f.Usage, where)
			zero := f.DefValue == "" || f.DefValue == "false" || f.DefValue == "0"
			if !zero {
				// pflag prints "(default X)": the text must not say
				// otherwise ("(empty: every kind) (default "payment")").
				require.NotRegexp(t, `(?i)\bdefault\b|\(empty|unset:`, f.Usage, where)
			}
		})
		for _, s := range c.Commands() {
			check(s)
		}
	}
	check(root)
}

// The root's help groups the commands; unknown commands and a missing
// subcommand fail with a message.
func TestRootUsageAndUnknownCommands(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, runTo(t, &out, noEnv, "--help"))
	for _, group := range []string{"Server:", "Client commands", "Administration", "Tools:"} {
		require.Contains(t, out.String(), group)
	}
	require.NoError(t, runTo(t, &out, noEnv, "help", "get"))
	require.NoError(t, runTo(t, &out, noEnv, "help", "checkpoint", "sign"))
	require.NoError(t, runTo(t, &out, noEnv, "help"))
	require.ErrorContains(t, runTo(t, io.Discard, noEnv, "help", "nosuch"), `help: unknown command "nosuch" for "paystate"`)
	require.ErrorContains(t, runTo(t, io.Discard, noEnv, "help", "checkpoint", "nosuch"), `unknown command "nosuch" for "paystate checkpoint"`)
	err := runTo(t, io.Discard, noEnv, "nosuch")
	require.ErrorContains(t, err, `unknown command "nosuch"`)
	require.ErrorContains(t, runTo(t, io.Discard, noEnv, "checkpoint", "nosuch"), `unknown subcommand "nosuch"`)
	require.ErrorContains(t, runTo(t, io.Discard, noEnv, "get", "ngenius"), "want PROVIDER ID, got 1")
	require.ErrorContains(t, runTo(t, io.Discard, noEnv, "list", "-o", "xml"), "want table or json")
	require.ErrorContains(t, runTo(t, io.Discard, noEnv, "machines", "-o", "xml"), "want mermaid, table or json")
	require.ErrorContains(t, runTo(t, io.Discard, noEnv, "rebuild", "--force"), "--force only goes with --fix")
	require.ErrorContains(t, runTo(t, io.Discard, noEnv, "watch", "--after", "3", "--from-now"), "[after from-now] were all set")
}

// TestBareGroupsPrintTheirHelp walks the command tree: every command that
// only groups others (the root included), run alone, prints its help on
// stdout, naming each subcommand, and exits 0, as gh does; a word that is
// none of its subcommands still fails. migrate, which has subcommands but
// acts on its own, is the one parent that does not.
func TestBareGroupsPrintTheirHelp(t *testing.T) {
	paths := append([][]string{{}}, commandPaths(newRoot(noEnv))...)
	groups := 0
	for _, p := range paths {
		c, _, err := newRoot(noEnv).Find(p)
		require.NoError(t, err)
		if !c.HasAvailableSubCommands() || c.Name() == "migrate" {
			continue
		}
		groups++
		var out bytes.Buffer
		require.NoError(t, runTo(t, &out, noEnv, p...), "%q run alone", p)
		require.Contains(t, out.String(), "Usage:\n  "+c.CommandPath(), "%q prints its help", p)
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() {
				require.Contains(t, out.String(), "  "+sub.Name()+" ", "%q's help names %s", p, sub.Name())
			}
		}
		if len(p) > 0 && p[0] != "completion" { // cobra's own completion takes a shell name
			require.ErrorContains(t, runTo(t, io.Discard, noEnv, append(p, "nosuch")...), `unknown subcommand "nosuch"`, "%q nosuch", p)
		}
	}
	require.GreaterOrEqual(t, groups, 4, "the root, checkpoint, config and completion at least")
}

// Go's flag package, which paystate used before, took -data-dir as well as
// --data-dir: scripts that say so keep working.
func TestLongFlagsWithOneDash(t *testing.T) {
	root := newRoot(noEnv)
	require.Equal(t, []string{"get", "--addr", "x", "--kind=refund", "-o", "json", "p", "-", "--", "-addr"},
		longFlagsWithOneDash(root, []string{"get", "-addr", "x", "-kind=refund", "-o", "json", "p", "-", "--", "-addr"}))
	require.Equal(t, []string{"send", "magnius", "--list"}, longFlagsWithOneDash(root, []string{"send", "magnius", "-list"}))
	require.Equal(t, []string{"bench", "--quick"}, longFlagsWithOneDash(root, []string{"bench", "-quick"}))
	var out bytes.Buffer
	require.NoError(t, runTo(t, &out, noEnv, "simulate", "-list"))
	require.Contains(t, out.String(), "out-of-order")
}

// Flags bound to the environment take it when not given, and the flag
// wins over it.
func TestFlagsFromTheEnvironment(t *testing.T) {
	env := func(k string) string {
		return map[string]string{"PAYSTATE_GRPC_ADDR": "127.0.0.1:1", "PAYSTATE_TLS": "true", "PAYSTATE_CA_FILE": "ca.pem"}[k]
	}
	root := newRoot(env)
	get, _, err := root.Find([]string{"get"})
	require.NoError(t, err)
	require.NoError(t, get.ParseFlags([]string{"--addr", "127.0.0.1:2"}))
	require.NoError(t, applyEnv(get, env))
	for name, want := range map[string]string{"addr": "127.0.0.1:2", "tls": "true", "ca-file": "ca.pem", "server-name": ""} {
		require.Equal(t, want, get.Flags().Lookup(name).Value.String(), name)
	}
	require.Contains(t, get.Flags().Lookup("ca-file").Usage, "(env PAYSTATE_CA_FILE)")
	bad := func(k string) string { return map[string]string{"PAYSTATE_TLS": "maybe"}[k] }
	require.ErrorContains(t, runTo(t, io.Discard, bad, "get", "p", "id"), "PAYSTATE_TLS")
}

// Every client command has the same connection and TLS flags.
func TestClientCommandsShareConnectionFlags(t *testing.T) {
	root := newRoot(noEnv)
	var n int
	for _, path := range commandPaths(root) {
		c, _, err := root.Find(path)
		require.NoError(t, err)
		if c.GroupID != groupClient && c.Parent().Name() != "checkpoint" {
			continue
		}
		if c.Parent().Name() == "checkpoint" && c.Name() != "export" {
			continue
		}
		n++
		for _, f := range []string{"tls", "ca-file", "server-name", "data-dir"} {
			require.NotNil(t, c.Flags().Lookup(f), "%s --%s", c.CommandPath(), f)
		}
		if c.Name() != "send" && c.Name() != "simulate" {
			require.NotNil(t, c.Flags().Lookup("addr"), c.CommandPath())
		} else {
			require.NotNil(t, c.Flags().Lookup("url"), c.CommandPath())
		}
	}
	require.GreaterOrEqual(t, n, 9)
}

// rebuild --verify did nothing (checking is the default): it is hidden and
// deprecated, still accepted, and excludes --fix.
func TestRebuildVerifyIsDeprecated(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, runTo(t, &out, noEnv, "rebuild", "--help"))
	require.NotContains(t, out.String(), "--verify")
	require.ErrorContains(t, runTo(t, io.Discard, noEnv, "rebuild", "--verify", "--fix"), "exclude each other")
}

// paystate completion bash|zsh|fish writes a script that knows the
// commands; bash's parses.
func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		var out bytes.Buffer
		require.NoError(t, runTo(t, &out, noEnv, "completion", shell), shell)
		require.Greater(t, out.Len(), 1000, shell)
		require.Contains(t, out.String(), "paystate", shell)
		if shell == "bash" {
			if bash, err := exec.LookPath("bash"); err == nil {
				f := filepath.Join(t.TempDir(), "paystate.bash")
				require.NoError(t, os.WriteFile(f, out.Bytes(), 0o600))
				msg, err := exec.Command(bash, "-n", f).CombinedOutput()
				require.NoError(t, err, "bash -n: %s", msg)
			} else {
				t.Log("no bash on PATH: the bash script's syntax is not checked")
			}
		}
	}
	// The completions themselves come from the tree: the commands, then a
	// command's flags and their values.
	var out bytes.Buffer
	require.NoError(t, runTo(t, &out, noEnv, "__complete", ""))
	for _, c := range []string{"get", "list", "watch", "migrate", "checkpoint", "completion"} {
		require.Contains(t, out.String(), c+"\t")
	}
	out.Reset()
	require.NoError(t, runTo(t, &out, noEnv, "__complete", "list", "--kind", ""))
	require.Contains(t, out.String(), "refund\n")
	out.Reset()
	require.NoError(t, runTo(t, &out, noEnv, "__complete", "simulate", "ngenius", ""))
	require.Contains(t, out.String(), "out-of-order")
	// bench's flags are package bench's, registered on the command.
	out.Reset()
	require.NoError(t, runTo(t, &out, noEnv, "__complete", "bench", "--"))
	for _, f := range []string{"--quick", "--conns", "--only", "--json", "--growth"} {
		require.Contains(t, out.String(), f+"\t")
	}
	out.Reset()
	require.NoError(t, runTo(t, &out, noEnv, "__complete", "bench", "--only", ""))
	require.Contains(t, out.String(), "growth\n")
}

// The README's command-line section lists exactly the commands of the
// tree: a command added to one and not the other fails here.
func TestReadmeListsEveryCommand(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	require.NoError(t, err)
	readme := string(raw)
	start := strings.Index(readme, "\n## Command line\n")
	require.Positive(t, start)
	section := readme[start+1:]
	section = section[:strings.Index(section, "\n## ")+1]
	block := regexp.MustCompile("(?s)```sh\n(.*?)```").FindStringSubmatch(section)
	require.NotNil(t, block, "the section's command list")
	documented := map[string]bool{}
	for _, line := range strings.Split(block[1], "\n") {
		fields := strings.Fields(strings.SplitN(line, "#", 2)[0])
		if len(fields) < 2 || fields[0] != "paystate" {
			continue
		}
		documented[fields[1]] = true
		if len(fields) > 2 {
			// "paystate completion bash|zsh|fish" lists three.
			for _, sub := range strings.Split(fields[2], "|") {
				if isSubcommand(fields[1], sub) {
					documented[fields[1]+" "+sub] = true
				}
			}
		}
	}
	var tree []string
	for _, path := range commandPaths(newRoot(noEnv)) {
		c := strings.Join(path, " ")
		tree = append(tree, c)
		if len(path) == 1 && isGroup(path[0]) {
			continue // its subcommands are listed
		}
		if path[0] == "migrate" && len(path) == 1 {
			require.True(t, documented[c], "paystate migrate is not in README's Command line section")
			continue
		}
		require.True(t, documented[c], "paystate %s is not in README's Command line section", c)
	}
	for c := range documented {
		require.Contains(t, tree, c, "README's Command line section lists paystate %s, which does not exist", c)
	}
}

func isGroup(name string) bool {
	c, _, err := newRoot(noEnv).Find([]string{name})
	return err == nil && c.HasSubCommands() && c.Name() != "migrate"
}

func isSubcommand(parent, word string) bool {
	c, _, err := newRoot(noEnv).Find([]string{parent, word})
	return err == nil && c.Name() == word && c.Parent().Name() == parent
}

// watch prints a malformed delivery with its reason, and an answer
// without an entry, instead of an empty transition or a crash.
func TestWatchLinePrintsMalformedEntries(t *testing.T) {
	ok := &pb.WatchResponse{Cursor: 7, Entry: &pb.JournalEntry{Sequence: 7, Provider: "ngenius", Kind: pb.Kind_KIND_PAYMENT,
		ProviderId: "o-1", Event: "AUTHORISED", StateBefore: "new", StateAfter: "authorized", Verdict: pb.Verdict_VERDICT_APPLIED}}
	require.Contains(t, watchLine(ok), "cursor=7 - ngenius/o-1 AUTHORISED: new -> authorized (APPLIED)")
	bad := &pb.WatchResponse{Cursor: 8, Entry: &pb.JournalEntry{Sequence: 8, Provider: "ngenius",
		Verdict: pb.Verdict_VERDICT_REJECTED, Reason: "malformed: invalid character '}' looking for beginning of value"}}
	require.Equal(t, "cursor=8 - ngenius: malformed delivery REJECTED: invalid character '}' looking for beginning of value", watchLine(bad))
	require.Contains(t, watchLine(&pb.WatchResponse{Cursor: 9}), "cursor=9 (the server sent no entry")
}

// send and simulate say what they want.
func TestSendAndSimulateArguments(t *testing.T) {
	require.ErrorContains(t, runTo(t, io.Discard, noEnv, "send"), "send: want PROVIDER [SAMPLE | FILE | -], got 0")
	require.ErrorContains(t, runTo(t, io.Discard, noEnv, "send", "ngenuis"), `send: unknown provider "ngenuis" (known: generic, inyo, magnius, ngenius, payengine)`)
	var out bytes.Buffer
	require.ErrorContains(t, runTo(t, &out, noEnv, "send", "ngenius"), "name a sample")
	require.Contains(t, out.String(), "event_AUTHORISED", "the samples are listed")
	require.ErrorContains(t, runTo(t, io.Discard, noEnv, "simulate", "ngenius", "a", "b"), "want PROVIDER SCENARIO, got 3")
	require.ErrorContains(t, runTo(t, io.Discard, noEnv, "simulate", "ngenius", "nosuch"), "no scenario ngenius nosuch")
}

// A stop (SIGINT: the command's context ends) cancels a post that has no
// answer yet: send and simulate return at once instead of holding the
// terminal until the client's 30 s timeout.
func TestSendAndSimulateStopWhenCancelled(t *testing.T) {
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select { // never answers: the client must give up on its own
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	var scenario string
	for _, sc := range simulatorpkg.Scenarios() {
		if sc.Provider == "ngenius" {
			scenario = sc.Name
			break
		}
	}
	require.NotEmpty(t, scenario)
	for _, args := range [][]string{
		{"send", "--url", srv.URL, "--data-dir", t.TempDir(), "--secret", "x", "ngenius", "event_AUTHORISED"},
		{"simulate", "--url", srv.URL, "--data-dir", t.TempDir(), "--secret", "x", "--token", "t", "ngenius", scenario},
	} {
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- run(ctx, args, noEnv) }()
		<-arrived
		cancel()
		err := <-done
		require.ErrorIs(t, err, context.Canceled, "%s: %v", args[0], err)
	}
}

// A webhook answer caused on the sender's side says what to do about it;
// a 401 says what --secret holds for that provider.
func TestWebhookAnswerHints(t *testing.T) {
	require.Contains(t, answerHint("ngenius", 400, []byte("Client sent an HTTP request to an HTTPS server.\n"), false), "pass --tls, or --ca-file")
	require.Empty(t, answerHint("ngenius", 400, []byte(`{"error":"malformed"}`), false), "a malformed body is the body's fault")
	require.Contains(t, answerHint("ngenius", 401, []byte(`{"error":"not authenticated"}`), false), "--secret 'Header-Name: value'")
	require.Contains(t, answerHint("ngenius", 404, []byte(`{"error":"unknown provider"}`), false), "no such provider enabled")
	require.Empty(t, answerHint("ngenius", 503, nil, false))
	withSecret := answerHint("ngenius", 401, []byte(`{"error":"not authenticated"}`), true)
	require.Contains(t, withSecret, "--secret is not what this server has configured for ngenius")
	require.NotContains(t, withSecret, "development", "the rejected credential was the --secret, not the development one")
	require.Contains(t, answerHint("inyo", 401, nil, true), "--secret 'Basic user:password'")
	require.Contains(t, answerHint("generic", 401, nil, false), "--algorithm")
	for _, p := range simulatorNames() {
		require.NotEmpty(t, secretForms[p], "every provider says what its --secret holds: %s", p)
	}
}

// A server's answer loses gRPC's wrapping once, also when a command has
// added what it was asking about.
func TestExplainServerErrors(t *testing.T) {
	c := &client{addr: "127.0.0.1:1"}
	err := explain(status.Error(codes.NotFound, "no events for this aggregate"), c)
	require.EqualError(t, err, "no events for this aggregate (NotFound)")
	require.Equal(t, codes.NotFound, status.Code(err))
	wrapped := fmt.Errorf("history: payment x at ngenius: %w", err)
	require.EqualError(t, explain(wrapped, c), "history: payment x at ngenius: no events for this aggregate (NotFound)")
	internal := status.Error(codes.Internal, "boom")
	require.Equal(t, internal, explain(internal, c), "other codes keep gRPC's own wording")
}

// send --list, simulate --list and version take -o table|json as every
// read command does; -o on a send or simulate that posts is refused.
func TestListsAndVersionTakeOutput(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, runTo(t, &out, noEnv, "send", "--list", "ngenius"))
	require.True(t, strings.HasPrefix(out.String(), "PROVIDER  SAMPLE\n"), out.String())
	require.Regexp(t, `(?m)^ngenius +event_CAPTURED$`, out.String())

	out.Reset()
	require.NoError(t, runTo(t, &out, noEnv, "send", "--list", "-o", "json", "ngenius"))
	var samples []struct{ Provider, Sample string }
	require.NoError(t, json.Unmarshal(out.Bytes(), &samples), out.String())
	names, err := sampleNames(simulators["ngenius"].samples)
	require.NoError(t, err)
	require.Len(t, samples, len(names))
	require.Contains(t, samples, struct{ Provider, Sample string }{"ngenius", "event_CAPTURED"})

	out.Reset()
	require.NoError(t, runTo(t, &out, noEnv, "simulate", "--list"))
	require.Regexp(t, `^PROVIDER +SCENARIO +KIND +ABOUT\n`, out.String())
	require.Regexp(t, `(?m)^ngenius +fraud-review +payment +an authorisation held`, out.String())

	out.Reset()
	require.NoError(t, runTo(t, &out, noEnv, "simulate", "--list", "-o", "json"))
	var scs []struct {
		Provider, Scenario, Kind, About string
		Steps                           []string
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &scs), out.String())
	require.Len(t, scs, len(simulatorpkg.Scenarios()))
	for i, sc := range simulatorpkg.Scenarios() {
		require.Equal(t, sc.Provider+"/"+sc.Name+"/"+sc.Kind, scs[i].Provider+"/"+scs[i].Scenario+"/"+scs[i].Kind)
		require.Len(t, scs[i].Steps, len(sc.Steps))
	}

	info := buildinfo.Get()
	out.Reset()
	require.NoError(t, runTo(t, &out, noEnv, "version"))
	require.Equal(t, info.String()+"\n", out.String())
	out.Reset()
	require.NoError(t, runTo(t, &out, noEnv, "version", "-o", "json"))
	var got buildinfo.Info
	require.NoError(t, json.Unmarshal(out.Bytes(), &got), out.String())
	require.Equal(t, info, got)
	out.Reset()
	require.NoError(t, runTo(t, &out, noEnv, "version", "-o", "table"))
	require.Regexp(t, `^VERSION +REVISION +GO +BUILT\n`+regexp.QuoteMeta(info.Version)+` +.* `+regexp.QuoteMeta(info.GoVersion)+` `, out.String())

	require.ErrorContains(t, runTo(t, &out, noEnv, "send", "-o", "json", "ngenius", "event_CAPTURED"), "applies to --list only")
	require.ErrorContains(t, runTo(t, &out, noEnv, "simulate", "-o", "json", "ngenius", "fraud-review"), "applies to --list only")
	require.ErrorContains(t, runTo(t, &out, noEnv, "version", "-o", "yaml"), "want text, table or json")
}
