package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/paystate/paystate/api"
	"github.com/paystate/paystate/checkpoint"
	"github.com/paystate/paystate/config"
	pb "github.com/paystate/paystate/proto/paystate/v1"
)

// stdout is where client commands print (tests capture it).
var stdout io.Writer = os.Stdout

// client is what every client subcommand needs: a connection and a token.
type client struct {
	conn  *grpc.ClientConn
	token string
	out   io.Writer
	addr  string // for messages
	tls   bool
}

// clientFlags registers the connection flags shared by client subcommands.
func clientFlags(fs *flag.FlagSet, env func(string) string) func() (*client, error) {
	addr := fs.String("addr", or(env("PAYSTATE_GRPC_ADDR"), "127.0.0.1:9090"), "paystate's gRPC address (env PAYSTATE_GRPC_ADDR)")
	token := fs.String("token", env("PAYSTATE_TOKEN"), "API token (env PAYSTATE_TOKEN; default: the development token in --data-dir)")
	dataDir := fs.String("data-dir", or(env("PAYSTATE_DATA_DIR"), "paystate-data"), "data directory holding dev-credentials.json")
	loadTLS := tlsFlags(fs, env)
	return func() (*client, error) {
		tok := *token
		if tok == "" {
			dev, err := config.LoadDev(*dataDir, false)
			if err != nil {
				return nil, fmt.Errorf("no --token and no development credentials: %w", err)
			}
			tok = dev.APIToken
		}
		tc, err := loadTLS()
		if err != nil {
			return nil, err
		}
		creds := insecure.NewCredentials()
		if tc != nil {
			creds = credentials.NewTLS(tc)
		}
		conn, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(creds))
		if err != nil {
			return nil, err
		}
		return &client{conn: conn, token: tok, out: stdout, addr: *addr, tls: tc != nil}, nil
	}
}

func (c *client) ctx(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.token)
}

func (c *client) print(m proto.Message) error {
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(c.out, string(b))
	return err
}

