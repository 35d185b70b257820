package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/paystate/paystate/config"
	pb "github.com/paystate/paystate/proto/paystate/v1"
	simulatorpkg "github.com/paystate/paystate/simulator"
)

const simulateLong = `Plays a documented sequence of PROVIDER's webhooks about one object against a
running paystate: each is signed as the provider signs and posted to its
webhook route, with the sample's ids rewritten to one order (--order-id, or a
new one per run) and a fresh event id, and its verdicts are printed. The
object's final state is then read back over the REST API. What paystate
decides is printed as it is: a scenario states what is sent, not what must
come of it.

` + credentialsHelp + `
The result is read back with --token, or the development token.
`

// simulateOptions are simulate's flags.
type simulateOptions struct {
	*postOptions
	token, orderID string
	list           bool
	out            *outputFormat
}

func newSimulateCmd() *cobra.Command {
	o := &simulateOptions{}
	cmd := &cobra.Command{
		Use:   "simulate PROVIDER SCENARIO",
		Short: "play a documented sequence of webhooks on one order (--list)",
		Long:  simulateLong,
		Args:  cobra.ArbitraryArgs, // simulate says what it wants
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			var out []string
			for _, sc := range simulatorpkg.Scenarios() {
				switch {
				case len(args) == 0 && !slices.Contains(out, sc.Provider):
					out = append(out, sc.Provider)
				case len(args) == 1 && sc.Provider == args[0]:
					out = append(out, sc.Name+"\t"+sc.About)
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := listOutput(cmd, o.list); err != nil {
				return err
			}
			return simulate(cmd.Context(), o, args, stdout)
		},
	}
	o.postOptions = addPostFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&o.token, "token", "", "API token for reading the result; unset: the development token")
	envFlag(cmd, "token", "PAYSTATE_TOKEN")
	f.StringVar(&o.orderID, "order-id", "", "the order (or other object) the scenario plays on; unset: a new id per run")
	f.BoolVar(&o.list, "list", false, "list the scenarios (-o table|json)")
	o.out = outputFlag(cmd, formatTable)
	return cmd
}

// simulate is "paystate simulate".
func simulate(ctx context.Context, o *simulateOptions, args []string, out io.Writer) error {
	if o.list {
		return listScenarios(out, o.out.JSON())
	}
	if len(args) >= 1 {
		if _, known := simulators[args[0]]; !known {
			return fmt.Errorf("simulate: unknown provider %q (known: %s; --list shows the scenarios)", args[0], strings.Join(simulatorNames(), ", "))
		}
	}
	if len(args) != 2 {
		return fmt.Errorf("simulate: want PROVIDER SCENARIO, got %d argument(s) (--list shows the scenarios)", len(args))
	}
	sc, ok := simulatorpkg.LookupScenario(args[0], args[1])
	if !ok {
		return fmt.Errorf("simulate: no scenario %s %s (--list shows them)", args[0], args[1])
	}
	secret, err := o.signWith(sc.Provider)
	if err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	dev, err := o.credentials()
	if err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	token, orderID := or(o.token, dev.APIToken), o.orderID
	if token == "" {
		return errors.New("simulate: reading the result back needs --token (or PAYSTATE_TOKEN): there are no development credentials in --data-dir")
	}
	if orderID == "" {
		orderID = "sim-" + simulatorpkg.FreshID()[:12]
	}
	hc, base, err := o.tls.httpClient(o.url)
	if err != nil {
		return err
	}
	return playScenario(ctx, out, hc, base, token, dev, secret, sc, orderID)
}

// listScenarios is simulate --list: every scenario as a table or a JSON
// array of {"provider", "scenario", "kind", "about", "steps"}.
func listScenarios(out io.Writer, asJSON bool) error {
	scs := simulatorpkg.Scenarios()
	if asJSON {
		type row struct {
			Provider string   `json:"provider"`
			Scenario string   `json:"scenario"`
			Kind     string   `json:"kind"`
			About    string   `json:"about"`
			Steps    []string `json:"steps"`
		}
		rows := make([]row, 0, len(scs))
		for _, sc := range scs {
			r := row{Provider: sc.Provider, Scenario: sc.Name, Kind: sc.Kind, About: sc.About, Steps: []string{}}
			for _, st := range sc.Steps {
				r.Steps = append(r.Steps, st.Sample)
			}
			rows = append(rows, r)
		}
		return writeJSON(out, rows)
	}
	t := newTable(out, "PROVIDER", "SCENARIO", "KIND", "ABOUT")
	for _, sc := range scs {
		t.row(sc.Provider, sc.Name, sc.Kind, sc.About)
	}
	return t.flush(out, "no scenarios")
}

