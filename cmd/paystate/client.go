package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/paystate/paystate/api"
	"github.com/paystate/paystate/checkpoint"
	"github.com/paystate/paystate/config"
	pb "github.com/paystate/paystate/proto/paystate/v1"
)

// stdout is where commands print (tests capture it).
var stdout io.Writer = os.Stdout

// client is what every client subcommand needs: a connection and a token.
type client struct {
	conn  *grpc.ClientConn
	token string
	out   io.Writer
	addr  string // for messages
	tls   bool
}

// clientOptions are the connection flags every client command has.
type clientOptions struct {
	addr, token, dataDir string
	tls                  tlsOptions
}

// addClientFlags registers the connection flags of a client command.
func addClientFlags(cmd *cobra.Command) *clientOptions {
	o := &clientOptions{}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", "127.0.0.1:9090", "paystate's gRPC address")
	envFlag(cmd, "addr", "PAYSTATE_GRPC_ADDR")
	f.StringVar(&o.token, "token", "", "API token; unset: the development token in --data-dir")
	envFlag(cmd, "token", "PAYSTATE_TOKEN")
	addDataDirFlag(cmd, &o.dataDir)
	addTLSFlags(cmd, &o.tls)
	return o
}

// addDataDirFlag is the client commands' --data-dir: where the
// development credentials are.
func addDataDirFlag(cmd *cobra.Command, dir *string) {
	cmd.Flags().StringVar(dir, "data-dir", "paystate-data", "data directory holding dev-credentials.json")
	envFlag(cmd, "data-dir", "PAYSTATE_DATA_DIR")
	_ = cmd.MarkFlagDirname("data-dir")
}

// connect dials the server (lazily: the first call connects).
func (o *clientOptions) connect() (*client, error) {
	tok := o.token
	if tok == "" {
		dev, err := config.LoadDev(o.dataDir, false)
		if err != nil {
			return nil, fmt.Errorf("no --token and no development credentials: %w", err)
		}
		tok = dev.APIToken
	}
	tc, err := o.tls.config()
	if err != nil {
		return nil, err
	}
	creds := insecure.NewCredentials()
	if tc != nil {
		creds = credentials.NewTLS(tc)
	}
	conn, err := grpc.NewClient(o.addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, err
	}
	return &client{conn: conn, token: tok, out: stdout, addr: o.addr, tls: tc != nil}, nil
}

func (c *client) ctx(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.token)
}

// clientCmd is a command that talks to a running server over gRPC: it
// has the connection flags, connects, runs fn, and explains a failure to
// reach the server.
func clientCmd(use, short string, args cobra.PositionalArgs, fn func(ctx context.Context, c *client, args []string) error) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short, Args: args}
	o := addClientFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := o.connect()
		if err != nil {
			return err
		}
		defer c.conn.Close()
		return explain(fn(cmd.Context(), c, args), c)
	}
	return cmd
}

