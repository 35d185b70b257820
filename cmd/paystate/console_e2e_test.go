package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/metadata"

	"github.com/paystate/paystate/api/apitest"
	"github.com/paystate/paystate/config"
	pb "github.com/paystate/paystate/proto/paystate/v1"
)

// The console's end-to-end tests drive Debian's Chromium, headless,
// against a real server on loopback. chromedp speaks the DevTools protocol
// from Go, so the tests start the server, send webhooks, tamper with the
// store and look at the pages in one program, with the helpers of the
// other end-to-end tests; Playwright would have needed Node.js and a
// second process to coordinate with.

// chromium is the browser binary, or "" when the machine has none.
func chromium() string {
	if p := os.Getenv("PAYSTATE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browser is one headless Chromium with one tab, and every message the
// tab wrote to its console.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string // the server's HTTP address

	mu       sync.Mutex
	messages []string
	// expected are the paths of requests the test itself makes fail (it
	// takes the server away, or calls what the role may not): the
	// browser's reports of their failure are not the console's errors.
	expected []string
}

func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	path := chromium()
	if path == "" {
		t.Skip("console browser tests skipped: no Chromium on this machine (apt-get install chromium; .ci/run installs it)")
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1360, 900),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true), chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("lang", "en-GB"),
	)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &browser{t: t, ctx: ctx, base: base}
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate("about:blank")), "start Chromium")
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning || m.IsException() {
				b.mu.Lock()
				if !(m.Source == "network" && slices.ContainsFunc(b.expected, func(p string) bool { return strings.Contains(m.URL, p) })) {
					b.messages = append(b.messages, m.String()+" "+m.URL)
				}
				b.mu.Unlock()
			}
		}
	}()
	return b
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		text, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 2000) : ''`))
		b.t.Fatalf("browser: %v\npage:\n%s", err, text)
	}
}

// wait waits until a JavaScript expression is true in the page.
func (b *browser) wait(what, expr string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 40*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		text, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 2000) : ''`))
		b.t.Fatalf("waiting until %s: %v\npage:\n%s", what, err, text)
	}
}

func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	require.NoError(b.t, err, expr)
	return v
}

// open goes to a page of the console by its hash route.
func (b *browser) open(route string) {
	b.t.Helper()
	b.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = %q`, route)))
}

func (b *browser) signIn(token string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base + "/console/"))
	b.wait("the sign-in form shows", `!!document.querySelector('#token')`)
	// Enter, as people do: the form is submitted by the page's script.
	b.do(chromedp.SendKeys(chromedp.CSS("#token"), token+"\r"))
	b.wait("signed in", `!!document.querySelector('#signout')`)
}

// submit submits the form of the element as a click on its button would.
func (b *browser) submit(sel string) {
	b.t.Helper()
	b.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).form.requestSubmit()`, sel)))
}

func (b *browser) signOut() {
	b.t.Helper()
	b.do(chromedp.Click(chromedp.CSS("#signout")))
	b.wait("signed out", `!!document.querySelector('#token')`)
}

// screenshot saves the page under docs/console when
// PAYSTATE_UPDATE_SCREENSHOTS=1, and elsewhere otherwise, so that a test
// run leaves the tree clean.
// Only the first screenful of a long page is kept (wholePage false).
func (b *browser) screenshot(name string, wholePage bool) {
	b.t.Helper()
	// Let fonts and layout settle: wait for two animation frames.
	eval[bool](b, `new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))`)
	// Every page has one heading of its own, every control a label, every
	// drawing a name, and nothing taken out of the keyboard's order.
	require.Equal(b.t, 1, eval[int](b, `document.querySelectorAll('main h1').length`), "the %s page's h1", name)
	require.Empty(b.t, eval[[]string](b, `[...document.querySelectorAll('input, select, textarea')].filter((e) => e.type !== 'hidden' && !e.labels?.length && !e.getAttribute('aria-label') && !e.closest('label')).map((e) => e.outerHTML)`), "unlabelled controls on the %s page", name)
	require.Empty(b.t, eval[[]string](b, `[...document.querySelectorAll('svg')].filter((e) => e.getAttribute('role') !== 'img' || !e.getAttribute('aria-labelledby')).map((e) => e.outerHTML.slice(0, 80))`), "unnamed drawings on the %s page", name)
	require.Zero(b.t, eval[int](b, `document.querySelectorAll('[tabindex]:not([tabindex="-1"]):not([tabindex="0"])').length`), "positive tabindex on the %s page", name)
	// A value the page failed to format shows as such words.
	require.Empty(b.t, eval[[]string](b, `document.body.innerText.match(/\b(null|undefined|NaN)\b|\[object \w+\]/g) || []`), "on the %s page", name)
	shot := chromedp.CaptureScreenshot()
	if wholePage {
		shot = chromedp.FullScreenshot(100)
	}
	png, err := chromedp.Run(b.ctx, shot)
	require.NoError(b.t, err)
	dir := b.t.TempDir()
	if os.Getenv("PAYSTATE_UPDATE_SCREENSHOTS") == "1" {
		dir = filepath.Join("..", "..", "docs", "console")
		require.NoError(b.t, os.MkdirAll(dir, 0o755))
	}
	require.NoError(b.t, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644))
}

// factJS is the text of the first fact named dt in a definition list of
// the page (the "Now" card of a story comes first).
func factJS(dt string) string {
	return fmt.Sprintf(`[...document.querySelectorAll('dl.facts dt')].find((d) => d.textContent === %q)?.nextElementSibling.textContent ?? 'no such fact'`, dt)
}

// overlapsJS lists the edges on an order's path, and the event words on
// them, that are drawn over a state other than the edge's own ends (a
// long word may still touch those: a known imperfection).
const overlapsJS = `(() => {
	const svg = document.querySelector('svg.machine');
	const nodes = [...svg.querySelectorAll('g.node')].map((g) => [g.dataset.state, g.querySelector('rect').getBBox()]);
	const inside = (x, y, r) => x > r.x + 2 && x < r.x + r.width - 2 && y > r.y + 2 && y < r.y + r.height - 2;
	const out = [];
	for (const p of svg.querySelectorAll('path.edge.on-path')) {
		for (let l = 0; l <= p.getTotalLength(); l += 4) {
			const pt = p.getPointAtLength(l);
			const hit = nodes.find(([st, r]) => st !== p.dataset.from && st !== p.dataset.to && inside(pt.x, pt.y, r));
			if (hit) { out.push(p.dataset.from + '>' + p.dataset.to + ' over ' + hit[0]); break; }
		}
	}
	for (const t of svg.querySelectorAll('text.edge-label')) {
		const b = t.getBBox();
		for (const [st, r] of nodes) {
			if (st === t.dataset.from || st === t.dataset.to) continue;
			if (b.x < r.x + r.width && b.x + b.width > r.x && b.y < r.y + r.height && b.y + b.height > r.y) out.push(t.textContent + ' over ' + st);
		}
	}
	return out;
})()`

