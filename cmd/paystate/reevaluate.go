package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/paystate/paystate/proto/paystate/v1"
)

// newReevaluateCmd asks the server to re-decide what older machine tables
// judged (MachineService.Reevaluate, admin only) and prints, per aggregate,
// the state before and after and each verdict that changes.
func newReevaluateCmd() *cobra.Command {
	var provider, since string
	var dryRun bool
	var o *outputFormat
	cmd := clientCmd("reevaluate", "re-decide what older machine tables rejected, held or did not know (admin token)", cobra.NoArgs,
		func(ctx context.Context, c *client, _ []string) error {
			req := &pb.ReevaluateRequest{Provider: provider, DryRun: dryRun}
			if since != "" {
				t, err := parseSince(since)
				if err != nil {
					return err
				}
				req.Since = timestamppb.New(t)
			}
			resp, err := reevaluatePages(ctx, c, req)
			if err != nil {
				return err
			}
			if o.JSON() {
				return writeJSON(c.out, protoJSON(resp))
			}
			printReevaluation(c, resp)
			return nil
		})
	f := cmd.Flags()
	f.StringVar(&provider, "provider", "", "only this provider's aggregates (unset: every provider)")
	f.StringVar(&since, "since", "", "only aggregates with an older verdict received at or after this time (RFC 3339, or a date)")
	f.BoolVar(&dryRun, "dry-run", false, "print what would change; write nothing")
	// Not a table: per aggregate, its verdicts that change, with reasons.
	o = outputFlag(cmd, formatText, formatText, formatJSON)
	return cmd
}

// reevaluatePage is how many aggregates one Reevaluate call re-decides at
// least: small enough that a terminal sees progress soon. Tests make it
// smaller.
var reevaluatePage int32 = 500

// reevaluatePasses bounds the calls after the first: each call lists the
// aggregates to re-decide with a pass over the journal, so a million
// candidates in pages of 500 would read the journal 2 000 times. Pages
// grow to a twentieth of the total instead: progress in 5 % steps, at
// most ~21 passes.
const reevaluatePasses = 20

// reevaluatePages re-decides in pages, showing on a terminal the
// aggregates done of those the filter selects, and returns the pages
// merged into one response, as one call with no page size answers.
func reevaluatePages(ctx context.Context, c *client, req *pb.ReevaluateRequest) (*pb.ReevaluateResponse, error) {
	svc := pb.NewMachineServiceClient(c.conn)
	req.PageSize = reevaluatePage
	p := newProgress("re-evaluating aggregates")
	defer p.Done()
	all := &pb.ReevaluateResponse{DryRun: req.GetDryRun()}
	for {
		resp, err := svc.Reevaluate(c.ctx(ctx), req)
		if err != nil {
			return nil, err
		}
		all.Examined += resp.GetExamined()
		all.Aggregates = append(all.Aggregates, resp.GetAggregates()...)
		all.DryRun = resp.GetDryRun()
		if resp.GetTotal() > 0 { // nothing selected: no line at all
			p.Update(int64(all.GetExamined()), int64(resp.GetTotal()))
		}
		if resp.GetNextPageToken() == "" {
			// Total is as the last page counted; a merged response
			// has no next page.
			all.Total = resp.GetTotal()
			return all, nil
		}
		req.PageToken = resp.GetNextPageToken()
		req.PageSize = pageFor(resp.GetTotal(), reevaluatePage)
	}
}

// pageFor is the page size that re-decides total aggregates in about
// reevaluatePasses calls, and never less than least.
func pageFor(total, least int32) int32 {
	return max(least, (total+reevaluatePasses-1)/reevaluatePasses)
}

func parseSince(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("reevaluate: --since %q is neither RFC 3339 (2026-01-02T15:04:05Z) nor a date (2026-01-02)", s)
}

func printReevaluation(c *client, resp *pb.ReevaluateResponse) {
	refused := 0
	for _, a := range resp.GetAggregates() {
		b, n := a.GetBefore(), a.GetAfter()
		fmt.Fprintf(c.out, "%s %s %s: %s -> %s\n", b.GetProvider(), strings.ToLower(strings.TrimPrefix(b.GetKind().String(), "KIND_")),
			b.GetProviderId(), describeAggregate(b), describeAggregate(n))
		for i, ch := range a.GetChanges() {
			was := ch.GetWasVersion()
			if was == "" {
				was = "an unrecorded version"
			}
			line := fmt.Sprintf("  entry %d %s: %s under %s -> %s under %s", ch.GetRevisesSequence(), ch.GetEvent(),
				verdictWord(ch.GetWasVerdict()), was, verdictWord(ch.GetVerdict()), ch.GetVersion())
			if seqs := a.GetAppendedSequences(); i < len(seqs) {
				line += fmt.Sprintf(" (entry %d)", seqs[i])
			}
			fmt.Fprintln(c.out, line)
			fmt.Fprintf(c.out, "      was: %s\n", ch.GetWasReason())
			if r := ch.GetReason(); r != "" {
				fmt.Fprintf(c.out, "      now: %s\n", r)
			}
		}
		if r := a.GetRefused(); r != "" {
			refused++
			fmt.Fprintf(c.out, "  not changed: %s\n", r)
		}
	}
	changed := len(resp.GetAggregates()) - refused
	switch {
	case resp.GetDryRun():
		fmt.Fprintf(c.out, "%d aggregates re-decided; %d would change, %d cannot be changed by appending (dry run: nothing written)\n",
			resp.GetExamined(), changed, refused)
	default:
		fmt.Fprintf(c.out, "%d aggregates re-decided; %d changed, %d cannot be changed by appending\n",
			resp.GetExamined(), changed, refused)
	}
}

// describeAggregate is its state and, for a payment, its totals.
func describeAggregate(a *pb.Aggregate) string {
	if a.GetKind() != pb.Kind_KIND_PAYMENT {
		return a.GetState()
	}
	return fmt.Sprintf("%s (authorized %d, captured %d, refunded %d)", a.GetState(), a.GetAuthorizedMinor(), a.GetCapturedMinor(), a.GetRefundedMinor())
}

func verdictWord(v pb.Verdict) string {
	return strings.ToLower(strings.TrimPrefix(v.String(), "VERDICT_"))
}
