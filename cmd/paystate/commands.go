package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/paystate/paystate/buildinfo"
)

// The command line is built on cobra (with pflag): one help and usage
// layout for every command, -h/--help exiting 0 everywhere, unknown flags
// and commands refused with a message and a non-zero exit, and shell
// completion for bash, zsh and fish generated from the same tree. Each
// command's definition lives next to its logic; this file holds the root.

// Command groups, for the root's help.
const (
	groupServer = "server"
	groupClient = "client"
	groupAdmin  = "admin"
	groupTools  = "tools"
)

// envAnnotation marks a flag whose value, when not given, comes from an
// environment variable (see envFlag).
const envAnnotation = "paystate_env"

// newRoot builds the whole command tree. env is the environment the
// commands read (tests pass their own).
func newRoot(env func(string) string) *cobra.Command {
	root := &cobra.Command{
		Use:   "paystate",
		Short: "authoritative payment state from provider webhooks",
		Long: `paystate — authoritative payment state from provider webhooks

Client commands talk to a running server over gRPC (--addr, --token, or the
development token in --data-dir); send and simulate post over HTTP (--url).
To a server with TLS on, every one of them takes --tls (the system's CAs),
--ca-file FILE (a private CA; implies --tls) and --server-name NAME (env
PAYSTATE_TLS, PAYSTATE_CA_FILE, PAYSTATE_SERVER_NAME); a flag given wins
over its environment variable. Read commands print a table (-o table, the
default) or JSON (-o json); watch and reevaluate print text or JSON.
"paystate completion bash|zsh|fish" writes a shell completion script.`,
		SilenceErrors: true, // main prints the error once, prefixed
		SilenceUsage:  true, // a failed call is not a usage error
		Args:          cobra.NoArgs,
		// Run alone it prints its help and succeeds, as gh and git do (and
		// as cobra does for a command that only groups others).
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return applyEnv(cmd, env)
		},
	}
	root.SetOut(stdout)
	root.SetErr(os.Stderr)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return fmt.Errorf("%s: %w (see \"%s --help\")", cmdName(cmd), err, cmd.CommandPath())
	})
	root.AddGroup(
		&cobra.Group{ID: groupServer, Title: "Server:"},
		&cobra.Group{ID: groupClient, Title: "Client commands (talk to a running server; --addr, --token, --tls, --ca-file, --server-name):"},
		&cobra.Group{ID: groupAdmin, Title: "Administration (on the database itself; --config, --data-dir, --store):"},
		&cobra.Group{ID: groupTools, Title: "Tools:"},
	)
	add := func(group string, cmds ...*cobra.Command) {
		for _, c := range cmds {
			c.GroupID = group
			root.AddCommand(c)
		}
	}
	add(groupServer, newServeCmd(env))
	add(groupClient, newGetCmd(), newListCmd(), newHistoryCmd(), newVerifyCmd(), newWatchCmd(), newReevaluateCmd(),
		newSendCmd(), newSimulateCmd())
	add(groupAdmin, newMigrateCmd(env), newRebuildCmd(env), newCheckpointCmd(env), newBackupCmd(env))
	add(groupTools, newMachinesCmd(), newConfigCmd(env), newBenchCmd(), newVersionCmd())
	root.SetHelpCommandGroupID(groupTools)
	root.SetCompletionCommandGroupID(groupTools)
	// Made now rather than at Execute, so that the tree (and the tests that
	// walk it) has them.
	root.InitDefaultCompletionCmd()
	root.InitDefaultHelpCmd()
	for _, c := range root.Commands() {
		switch c.Name() {
		case "completion":
			c.Short = "write a shell completion script: bash, zsh, fish or powershell"
		case "help":
			c.Short = "help about any command (as COMMAND --help)"
			strictHelp(c)
		}
	}
	return root
}

// strictHelp makes "paystate help TOPIC" fail on a topic that names no
// command: cobra's own help prints the root's help for it and exits 0.
func strictHelp(help *cobra.Command) {
	show := help.Run
	help.Run = nil
	help.RunE = func(c *cobra.Command, args []string) error {
		cmd, rest, err := c.Root().Find(args)
		if err == nil && len(rest) > 0 && cmd.HasSubCommands() {
			err = fmt.Errorf("unknown command %q for %q", rest[0], cmd.CommandPath())
		}
		if err != nil {
			return fmt.Errorf("help: %w (see \"%s --help\")", err, c.Root().CommandPath())
		}
		show(c, args)
		return nil
	}
}

