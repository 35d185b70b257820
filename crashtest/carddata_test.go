package crashtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"

	pb "github.com/paystate/paystate/proto/paystate/v1"
)

// testPANs are the card schemes' published test numbers.
var testPANs = []string{
	"4111111111111111", "4012888888881881", "4242424242424242", "4222222222222", // Visa (the last has 13 digits)
	"5555555555554444", "5105105105105100", "2223003122003222", // Mastercard
	"378282246310005", "371449635398431", // American Express
	"6011111111111117", "6011000990139424", // Discover
}

// panForms are the ways a PAN is written: bare, and grouped by spaces or
// dashes (4-4-4-4, or 4-6-5 for 15 digits).
func panForms(pan string) []string {
	groups := []int{4, 4, 4, 4, 3}
	if len(pan) == 15 {
		groups = []int{4, 6, 5}
	}
	var parts []string
	for i, rest := 0, pan; rest != ""; i++ {
		n := min(groups[i%len(groups)], len(rest))
		parts, rest = append(parts, rest[:n]), rest[n:]
	}
	return []string{pan, strings.Join(parts, " "), strings.Join(parts, "-")}
}

func luhn(s string) bool {
	sum, double := 0, false
	for i := len(s) - 1; i >= 0; i-- {
		d := int(s[i] - '0')
		if double {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum, double = sum+d, !double
	}
	return sum%10 == 0
}

// Sensitive authentication data as a body may carry it.
var (
	panKeys   = []string{"card_number", "pan", "cardNumber", "note", "memo", "customer_comment"}
	cvvKeys   = []string{"cvv", "CVV2", "cvc", "card_security_code", "securityCode", "cid"}
	trackKeys = []string{"track2", "Track_1", "trackData"}
	pinKeys   = []string{"pin", "pinBlock", "PIN_BLOCK"}
)

// injector puts card data at random places of a body.
type injector struct {
	rng  *rand.Rand
	pins []string // PIN blocks of this run: 16 random hex digits, found nowhere else
}

func (in *injector) pan() string { return testPANs[in.rng.IntN(len(testPANs))] }

func (in *injector) panText() any {
	pan := in.pan()
	forms := panForms(pan)
	switch in.rng.IntN(5) {
	case 0:
		return json.Number(pan) // a bare JSON number
	case 1:
		return "card " + forms[in.rng.IntN(3)] + " exp 12/29"
	default:
		return forms[in.rng.IntN(3)]
	}
}

func (in *injector) cvv() any {
	v := fmt.Sprintf("%03d", in.rng.IntN(1000))
	if in.rng.IntN(4) == 0 {
		v = fmt.Sprintf("%04d", in.rng.IntN(10000)) // Amex CID
	}
	if in.rng.IntN(3) == 0 {
		return json.Number(fmt.Sprint(100 + in.rng.IntN(9900))) // a bare number, 3 or 4 digits
	}
	return v
}

// inject adds 1 to 4 members holding card data to random objects of m.
func (in *injector) inject(m map[string]any) {
	var objects []map[string]any
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			objects = append(objects, x)
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(m)
	pick := func(keys []string) string { return keys[in.rng.IntN(len(keys))] }
	for range 1 + in.rng.IntN(4) {
		obj := objects[in.rng.IntN(len(objects))]
		switch in.rng.IntN(6) {
		case 0, 1:
			obj[pick(panKeys)] = in.panText()
		case 2:
			obj[pick(cvvKeys)] = in.cvv()
		case 3:
			pan := in.pan()
			if in.rng.IntN(2) == 0 {
				obj[pick(trackKeys)] = ";" + pan + "=29121010000012300000?"
			} else {
				obj[pick(trackKeys)] = "%B" + pan + "^DOE/JANE^2912101000000000000000123000000?"
			}
		case 4:
			obj[pick(pinKeys)] = in.pins[in.rng.IntN(len(in.pins))]
		case 5:
			obj["card"] = map[string]any{"number": in.panText(), pick(cvvKeys): in.cvv(), "expiry": "12/29"}
		}
	}
}

// cardLeaks reports card data in any bytes (database files, logs, API
// responses as sent): a test PAN in any of its forms, a PIN block of the
// run, or a security code written under a security-code key. Track data
// holds a PAN and is found by it.
func cardLeaks(data []byte, pins []string) []string {
	var out []string
	for _, pan := range testPANs {
		for _, f := range panForms(pan) {
			if bytes.Contains(data, []byte(f)) {
				out = append(out, "PAN "+f)
			}
		}
	}
	for _, p := range pins {
		if bytes.Contains(data, []byte(p)) {
			out = append(out, "PIN block "+p)
		}
	}
	for _, k := range cvvKeys {
		if codeAfter(data, []byte(`"`+k+`":`)) {
			out = append(out, "a security code under "+k)
		}
	}
	return out
}

// codeAfter reports whether pattern (a quoted key and a colon) is followed
// by a security code: 3 or 4 digits, quoted or not, then the end of the
// value. A blanked value ("cvv":"" or "cvv":,) is not one, nor is a value
// cut off where a truncated body ended, whatever bytes follow it in a file.
func codeAfter(data, pattern []byte) bool {
	for i := 0; ; {
		j := bytes.Index(data[i:], pattern)
		if j < 0 {
			return false
		}
		i += j + len(pattern)
		rest := bytes.TrimLeft(data[i:], " ")
		quoted := len(rest) > 0 && rest[0] == '"'
		if quoted {
			rest = rest[1:]
		}
		n := 0
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n >= 3 && n <= 4 && n < len(rest) && (quoted && rest[n] == '"' || !quoted && bytes.IndexByte([]byte(",}] \n"), rest[n]) >= 0) {
			return true
		}
	}
}

// bodyLeaks checks a redacted body as served: no sensitive member in a
// JSON body, and no sensitive key holding a value in any other body
// (redaction blanks them there).
func bodyLeaks(body []byte) []string {
	if json.Valid(body) {
		return sensitiveMembers(body)
	}
	var out []string
	for _, keys := range [][]string{cvvKeys, trackKeys, pinKeys} {
		for _, k := range keys {
			if sensitiveValueAfter(body, `"`+k+`":`) {
				out = append(out, k)
			}
		}
	}
	return out
}

// sensitiveValueAfter reports whether any occurrence of pattern (a quoted
// key and a colon) in a body is followed by a value that is not blank:
// redaction removes such members from JSON and blanks their values
// elsewhere, up to the end of the body when the value is not terminated.
func sensitiveValueAfter(data []byte, pattern string) bool {
	for i := 0; ; {
		j := bytes.Index(data[i:], []byte(pattern))
		if j < 0 {
			return false
		}
		rest := bytes.TrimLeft(data[i+j+len(pattern):], " \t\r\n")
		blank := len(rest) == 0 || bytes.IndexByte([]byte(",}]"), rest[0]) >= 0 ||
			bytes.HasPrefix(rest, []byte(`""`)) || bytes.HasPrefix(rest, []byte("{}")) ||
			bytes.HasPrefix(rest, []byte("[]")) || bytes.HasPrefix(rest, []byte("null")) ||
			string(rest) == `"`
		if !blank {
			return true
		}
		i += j + len(pattern)
	}
}

// sensitiveMembers lists the members of a JSON document whose key is
// sensitive authentication data.
func sensitiveMembers(doc []byte) []string {
	var v any
	if json.Unmarshal(doc, &v) != nil {
		return nil
	}
	sensitive := map[string]bool{}
	for _, keys := range [][]string{cvvKeys, trackKeys, pinKeys} {
		for _, k := range keys {
			sensitive[strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(k))] = true
		}
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				if sensitive[strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(k))] {
					out = append(out, k)
				}
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(v)
	return out
}