// playScenario posts the scenario's webhooks in order, prints each
// verdict, and reads the object back.
func playScenario(ctx context.Context, out io.Writer, hc *http.Client, base, token string, dev *config.DevCredentials, secret simulatorpkg.Secret, sc simulatorpkg.Scenario, orderID string) error {
	bodies, err := sc.Bodies(simulatorpkg.NewRewriter(orderID))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s %s on %s %s: %s\n", sc.Provider, sc.Name, sc.Kind, orderID, sc.About)
	for i, body := range bodies {
		st := sc.Steps[i]
		fmt.Fprintf(out, "%2d. %s — %s\n", i+1, st.Sample, st.Note)
		status, code, reply, err := postWebhook(ctx, hc, base, sc.Provider, simulators[sc.Provider], body, dev, secret)
		if err != nil {
			return fmt.Errorf("simulate: step %d: %w", i+1, err)
		}
		var r webhookReply
		if err := json.Unmarshal(reply, &r); err != nil || code/100 != 2 {
			return fmt.Errorf("simulate: step %d: paystate answered %s: %s%s", i+1, status, strings.TrimSpace(string(reply)), answerHint(sc.Provider, code, reply, secret.Value != ""))
		}
		for _, res := range r.Results {
			printResult(out, "    ", res)
		}
	}
	a, err := readAggregate(ctx, hc, base, token, sc.Provider, sc.Kind, orderID)
	if errors.Is(err, errNotFound) {
		fmt.Fprintf(out, "final: %s %s does not exist: nothing was applied to it\n", sc.Kind, orderID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("simulate: reading the %s back: %w", sc.Kind, err)
	}
	fmt.Fprintf(out, "final: %s %s is %s (provider status %s), version %d%s\n",
		sc.Kind, orderID, a.GetState(), a.GetProviderStatus(), a.GetVersion(), amounts(a))
	return nil
}

// webhookReply is the webhook answer's body, as far as simulate prints it.
type webhookReply struct {
	Results []webhookResult `json:"results"`
}

type webhookResult struct {
	Kind     string          `json:"kind"`
	ID       string          `json:"id"`
	Event    string          `json:"event"`
	Verdict  string          `json:"verdict"`
	Reason   string          `json:"reason"`
	State    string          `json:"state"`
	Resolved []webhookResult `json:"resolved"`
}

func printResult(out io.Writer, indent string, r webhookResult) {
	line := fmt.Sprintf("%s%s %s %s: %s", indent, r.Kind, r.ID, r.Event, r.Verdict)
	if r.Reason != "" {
		line += " (" + r.Reason + ")"
	}
	if r.State != "" {
		line += " → " + r.State
	}
	fmt.Fprintln(out, line)
	for _, x := range r.Resolved {
		printResult(out, indent+"  ↳ released: ", x)
	}
}

func amounts(a *pb.Aggregate) string {
	if a.GetCurrency() == "" && a.GetAmountMinor() == 0 {
		return ""
	}
	s := fmt.Sprintf("; amount %d", a.GetAmountMinor())
	if a.GetKind() == pb.Kind_KIND_PAYMENT {
		s += fmt.Sprintf(", authorized %d, captured %d, refunded %d", a.GetAuthorizedMinor(), a.GetCapturedMinor(), a.GetRefundedMinor())
	}
	return s + " " + a.GetCurrency() + " (minor units)"
}

var errNotFound = errors.New("not found")

// readAggregate reads one aggregate over the REST gateway.
func readAggregate(ctx context.Context, hc *http.Client, base, token, provider, kind, id string) (*pb.Aggregate, error) {
	path := "/v1/providers/" + url.PathEscape(provider) + "/aggregates/" + url.PathEscape(kind) + "/" + url.PathEscape(id)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, unreachable(err, base, hc.Transport != nil)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusNotFound {
		return nil, errNotFound
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	a := &pb.Aggregate{}
	return a, protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(body, a)
}
