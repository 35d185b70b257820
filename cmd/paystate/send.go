package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/paystate/paystate/config"
	"github.com/paystate/paystate/providers/generic"
	simulatorpkg "github.com/paystate/paystate/simulator"
)

// simulator signs a body the way its provider does (package simulator
// holds the signers, shared with the crash harness).
type simulator struct {
	samples fs.FS
	// sign returns the headers that authenticate body; secret overrides the
	// development credential when not empty.
	sign simulatorpkg.SignFunc
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

var simulators = func() map[string]simulator {
	out := map[string]simulator{}
	for _, name := range simulatorpkg.Names() {
		p, _ := simulatorpkg.Lookup(name)
		out[name] = simulator{samples: p.Samples, sign: p.Sign}
	}
	return out
}()

const sendLong = `Signs a webhook body the way PROVIDER does and posts it to a running paystate,
for trying paystate without a provider account. The body is one of the
provider's documented samples (run with --list to see them), a file, or
standard input. Every send is a new event: the body's event id (PayEngine's
event_uid, the generic gateway's id, N-Genius' transaction id) is made fresh,
unless --keep-ids sends the body exactly as it is (to see a redelivery
answered as a duplicate). --order-id rewrites the sample's object ids so that
samples written for different orders walk one order through its lifecycle:

  paystate send --order-id o-1 ngenius event_AUTHORISED
  paystate send --order-id o-1 ngenius event_CAPTURED

` + credentialsHelp + `"paystate simulate" plays whole documented sequences.
`

// credentialsHelp is the part of send's and simulate's help on what they
// sign with (postOptions.credentials).
const credentialsHelp = `Credentials come from the development credentials in --data-dir (written by
"paystate serve" without a config file). For a server with a config file of
its own, --secret gives what the provider's section of that file holds:

  ngenius    a header value, or 'Header-Name: value' when header_name is not
             the development one      --secret 'X-Webhook-Token: current'
  magnius    the RSA private key (PEM file, PKCS #1 or #8) of one of its
             public keys              --secret magnius-private.pem
  payengine  one of its secrets       --secret current
  inyo       Basic credentials, or a bearer token
                                      --secret 'Basic inyo:pw'
                                      --secret 'Bearer token' (or --secret token)
  generic    one of its secrets, with --algorithm and --encoding when its
             algorithm and encoding are not sha256 and hex
                                      --secret current --algorithm sha512 --encoding base64

`

// secretForms says, per provider, what --secret must hold, after a 401.
var secretForms = map[string]string{
	"ngenius":   "--secret 'Header-Name: value' with its header_name and one of its header_values",
	"magnius":   "--secret with the PEM file of the private key of one of its public keys",
	"payengine": "--secret with one of its secrets",
	"inyo":      "--secret 'Basic user:password' for its basic credentials, --secret 'Bearer token' for a bearer token",
	"generic":   "--secret with one of its secrets, and --algorithm, --encoding as its algorithm and encoding",
}

// postOptions are the flags of the commands that post webhooks over
// HTTP (send, simulate): where, with which credentials, over TLS or not.
type postOptions struct {
	url, dataDir        string
	secret              string
	algorithm, encoding string
	tls                 tlsOptions
}

func addPostFlags(cmd *cobra.Command) *postOptions {
	o := &postOptions{}
	f := cmd.Flags()
	f.StringVar(&o.url, "url", "http://127.0.0.1:8080", "paystate's HTTP address")
	envFlag(cmd, "url", "PAYSTATE_URL")
	addDataDirFlag(cmd, &o.dataDir)
	f.StringVar(&o.secret, "secret", "", "what the server's config holds for the provider, to sign with instead of the development credentials (ngenius: 'Header-Name: value'; magnius: a private key PEM file; inyo: 'Basic user:password' or a bearer token; see Credentials above)")
	f.StringVar(&o.algorithm, "algorithm", "", "generic only: the HMAC hash, as providers.generic.algorithm: sha256 (when unset), sha512 or sha1")
	f.StringVar(&o.encoding, "encoding", "", "generic only: the signature's encoding, as providers.generic.encoding: hex (when unset) or base64")
	_ = cmd.RegisterFlagCompletionFunc("algorithm", cobra.FixedCompletions([]string{generic.AlgorithmSHA256, generic.AlgorithmSHA512, generic.AlgorithmSHA1}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("encoding", cobra.FixedCompletions([]string{generic.EncodingHex, generic.EncodingBase64}, cobra.ShellCompDirectiveNoFileComp))
	addTLSFlags(cmd, &o.tls)
	return o
}

// signWith checks the credential flags against the provider the webhooks
// are signed for, and returns them for the signer.
func (o *postOptions) signWith(provider string) (simulatorpkg.Secret, error) {
	s := simulatorpkg.Secret{Value: o.secret, Algorithm: o.algorithm, Encoding: o.encoding}
	if (s.Algorithm != "" || s.Encoding != "") && provider != generic.Name {
		return s, fmt.Errorf("--algorithm and --encoding are the generic gateway's signature options, not %s's", provider)
	}
	switch strings.ToLower(s.Algorithm) {
	case "", generic.AlgorithmSHA256, generic.AlgorithmSHA512, generic.AlgorithmSHA1:
	default:
		return s, fmt.Errorf("--algorithm %q: want sha256, sha512 or sha1", s.Algorithm)
	}
	switch strings.ToLower(s.Encoding) {
	case "", generic.EncodingHex, generic.EncodingBase64:
	default:
		return s, fmt.Errorf("--encoding %q: want hex or base64", s.Encoding)
	}
	return s, nil
}

// credentials are what the webhooks are signed with: the development
// credentials of --data-dir, which --secret overrides and then makes
// optional (ngenius' header name is then the development one unless the
// secret names it).
func (o *postOptions) credentials() (*config.DevCredentials, error) {
	dev, err := config.LoadDev(o.dataDir, false)
	if err != nil && o.secret == "" {
		return nil, fmt.Errorf("no --secret and no development credentials: %w", err)
	}
	if dev == nil {
		dev = &config.DevCredentials{NGeniusHeaderName: config.DevHeaderName}
	}
	return dev, nil
}

// sendOptions are send's flags.
type sendOptions struct {
	*postOptions
	orderID       string
	list, keepIDs bool
	out           *outputFormat
}

func newSendCmd() *cobra.Command {
	o := &sendOptions{}
	cmd := &cobra.Command{
		Use:   "send PROVIDER [SAMPLE | FILE | -]",
		Short: "sign a webhook as PROVIDER would and post it",
		Long:  sendLong,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return fmt.Errorf("send: want PROVIDER [SAMPLE | FILE | -], got %d argument(s) (see \"paystate send --help\")", len(args))
			}
			return nil
		},
		ValidArgsFunction: completeSend,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := listOutput(cmd, o.list); err != nil {
				return err
			}
			return send(cmd.Context(), o, args)
		},
	}
	o.postOptions = addPostFlags(cmd)
	f := cmd.Flags()
	f.BoolVar(&o.list, "list", false, "list PROVIDER's samples (-o table|json)")
	f.StringVar(&o.orderID, "order-id", "", "rewrite the sample's object ids to this order (refunds and other children get new ids)")
	f.BoolVar(&o.keepIDs, "keep-ids", false, "send the body exactly as it is: no fresh event id, no rewritten ids")
	o.out = outputFlag(cmd, formatTable)
	return cmd
}