// run runs the command line args (without the program name).
func run(ctx context.Context, args []string, env func(string) string) error {
	root := newRoot(env)
	root.SetArgs(longFlagsWithOneDash(root, args))
	return root.ExecuteContext(ctx)
}

// longFlagsWithOneDash rewrites -name to --name where name is a long flag
// of the command args run: Go's flag package, which paystate used before
// cobra, accepted both, and scripts may still say -data-dir.
func longFlagsWithOneDash(root *cobra.Command, args []string) []string {
	cmd, _, err := root.Find(args)
	if err != nil || cmd.DisableFlagParsing {
		return args
	}
	out := make([]string, len(args))
	copy(out, args)
	for i, a := range out {
		if a == "--" {
			break
		}
		if len(a) < 3 || a[0] != '-' || a[1] == '-' {
			continue
		}
		name, _, _ := strings.Cut(a[1:], "=")
		if len(name) > 1 && cmd.Flags().Lookup(name) != nil {
			out[i] = "-" + a
		}
	}
	return out
}

// envFlag says that flag name of cmd takes its value from the environment
// variable key when it is not given, and says so in its help.
func envFlag(cmd *cobra.Command, name, key string) {
	f := cmd.Flags().Lookup(name)
	if f == nil {
		panic("envFlag: no flag " + name)
	}
	f.Usage += " (env " + key + ")"
	_ = cmd.Flags().SetAnnotation(name, envAnnotation, []string{key})
}

// applyEnv sets every flag of cmd that was not given from its environment
// variable, when that is set.
func applyEnv(cmd *cobra.Command, env func(string) string) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		keys := f.Annotations[envAnnotation]
		if err != nil || f.Changed || len(keys) == 0 {
			return
		}
		if v := env(keys[0]); v != "" {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s=%q (for --%s): %w", keys[0], v, f.Name, e)
			}
		}
	})
	return err
}

// groupCmd is a command that only holds subcommands. Run alone it prints
// its help on stdout and succeeds, as the root does and as gh does for a
// bare group (cobra's own default; kubectl prints help too, but exits 1);
// with a word that is none of its subcommands, it fails naming them.
func groupCmd(use, short string, subs ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			var names []string
			for _, s := range cmd.Commands() {
				names = append(names, s.Name())
			}
			return fmt.Errorf("%s: unknown subcommand %q: want %s (see \"%s --help\")", cmdName(cmd), args[0], strings.Join(names, ", "), cmd.CommandPath())
		},
	}
	cmd.AddCommand(subs...)
	return cmd
}

func newVersionCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "print the version, revision and Go version (-o text|table|json)",
		Args:  cobra.NoArgs,
	}
	o := outputFlag(cmd, formatText, formatText, formatTable, formatJSON)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return printVersion(cmd.OutOrStdout(), o.value)
	}
	return cmd
}

// printVersion is paystate version: one line "paystate VERSION REVISION
// GOVERSION" (text), a table, or buildinfo.Info as JSON, the object GET
// /version answers (see package buildinfo for how a release build stamps
// them).
func printVersion(w io.Writer, format string) error {
	info := buildinfo.Get()
	switch format {
	case formatJSON:
		return writeJSON(w, info)
	case formatTable:
		rev := info.Revision
		if rev != "" && info.Modified {
			rev += "+dirty"
		}
		t := newTable(w, "VERSION", "REVISION", "GO", "BUILT")
		t.row(info.Version, or(rev, "-"), info.GoVersion, or(info.BuildTime, "-"))
		return t.flush(w, "")
	}
	_, err := fmt.Fprintln(w, info.String())
	return err
}

// cmdName is the command's words after "paystate", for messages that
// main prefixes with "paystate:".
func cmdName(cmd *cobra.Command) string {
	return strings.TrimPrefix(strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()), " ")
}

// exactArgs wants one positional argument per name: "get: want PROVIDER
// ID, got 1 argument".
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != len(names) {
			return fmt.Errorf("%s: want %s, got %d argument(s) (see \"%s --help\")",
				cmdName(cmd), strings.Join(names, " "), len(args), cmd.CommandPath())
		}
		return nil
	}
}
