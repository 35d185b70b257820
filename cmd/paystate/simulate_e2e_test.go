package main

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/config"
	pb "github.com/paystate/paystate/proto/paystate/v1"
	simulatorpkg "github.com/paystate/paystate/simulator"
)

// TestSimulateScenariosEndToEnd plays every scenario against a real server
// through `paystate simulate`: signed webhooks over HTTP, the final state
// read back over REST. The printed final state must be the server's (read
// again over gRPC), and the scenarios whose rules this repository states
// must end where those rules say.
func TestSimulateScenariosEndToEnd(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	aggs := pb.NewAggregateServiceClient(s.grpc)
	env := func(string) string { return "" }

	var list bytes.Buffer
	require.NoError(t, runTo(t, &list, env, "simulate", "--list"))
	for _, sc := range simulatorpkg.Scenarios() {
		require.Contains(t, list.String(), sc.Name)
	}

	// Where the repository's rules say how a scenario ends (DESIGN.md,
	// docs/machines.md, each provider's doc.go). The others are printed as
	// the engine decides them and only checked against the server.
	want := map[string]struct {
		state                          string
		authorized, captured, refunded int64
	}{
		"ngenius/fraud-review":          {"captured", 10000, 10000, 0},
		"ngenius/out-of-order":          {"refunded", 10000, 10000, 10000},
		"ngenius/partial-refunds":       {"refunded", 10000, 10000, 10000},
		"payengine/auth-capture-refund": {"partially_refunded", 7548, 7548, 1000},
		"generic/refund":                {"partially_refunded", 120500, 120500, 20250},
		// DESIGN.md: a subscription ACTIVE → PAST_DUE → ACTIVE ends active.
		"magnius/subscription-recovery": {"active", 0, 0, 0},
	}
	final := regexp.MustCompile(`(?m)^final: (\S+) (\S+) is (\S+) `)
	for _, sc := range simulatorpkg.Scenarios() {
		name := sc.Provider + "/" + sc.Name
		order := "e2e-" + strings.ReplaceAll(name, "/", "-")
		var out bytes.Buffer
		require.NoError(t, runTo(t, &out, env, "simulate", "--url", s.http, "--data-dir", dir, "--order-id", order, sc.Provider, sc.Name), name)
		text := out.String()
		for i, st := range sc.Steps {
			require.Contains(t, text, fmt.Sprintf("%2d. %s", i+1, st.Sample), name)
		}
		m := final.FindStringSubmatch(text)
		require.NotNil(t, m, "%s printed no final state:\n%s", name, text)
		require.Equal(t, []string{sc.Kind, order}, m[1:3], name)

		a, err := aggs.GetAggregate(s.authed(t.Context()), &pb.GetAggregateRequest{Provider: sc.Provider, Kind: sc.Kind, ProviderId: order})
		require.NoError(t, err, name)
		require.Equal(t, a.GetState(), m[3], "%s: the printed state is the server's", name)
		if w, ok := want[name]; ok {
			require.Equal(t, w.state, a.GetState(), "%s:\n%s", name, text)
			require.Equal(t, [3]int64{w.authorized, w.captured, w.refunded},
				[3]int64{a.GetAuthorizedMinor(), a.GetCapturedMinor(), a.GetRefundedMinor()}, "%s:\n%s", name, text)
		}
		t.Logf("%s", text)
	}

	// Each run is a new story: the same scenario again on a new order id
	// gets new event ids, so nothing is a duplicate of the first run.
	var again bytes.Buffer
	require.NoError(t, runTo(t, &again, env, "simulate", "--url", s.http, "--data-dir", dir, "ngenius", "partial-refunds"))
	require.NotContains(t, again.String(), ": duplicate")
	require.Contains(t, again.String(), "is refunded ")

	require.Error(t, runTo(t, &again, env, "simulate", "--url", s.http, "--data-dir", dir, "ngenius", "nosuch"))
	require.Error(t, runTo(t, &again, env, "simulate", "--url", s.http, "--data-dir", dir, "ngenius"))
}