// explain makes a failed call's error say what to do: the server is not
// running, or the transport does not match. Other gRPC errors lose the
// "rpc error: code = ... desc =" wrapping: the server's message says what
// is wrong (an unknown provider names those that exist; an order whose
// only events are held says so), the code is kept in words.
func explain(err error, c *client) error {
	var done *serverError
	if err == nil || errors.As(err, &done) {
		return err // nothing to explain, or explained already
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch st.Code() {
	case codes.Unavailable:
		return unreachable(err, c.addr, c.tls)
	case codes.NotFound, codes.InvalidArgument, codes.PermissionDenied, codes.Unauthenticated,
		codes.FailedPrecondition, codes.ResourceExhausted, codes.AlreadyExists:
		return &serverError{code: st.Code(), msg: st.Message(), err: err}
	}
	return err
}

// serverError is a server's answer, in the server's words.
type serverError struct {
	code codes.Code
	msg  string
	err  error
}

func (e *serverError) Error() string { return e.msg + " (" + e.code.String() + ")" }
func (e *serverError) Unwrap() error { return e.err }

// GRPCStatus keeps status.Code working on the explained error.
func (e *serverError) GRPCStatus() *status.Status { return status.New(e.code, e.msg) }

// kindWord is a Kind as the CLI and the API's paths spell it: payment.
func kindWord(k pb.Kind) string { return strings.ToLower(strings.TrimPrefix(k.String(), "KIND_")) }

// verdictWord is a Verdict as history prints it: APPLIED.
func verdictUpper(v pb.Verdict) string { return strings.TrimPrefix(v.String(), "VERDICT_") }

func stamp(t *timestamppb.Timestamp) string {
	if t == nil {
		return "-"
	}
	return t.AsTime().UTC().Format("2006-01-02T15:04:05Z")
}

// kinds are the aggregate kinds --kind takes.
var kinds = []string{"payment", "refund", "chargeback", "subscription", "link", "onboarding"}

func kindFlag(cmd *cobra.Command, kind *string, usage string, extra ...string) {
	cmd.Flags().StringVar(kind, "kind", "payment", usage)
	_ = cmd.RegisterFlagCompletionFunc("kind", cobra.FixedCompletions(append(kinds, extra...), cobra.ShellCompDirectiveNoFileComp))
}

func newGetCmd() *cobra.Command {
	var kind string
	var o *outputFormat
	cmd := clientCmd("get PROVIDER ID", "an order (or another aggregate, --kind), with its children", exactArgs("PROVIDER", "ID"),
		func(ctx context.Context, c *client, a []string) error {
			// A payment is the Order GetOrder answers, as documented: its
			// amount is the server's amount_minor, like its totals.
			if kind == "payment" {
				ord, err := pb.NewOrderServiceClient(c.conn).GetOrder(c.ctx(ctx), &pb.GetOrderRequest{Provider: a[0], OrderId: a[1]})
				if err != nil {
					return err
				}
				if o.JSON() {
					return writeJSON(c.out, protoJSON(ord))
				}
				return printAggregates(c.out, orderAsAggregate(ord))
			}
			g, err := pb.NewAggregateServiceClient(c.conn).GetAggregate(c.ctx(ctx), &pb.GetAggregateRequest{Provider: a[0], Kind: kind, ProviderId: a[1]})
			if err != nil {
				return err
			}
			if o.JSON() {
				return writeJSON(c.out, protoJSON(g))
			}
			return printAggregates(c.out, g)
		})
	kindFlag(cmd, &kind, "aggregate kind: "+strings.Join(kinds, ", "))
	o = outputFlag(cmd, formatTable)
	cmd.ValidArgsFunction = completeProvider
	cmd.Long = `Prints an order (a payment; another aggregate with --kind) and its children
(refunds, chargebacks) as a table. Amounts are in minor units of CURRENCY:
AMOUNT is the object's own amount (an order's as authorised or sold, a
refund's or chargeback's); AUTHORIZED, CAPTURED and REFUNDED are a payment's
totals from its events ("not fully known" when an event moved money without
saying how much); HELD counts events held until the events they follow
arrive. -o json prints the Order as GetOrder answers it (an Aggregate with
--kind).`
	return cmd
}

// completeProvider completes the first argument with the providers.
func completeProvider(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) == 0 {
		return providerNames(), cobra.ShellCompDirectiveNoFileComp
	}
	return nil, cobra.ShellCompDirectiveNoFileComp
}

// orderAsAggregate is an Order in the shape of the other aggregates, for
// one table layout.
func orderAsAggregate(o *pb.Order) *pb.Aggregate {
	return &pb.Aggregate{Provider: o.GetProvider(), Kind: o.GetKind(), ProviderId: o.GetProviderOrderId(),
		MerchantReference: o.GetMerchantReference(), State: o.GetStateName(), ProviderStatus: o.GetProviderStatus(),
		Currency: o.GetCurrency(), AmountMinor: o.GetAmountMinor(), AuthorizedMinor: o.GetAuthorizedMinor(),
		CapturedMinor: o.GetCapturedMinor(), RefundedMinor: o.GetRefundedMinor(), Version: o.GetVersion(),
		PendingDeferred: o.GetPendingDeferred(), UpdateTime: o.GetUpdateTime(), Children: o.GetChildren(),
		AmountsUnknown: o.GetAmountsUnknown(), AmountKnown: o.GetAmountKnown()}
}