// TestCardData sends fixture events built from the providers' documented
// samples, with test card numbers (bare, grouped, as JSON numbers, in
// text), CVVs, track data and PIN blocks injected at random places,
// through the real server: some duplicated, some truncated (400,
// recorded), some with a wrong signature (401). Then no full card number,
// PIN block or sensitive field's value may be found in the raw bytes of
// the database files (paystate.db, -wal, -shm), in the server's logs, in
// the webhook answers, or in any API response (every journal entry by
// GetEvent, every aggregate's history); and each acknowledged entry's
// body_sha256 is the SHA-256 of the body as sent.
func TestCardData(t *testing.T) {
	total, senders := 500, 8
	if *long {
		total = 10_000
	}
	for _, pan := range testPANs {
		if !luhn(pan) {
			t.Fatalf("%s is not a Luhn-valid test PAN", pan)
		}
	}
	seed := seed(t)
	rng := rand.New(rand.NewPCG(seed, 0xca7d))
	tag := fmt.Sprintf("k%x", seed%0xffffff)
	in := &injector{rng: rng}
	for range 4 {
		in.pins = append(in.pins, fmt.Sprintf("%016X", rng.Uint64()))
	}

	// Build the events: the scenarios' bodies with card data injected.
	type item struct {
		provider string
		body     []byte
		forged   bool
	}
	var items []item
	for _, sc := range scenarios(t, tag, total) {
		for _, w := range sc.hooks {
			if len(items) == total {
				break
			}
			m := decode(t, w.body)
			in.inject(m)
			body := encode(t, m)
			it := item{provider: w.provider, body: body}
			switch r := rng.IntN(100); {
			case r < 4: // truncated: malformed, recorded with its redacted body
				it.body = body[:len(body)/2+rng.IntN(len(body)/2)]
			case r < 8:
				it.forged = true
			default:
				newWebhook(t, w.provider, body) // still parses
			}
			items = append(items, it)
			if rng.IntN(20) == 0 {
				items = append(items, it) // a duplicate
			}
		}
	}
	rng.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })

	srv := startBinary(t, nil, "PAYSTATE_API_RATE_PER_SECOND=0")
	dev := srv.dev()
	base := srv.mustURL()
	var mu sync.Mutex
	var replies [][]byte
	acked := map[int64]string{} // journal seq → SHA-256 of the body sent
	codes := map[int]int{}
	work := make(chan item)
	var wg sync.WaitGroup
	start := time.Now()
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range work {
				var a answer
				if it.forged {
					a = postWith(base, it.provider, it.body, http.Header{"X-Signature": {"AAAA"}, "Authorization": {"Bearer forged"},
						dev.NGeniusHeaderName: {"forged"}, "X-Pf-Signature": {"t=1,s=00"}})
				} else {
					a = post(base, dev, it.provider, it.body)
				}
				mu.Lock()
				codes[a.status]++
				replies = append(replies, a.raw)
				for _, r := range a.reply.Results {
					acked[r.Seq] = sha(it.body)
				}
				mu.Unlock()
			}
		}()
	}
	for _, it := range items {
		work <- it
	}
	close(work)
	wg.Wait()
	elapsed := time.Since(start)
	if codes[200]+codes[400]+codes[401] != len(items) || codes[400] == 0 || codes[401] == 0 {
		t.Fatalf("answers %v for %d webhooks", codes, len(items))
	}

	var leaks []string
	check := func(where string, data []byte) {
		for _, l := range cardLeaks(data, in.pins) {
			if len(leaks) < 20 {
				leaks = append(leaks, where+": "+l)
			}
		}
	}
	for _, r := range replies {
		check("webhook answer", r)
	}

	// The API: every journal entry, and every aggregate's history.
	conn, err := grpc.NewClient(srv.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+dev.APIToken)
	audit, aggs := pb.NewAuditServiceClient(conn), pb.NewAggregateServiceClient(conn)
	head, err := audit.GetChainHead(ctx, &pb.GetChainHeadRequest{})
	if err != nil {
		t.Fatal(err)
	}
	type aggKey struct{ provider, kind, id string }
	seen := map[aggKey]bool{}
	bodies, proved := 0, 0
	for seq := int64(1); seq <= head.GetSequence(); seq++ {
		e, err := audit.GetEvent(ctx, &pb.GetEventRequest{Sequence: seq})
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := protojson.Marshal(e)
		check(fmt.Sprintf("GetEvent %d", seq), raw)
		if e.GetRedactedBody() != "" {
			bodies++
			check(fmt.Sprintf("GetEvent %d redacted body", seq), []byte(e.GetRedactedBody()))
			if m := bodyLeaks([]byte(e.GetRedactedBody())); len(m) > 0 {
				leaks = append(leaks, fmt.Sprintf("GetEvent %d: redacted body keeps %v", seq, m))
			}
		}
		if want, ok := acked[seq]; ok {
			if e.GetBodySha256() != want {
				t.Fatalf("entry %d: body_sha256 %s, the body sent hashes to %s", seq, e.GetBodySha256(), want)
			}
			proved++
		}
		if k := (aggKey{e.GetProvider(), strings.ToLower(strings.TrimPrefix(e.GetKind().String(), "KIND_")), e.GetProviderId()}); e.GetProviderId() != "" && e.GetKind() != pb.Kind_KIND_UNSPECIFIED && !seen[k] {
			seen[k] = true
			for tok := ""; ; {
				page, err := aggs.ListAggregateEvents(ctx, &pb.ListAggregateEventsRequest{Provider: k.provider, Kind: k.kind, ProviderId: k.id, PageToken: tok, PageSize: 1000})
				if err != nil {
					t.Fatalf("history of %v: %v", k, err)
				}
				raw, _ := protojson.Marshal(page)
				check(fmt.Sprintf("history of %v", k), raw)
				if tok = page.GetNextPageToken(); tok == "" {
					break
				}
			}
		}
	}

	// The database files, live (with the WAL) and after a clean stop.
	scanFiles := func(when string) int64 {
		var size int64
		for _, suffix := range []string{"", "-wal", "-shm"} {
			data, err := os.ReadFile(srv.dbPath() + suffix)
			if os.IsNotExist(err) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			size += int64(len(data))
			check(when+" paystate.db"+suffix, data)
		}
		return size
	}
	live := scanFiles("live")
	srv.stop()
	stopped := scanFiles("stopped")
	logs := srv.log.Bytes()
	check("server log", logs)

	if len(leaks) > 0 {
		t.Fatalf("card data found:\n%s", strings.Join(leaks, "\n"))
	}
	if proved == 0 || proved < len(acked) {
		t.Fatalf("%d of %d acknowledged entries checked against the body sent", proved, len(acked))
	}
	t.Logf("card data: seed %d, %d webhooks (answers %v) in %s; %d journal entries (%d with a body, %d body_sha256 equal to the SHA-256 of the body sent) and %d aggregate histories read over the API; %d bytes of database files live, %d stopped, %d bytes of logs: no PAN, PIN block or sensitive value found",
		seed, len(items), codes, elapsed.Round(time.Millisecond), head.GetSequence(), bodies, proved, len(seen), live, stopped, len(logs))
}