// completeSend completes a provider, then its samples.
func completeSend(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	switch len(args) {
	case 0:
		return simulatorNames(), cobra.ShellCompDirectiveNoFileComp
	case 1:
		if sim, ok := simulators[args[0]]; ok {
			names, _ := sampleNames(sim.samples)
			return names, cobra.ShellCompDirectiveDefault // or a file
		}
	}
	return nil, cobra.ShellCompDirectiveNoFileComp
}

func send(ctx context.Context, o *sendOptions, args []string) error {
	name := args[0]
	sim, ok := simulators[name]
	if !ok {
		return fmt.Errorf("send: unknown provider %q (known: %s)", name, strings.Join(simulatorNames(), ", "))
	}
	if o.list || len(args) < 2 {
		names, err := sampleNames(sim.samples)
		if err != nil {
			return err
		}
		if err := printSamples(name, names, o.out.JSON()); err != nil {
			return err
		}
		if !o.list {
			return errors.New("send: name a sample, a file, or - for standard input")
		}
		return nil
	}
	orderID, keepIDs := &o.orderID, &o.keepIDs
	if *keepIDs && *orderID != "" {
		return errors.New("send: --keep-ids and --order-id exclude each other")
	}
	secret, err := o.signWith(name)
	if err != nil {
		return fmt.Errorf("send: %w", err)
	}
	body, err := readBody(sim.samples, args[1])
	if err != nil {
		return err
	}
	if !*keepIDs {
		if body, err = simulatorpkg.NewRewriter(*orderID).Rewrite(name, body); err != nil {
			return fmt.Errorf("send: %w (--keep-ids sends it as it is)", err)
		}
	}
	dev, err := o.credentials()
	if err != nil {
		return fmt.Errorf("send: %w", err)
	}
	hc, base, err := o.tls.httpClient(o.url)
	if err != nil {
		return err
	}
	status, code, reply, err := postWebhook(ctx, hc, base, name, sim, body, dev, secret)
	if err != nil {
		return fmt.Errorf("send: %w", err)
	}
	fmt.Fprintf(stdout, "%s\n%s", status, reply)
	if code/100 != 2 {
		return fmt.Errorf("send: paystate answered %s%s", status, answerHint(name, code, reply, secret.Value != ""))
	}
	return nil
}