// printAggregates is the table of get: the aggregate, then its children.
func printAggregates(w io.Writer, a *pb.Aggregate) error {
	t := newTable(w, "PROVIDER", "KIND", "ID", "STATE", "PROVIDER STATUS", "CURRENCY", "AMOUNT", "AUTHORIZED", "CAPTURED", "REFUNDED", "VERSION", "HELD", "UPDATED")
	var add func(a *pb.Aggregate, indent string)
	add = func(a *pb.Aggregate, indent string) {
		amount := "-" // no event has said it yet
		if a.GetAmountKnown() {
			amount = fmt.Sprint(a.GetAmountMinor())
		}
		// The totals are a payment's: a refund or chargeback has only its
		// own amount.
		authorized, captured, refunded := "-", "-", "-"
		if a.GetKind() == pb.Kind_KIND_PAYMENT {
			authorized, captured, refunded = fmt.Sprint(a.GetAuthorizedMinor()), fmt.Sprint(a.GetCapturedMinor()), fmt.Sprint(a.GetRefundedMinor())
			if a.GetAmountsUnknown() {
				captured += " (not fully known)"
			}
		}
		t.row(a.GetProvider(), indent+kindWord(a.GetKind()), a.GetProviderId(), a.GetState(), or(a.GetProviderStatus(), "-"),
			or(a.GetCurrency(), "-"), amount, authorized, captured, refunded,
			a.GetVersion(), a.GetPendingDeferred(), stamp(a.GetUpdateTime()))
		for _, ch := range a.GetChildren() {
			add(ch, indent+"└ ")
		}
	}
	add(a, "")
	return t.flush(w, "not found")
}

func newHistoryCmd() *cobra.Command {
	var kind string
	var o *outputFormat
	cmd := clientCmd("history PROVIDER ID", "an aggregate's journal: every event with its verdict", exactArgs("PROVIDER", "ID"),
		func(ctx context.Context, c *client, a []string) error {
			svc := pb.NewAggregateServiceClient(c.conn)
			var entries []*pb.JournalEntry
			for token := ""; ; {
				page, err := svc.ListAggregateEvents(c.ctx(ctx), &pb.ListAggregateEventsRequest{
					Provider: a[0], Kind: kind, ProviderId: a[1], PageSize: 200, PageToken: token})
				if status.Code(err) == codes.NotFound {
					return fmt.Errorf("history: %s %s at %s: %w", kind, a[1], a[0], explain(err, c))
				}
				if err != nil {
					return err
				}
				entries = append(entries, page.GetEntries()...)
				if token = page.GetNextPageToken(); token == "" {
					break
				}
			}
			if o.JSON() {
				return writeJSON(c.out, protoArray(entries))
			}
			t := newTable(c.out, "SEQ", "RECEIVED", "EVENT", "VERDICT", "ACTOR", "MACHINE", "TRANSITION", "REASON")
			for _, e := range entries {
				// Who appended each entry and the version that decided it:
				// a re-evaluation's entry reads "APPLIED reevaluation v2 ...
				// reevaluated under v2: rejected under v1 at entry N".
				t.row(e.GetSequence(), stamp(e.GetReceiveTime()), e.GetEvent(), verdictUpper(e.GetVerdict()),
					or(e.GetActor(), "-"), or(e.GetMachineVersion(), "-"), e.GetStateBefore()+" -> "+e.GetStateAfter(), e.GetReason())
			}
			return t.flush(c.out, fmt.Sprintf("no events found for %s %s at %s", kind, a[1], a[0])) // the server says NotFound first
		})
	kindFlag(cmd, &kind, "aggregate kind: "+strings.Join(kinds, ", "))
	o = outputFlag(cmd, formatTable)
	cmd.ValidArgsFunction = completeProvider
	return cmd
}