// TestSendWalksOneOrder: `paystate send --order-id` puts samples written
// for different orders on one order; every send is a new event unless
// --keep-ids sends the body as it is, which is then a duplicate.
func TestSendWalksOneOrder(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	env := func(string) string { return "" }
	send1 := func(args ...string) {
		t.Helper()
		require.NoError(t, runTo(t, io.Discard, env, append([]string{"send", "--url", s.http, "--data-dir", dir}, args...)...))
	}
	send1("--order-id", "walk-1", "ngenius", "event_AUTHORISED")
	send1("--order-id", "walk-1", "ngenius", "event_CAPTURED")
	send1("--order-id", "walk-1", "ngenius", "event_PARTIALLY_REFUNDED")
	send1("--order-id", "walk-1", "ngenius", "event_PARTIALLY_REFUNDED")
	o, err := s.orders.GetOrder(s.authed(t.Context()), &pb.GetOrderRequest{Provider: "ngenius", OrderId: "walk-1"})
	require.NoError(t, err)
	require.Equal(t, "partially_refunded", o.GetStateName())
	require.EqualValues(t, 5000, o.GetRefundedMinor(), "two sends of one sample are two refunds")

	send1("--keep-ids", "ngenius", "sample_captured")
	send1("--keep-ids", "ngenius", "sample_captured")
	send1("ngenius", "sample_captured")
	ev, err := s.audit.ListOrderEvents(s.authed(t.Context()), &pb.ListOrderEventsRequest{Provider: "ngenius", OrderId: "abc123xyz"})
	require.NoError(t, err)
	var verdicts []pb.Verdict
	for _, e := range ev.GetEntries() {
		verdicts = append(verdicts, e.GetVerdict())
	}
	require.Equal(t, []pb.Verdict{pb.Verdict_VERDICT_DEFERRED, pb.Verdict_VERDICT_DUPLICATE, pb.Verdict_VERDICT_DEFERRED}, verdicts)

	require.Error(t, runTo(t, io.Discard, env, "send", "--url", s.http, "--data-dir", dir, "--keep-ids", "--order-id", "x", "ngenius", "event_AUTHORISED"))
}

// TestSimulateAndSendWithSecret: against a server with credentials of its
// own (ngenius under another header name, an API token of its config),
// simulate and send sign with --secret as the provider would, with no
// development credentials on the client's side; without --secret they are
// refused, simulate saying which flag to pass.
func TestSimulateAndSendWithSecret(t *testing.T) {
	cfg := config.Defaults()
	cfg.HTTPAddr, cfg.GRPCAddr, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", t.TempDir()
	cfg.APITokens = []config.APIToken{{Name: "ops", Role: config.RoleReader, Token: "reader-tok"}}
	cfg.Providers.NGenius.HeaderName, cfg.Providers.NGenius.HeaderValues = "X-Shop-Auth", []string{"shop-value"}
	dev, err := config.FillDev(&cfg) // the other providers' credentials, in the server's directory only
	require.NoError(t, err)
	s := startServerWith(t, cfg, dev)
	client := t.TempDir() // no dev-credentials.json here
	base := []string{"--url", s.http, "--data-dir", client}

	var out bytes.Buffer
	require.NoError(t, runTo(t, &out, noEnv, append([]string{"simulate", "--secret", "X-Shop-Auth: shop-value", "--token", "reader-tok",
		"--order-id", "sec-1"}, append(base, "ngenius", "fraud-review")...)...))
	require.Contains(t, out.String(), "final: payment sec-1 is captured ", out.String())

	out.Reset()
	require.NoError(t, runTo(t, &out, noEnv, append([]string{"send", "--secret", "X-Shop-Auth: shop-value", "--order-id", "sec-2"},
		append(base, "ngenius", "event_AUTHORISED")...)...))
	require.Contains(t, out.String(), "200 OK")

	err = runTo(t, io.Discard, noEnv, append([]string{"simulate", "--secret", "X-Shop-Auth: wrong", "--token", "reader-tok"},
		append(base, "ngenius", "fraud-review")...)...)
	require.ErrorContains(t, err, "401")
	require.ErrorContains(t, err, "--secret is not what this server has configured")
	err = runTo(t, io.Discard, noEnv, append([]string{"simulate"}, append(base, "ngenius", "fraud-review")...)...)
	require.ErrorContains(t, err, "simulate: no --secret and no development credentials")
	err = runTo(t, io.Discard, noEnv, append([]string{"simulate", "--secret", "X-Shop-Auth: shop-value"}, append(base, "ngenius", "fraud-review")...)...)
	require.ErrorContains(t, err, "needs --token")
}
