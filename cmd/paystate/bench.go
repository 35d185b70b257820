package main

import (
	"context"
	"io"

	paybench "github.com/paystate/paystate/bench"
)

// bench is `paystate bench` (package bench), measuring this command's own
// server, store and providers.
func bench(ctx context.Context, args []string, stdout io.Writer) error {
	return paybench.Main(ctx, args, stdout, paybench.Paystate{Serve: runServer, OpenStore: openStore, Providers: enabledProviders, TuneGC: tuneGC})
}
