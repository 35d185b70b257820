package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/paystate/paystate/buildinfo"
)

const usage = `paystate — authoritative payment state from provider webhooks

Usage:
  paystate serve [flags]    run the server (SQLite in ./paystate-data by default)
  paystate get [--kind K] PROVIDER ID      an order (or another aggregate), with children
  paystate list [--state S] [--kind K]     aggregates, e.g. every order in fraud_review
  paystate history [--kind K] PROVIDER ID  its journal: every event with its verdict
  paystate verify [--chain-only]           check the journal's hash chain and every
                                           table derived from it
  paystate verify --checkpoint FILE         ...and prove the journal still holds every
                                           exported checkpoint's prefix unchanged
  paystate checkpoint export [--out FILE]  append the newest signed checkpoint (JSON Lines)
  paystate checkpoint sign [--tree]        sign the chain head now (admin, on the database);
                                           --tree also signs a Merkle root for proofs
  paystate checkpoint prove SEQ            prove entry SEQ is under a tree checkpoint (JSON)
  paystate checkpoint check-proof [--checkpoint FILE] PROOF
                                           check such a proof offline
  paystate watch [--states fraud_review]   print transitions as they happen (resumable)
  paystate send PROVIDER SAMPLE|FILE|-
                            sign a webhook as PROVIDER would and post it
  paystate simulate PROVIDER SCENARIO
                            play a documented sequence on one order (--list)
  paystate migrate [status]               apply the embedded schema migrations (creating
                                           the data directory); status lists them, applied
                                           or pending, and changes nothing
  paystate rebuild [--fix [--force]]       replay the journal; report (or fix) state that
                                           differs; --fix refuses while a server runs
  paystate reevaluate [--provider P] [--since T] [--dry-run]
                            re-decide what older machine tables rejected, held or
                            did not know, under the current ones (admin token)
  paystate machines [--markdown]
                            print every provider's state machine as Mermaid
  paystate config check FILE
                            explain every problem of a config file, with its line;
                            print the effective configuration, secrets redacted
  paystate bench [--quick] [--json FILE]
                            measure ingest, reads, watch and rebuild next to
                            no-op baselines, on loopback (docs/performance.md)
  paystate version          print the version
  paystate help             this text

Client commands talk to a running server over gRPC (--addr, --token, or the
development token in --data-dir); send and simulate post over HTTP (--url).
To a server with TLS on, every one of them takes --tls (the system's CAs),
--ca-file FILE (a private CA; implies --tls) and --server-name NAME (env
PAYSTATE_TLS, PAYSTATE_CA_FILE, PAYSTATE_SERVER_NAME). Run "paystate COMMAND -h" for flags.
`

func run(ctx context.Context, args []string, env func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return errors.New("a subcommand is required")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], env)
	case "get":
		return cmdGet(ctx, args[1:], env)
	case "list":
		return cmdList(ctx, args[1:], env)
	case "history":
		return cmdHistory(ctx, args[1:], env)
	case "verify":
		return cmdVerify(ctx, args[1:], env)
	case "checkpoint":
		return cmdCheckpoint(ctx, args[1:], env)
	case "watch":
		return cmdWatch(ctx, args[1:], env)
	case "send":
		return send(args[1:], env)
	case "simulate":
		return simulate(args[1:], env, os.Stdout)
	case "migrate":
		return migrate(ctx, args[1:], env)
	case "rebuild":
		return rebuild(ctx, args[1:], env)
	case "reevaluate":
		return cmdReevaluate(ctx, args[1:], env)
	case "config":
		return cmdConfig(args[1:], env, os.Stdout, os.Stderr)
	case "machines":
		return machines(args[1:])
	case "bench":
		return bench(ctx, args[1:], os.Stdout)
	case "version":
		fmt.Println(version())
		return nil
	case "help", "-h", "--help":
		fmt.Print(usage)
		return nil
	}
	fmt.Fprint(os.Stderr, usage)
	return fmt.Errorf("unknown subcommand %q", args[0])
}

// version is "paystate VERSION REVISION GOVERSION" (see package buildinfo
// for how a release build stamps them).
func version() string { return buildinfo.Get().String() }

// newFlags returns a flag set whose errors are returned, not exited on.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	return fs
}