func newVerifyCmd() *cobra.Command {
	var chainOnly bool
	var file string
	var o *outputFormat
	cmd := clientCmd("verify", "check the journal's hash chain and every table derived from it", cobra.NoArgs,
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
			r, err := verifyJournal(ctx, c, req)
			if err != nil {
				return err
			}
			if o.JSON() {
				err = writeJSON(c.out, protoJSON(r))
			} else {
				err = printVerify(c.out, r, chainOnly)
			}
			if err != nil {
				return err
			}
			if !r.GetOk() {
				return fmt.Errorf("verify: the journal does not verify: %s", r.GetProblem())
			}
			return nil
		})
	cmd.Long = `Checks the journal's hash chain and every table derived from it (receipts,
held events, aggregates: a replay of the journal) on the server, and every
checkpoint the server stored. With --checkpoint, also proves the journal
still holds each exported checkpoint's prefix unchanged. Exit status 1 when
anything does not verify.`
	cmd.Flags().BoolVar(&chainOnly, "chain-only", false, "check only the hash chain, not the derived tables (no replay)")
	cmd.Flags().StringVar(&file, "checkpoint", "", "a file of exported checkpoints (paystate checkpoint export): each must verify, and the journal must still hold its prefix unchanged")
	o = outputFlag(cmd, formatTable)
	return cmd
}

// verifyJournal is VerifyJournal with progress on a terminal. The server
// checks in one call and reports nothing until it ends, so a person at a
// terminal first sees the chain walked in ranges (entries done of total,
// rate, time left; the chain is then checked twice), then the time spent
// on the server's whole check. In a pipe it is the one call.
func verifyJournal(ctx context.Context, c *client, req *pb.VerifyJournalRequest) (*pb.VerifyJournalResponse, error) {
	svc := pb.NewAuditServiceClient(c.conn)
	var total int64
	if p := newProgress("checking the hash chain"); p != nil {
		total = walkChain(ctx, c, svc, p)
	}
	what := "checking the journal on the server"
	switch {
	case total > 0 && req.GetChainOnly():
		what = fmt.Sprintf("checking the chain of %d entries and the checkpoints on the server", total)
	case total > 0:
		what = fmt.Sprintf("replaying %d journal entries against the derived tables on the server", total)
	}
	stop := newProgress(what).Ticking()
	defer stop()
	return svc.VerifyJournal(c.ctx(ctx), req)
}

// walkChain verifies the chain up to the current head in ranges, drawing
// p, and returns the head's sequence. It stops at the first range that
// does not verify, or fails: the whole check that follows reports it.
func walkChain(ctx context.Context, c *client, svc pb.AuditServiceClient, p *progress) int64 {
	defer p.Done()
	head, err := svc.GetChainHead(c.ctx(ctx), &pb.GetChainHeadRequest{})
	if err != nil {
		return 0
	}
	total := head.GetSequence()
	step := max(verifyStep, total/100) // at most ~100 calls, under any rate limit's burst
	for from := int64(1); from <= total; from += step {
		to := min(from+step-1, total)
		r, err := svc.VerifyJournal(c.ctx(ctx), &pb.VerifyJournalRequest{FromSequence: from, ToSequence: to, ChainOnly: true})
		if err != nil || !r.GetOk() {
			return total
		}
		p.Update(to, total)
	}
	return total
}

// verifyStep is how many entries one range of walkChain checks, at least.
var verifyStep int64 = 20000