// answerHint says what to do about a webhook answer that is not 2xx when
// the cause is on the sender's side, or nothing. withSecret is whether the
// webhook was signed with --secret (not the development credentials).
func answerHint(provider string, code int, reply []byte, withSecret bool) string {
	switch {
	case code == http.StatusBadRequest && bytes.Contains(reply, []byte("HTTP request to an HTTPS server")):
		return ": the server serves HTTPS: pass --tls, or --ca-file with its CA"
	case code == http.StatusUnauthorized && withSecret:
		return ": it refused the credentials: --secret is not what this server has configured for " + provider +
			" (" + provider + ": " + secretForms[provider] + ")"
	case code == http.StatusUnauthorized:
		return ": it refused the credentials: the development ones in --data-dir are not this server's;" +
			" pass what its config has for " + provider + " (" + secretForms[provider] + ")"
	case code == http.StatusNotFound:
		return ": the server has no such provider enabled (a provider without credentials in its config is disabled)"
	}
	return ""
}

// postWebhook signs body as provider does and posts it to paystate at url;
// ctx ending (SIGINT) abandons the post.
func postWebhook(ctx context.Context, hc *http.Client, url, provider string, sim simulator, body []byte, dev *config.DevCredentials, secret simulatorpkg.Secret) (string, int, []byte, error) {
	header, err := sim.sign(body, dev, secret, time.Now())
	if err != nil {
		return "", 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(url, "/")+"/webhooks/"+provider, bytes.NewReader(body))
	if err != nil {
		return "", 0, nil, err
	}
	req.Header = header
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return "", 0, nil, unreachable(err, url, hc.Transport != nil)
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(resp.Body)
	return resp.Status, resp.StatusCode, reply, err
}

// printSamples is send --list: PROVIDER's samples as a table or a JSON
// array of {"provider", "sample"}.
func printSamples(provider string, names []string, asJSON bool) error {
	if asJSON {
		type row struct {
			Provider string `json:"provider"`
			Sample   string `json:"sample"`
		}
		rows := make([]row, 0, len(names))
		for _, n := range names {
			rows = append(rows, row{provider, n})
		}
		return writeJSON(stdout, rows)
	}
	t := newTable(stdout, "PROVIDER", "SAMPLE")
	for _, n := range names {
		t.row(provider, n)
	}
	return t.flush(stdout, "no samples for "+provider)
}

func simulatorNames() []string {
	var out []string
	for n := range simulators {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func sampleNames(samples fs.FS) ([]string, error) {
	files, err := fs.Glob(samples, "testdata/*.json")
	if err != nil {
		return nil, err
	}
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = strings.TrimSuffix(strings.TrimPrefix(f, "testdata/"), ".json")
	}
	return out, nil
}

// readBody reads a sample by name, a file, or standard input ("-").
func readBody(samples fs.FS, arg string) ([]byte, error) {
	if arg == "-" {
		return io.ReadAll(os.Stdin)
	}
	if b, err := fs.ReadFile(samples, "testdata/"+arg+".json"); err == nil {
		return b, nil
	}
	b, err := os.ReadFile(arg)
	if err != nil {
		return nil, fmt.Errorf("send: %q is neither a sample (see --list) nor a readable file", arg)
	}
	return b, nil
}
