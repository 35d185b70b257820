package main

import (
	"context"
	"io"

	"github.com/spf13/cobra"

	paybench "github.com/paystate/paystate/bench"
)

// newBenchCmd is `paystate bench`: package bench owns the flags and the
// run, registered here on the command so that help, parsing and
// completion are the command line's own.
func newBenchCmd() *cobra.Command {
	var f *paybench.Flags
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "measure ingest, reads, watch and rebuild next to no-op baselines, on loopback (docs/performance.md)",
		Long: `Measures ingest, reads, watch and rebuild next to no-op baselines, in one
process on loopback and in a temporary data directory, and prints a table
(--json FILE for the figures). --quick runs every scenario for a second or
two on tiny data; the real run takes minutes (docs/performance.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.Run(cmd.Context(), cmd.Flags(), stdout, benchPaystate)
		},
	}
	f = paybench.BindFlags(cmd.Flags())
	_ = cmd.RegisterFlagCompletionFunc("only", cobra.FixedCompletions(paybench.ScenarioNames(), cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// benchPaystate is this command's own server, store and providers, which
// the bench measures.
var benchPaystate = paybench.Paystate{Serve: runServer, OpenStore: openStore, Providers: enabledProviders, TuneGC: tuneGC}

// bench is `paystate bench` with its arguments (the tests' entry point).
func bench(ctx context.Context, args []string, stdout io.Writer) error {
	return paybench.Main(ctx, args, stdout, benchPaystate)
}