// printVerify is verify's table: what was checked, then any problem.
// chainOnly is whether --chain-only asked for the chain alone.
func printVerify(w io.Writer, r *pb.VerifyJournalResponse, chainOnly bool) error {
	// A check that fails with no table problem failed on the chain, and
	// the server stops there: neither the derived tables nor any
	// checkpoint were looked at.
	broken := !r.GetOk() && len(r.GetTableProblems()) == 0
	verdict := "ok"
	if !r.GetOk() {
		verdict = "NOT OK: " + r.GetProblem()
	}
	t := newTable(w, "CHECK", "RESULT")
	t.row("journal", verdict)
	t.row("entries checked", r.GetEntriesChecked())
	if h := r.GetHead(); h != nil {
		t.row("chain head", fmt.Sprintf("%d %s", h.GetSequence(), h.GetHash()))
	}
	const afterBreak = "not checked (the hash chain is broken)"
	switch d := r.GetDerivedTables(); {
	case d != nil:
		t.row("derived tables", fmt.Sprintf("%d receipts, %d held events, %d aggregates; %d problems",
			d.GetReceipts(), d.GetHeldEvents(), d.GetAggregates(), d.GetProblemCount()))
	case broken:
		t.row("derived tables", afterBreak)
	case chainOnly:
		t.row("derived tables", "not checked (--chain-only)")
	default:
		t.row("derived tables", "not checked")
	}
	if broken {
		t.row("checkpoints checked", afterBreak)
	} else {
		t.row("checkpoints checked", r.GetCheckpointsChecked())
	}
	if cp := r.GetHead().GetCheckpoint(); cp != nil {
		t.row("newest checkpoint verified", fmt.Sprintf("sequence %d, signed %s by key %s",
			cp.GetSequence(), stamp(cp.GetSignTime()), cp.GetKeyId()))
	}
	if n := r.GetUnsealedEntries(); n > 0 {
		t.row("unsealed entries", fmt.Sprintf("%d (acknowledged, not in the chain yet: not checked)", n))
	}
	if err := t.flush(w, ""); err != nil {
		return err
	}
	if ns := r.GetNotices(); len(ns) > 0 {
		fmt.Fprintf(w, "\n%d applied entries were decided under older rules that today's rules decide otherwise; their verdicts stand (notices, not problems):\n", len(ns))
		n := newTable(w, "TABLE", "ROW", "SEQ", "NOTICE")
		for _, x := range ns {
			n.row(x.GetTable(), x.GetRow(), x.GetSequence(), x.GetProblem())
		}
		if err := n.flush(w, ""); err != nil {
			return err
		}
	}
	if ps := r.GetTableProblems(); len(ps) > 0 {
		fmt.Fprintln(w)
		p := newTable(w, "TABLE", "ROW", "SEQ", "FIXABLE", "PROBLEM")
		for _, x := range ps {
			p.row(x.GetTable(), x.GetRow(), x.GetSequence(), x.GetFixable(), x.GetProblem())
		}
		return p.flush(w, "")
	}
	return nil
}

func newWatchCmd() *cobra.Command {
	var states, kinds, providers string
	var after int64
	var fromHead bool
	var o *outputFormat
	cmd := clientCmd("watch", "print transitions as they happen (resumable with --after)", cobra.NoArgs,
		func(ctx context.Context, c *client, _ []string) error {
			req := &pb.WatchRequest{AfterSequence: after, StartAtHead: fromHead,
				States: splitComma(states), Kinds: splitComma(kinds), Providers: splitComma(providers)}
			return watch(ctx, c, req, o.JSON())
		})
	cmd.Long = `Prints every journal entry that matches: first those already in the journal,
from its start (--from-now skips them; --after CURSOR resumes after a line),
then each one as it is committed. One line each (-o json: one JSON object per
line, the API's WatchResponse); every line has the cursor to resume after
with --after. Ends cleanly (exit 0) when the server drains, saying where to
resume.`
	f := cmd.Flags()
	f.StringVar(&states, "states", "", "comma-separated states to watch entering or leaving, e.g. fraud_review")
	f.StringVar(&kinds, "kinds", "", "comma-separated kinds")
	f.StringVar(&providers, "providers", "", "comma-separated providers")
	f.Int64Var(&after, "after", 0, "resume after this cursor (printed with every line)")
	f.BoolVar(&fromHead, "from-now", false, "start at the end of the journal: only entries committed from now on")
	// The server starts at the head when asked to, whatever the cursor.
	cmd.MarkFlagsMutuallyExclusive("after", "from-now")
	// A stream: a line an entry as it comes, not a table.
	o = outputFlag(cmd, formatText, formatText, formatJSON)
	return cmd
}

func watch(ctx context.Context, c *client, req *pb.WatchRequest, asJSON bool) error {
	stream, err := pb.NewWatchServiceClient(c.conn).Watch(c.ctx(ctx), req)
	if err != nil {
		return err
	}
	cursor := req.GetAfterSequence()
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
		if asJSON {
			if err := writeJSONLine(c.out, protoJSON(m)); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintln(c.out, watchLine(m))
	}
}