// forge makes the page's fetch answer calls whose address contains part
// with what answer (a JavaScript function of the real fetch's promise, the
// address and the options) returns, until unforge: answers a test server
// cannot be made to give (a proxy's page, a PostgreSQL store's unsealed
// entries) reach the console as from the network.
func (b *browser) forge(part, answer string) {
	b.t.Helper()
	eval[bool](b, fmt.Sprintf(`window.realFetch ??= window.fetch;
		window.fetch = (u, o) => String(u).includes(%q) ? (%s)(window.realFetch(u, o), String(u), o) : window.realFetch(u, o); true`, part, answer))
}

func (b *browser) unforge() {
	b.t.Helper()
	eval[bool](b, `if (window.realFetch) window.fetch = window.realFetch; true`)
}

// offline cuts the tab off the network, or lets it back on.
func (b *browser) offline(on bool) {
	b.t.Helper()
	_, err := chromedp.Call(b.ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
		MatchedNetworkConditions: []*network.Conditions{{Offline: on, DownloadThroughput: -1, UploadThroughput: -1}},
	})
	require.NoError(b.t, err)
}

// expectFailures says the test makes requests to these paths fail.
func (b *browser) expectFailures(paths ...string) {
	b.mu.Lock()
	b.expected = append(b.expected, paths...)
	b.mu.Unlock()
}

func (b *browser) noConsoleErrors() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	require.Empty(b.t, b.messages, "the browser console has errors or warnings")
}

// sampleOf is the N-Genius sample for another order and event.
func sampleOf(t *testing.T, id, ref, event string) []byte {
	body := sample(t, event)
	body = bytes.ReplaceAll(body, []byte("abc123xyz"), []byte(id))
	return bytes.ReplaceAll(body, []byte("ORD-123456"), []byte(ref))
}

// consoleServer is a server with a token per role, the one the tests sign
// in with.
func consoleServer(t *testing.T, dir, httpAddr string) *server {
	cfg := config.Defaults()
	cfg.HTTPAddr, cfg.GRPCAddr, cfg.DataDir = httpAddr, "127.0.0.1:0", dir
	for _, r := range apitest.Roles {
		cfg.APITokens = append(cfg.APITokens, config.APIToken{Name: string(r), Role: r, Token: "console-" + string(r)})
	}
	dev, err := config.FillDev(&cfg)
	require.NoError(t, err)
	return startServerWith(t, cfg, dev)
}

func TestConsoleServesItsPagesWithStrictHeaders(t *testing.T) {
	s := consoleServer(t, t.TempDir(), "127.0.0.1:0")
	resp, err := http.Get(s.http + "/console/")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	csp := resp.Header.Get("Content-Security-Policy")
	require.Contains(t, csp, "script-src 'self'")
	require.Contains(t, csp, "frame-ancestors 'none'")
	require.NotContains(t, csp, "unsafe-inline")
	require.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"))
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	require.Equal(t, "no-referrer", resp.Header.Get("Referrer-Policy"))
	// No route of the console answers without the API's token but its files.
	resp, err = http.Get(s.http + "/console")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "/console redirects to /console/")
}

