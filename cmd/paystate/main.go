// Command paystate is the payment-state engine: `paystate serve` runs the
// server; the other subcommands help operate it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "paystate:", err)
		stop() // os.Exit runs no deferred call
		os.Exit(1)
	}
}
