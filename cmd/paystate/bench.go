package main

import (
	"context"
	"io"

	"github.com/spf13/cobra"

	paybench "github.com/paystate/paystate/bench"
)

// newBenchCmd is `paystate bench`: package bench parses its own flags
// (bench -h lists them), so that the bench's flags live with the bench.
func newBenchCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "bench [--quick] [--json FILE] [bench flags]",
		Short: "measure ingest, reads, watch and rebuild next to no-op baselines, on loopback (docs/performance.md)",
		Long: `Measures ingest, reads, watch and rebuild next to no-op baselines, in one
process on loopback and in a temporary data directory (docs/performance.md).
Its flags are package bench's: "paystate bench -h" lists them.`,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return bench(cmd.Context(), args, stdout)
		},
	}
}

// bench is `paystate bench` (package bench), measuring this command's own
// server, store and providers.
func bench(ctx context.Context, args []string, stdout io.Writer) error {
	return paybench.Main(ctx, args, stdout, paybench.Paystate{Serve: runServer, OpenStore: openStore, Providers: enabledProviders, TuneGC: tuneGC})
}