// clientCommand parses args, connects, and runs fn with the positional
// arguments, which must number want.
func clientCommand(ctx context.Context, name, usage string, want int, args []string, env func(string) string,
	extra func(*flag.FlagSet), fn func(context.Context, *client, []string) error) error {
	fs := newFlags(name)
	connect := clientFlags(fs, env)
	if extra != nil {
		extra(fs)
	}
	fs.Usage = func() { fmt.Fprintf(os.Stderr, "Usage: paystate %s [flags] %s\n", name, usage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() != want {
		fs.Usage()
		return fmt.Errorf("%s: want %d arguments, got %d", name, want, fs.NArg())
	}
	c, err := connect()
	if err != nil {
		return err
	}
	defer c.conn.Close()
	return explain(fn(ctx, c, fs.Args()), c)
}

// explain makes a failed call's error say what to do: the server is not
// running, or the transport does not match.
func explain(err error, c *client) error {
	if err == nil || status.Code(err) != codes.Unavailable {
		return err
	}
	return unreachable(err, c.addr, c.tls)
}

func cmdGet(ctx context.Context, args []string, env func(string) string) error {
	var kind string
	return clientCommand(ctx, "get", "PROVIDER ID", 2, args, env,
		func(fs *flag.FlagSet) {
			fs.StringVar(&kind, "kind", "payment", "aggregate kind: payment, refund, chargeback, subscription, link, onboarding")
		},
		func(ctx context.Context, c *client, a []string) error {
			if kind == "payment" {
				o, err := pb.NewOrderServiceClient(c.conn).GetOrder(c.ctx(ctx), &pb.GetOrderRequest{Provider: a[0], OrderId: a[1]})
				if err != nil {
					return err
				}
				return c.print(o)
			}
			g, err := pb.NewAggregateServiceClient(c.conn).GetAggregate(c.ctx(ctx), &pb.GetAggregateRequest{Provider: a[0], Kind: kind, ProviderId: a[1]})
			if err != nil {
				return err
			}
			return c.print(g)
		})
}

func cmdHistory(ctx context.Context, args []string, env func(string) string) error {
	var kind string
	return clientCommand(ctx, "history", "PROVIDER ID", 2, args, env,
		func(fs *flag.FlagSet) { fs.StringVar(&kind, "kind", "payment", "aggregate kind") },
		func(ctx context.Context, c *client, a []string) error {
			svc := pb.NewAggregateServiceClient(c.conn)
			for token := ""; ; {
				page, err := svc.ListAggregateEvents(c.ctx(ctx), &pb.ListAggregateEventsRequest{
					Provider: a[0], Kind: kind, ProviderId: a[1], PageSize: 200, PageToken: token})
				if err != nil {
					return err
				}
				for _, e := range page.GetEntries() {
					// The version that decided each verdict: a re-evaluation's
					// entry reads "APPLIED v2 ... reevaluated under v2: rejected
					// under v1 at entry N".
					fmt.Fprintf(c.out, "%6d  %s  %-30s %-9s %-12s %s -> %s  %s\n", e.GetSequence(),
						e.GetReceiveTime().AsTime().Format("2006-01-02T15:04:05Z"), e.GetEvent(),
						strings.TrimPrefix(e.GetVerdict().String(), "VERDICT_"), e.GetMachineVersion(),
						e.GetStateBefore(), e.GetStateAfter(), e.GetReason())
				}
				if token = page.GetNextPageToken(); token == "" {
					return nil
				}
			}
		})
}

func cmdVerify(ctx context.Context, args []string, env func(string) string) error {
	var chainOnly bool
	var file string
	return clientCommand(ctx, "verify", "", 0, args, env,
		func(fs *flag.FlagSet) {
			fs.BoolVar(&chainOnly, "chain-only", false, "check only the hash chain, not the derived tables (no replay)")
			fs.StringVar(&file, "checkpoint", "", "a file of exported checkpoints (paystate checkpoint export): each must verify, and the journal must still hold its prefix unchanged")
		},
		func(ctx context.Context, c *client, _ []string) error {
			req := &pb.VerifyJournalRequest{ChainOnly: chainOnly}
			if file != "" {
				f, err := os.Open(file)
				if err != nil {
					return err
				}
				// ReadLines checks every signature here, not on the server.
				cps, err := checkpoint.ReadLines(f)
				f.Close()
				if err != nil {
					return fmt.Errorf("verify: %s: %w", file, err)
				}
				for _, cp := range cps {
					req.Checkpoints = append(req.Checkpoints, api.ToSignedCheckpoint(cp))
				}
			}
			r, err := pb.NewAuditServiceClient(c.conn).VerifyJournal(c.ctx(ctx), req)
			if err != nil {
				return err
			}
			if err := c.print(r); err != nil {
				return err
			}
			if !r.GetOk() {
				return fmt.Errorf("verify: the journal does not verify: %s", r.GetProblem())
			}
			return nil
		})
}

func cmdWatch(ctx context.Context, args []string, env func(string) string) error {
	var states, kinds, providers string
	var after int64
	var fromHead bool
	return clientCommand(ctx, "watch", "", 0, args, env,
		func(fs *flag.FlagSet) {
			fs.StringVar(&states, "states", "", "comma-separated states to watch entering or leaving, e.g. fraud_review")
			fs.StringVar(&kinds, "kinds", "", "comma-separated kinds")
			fs.StringVar(&providers, "providers", "", "comma-separated providers")
			fs.Int64Var(&after, "after", 0, "resume after this cursor (printed with every line)")
			fs.BoolVar(&fromHead, "from-now", false, "start at the end of the journal")
		},
		func(ctx context.Context, c *client, _ []string) error {
			req := &pb.WatchRequest{AfterSequence: after, StartAtHead: fromHead,
				States: splitComma(states), Kinds: splitComma(kinds), Providers: splitComma(providers)}
			stream, err := pb.NewWatchServiceClient(c.conn).Watch(c.ctx(ctx), req)
			if err != nil {
				return err
			}
			cursor := after
			for {
				m, err := stream.Recv()
				if err != nil {
					if v := stream.Trailer().Get(api.StreamEndTrailer); len(v) > 0 {
						// The server ended the stream on purpose (it is
						// shutting down): a clean end, with where to resume.
						fmt.Fprintf(os.Stderr, "paystate watch: the server ended the stream (%s); resume with --after %d\n", v[0], cursor)
						return nil
					}
					if ctx.Err() != nil || callerDeadline(ctx, err) {
						return nil
					}
					return err
				}
				cursor = m.GetCursor()
				if m.GetHeartbeat() {
					continue
				}
				e := m.GetEntry()
				fmt.Fprintf(c.out, "cursor=%d %s %s/%s %s: %s -> %s (%s)\n", m.GetCursor(),
					e.GetReceiveTime().AsTime().Format("2006-01-02T15:04:05Z"), e.GetProvider(), e.GetProviderId(),
					e.GetEvent(), e.GetStateBefore(), e.GetStateAfter(), strings.TrimPrefix(e.GetVerdict().String(), "VERDICT_"))
			}
		})
}

// callerDeadline reports whether err is the caller's own deadline ending
// the stream. gRPC sends the deadline to the server, whose timer can fire
// (and reset the stream) a moment before the caller's context reports it.
func callerDeadline(ctx context.Context, err error) bool {
	_, has := ctx.Deadline()
	return has && status.Code(err) == codes.DeadlineExceeded
}

func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func cmdList(ctx context.Context, args []string, env func(string) string) error {
	var provider, kind, state string
	return clientCommand(ctx, "list", "", 0, args, env,
		func(fs *flag.FlagSet) {
			fs.StringVar(&provider, "provider", "", "only this provider")
			fs.StringVar(&kind, "kind", "payment", "only this kind (empty: every kind)")
			fs.StringVar(&state, "state", "", "only this canonical state, e.g. fraud_review")
		},
		func(ctx context.Context, c *client, _ []string) error {
			svc := pb.NewAggregateServiceClient(c.conn)
			for token := ""; ; {
				page, err := svc.ListAggregates(c.ctx(ctx), &pb.ListAggregatesRequest{
					Provider: provider, Kind: kind, State: state, PageSize: 500, PageToken: token})
				if err != nil {
					return err
				}
				for _, a := range page.GetAggregates() {
					fmt.Fprintf(c.out, "%-10s %-12s %-40s %-18s v%-3d %s\n", a.GetProvider(),
						strings.ToLower(strings.TrimPrefix(a.GetKind().String(), "KIND_")), a.GetProviderId(),
						a.GetState(), a.GetVersion(), a.GetUpdateTime().AsTime().Format("2006-01-02T15:04:05Z"))
				}
				if token = page.GetNextPageToken(); token == "" {
					return nil
				}
			}
		})
}