// The detectors find what they look for, and nothing in what redaction
// leaves.
func TestLeakDetectors(t *testing.T) {
	pins := []string{"0123456789ABCDEF"}
	for _, leak := range []string{
		`{"cvv":"123"}`, `{"CVV2":4567,"x":1}`, `x"cid": "999" y`, `"card_security_code":123}`,
		`{"n":"4111 1111 1111 1111"}`, `3782-822463-10005`, `{"n":4222222222222}`, `{"pinBlock":"0123456789ABCDEF"}`,
	} {
		if len(cardLeaks([]byte(leak), pins)) == 0 {
			t.Errorf("no leak found in %s", leak)
		}
	}
	for _, clean := range []string{
		`{"cvv":"","cid":,"n":"411111******1111"}`, `{"a":"b","cvv":"` + "\x00\x0612" + `"`,
		`{"cardTransactionIdentifier":"123"}`, `{"cvcResult":"APPROVED"}`, `{"n":"4111 11** **** 1111"}`,
	} {
		if l := cardLeaks([]byte(clean), pins); len(l) > 0 {
			t.Errorf("%v found in %q", l, clean)
		}
	}
	for _, leak := range []string{`{"a":{"Track_1":"%B4"}}`, `{"pin":"1234"}`, `{"x":"y","trackData":"abc`, `{"cvv": 1`} {
		if len(bodyLeaks([]byte(leak))) == 0 {
			t.Errorf("no sensitive member found in %s", leak)
		}
	}
	for _, clean := range []string{`{"a":"b"}`, `{"a":"b","cvv":,"pin":""`, `{"trackData":"`, `{"track2":{}`} {
		if l := bodyLeaks([]byte(clean)); len(l) > 0 {
			t.Errorf("%v found in %q", l, clean)
		}
	}
}