// TestConsoleInTheBrowser walks the console as its users do: an auditor
// finds an order and reads its story, a reader sees no bodies, a fraud
// analyst watches the queue change live, and an auditor verifies the
// journal before and after the test tampers with the store.
func TestConsoleInTheBrowser(t *testing.T) {
	if chromium() == "" {
		t.Skip("console browser tests skipped: no Chromium on this machine (apt-get install chromium; .ci/run installs it)")
	}
	dir := t.TempDir()
	s := consoleServer(t, dir, "127.0.0.1:0")
	// restart brings the server back on the same address, for the life of
	// the whole test (not of the subtest that restarts it).
	restart := func() { s = consoleServer(t, dir, strings.TrimPrefix(s.http, "http://")) }
	ctx := t.Context()

	// The order's story, one verdict of each kind: a capture that arrives
	// early and is held, its authorisation that releases it, the same
	// authorisation again, a late one, a partial refund, and a word
	// N-Genius added that paystate does not know.
	var verdicts []string
	send := func(body []byte) {
		code, reply := s.webhook(t, body)
		require.Contains(t, []int{http.StatusOK}, code, "%v", reply)
		for _, r := range reply["results"].([]any) {
			verdicts = append(verdicts, r.(map[string]any)["verdict"].(string))
			for _, rr := range anySlice(r.(map[string]any)["resolved"]) {
				verdicts = append(verdicts, rr.(map[string]any)["verdict"].(string))
			}
		}
	}
	send(sample(t, "CAPTURED"))
	send(sample(t, "AUTHORISED"))
	send(sample(t, "AUTHORISED"))
	send(bytes.Replace(sample(t, "AUTHORISED"), []byte(`"timestamp": "2024-12-01T13:22:45Z"`), []byte(`"timestamp": "2024-12-01T13:30:00Z"`), 1))
	beforeRefund := time.Now().UTC()
	time.Sleep(5 * time.Millisecond)
	send(bytes.Replace(sample(t, "PARTIALLY_REFUNDED"), []byte(`"state": "PARTIALLY_REFUNDED",`),
		[]byte(`"state": "PARTIALLY_REFUNDED", "amount": {"currencyCode": "AED", "value": 2500},`), 1))
	send(bytes.ReplaceAll(sample(t, "AUTHORISED"), []byte("AUTHORISED"), []byte("SOMETHING_NEW")))
	require.Equal(t, []string{"deferred", "applied", "applied", "duplicate", "rejected", "applied", "recorded"}, verdicts)
	story := slices.Clone(verdicts)
	// Two more orders for the lists, one of them under fraud review.
	send(sampleOf(t, "ord-2", "ORD-2", "AUTHORISED"))
	send(sampleOf(t, "ord-3", "ORD-3", "AUTHORISED"))
	send(sampleOf(t, "ord-3", "ORD-3", "POST_AUTH_FRAUD_CHECK_REVIEW"))

	b := newBrowser(t, s.http)

	t.Run("sign in keeps the token out of the address and of local storage", func(t *testing.T) {
		b.do(chromedp.Navigate(s.http + "/console/"))
		b.wait("sign-in shows", `!!document.querySelector('#token')`)
		b.screenshot("signin", true)
		b.signIn("console-auditor")
		require.NotContains(t, eval[string](b, `location.href`), "console-auditor")
		require.Equal(t, "console-auditor", eval[string](b, `sessionStorage.getItem('paystate.console.token')`))
		require.Equal(t, 0, eval[int](b, `localStorage.length`))
		require.Equal(t, "Role: auditor", eval[string](b, `document.querySelector('#role').textContent`))
		// A wrong token is refused with words, not a stack trace (the
		// browser reports the 401 on its console: the test asked for it).
		b.signOut()
		b.expectFailures("/v1/caller")
		b.do(chromedp.SendKeys(chromedp.CSS("#token"), "not-a-token\r"))
		b.wait("the refusal shows", `document.querySelector('.signin .status').textContent.includes('not accepted')`)
		b.signIn("console-auditor")
	})

	t.Run("find an order by merchant reference", func(t *testing.T) {
		b.open("#/find")
		b.wait("the list of orders shows", `document.querySelectorAll('table.results tbody tr').length === 3`)
		b.do(chromedp.SendKeys(chromedp.CSS(`input[name="ref"]`), "ORD-123456"))
		b.submit(`input[name="ref"]`)
		b.wait("the order is found", `!!document.querySelector('#ref-results a[href="#/story/ngenius/payment/abc123xyz"]')`)
		// The list under a filter: the orders in review.
		b.do(chromedp.SendKeys(chromedp.CSS(`#find-list ~ .row input[name="state"]`), "fraud_review"))
		b.submit(`#find-list ~ .row input[name="state"]`)
		b.wait("only the order in review is listed", `[...document.querySelectorAll('#find-list ~ .out table.results tbody tr')].map((r) => r.querySelector('a').textContent).join(',') === 'ord-3'`)
		b.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#find-list ~ .row input[name="state"]').value = ''`))
		b.submit(`#find-list ~ .row input[name="state"]`)
		b.wait("every order again", `document.querySelectorAll('#find-list ~ .out table.results tbody tr').length === 3`)
		b.screenshot("find", true)
		b.do(chromedp.Click(chromedp.CSS(`#ref-results a[href="#/story/ngenius/payment/abc123xyz"]`)))
		b.wait("its story opens", `!!document.querySelector('ol.timeline li.entry')`)
	})

	t.Run("find an order by provider and id, with the keyboard", func(t *testing.T) {
		b.open("#/find")
		b.wait("the form is ready", `[...document.querySelectorAll('#find-id ~ .row select[name="provider"] option')].some((o) => o.value === 'ngenius')`)
		b.do(chromedp.SetValue(chromedp.CSS(`#find-id ~ .row select[name="provider"]`), "ngenius"),
			chromedp.SendKeys(chromedp.CSS(`#find-id ~ .row input[name="id"]`), "ord-2\r"))
		b.wait("the order opens", `location.hash === '#/story/ngenius/payment/ord-2' && !!document.querySelector('#current-state')`)
		require.Equal(t, "authorized", eval[string](b, `document.querySelector('#current-state').textContent`))
		// The navigation is links in the tab order: focus one, press Enter.
		b.do(chromedp.Focus(chromedp.CSS(`#nav a[href="#/machines"]`)), chromedp.KeyEvent("\r"))
		b.wait("Enter follows the link", `location.hash === '#/machines'`)
	})

	order, err := s.orders.GetOrder(asAdmin(ctx), &pb.GetOrderRequest{Provider: "ngenius", OrderId: "abc123xyz"})
	require.NoError(t, err)

	t.Run("the story shows every entry with its verdict and the path to the state", func(t *testing.T) {
		b.open("#/story/ngenius/payment/abc123xyz")
		b.wait("its timeline shows", fmt.Sprintf(`document.querySelectorAll('ol.timeline li.entry').length === %d`, len(story)))
		got := eval[[]string](b, `[...document.querySelectorAll('ol.timeline li.entry')].map((li) => li.dataset.verdict + '=' + li.querySelector('.verdict').textContent)`)
		var want []string
		for _, v := range story {
			want = append(want, v+"="+v)
		}
		require.Equal(t, want, got)
		// Each verdict has a colour of its own.
		colours := eval[[]string](b, `[...new Set([...document.querySelectorAll('ol.timeline .verdict')].map((e) => e.textContent))].map((v) => getComputedStyle(document.querySelector('.verdict.v-' + v)).color)`)
		require.Len(t, colours, 5)
		require.Len(t, slices.Compact(slices.Sorted(slices.Values(colours))), 5, "verdict colours %v", colours)
		// The held capture says what released it.
		require.Contains(t, eval[string](b, `document.querySelector('li.entry[data-seq="1"]').textContent`), "Held, then applied as #3")
		require.Contains(t, eval[string](b, `document.querySelector('li.entry[data-seq="3"]').textContent`), "Releases held event #1")

		require.Equal(t, order.GetStateName(), eval[string](b, `document.querySelector('#current-state').textContent`))
		// The order's own amount, then the totals that moved since.
		require.Equal(t, "100.00 AED", eval[string](b, factJS("Amount")))
		require.Equal(t, "100.00 AED", eval[string](b, factJS("Authorised")))
		require.Equal(t, "25.00 AED", eval[string](b, factJS("Refunded")))
		// The machine marks the current state and draws bold exactly the
		// edges the applied entries took, from new to that state.
		require.Equal(t, []string{order.GetStateName()}, eval[[]string](b, `[...document.querySelectorAll('svg.machine g.node.current')].map((g) => g.dataset.state)`))
		path := eval[[]string](b, `[...document.querySelectorAll('svg.machine path.edge.on-path')].map((p) => p.dataset.from + '>' + p.dataset.to)`)
		require.ElementsMatch(t, []string{"new>authorized", "authorized>captured", "captured>partially_refunded"}, path)
		require.Equal(t, 1, eval[int](b, `document.querySelectorAll('svg.machine g.node.current').length`))
		// The path and its event words pass between the states they skip,
		// never over one (an N-Genius authorisation goes from new past
		// pending to authorized).
		require.Empty(t, eval[[]string](b, overlapsJS), "drawn over a state")
		// An auditor reads the redacted bodies, where the journal kept one.
		events, err := s.audit.ListOrderEvents(asAdmin(ctx), &pb.ListOrderEventsRequest{Provider: "ngenius", OrderId: "abc123xyz"})
		require.NoError(t, err)
		bodies := 0
		for _, e := range events.GetEntries() {
			if e.GetRedactedBody() != "" {
				bodies++
			}
		}
		require.NotZero(t, bodies)
		require.Equal(t, bodies, eval[int](b, `document.querySelectorAll('li.entry details.body').length`))
		require.Contains(t, eval[string](b, `document.querySelector('li.entry details.body pre').textContent`), "ORD-123456")
		b.screenshot("order", true)
	})

	t.Run("state as of a past time", func(t *testing.T) {
		// Set through the page rather than a node id: the story may be
		// drawn again (a live update) between finding the input and
		// typing into it, and a stale node id cannot take a value.
		b.wait("the as-of input shows", `!!document.querySelector('#asof')`)
		b.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector('#asof').value = %q`, beforeRefund.Format("2006-01-02T15:04:05.000"))))
		b.submit("#asof")
		b.wait("the past state shows", `!!document.querySelector('.asof-out dl.facts')`)
		require.Equal(t, "captured", eval[string](b, `document.querySelector('.asof-out dl.facts .state').textContent`))
		require.Equal(t, []string{"captured"}, eval[[]string](b, `[...document.querySelectorAll('svg.machine g.node.current')].map((g) => g.dataset.state)`))
		require.NotContains(t, eval[[]string](b, `[...document.querySelectorAll('svg.machine path.edge.on-path')].map((p) => p.dataset.to)`), "partially_refunded")
	})

	t.Run("children, parent and skipped states", func(t *testing.T) {
		for _, name := range []string{"partial_refund_1_payment.completed", "partial_refund_2_refund.initiated", "partial_refund_3_refund.completed"} {
			body, err := readBody(simulators["generic"].samples, name)
			require.NoError(t, err)
			code, reply := s.signedPost(t, "generic", body)
			require.Equal(t, http.StatusOK, code, "%v", reply)
		}
		b.open("#/story/generic/payment/pay_9a8b7c6d5e")
		b.wait("the payment shows its refund", `!!document.querySelector('#kids ~ table a[href="#/story/generic/refund/re_0f1e2d3c"]')`)
		b.do(chromedp.Click(chromedp.CSS(`#kids ~ table a[href="#/story/generic/refund/re_0f1e2d3c"]`)))
		b.wait("the refund names its payment", `!!document.querySelector('dl.facts a[href="#/story/generic/payment/pay_9a8b7c6d5e"]')`)

		// A status snapshot that jumps ahead passes through states of its
		// own: the entry names them and the drawing takes them.
		// (Inyo's challenge, then its capture of the same payment: the
		// authorisation between them is passed through.)
		challenge, err := readBody(simulators["inyo"].samples, "status_CHALLENGE")
		require.NoError(t, err)
		captured, err := readBody(simulators["inyo"].samples, "status_CAPTURED")
		require.NoError(t, err)
		captured = bytes.ReplaceAll(captured, []byte("3b8f6d24-91a7-4e0c-b5d2-6c0a8e7f4b22"), []byte("a4f7e1b9-6c2d-4b08-93ae-7d5c0f8e2b55"))
		for _, body := range [][]byte{challenge, captured} {
			code, reply := s.signedPost(t, "inyo", body)
			require.Equal(t, http.StatusOK, code, "%v", reply)
		}
		events, err := s.audit.ListOrderEvents(asAdmin(ctx), &pb.ListOrderEventsRequest{Provider: "inyo", OrderId: "a4f7e1b9-6c2d-4b08-93ae-7d5c0f8e2b55"})
		require.NoError(t, err)
		last := events.GetEntries()[len(events.GetEntries())-1]
		require.NotEmpty(t, last.GetSkippedStates())
		b.open("#/story/inyo/payment/a4f7e1b9-6c2d-4b08-93ae-7d5c0f8e2b55")
		b.wait("the timeline shows", `document.querySelectorAll('ol.timeline li.entry').length === 2`)
		require.Contains(t, eval[string](b, fmt.Sprintf(`document.querySelector('li.entry[data-seq="%d"] .skipped').textContent`, last.GetSequence())),
			strings.Join(last.GetSkippedStates(), ", "))
		chain := append(append([]string{last.GetStateBefore()}, last.GetSkippedStates()...), last.GetStateAfter())
		var want []string
		want = append(want, "new>"+events.GetEntries()[0].GetStateAfter())
		for i := 1; i < len(chain); i++ {
			want = append(want, chain[i-1]+">"+chain[i])
		}
		require.ElementsMatch(t, want, eval[[]string](b, `[...document.querySelectorAll('svg.machine path.edge.on-path')].map((p) => p.dataset.from + '>' + p.dataset.to)`))
	})

	t.Run("amounts not fully known are said to be", func(t *testing.T) {
		code, reply := s.signedPost(t, "generic", []byte(`{"id":"evt_nomoney","type":"payment.completed","created":1741944413,"data":{"id":"pay_nomoney","object":"payment","currency":"USD","status":"completed"}}`))
		require.Equal(t, http.StatusOK, code, "%v", reply)
		a, err := pb.NewAggregateServiceClient(s.grpc).GetAggregate(asAdmin(ctx), &pb.GetAggregateRequest{Provider: "generic", Kind: "payment", ProviderId: "pay_nomoney"})
		require.NoError(t, err)
		require.True(t, a.GetAmountsUnknown())
		b.open("#/story/generic/payment/pay_nomoney")
		b.wait("the story shows", `!!document.querySelector('#current-state')`)
		require.Contains(t, eval[string](b, `document.querySelector('dl.facts').textContent`), "Amounts knownnot fully")
		// No event said the amount: the API answers 0, which the page
		// does not pass off as an amount of zero; nor does the Find list.
		require.Equal(t, "not reported", eval[string](b, factJS("Amount")))
		b.open("#/find")
		b.wait("the list shows the order", `!!document.querySelector('#find-list ~ .out a[href="#/story/generic/payment/pay_nomoney"]')`)
		require.Equal(t, "not reported", eval[string](b, `document.querySelector('#find-list ~ .out a[href="#/story/generic/payment/pay_nomoney"]').closest('tr').querySelector('td.num').textContent`))
		b.open("#/story/generic/payment/pay_9a8b7c6d5e")
		b.wait("another story shows", `!!document.querySelector('#kids')`)
		require.NotContains(t, eval[string](b, `document.querySelector('dl.facts').textContent`), "Amounts known")
	})

	t.Run("amounts in each currency's units, as the server counts them", func(t *testing.T) {
		// The server converts "1500" MUR and "1234.56" HUF with
		// golang.org/x/text's exponents (0 and 2); the browser's own table
		// has 2 and 0, and would show a hundred times too much or too little.
		for _, c := range []struct{ id, amount, currency, want string }{
			{"pay_mur", `"1500"`, "MUR", "1,500 MUR"},
			{"pay_huf", `"1234.56"`, "HUF", "1,234.56 HUF"},
			{"pay_bhd", `"1.25"`, "BHD", "1.250 BHD"},
			{"pay_jpy", `5000`, "JPY", "5,000 JPY"},
			// A card check's zero is an amount reported (amountKnown), not
			// one nobody said.
			{"pay_zero", `"0.00"`, "EUR", "0.00 EUR"},
		} {
			code, reply := s.signedPost(t, "generic", fmt.Appendf(nil, `{"id":"evt_%s","type":"payment.completed","created":1741944413,"data":{"id":%q,"object":"payment","amount":%s,"currency":%q,"status":"completed"}}`,
				c.id, c.id, c.amount, c.currency))
			require.Equal(t, http.StatusOK, code, "%v", reply)
			b.open("#/story/generic/payment/" + c.id)
			b.wait("the story shows "+c.id, `!!document.querySelector('#current-state') && location.hash.endsWith(`+fmt.Sprintf("%q", c.id)+`)`)
			require.Equal(t, c.want, eval[string](b, factJS("Amount")), c.id)
			require.Equal(t, c.want, eval[string](b, factJS("Captured")), c.id)
		}
	})

	t.Run("an address nobody should have sent shows words, not a request", func(t *testing.T) {
		// A story address that does not decode, or lacks its id.
		for _, route := range []string{"#/story/ngenius/payment/%E0%A4%A", "#/story/ngenius", "#/story/ngenius/payment/"} {
			b.open("#/find")
			b.wait("Find shows", `!!document.querySelector('#find-id')`)
			b.open(route)
			b.wait("the address is refused: "+route, `!!document.querySelector('#bad-address')`)
		}
		// What a provider sent is text, never markup, and a long id wraps
		// instead of widening the page.
		long := "pay_" + strings.Repeat("0123456789abcdef", 8)
		ref := `<img id="injected" src="x">`
		code, reply := s.signedPost(t, "generic", fmt.Appendf(nil, `{"id":"evt_long","type":"payment.completed","created":1741944413,"data":{"id":%q,"object":"payment","amount":"10.00","currency":"EUR","status":"completed","merchant_reference":%q}}`, long, ref))
		require.Equal(t, http.StatusOK, code, "%v", reply)
		b.open("#/story/generic/payment/" + long)
		b.wait("the long id's story shows", `!!document.querySelector('#current-state')`)
		require.Equal(t, ref, eval[string](b, factJS("Merchant reference")))
		require.False(t, eval[bool](b, `!!document.querySelector('#injected')`), "a merchant reference became markup")
		require.LessOrEqual(t, eval[int](b, `document.documentElement.scrollWidth`), eval[int](b, `document.documentElement.clientWidth`), "the page is wider than the window")
		b.open("#/journal")
		b.wait("the journal shows", `document.querySelectorAll('table.journal tbody tr').length > 0`)
		// Every column of the journal in view, the hash included, with no
		// sideways scrolling to find it.
		require.LessOrEqual(t, eval[int](b, `document.querySelector('table.journal').scrollWidth`), eval[int](b, `document.querySelector('table.journal').parentElement.clientWidth`), "the journal is wider than its card")
	})

	t.Run("an order whose every event is held shows its history", func(t *testing.T) {
		send(sampleOf(t, "held-1", "ORD-HELD", "CAPTURED"))
		// The order has no state: GetAggregate answers NOT_FOUND, which the
		// browser reports; the page then reads the history.
		b.expectFailures("/aggregates/payment/held-1")
		b.open("#/story/ngenius/payment/held-1")
		b.wait("its history shows", `!!document.querySelector('#no-state') && document.querySelectorAll('ol.timeline li.entry').length === 1`)
		require.Contains(t, eval[string](b, `document.querySelector('#no-state').textContent`), "no state yet")
		require.Equal(t, "deferred", eval[string](b, `document.querySelector('ol.timeline li.entry').dataset.verdict`))
		require.Equal(t, []string{"new"}, eval[[]string](b, `[...document.querySelectorAll('svg.machine g.node.current')].map((g) => g.dataset.state)`))
	})

	t.Run("a reader sees no bodies and no journal", func(t *testing.T) {
		b.signOut()
		b.signIn("console-reader")
		require.Equal(t, "Role: reader", eval[string](b, `document.querySelector('#role').textContent`))
		require.Equal(t, []string{"Find", "Machines"}, eval[[]string](b, `[...document.querySelectorAll('#nav a')].map((a) => a.textContent)`))
		b.open("#/story/ngenius/payment/abc123xyz")
		b.wait("the story shows", `!!document.querySelector('svg.machine')`)
		require.Equal(t, 0, eval[int](b, `document.querySelectorAll('details.body, ol.timeline').length`))
		require.NotContains(t, eval[string](b, `document.body.textContent`), "txn789", "a body's content")
		require.Equal(t, []string{"partially_refunded"}, eval[[]string](b, `[...document.querySelectorAll('svg.machine g.node.current')].map((g) => g.dataset.state)`))
		// Hidden is not the only guard: the API refuses the reader too.
		b.expectFailures("/v1/journal/entries/1")
		require.Equal(t, 403, eval[int](b, `fetch('/v1/journal/entries/1', {headers: {Authorization: 'Bearer ' + sessionStorage.getItem('paystate.console.token')}}).then((r) => r.status)`))
		b.open("#/journal")
		b.wait("a page the role may not use sends it to Find", `location.hash === '#/find'`)
	})

	t.Run("the fraud queue gains and loses an order live", func(t *testing.T) {
		b.signOut()
		b.signIn("console-fraud")
		require.Equal(t, "Role: fraud", eval[string](b, `document.querySelector('#role').textContent`))
		// ord-7 entered review, then N-Genius closed the order, which kept
		// it there: its last change and status are not its entry's.
		for _, event := range []string{"AUTHORISED", "POST_AUTH_FRAUD_CHECK_REVIEW", "ORDER_CLOSED"} {
			send(sampleOf(t, "ord-7", "ORD-7", event))
		}
		// The list of orders in review fails at first: the page says so,
		// then reads it again and shows the queue.
		b.forge("/v1/orders?", `async () => { window.listFailures = (window.listFailures || 0) + 1;
			return new Response('{"code": 14, "message": "the store is restarting"}', { status: 503, headers: { 'Content-Type': 'application/json' } }); }`)
		b.open("#/fraud")
		b.wait("the failure is said", `document.querySelector('#queue-count').textContent === 'The queue could not be read.'`)
		require.Contains(t, eval[string](b, `document.querySelector('.error').textContent`), "the store is restarting")
		// Both reads fail: the first page shown at once, and the list read
		// once the stream's first cursor is known.
		b.wait("the list read after the cursor fails too", `window.listFailures >= 2`)
		b.unforge()
		b.wait("the queue is read again", `!document.querySelector('.error') && document.querySelectorAll('#queue tr').length > 0`)

		// The first page's read fails only after the list read once the
		// stream's cursor was known has put the queue in sync: that late
		// failure is of no account.
		b.forge("/v1/orders?", `(p, u) => { if (window.slowDone !== undefined) return p;
			window.slowDone = false;
			return new Promise((resolve) => { window.releaseSlow = () => { window.slowDone = true;
				resolve(new Response('{"code": 14, "message": "late failure"}', { status: 503, headers: { 'Content-Type': 'application/json' } })); }; }); }`)
		b.open("#/find")
		b.wait("Find shows", `!!document.querySelector('#find-id')`)
		b.open("#/fraud")
		b.wait("the queue is in sync", `window.slowDone === false && document.querySelectorAll('#queue tr').length > 0 && document.querySelector('#queue-count').textContent.endsWith('in review')`)
		eval[bool](b, `window.releaseSlow(); true`)
		b.wait("the late failure is answered", `window.slowDone === true`)
		// Let the page take the answer in: two frames, as the screenshots do.
		eval[bool](b, `new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))`)
		require.False(t, eval[bool](b, `!!document.querySelector('.error')`), "a late failure of the first page shown over a queue in sync")
		b.unforge()
		b.wait("the stream is live", `document.querySelector('#conn').dataset.state === 'live'`)
		b.wait("the queue holds the order in review", `!!document.querySelector('#queue tr[data-key="ngenius/ord-3"]')`)
		cells := func(id string) []string {
			return eval[[]string](b, fmt.Sprintf(`[...document.querySelectorAll('#queue tr[data-key="ngenius/%s"] td')].slice(4).map((c) => c.textContent)`, id))
		}
		b.wait("the closed order is listed", `!!document.querySelector('#queue tr[data-key="ngenius/ord-7"]')`)
		require.Regexp(t, `^at or before \d{4}-`, cells("ord-7")[0])
		require.Equal(t, "not known; last status ORDER_CLOSED", cells("ord-7")[1])
		require.Regexp(t, `^\d{4}-`, cells("ord-3")[0])
		require.Equal(t, "POST_AUTH_FRAUD_CHECK_REVIEW", cells("ord-3")[1])
		send(sampleOf(t, "ord-7", "ORD-7", "POST_AUTH_FRAUD_CHECK_ACCEPTED"))
		b.wait("the closed order leaves review", `!document.querySelector('#queue tr[data-key="ngenius/ord-7"]')`)
		eval[bool](b, `window.sameDocument = true`)
		// ord-4 is in forints: N-Genius sends minor units, which the
		// server counts with two digits (the browser's own table has none).
		inHUF := func(body []byte) []byte {
			return bytes.Replace(body, []byte(`"currencyCode": "AED",`+"\n"+`"value": 10000`), []byte(`"currencyCode": "HUF",`+"\n"+`"value": 123456`), 1)
		}
		send(inHUF(sampleOf(t, "ord-4", "ORD-4", "AUTHORISED")))
		send(inHUF(sampleOf(t, "ord-4", "ORD-4", "POST_AUTH_FRAUD_CHECK_REVIEW")))
		b.wait("the order that entered review appears", `!!document.querySelector('#queue tr[data-key="ngenius/ord-4"]')`)
		b.wait("with its amount", `document.querySelector('#queue tr[data-key="ngenius/ord-4"] td.num').textContent === '1,234.56 HUF'`)
		require.Equal(t, "Amount", eval[string](b, `document.querySelector('table.queue th:nth-child(4)').textContent`))
		b.screenshot("fraud", true)
		// A keyboard user on ord-3's link as it leaves review moves to the
		// next order's, not to the top of the document.
		b.do(chromedp.Focus(chromedp.CSS(`#queue tr[data-key="ngenius/ord-3"] a`)))
		send(sampleOf(t, "ord-3", "ORD-3", "POST_AUTH_FRAUD_CHECK_ACCEPTED"))
		b.wait("the order that left review disappears", `!document.querySelector('#queue tr[data-key="ngenius/ord-3"]')`)
		require.Equal(t, "ngenius/ord-4", eval[string](b, `document.activeElement.closest('tr')?.dataset.key ?? document.activeElement.tagName`))
		require.True(t, eval[bool](b, `window.sameDocument === true`), "no reload")

		// The server goes away and the tab is cut off; while it is, one
		// order enters review and one leaves. When the tab is back online it
		// resumes from its cursor and shows both.
		b.expectFailures("/v1/journal:watch")
		b.offline(true)
		s.shutdown()
		b.wait("the indicator shows the lost connection", `document.querySelector('#conn').dataset.state === 'reconnecting'`)
		restart()
		send(sampleOf(t, "ord-5", "ORD-5", "AUTHORISED"))
		send(sampleOf(t, "ord-5", "ORD-5", "POST_AUTH_FRAUD_CHECK_REVIEW"))
		send(inHUF(sampleOf(t, "ord-4", "ORD-4", "POST_AUTH_FRAUD_CHECK_REJECTED")))
		require.Equal(t, "reconnecting", eval[string](b, `document.querySelector('#conn').dataset.state`), "the tab missed the changes")
		b.offline(false)
		b.wait("live again", `document.querySelector('#conn').dataset.state === 'live'`)
		b.wait("the queue caught up", `[...document.querySelectorAll('#queue tr')].map((r) => r.dataset.key).join(',') === 'ngenius/ord-5'`)
		require.True(t, eval[bool](b, `window.sameDocument === true`), "no reload")

		// The last order leaves: an empty queue says so.
		send(sampleOf(t, "ord-5", "ORD-5", "POST_AUTH_FRAUD_CHECK_ACCEPTED"))
		b.wait("the queue is empty", `document.querySelectorAll('#queue tr').length === 0`)
		require.Equal(t, "No order is in fraud review right now.", eval[string](b, `document.querySelector('#queue-count').textContent`))
		require.False(t, eval[bool](b, `document.querySelector('table.queue').checkVisibility()`), "the headings of an empty table")

		// An order enters review but its amount cannot be read: the row
		// says so rather than leaving the cell blank.
		b.forge("/v1/providers/ngenius/orders/ord-6", `async () => new Response('{"code": 14, "message": "unavailable"}', { status: 503, headers: { 'Content-Type': 'application/json' } })`)
		send(sampleOf(t, "ord-6", "ORD-6", "AUTHORISED"))
		send(sampleOf(t, "ord-6", "ORD-6", "POST_AUTH_FRAUD_CHECK_REVIEW"))
		b.wait("the order appears", `!!document.querySelector('#queue tr[data-key="ngenius/ord-6"]')`)
		b.wait("its amount is said to be unavailable", `document.querySelector('#queue tr[data-key="ngenius/ord-6"] td.num').textContent === 'unavailable'`)
		b.unforge()
		send(sampleOf(t, "ord-6", "ORD-6", "POST_AUTH_FRAUD_CHECK_ACCEPTED"))
		b.wait("the queue is empty again", `document.querySelectorAll('#queue tr').length === 0`)
	})

	t.Run("verify reports an intact journal", func(t *testing.T) {
		b.signOut()
		b.signIn("console-auditor")
		b.open("#/journal")
		b.wait("the journal shows", `document.querySelectorAll('table.journal tbody tr').length > 0`)
		b.wait("the head shows", `!!document.querySelector('#head-seq')`)
		b.do(chromedp.Click(chromedp.CSS("#verify")))
		b.wait("verification ends", `['ok', 'broken', 'error'].includes(document.querySelector('#verify-result').dataset.result)`)
		require.Equal(t, "ok", eval[string](b, `document.querySelector('#verify-result').dataset.result`))
		head, err := s.audit.GetChainHead(asAdmin(ctx), &pb.GetChainHeadRequest{})
		require.NoError(t, err)
		require.Contains(t, eval[string](b, `document.querySelector('#verify-result').textContent`), fmt.Sprintf("%d entries checked", head.GetSequence()))
		require.Equal(t, fmt.Sprint(head.GetSequence()), eval[string](b, `document.querySelector('#head-seq').textContent`))
		// Development mode signs checkpoints: the newest one is shown, and
		// the whole verification checks the ones stored.
		cp := head.GetCheckpoint()
		require.NotNil(t, cp, "the development server signs checkpoints")
		require.Equal(t, fmt.Sprint(cp.GetSequence()), eval[string](b, `document.querySelector('#cp-seq').textContent`))
		require.Equal(t, cp.GetKeyId(), eval[string](b, `document.querySelector('#cp-key').textContent`))
		require.Contains(t, eval[string](b, `document.querySelector('.checkpoint').textContent`), hex.EncodeToString(cp.GetSignature()))
		require.Regexp(t, `^[1-9]\d* checked against the journal$`, eval[string](b, `document.querySelector('#verify-cps').textContent`))
		// The verify answer names the newest stored checkpoint it verified,
		// and what was committed but not yet in the chain.
		require.Equal(t, fmt.Sprint(cp.GetSequence()), eval[string](b, `document.querySelector('#vcp-seq').textContent`))
		require.Equal(t, cp.GetKeyId(), eval[string](b, `document.querySelector('#vcp-key').textContent`))
		require.Equal(t, cp.GetHash(), eval[string](b, `document.querySelector('#vcp-hash').textContent`))
		require.Contains(t, eval[string](b, `document.querySelector('#verify-unsealed').textContent`), "none")
		// One held event (held-1's capture), said so.
		require.Contains(t, eval[string](b, `document.querySelector('#verify-tables').textContent`), " 1 held event, ")
		// Filter the journal to the rejected entries.
		b.do(chromedp.Click(chromedp.CSS(`input[name="verdict"][value="rejected"]`)))
		b.submit(`input[name="verdict"][value="rejected"]`)
		b.wait("only rejected entries", `[...document.querySelectorAll('table.journal tbody tr')].every((r) => r.dataset.verdict === 'rejected')`)
		b.do(chromedp.Click(chromedp.CSS(`input[name="verdict"][value="rejected"]`)))
		b.submit(`input[name="verdict"][value="rejected"]`)
		b.wait("every entry again", `new Set([...document.querySelectorAll('table.journal tbody tr')].map((r) => r.dataset.verdict)).size > 1`)
		b.screenshot("journal", true)

		// The export of the whole journal holds every entry as the API
		// lists it, in CSV and in JSON with the chain head.
		downloads := t.TempDir()
		_, err = chromedp.CallBrowser(b.ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
			Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads})
		require.NoError(t, err)
		journal, err := s.audit.ListJournal(asAdmin(ctx), &pb.ListJournalRequest{PageSize: 1000})
		require.NoError(t, err)
		for _, format := range []string{"csv", "json"} {
			b.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`button[data-export=%q]`, format))))
			var file string
			require.Eventually(t, func() bool {
				matches, _ := filepath.Glob(filepath.Join(downloads, "paystate-journal-*."+format))
				if len(matches) == 1 {
					file = matches[0]
				}
				return file != ""
			}, 20*time.Second, 50*time.Millisecond, "the %s export is saved", format)
			raw, err := os.ReadFile(file)
			require.NoError(t, err)
			var seqs, hashes, verdictsOut []string
			if format == "csv" {
				rows, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
				require.NoError(t, err)
				require.Equal(t, "sequence", rows[0][0])
				col := func(name string) int { return slices.Index(rows[0], name) }
				for _, r := range rows[1:] {
					seqs, hashes, verdictsOut = append(seqs, r[0]), append(hashes, r[col("hash")]), append(verdictsOut, r[col("verdict")])
				}
			} else {
				var doc struct {
					ChainHead struct{ Sequence, Hash string }
					Entries   []struct{ Sequence, Hash, Verdict string }
				}
				require.NoError(t, json.Unmarshal(raw, &doc))
				require.Equal(t, fmt.Sprint(head.GetSequence()), doc.ChainHead.Sequence)
				require.Equal(t, head.GetHash(), doc.ChainHead.Hash)
				for _, e := range doc.Entries {
					seqs, hashes, verdictsOut = append(seqs, e.Sequence), append(hashes, e.Hash), append(verdictsOut, strings.ToLower(strings.TrimPrefix(e.Verdict, "VERDICT_")))
				}
			}
			require.Len(t, seqs, len(journal.GetEntries()), format)
			for i, e := range journal.GetEntries() {
				require.Equal(t, fmt.Sprint(e.GetSequence()), seqs[i], format)
				require.Equal(t, e.GetHash(), hashes[i], format)
				require.Equal(t, strings.ToLower(strings.TrimPrefix(e.GetVerdict().String(), "VERDICT_")), verdictsOut[i], format)
			}
		}
	})

	t.Run("verify says what it could not check, and a failed answer in words", func(t *testing.T) {
		// A PostgreSQL store whose sealer is behind answers unsealed
		// entries; SQLite never does, so the answer is forged.
		b.forge("/v1/journal:verify", `async (p, u, o) => { const r = await p; const j = await r.json();
			if (!o.body.includes('chainOnly')) { j.unsealedEntries = '3'; delete j.head.checkpoint; }
			return new Response(JSON.stringify(j), { status: r.status, headers: { 'Content-Type': 'application/json' } }); }`)
		b.do(chromedp.Click(chromedp.CSS("#verify")))
		b.wait("verification ends", `['ok', 'broken', 'error'].includes(document.querySelector('#verify-result').dataset.result)`)
		require.Equal(t, "ok", eval[string](b, `document.querySelector('#verify-result').dataset.result`))
		require.Contains(t, eval[string](b, `document.querySelector('#verify-unsealed').textContent`), "3 committed entries have no place in the chain yet")
		require.True(t, eval[bool](b, `!!document.querySelector('#verify-cp-none') && !document.querySelector('#verify-cp')`))
		// A proxy's error page, a page that is not the API's JSON, and no
		// answer at all: each is a failure said in words, never a pass.
		for _, c := range []struct{ answer, want string }{
			{`async () => new Response('<html>Bad gateway</html>', { status: 502, headers: { 'Content-Type': 'text/html' } })`, "The server failed to answer (HTTP 502)."},
			{`async () => new Response('<html>Sign in to the network</html>', { status: 200, headers: { 'Content-Type': 'text/html' } })`, "was not the API’s JSON"},
			{`async () => { throw new TypeError('Failed to fetch'); }`, "The server could not be reached"},
		} {
			b.forge("/v1/journal:verify", c.answer)
			b.do(chromedp.Click(chromedp.CSS("#verify")))
			b.wait("verification ends", `['ok', 'broken', 'error'].includes(document.querySelector('#verify-result').dataset.result)`)
			require.Equal(t, "error", eval[string](b, `document.querySelector('#verify-result').dataset.result`), c.answer)
			require.Contains(t, eval[string](b, `document.querySelector('#verify-result .error').textContent`), c.want)
		}
		b.unforge()
		b.do(chromedp.Click(chromedp.CSS("#verify")))
		b.wait("verification passes again", `document.querySelector('#verify-result').dataset.result === 'ok'`)
	})

	t.Run("verify reports a derived table that disagrees with the journal", func(t *testing.T) {
		require.Contains(t, eval[string](b, `document.querySelector('#verify-tables').textContent`), "agree with the journal")
		s.shutdown()
		tamper(t, dir, `UPDATE aggregates SET state = 'captured' WHERE id = 'ord-2'`)
		restart()
		b.do(chromedp.Click(chromedp.CSS("#verify")))
		b.wait("verification ends", `['ok', 'broken', 'error'].includes(document.querySelector('#verify-result').dataset.result)`)
		require.Equal(t, "broken", eval[string](b, `document.querySelector('#verify-result').dataset.result`))
		require.Equal(t, "tables", eval[string](b, `document.querySelector('#verify-result').dataset.where`))
		rows := eval[[]string](b, `[...document.querySelectorAll('#verify-result table.problems tbody tr')].map((r) => r.textContent)`)
		require.NotEmpty(t, rows)
		require.Contains(t, strings.Join(rows, "\n"), "ord-2")
		require.Contains(t, strings.Join(rows, "\n"), "aggregates")
	})

	t.Run("verify reports the break in a tampered store", func(t *testing.T) {
		s.shutdown()
		tamper(t, dir, `UPDATE journal SET reason = 'nothing to see here' WHERE seq = 4`)
		restart()
		b.do(chromedp.Click(chromedp.CSS("#verify")))
		b.wait("verification ends", `['broken', 'error'].includes(document.querySelector('#verify-result').dataset.result)`)
		require.Equal(t, "broken", eval[string](b, `document.querySelector('#verify-result').dataset.result`))
		require.Contains(t, eval[string](b, `document.querySelector('#verify-result').textContent`), "Broken at entry #4")
		b.wait("the broken entry's order is named", `!!document.querySelector('#verify-result a[href="#/story/ngenius/payment/abc123xyz"]')`)
	})

	t.Run("every machine is drawn", func(t *testing.T) {
		ms, err := pb.NewMachineServiceClient(s.grpc).ListMachines(asAdmin(ctx), &pb.ListMachinesRequest{})
		require.NoError(t, err)
		b.open("#/machines")
		b.wait("the machines are drawn", fmt.Sprintf(`document.querySelectorAll('svg.machine').length === %d`, len(ms.GetMachines())))
		arrow := regexp.MustCompile(`(?m)^\s*(\S+) --> (\S+) : `)
		for _, m := range ms.GetMachines() {
			svg := fmt.Sprintf(`document.querySelector('svg.machine[data-provider=%q][data-kind=%q]')`,
				m.GetProvider(), strings.TrimPrefix(strings.ToLower(m.GetKind().String()), "kind_"))
			require.Equal(t, len(m.GetStates()), eval[int](b, svg+`.querySelectorAll('g.node').length`), "%s %s", m.GetProvider(), m.GetKind())
			// Every edge the server's diagram has, those the amounts decide
			// included (a refund ends partial or full), and no other.
			var want []string
			for _, a := range arrow.FindAllStringSubmatch(m.GetMermaid(), -1) {
				want = append(want, strings.ReplaceAll(a[1], "[*]", "new")+">"+a[2])
			}
			require.NotEmpty(t, want)
			require.ElementsMatch(t, want, eval[[]string](b, `[...`+svg+`.querySelectorAll('path.edge')].map((p) => p.dataset.from + '>' + p.dataset.to)`), "%s %s", m.GetProvider(), m.GetKind())
		}
		b.screenshot("machines", false)
	})

	t.Run("a list's pages turn with the keyboard, focus staying on the pager", func(t *testing.T) {
		// More aggregates than a page of Find holds (50).
		for i := range 50 {
			code, reply := s.signedPost(t, "generic", fmt.Appendf(nil, `{"id":"evt_page_%d","type":"payment.completed","created":1741944413,"data":{"id":"pay_page_%d","object":"payment","amount":"1.00","currency":"EUR","status":"completed"}}`, i, i))
			require.Equal(t, http.StatusOK, code, "%v", reply)
		}
		b.open("#/find")
		b.wait("the first page shows", `document.querySelectorAll('#find-list ~ .out table.results tbody tr').length === 50`)
		focused := `document.activeElement.closest('.pager') ? document.activeElement.textContent : document.activeElement.tagName`
		b.do(chromedp.Focus(chromedp.CSS(`#find-list ~ .pager button:last-child`)), chromedp.KeyEvent("\r"))
		b.wait("the second page shows", `[...document.querySelectorAll('#find-list ~ .pager span')].some((e) => e.textContent === 'Page 2')`)
		// The last page has no Next: focus moves to Previous, not to the
		// top of the document.
		require.Equal(t, "← Previous", eval[string](b, focused))
		b.do(chromedp.KeyEvent("\r"))
		b.wait("the first page again", `[...document.querySelectorAll('#find-list ~ .pager span')].some((e) => e.textContent === 'Page 1')`)
		require.Equal(t, "Next →", eval[string](b, focused))
	})

	t.Run("loading more of a long timeline with the keyboard goes on at the first entry loaded", func(t *testing.T) {
		// ord-2 gets a thousand redeliveries: more entries than a page of
		// its timeline (1000).
		for range 1000 {
			send(sampleOf(t, "ord-2", "ORD-2", "AUTHORISED"))
		}
		b.open("#/story/ngenius/payment/ord-2")
		b.wait("the first page of the timeline shows", `document.querySelectorAll('ol.timeline li.entry').length === 1000`)
		b.do(chromedp.Focus(chromedp.CSS(`ol.timeline ~ button`)), chromedp.KeyEvent("\r"))
		b.wait("the rest loads", `document.querySelectorAll('ol.timeline li.entry').length === 1001`)
		require.Equal(t, eval[string](b, `document.querySelectorAll('ol.timeline li.entry')[1000].dataset.seq`),
			eval[string](b, `document.activeElement.dataset.seq ?? document.activeElement.tagName`))
	})

	b.noConsoleErrors()
}

// asAdmin calls the API with the console tests' admin token.
func asAdmin(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer console-admin")
}

func anySlice(v any) []any {
	s, _ := v.([]any)
	return s
}