// watchLine is one entry of watch. A malformed delivery (a body that did
// not parse, journalled as rejected with no event) and an answer without
// an entry are printed with what is wrong, not skipped.
func watchLine(m *pb.WatchResponse) string {
	e := m.GetEntry()
	switch {
	case e == nil:
		return fmt.Sprintf("cursor=%d (the server sent no entry and no heartbeat: skipped)", m.GetCursor())
	case e.GetEvent() == "" && e.GetKind() == pb.Kind_KIND_UNSPECIFIED:
		return fmt.Sprintf("cursor=%d %s %s: malformed delivery %s: %s", m.GetCursor(), stamp(e.GetReceiveTime()),
			or(e.GetProvider(), "(no provider)"), verdictUpper(e.GetVerdict()), or(strings.TrimPrefix(e.GetReason(), "malformed: "), "(no reason given)"))
	}
	return fmt.Sprintf("cursor=%d %s %s/%s %s: %s -> %s (%s)", m.GetCursor(), stamp(e.GetReceiveTime()),
		e.GetProvider(), e.GetProviderId(), e.GetEvent(), e.GetStateBefore(), e.GetStateAfter(), verdictUpper(e.GetVerdict()))
}

// writeJSONLine writes v as one line of JSON.
func writeJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
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

func newListCmd() *cobra.Command {
	var provider, kind, state string
	var o *outputFormat
	cmd := clientCmd("list", "aggregates, e.g. every order in fraud_review", cobra.NoArgs,
		func(ctx context.Context, c *client, _ []string) error {
			k := kind
			if k == "all" {
				k = "" // the API's every kind
			}
			svc := pb.NewAggregateServiceClient(c.conn)
			var all []*pb.Aggregate
			for token := ""; ; {
				page, err := svc.ListAggregates(c.ctx(ctx), &pb.ListAggregatesRequest{
					Provider: provider, Kind: k, State: state, PageSize: 500, PageToken: token})
				if err != nil {
					return err
				}
				all = append(all, page.GetAggregates()...)
				if token = page.GetNextPageToken(); token == "" {
					break
				}
			}
			if o.JSON() {
				return writeJSON(c.out, protoArray(all))
			}
			t := newTable(c.out, "PROVIDER", "KIND", "ID", "STATE", "VERSION", "UPDATED")
			for _, a := range all {
				t.row(a.GetProvider(), kindWord(a.GetKind()), a.GetProviderId(), a.GetState(), a.GetVersion(), stamp(a.GetUpdateTime()))
			}
			return t.flush(c.out, emptyList(kind, provider, state))
		})
	f := cmd.Flags()
	f.StringVar(&provider, "provider", "", "only this provider (unset: every provider)")
	kindFlag(cmd, &kind, "only this kind: "+strings.Join(kinds, ", ")+", or all", "all")
	f.StringVar(&state, "state", "", "only this canonical state, e.g. fraud_review (unset: every state)")
	_ = cmd.RegisterFlagCompletionFunc("provider", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return providerNames(), cobra.ShellCompDirectiveNoFileComp
	})
	o = outputFlag(cmd, formatTable)
	return cmd
}

// emptyList is what list prints when nothing matches: "no orders found
// in fraud_review".
func emptyList(kind, provider, state string) string {
	what := "aggregates"
	switch kind {
	case "payment":
		what = "orders"
	case "all", "":
	default:
		what = kind + "s"
	}
	s := "no " + what + " found"
	if provider != "" {
		s += " at " + provider
	}
	if state != "" {
		s += " in " + state
	}
	if known := providerNames(); provider != "" && !slices.Contains(known, provider) {
		s += fmt.Sprintf(" (paystate has no provider %q: it knows %s)", provider, strings.Join(known, ", "))
	}
	return s
}

// providerNames are the providers this binary knows, sorted.
func providerNames() []string {
	provs, err := allProviders()
	if err != nil {
		return nil
	}
	var names []string
	for _, p := range provs {
		names = append(names, p.Name())
	}
	slices.Sort(names)
	return names
}
