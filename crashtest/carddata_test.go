package crashtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"

	pb "github.com/paystate/paystate/proto/paystate/v1"
	"github.com/paystate/paystate/providers/generic"
	"github.com/paystate/paystate/providers/inyo"
	"github.com/paystate/paystate/providers/magnius"
	"github.com/paystate/paystate/providers/ngenius"
	"github.com/paystate/paystate/providers/payengine"
	"github.com/paystate/paystate/simulator"
)

// The card-data test plants card data of its own making and looks for it
// with an oracle of its own: nothing here comes from package redact.

// luhnOK is the Luhn check, written for this test.
func luhnOK(digits string) bool {
	sum := 0
	for i := range len(digits) {
		d := int(digits[len(digits)-1-i] - '0')
		if i%2 == 1 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

// sepStyles are the ways the groups of a card number are separated.
var sepStyles = []struct{ name, sep string }{
	{"none", ""}, {"space", " "}, {"dash", "-"}, {"dot", "."}, {"slash", "/"}, {"underscore", "_"},
	{"two spaces", "  "}, {"tab", "\t"}, {"newline", "\n"}, {"spaced dash", " - "}, {"dots and spaces", ". ."},
	{"mixed", ""},
}

// idStyles are the styles a request id can carry (letters, digits and
// - _ . : / + = are accepted as they are).
var idStyles = []string{"none", "dash", "dot", "slash", "underscore"}

// Spellings of security codes, PINs and track data, as words, joined in a
// random style. Every family is injected in every run.
var (
	codeFamilies = [][]string{{"cvv"}, {"cvc"}, {"cvn"}, {"cvd"}, {"csc"}, {"cvv", "2"}, {"cvc", "2"}, {"cid"},
		{"security", "code"}, {"card", "code"}, {"card", "verification", "value"}, {"card", "security", "code"},
		{"card", "verification", "number"}}
	codePrefixes  = [][]string{nil, {"card"}, {"cc"}, {"payment"}}
	codeSuffixes  = [][]string{nil, {"number"}, {"code"}, {"value"}}
	pinFamilies   = [][]string{{"pin"}, {"pin", "block"}, {"card", "pin"}, {"encrypted", "pin", "block"}}
	trackFamilies = [][]string{{"track"}, {"track", "1"}, {"track", "2"}, {"track", "data"}, {"mag", "stripe"}}
	// panKeys are keys a card number may come under: known ones, the
	// reference keys redaction used to exempt, and free text.
	panKeys = []string{"card_number", "pan", "cardNumber", "note", "memo", "hostReferenceNumber", "externalPaymentId",
		"cardTransactionIdentifier", "host_reference_number", "customer_comment", "description"}
	// parsedFields are members each provider parses into an event:
	// identifiers, references, event names.
	parsedFields = map[string][]string{
		generic.Name:   {"type", "id", "data.object.merchant_reference", "data.object.id"},
		ngenius.Name:   {"order.reference", "order.id", "transaction.id"},
		payengine.Name: {"event_uid", "data.transaction_id", "data.order_number"},
		inyo.Name:      {"externalPaymentId", "paymentId"},
		magnius.Name:   {"merchant_reference", "id"},
	}
)

// planter puts card data at random places of bodies and remembers what it
// planted.
type planter struct {
	rng    *rand.Rand
	pans   map[string]bool // digits of every planted card number
	tails  map[string]bool // track data after a planted number
	pins   map[string]bool // planted PIN blocks (16 hex digits)
	codes  map[string]bool // security code, PIN and track keys as spelled
	counts map[string]int  // planted card numbers by placement and style, keys by family
	family int             // the next family every body gets, round robin
}

func newPlanter(rng *rand.Rand) *planter {
	return &planter{rng: rng, pans: map[string]bool{}, tails: map[string]bool{}, pins: map[string]bool{}, codes: map[string]bool{}, counts: map[string]int{}}
}

// pan returns a random Luhn-valid number of 13 to 19 digits.
func (p *planter) pan() string {
	for {
		n := 13 + p.rng.IntN(7)
		d := make([]byte, n)
		d[0] = byte('1' + p.rng.IntN(9))
		for i := 1; i < n; i++ {
			d[i] = byte('0' + p.rng.IntN(10))
		}
		if luhnOK(string(d)) {
			p.pans[string(d)] = true
			return string(d)
		}
	}
}

func (p *planter) digits(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + p.rng.IntN(10))
	}
	return string(b)
}

// formatted writes a new card number in groups separated in style, and
// returns the style.
func (p *planter) formatted(styles []string) (string, string) {
	digits := p.pan()
	style := styles[p.rng.IntN(len(styles))]
	sep := ""
	for _, s := range sepStyles {
		if s.name == style {
			sep = s.sep
		}
	}
	if style == "none" {
		return digits, style
	}
	var b strings.Builder
	for rest := digits; rest != ""; {
		n := min(4, len(rest))
		if p.rng.IntN(3) == 0 {
			n = min(1+p.rng.IntN(6), len(rest))
		}
		if b.Len() > 0 {
			if style == "mixed" {
				for range 1 + p.rng.IntN(3) {
					b.WriteByte(" \t\n./_-"[p.rng.IntN(7)])
				}
			} else {
				b.WriteString(sep)
			}
		}
		b.WriteString(rest[:n])
		rest = rest[n:]
	}
	return b.String(), style
}

func allStyles() []string {
	var out []string
	for _, s := range sepStyles {
		out = append(out, s.name)
	}
	return out
}

// spelled joins words in a random style: separator, case.
func (p *planter) spelled(words []string) string {
	sep := []string{"", "_", "-", " ", "."}[p.rng.IntN(5)]
	style := p.rng.IntN(4)
	out := make([]string, len(words))
	for i, w := range words {
		switch {
		case style == 1:
			w = strings.ToUpper(w)
		case style == 2 && i > 0, style == 3:
			w = strings.ToUpper(w[:1]) + w[1:]
		}
		out[i] = w
	}
	return strings.Join(out, sep)
}

// sensitive returns a key of the next family (round robin, so that every
// family is planted in every run) and a value for it.
func (p *planter) sensitive() (string, any) {
	families := len(codeFamilies) + len(pinFamilies) + len(trackFamilies)
	f := p.family % families
	p.family++
	var words, family []string
	var value any
	switch {
	case f < len(codeFamilies):
		words = codeFamilies[f]
		family = words
		if words[0] != "cid" {
			words = append(append(append([]string{}, codePrefixes[p.rng.IntN(len(codePrefixes))]...), words...), codeSuffixes[p.rng.IntN(len(codeSuffixes))]...)
		}
		value = fmt.Sprintf("%03d", p.rng.IntN(1000))
		if p.rng.IntN(3) == 0 {
			value = json.Number(fmt.Sprint(100 + p.rng.IntN(9900)))
		}
	case f < len(codeFamilies)+len(pinFamilies):
		words = pinFamilies[f-len(codeFamilies)]
		family = words
		pin := fmt.Sprintf("%016X", p.rng.Uint64())
		p.pins[pin] = true
		value = pin
	default:
		words = trackFamilies[f-len(codeFamilies)-len(pinFamilies)]
		family = words
		value = p.track()
	}
	k := p.spelled(words)
	p.codes[k] = true
	p.counts["key family "+strings.Join(family, " ")]++
	return k, value
}

// track returns track 1 or track 2 data for a new card number.
func (p *planter) track() string {
	pan, tail := p.pan(), p.digits(13+p.rng.IntN(11))
	p.tails[tail] = true
	if p.rng.IntN(2) == 0 {
		p.counts["track 2"]++
		return ";" + pan + "=" + tail + "?"
	}
	p.counts["track 1"]++
	return "%B" + pan + "^DOE/JANE^" + tail + "?"
}

// value returns a card number as a value: a string in any style, a JSON
// number, in free text, or track data in free text.
func (p *planter) value() any {
	switch p.rng.IntN(6) {
	case 0:
		p.counts["JSON number"]++
		return json.Number(p.pan())
	case 1:
		p.counts["free text: track"]++
		return "swiped " + p.track() + " ok"
	case 2, 3:
		w, style := p.formatted(allStyles())
		p.counts["free text: "+style]++
		return "card " + w + " exp 12/29"
	default:
		w, style := p.formatted(allStyles())
		p.counts["string: "+style]++
		return w
	}
}

// key returns a key no sensitive spelling hides in (no c, i, k, n, p, r,
// t or v).
func (p *planter) key() string {
	const letters = "abdefghjlmoqsuwxyz"
	b := []byte{'x'}
	for range 1 + p.rng.IntN(8) {
		b = append(b, letters[p.rng.IntN(len(letters))])
	}
	return string(b)
}

// plant adds card data at 2 to 6 random places of m: values under known
// and unknown keys, keys, nested objects and arrays, a parsed field of
// provider, and one member of the next sensitive family.
func (p *planter) plant(provider string, m map[string]any) {
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
	obj := func() map[string]any { return objects[p.rng.IntN(len(objects))] }
	k, v := p.sensitive()
	obj()[k] = v
	for range 1 + p.rng.IntN(5) {
		switch p.rng.IntN(7) {
		case 0, 1:
			obj()[panKeys[p.rng.IntN(len(panKeys))]] = p.value()
		case 2:
			obj()[p.key()] = p.value()
		case 3:
			w, style := p.formatted(allStyles())
			p.counts["object key: "+style]++
			obj()[w] = "x"
		case 4:
			p.counts["nested"]++
			obj()[p.key()] = []any{map[string]any{p.key(): p.value(), "list": []any{1, p.value()}}}
		case 5:
			k, v := p.sensitive()
			obj()["card"] = map[string]any{"number": p.value(), k: v, "expiry": "12/29"}
		case 6:
			fields := parsedFields[provider]
			field := fields[p.rng.IntN(len(fields))]
			w, style := p.formatted(allStyles())
			p.counts["parsed field: "+style]++
			prefix := strings.Split(field, ".")
			set(m, field, prefix[len(prefix)-1]+"-"+w)
			if field == "type" {
				set(m, field, "payment.x"+w)
			}
		}
	}
}

// requestID returns an X-Request-Id holding a card number in a style
// request ids may carry.
func (p *planter) requestID() string {
	w, style := p.formatted(idStyles)
	p.counts["request id: "+style]++
	return "req-" + w
}

// chains returns the digits of every run of digit groups in data joined by
// separators as any layer may write them: whitespace, . / _ -, and
// backslash escapes at any depth (\n, \\t, \/).
func chains(data []byte) []string {
	var out []string
	var cur []byte
	flush := func() {
		if len(cur) >= 13 {
			out = append(out, string(cur))
		}
		cur = cur[:0]
	}
	for i := 0; i < len(data); i++ {
		switch c := data[i]; {
		case c >= '0' && c <= '9':
			cur = append(cur, c)
		case len(cur) == 0:
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '.' || c == '/' || c == '_' || c == '-' || c == '\\':
		case (c == 'n' || c == 't' || c == 'r') && data[i-1] == '\\':
		default:
			flush()
		}
	}
	flush()
	return out
}

// cardLeaks reports card data in any bytes (database files, logs, API
// answers as sent): a planted card number in any form, the track data or
// PIN block planted, or a value under a planted sensitive key. It reads
// data once, whatever was planted: the files are tens of megabytes.
func (p *planter) cardLeaks(data []byte) []string {
	return append(p.literalLeaks(data), p.keyLeaks(data)...)
}

// literalLeaks reports a planted card number, track data or PIN block in
// data: the checks that read nothing into the bytes around them, and so
// hold for bytes that are not text, such as the database's compressed
// bodies.
func (p *planter) literalLeaks(data []byte) []string {
	var out []string
	for _, d := range chains(data) {
		for i := 0; i+13 <= len(d); i++ {
			for n := 13; n <= 24 && i+n <= len(d); n++ {
				switch w := d[i : i+n]; {
				case n <= 19 && p.pans[w]:
					out = append(out, "card number "+w)
				case p.tails[w]:
					out = append(out, "track data "+w)
				}
			}
		}
	}
	for i := 0; i+16 <= len(data); i++ {
		if p.pins[string(data[i:i+16])] {
			out = append(out, "PIN block "+string(data[i:i+16]))
		}
	}
	return out
}

// keyLeaks reports a value under a planted sensitive key in data, read
// as text.
func (p *planter) keyLeaks(data []byte) []string {
	var out []string
	// Keys: every quoted run of key characters that is a planted key.
	for i := 0; i < len(data); i++ {
		if data[i] != '"' && data[i] != '\'' {
			continue
		}
		j := i + 1
		for j < len(data) && j-i <= 64 && isKeyChar(data[j]) {
			j++
		}
		if j > i+1 && p.codes[string(data[i+1:j])] && valueAfterKey(data[i+1:], string(data[i+1:j])) {
			out = append(out, "a value under "+string(data[i+1:j]))
		}
	}
	return out
}

func isKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == ' ' || c == '.'
}

// valueAfterKey reports whether data, which starts with key right after
// its opening quote (at any escaping depth), holds a value for it: redaction removes such members from JSON
// and blanks their values elsewhere ("", {}, [], or nothing at all where a
// truncated body ends, whatever bytes follow it in a file).
func valueAfterKey(data []byte, key string) bool {
	rest := data[len(key):]
	n := 0
	for n < len(rest) && bytes.IndexByte([]byte("\\\"': \t"), rest[n]) >= 0 && !bytes.ContainsRune(rest[:n], ':') {
		n++
	}
	if !bytes.ContainsRune(rest[:n], ':') {
		return false // not a key: a value that happens to read like one
	}
	rest = bytes.TrimLeft(rest[n:], " \t")
	switch {
	case quotedValue(rest):
		return true
	case len(rest) > 1 && (rest[0] == '{' && rest[1] != '}' || rest[0] == '[' && rest[1] != ']'):
		return true
	case len(rest) > 0 && (rest[0] >= '0' && rest[0] <= '9' || rest[0] == '-'):
		return true // a bare number
	}
	return false
}

// quotedValue reports whether b starts with a quoted string (the quote
// escaped at any depth) that is not empty: printable text up to a closing
// quote. A lone quote followed by the bytes of a file is a value cut off
// where a truncated body ended.
func quotedValue(b []byte) bool {
	open := 0
	for open < len(b) && b[open] == '\\' {
		open++
	}
	if open == len(b) || b[open] != '"' && b[open] != '\'' {
		return false
	}
	q := b[open]
	b = b[open+1:]
	for i := 0; i < len(b) && i < 200; i++ {
		switch c := b[i]; {
		case c == q || c == '\\' && i+1 < len(b) && b[i+1] == q:
			return i > 0
		case c < 0x20 || c > 0x7e:
			return false
		}
	}
	return false
}

// TestCardData sends fixture events of all five providers, built from
// their documented samples, with card data of the test's own making
// planted at random places: card numbers (13 to 19 digits, Luhn-valid)
// in twelve separator styles as strings, JSON numbers, free text, object
// keys, nested objects and arrays, under known and unknown keys, in the
// fields each provider parses (event names, ids, references) and in
// X-Request-Id; track 1 and 2 data; and a member of every security code,
// PIN and track spelling family in random case and separator styles. Some
// are duplicated, some truncated (400, recorded), some forged (401). Then
// none of it may be found in the raw bytes of the database files
// (paystate.db, -wal, -shm, live and after a clean stop; bodies are kept
// compressed there, so it is ListJournal, below, that reads every body in
// full), the server's logs, the webhook answers and their headers, or any
// API answer (every journal entry by GetEvent, ListJournal and Watch,
// every aggregate by ListAggregates and ListOrders and its history, gRPC
// and REST calls made with a request id holding a card number, and their
// headers); each acknowledged entry's body_sha256 is the SHA-256 of the
// body as sent; and every file in the data dir is private (0600, directories 0700).
func TestCardData(t *testing.T) {
	total, senders := 500, 8
	if *long {
		total = 10_000
	}
	seed := seed(t)
	rng := rand.New(rand.NewPCG(seed, 0xca7d))
	tag := fmt.Sprintf("k%x", seed%0xffffff)
	p := newPlanter(rng)

	type item struct {
		provider  string
		body      []byte
		requestID string
		forged    bool
	}
	var items []item
	for _, sc := range scenarios(t, tag, total) {
		for _, w := range sc.hooks {
			if len(items) == total {
				break
			}
			m := decode(t, w.body)
			p.plant(w.provider, m)
			body := encode(t, m)
			it := item{provider: w.provider, body: body}
			if rng.IntN(4) == 0 {
				it.requestID = p.requestID()
			}
			switch r := rng.IntN(100); {
			case r < 4: // truncated: malformed, recorded with its redacted body
				it.body = body[:len(body)/2+rng.IntN(len(body)/2)]
			case r < 8:
				it.forged = true
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
				header := http.Header{"X-Signature": {"AAAA"}, "Authorization": {"Bearer forged"},
					dev.NGeniusHeaderName: {"forged"}, "X-Pf-Signature": {"t=1,s=00"}}
				if !it.forged {
					var err error
					if header, err = simulator.Sign(it.provider, it.body, dev, "", time.Now()); err != nil {
						t.Error(err)
						continue
					}
				}
				if it.requestID != "" {
					header.Set("X-Request-Id", it.requestID)
				}
				status, raw, echoed, err := postRaw(base, it.provider, it.body, header)
				var rep webhookReply
				_ = json.Unmarshal(raw, &rep)
				mu.Lock()
				if err != nil {
					codes[-1]++
				}
				codes[status]++
				replies = append(replies, raw, []byte(echoed))
				for _, r := range rep.Results {
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
		for _, l := range p.cardLeaks(data) {
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
	// API calls, gRPC and REST, whose request id holds a card number: the
	// id comes back in a header and goes to the log.
	for range 20 {
		var md metadata.MD
		if _, err := audit.GetChainHead(metadata.AppendToOutgoingContext(ctx, "x-request-id", p.requestID()), &pb.GetChainHeadRequest{}, grpc.Header(&md)); err != nil {
			t.Fatal(err)
		}
		check("gRPC x-request-id answered", []byte(strings.Join(md.Get("x-request-id"), " ")))
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/v1/providers/ngenius/orders/none", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+dev.APIToken)
		req.Header.Set("X-Request-Id", p.requestID())
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		check("REST answer", append(raw, resp.Header.Get("X-Request-Id")...))
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
					t.Errorf("history of %v: %v", k, err)
					break
				}
				raw, _ := protojson.Marshal(page)
				check(fmt.Sprintf("history of %v", k), raw)
				if tok = page.GetNextPageToken(); tok == "" {
					break
				}
			}
		}
	}

	// The listings and the watch stream, page by page.
	orders := pb.NewOrderServiceClient(conn)
	listed := 0
	for tok := ""; ; {
		page, err := audit.ListJournal(ctx, &pb.ListJournalRequest{PageSize: 1000, PageToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := protojson.Marshal(page)
		check("ListJournal", raw)
		listed += len(page.GetEntries())
		if tok = page.GetNextPageToken(); tok == "" {
			break
		}
	}
	for tok := ""; ; {
		page, err := aggs.ListAggregates(ctx, &pb.ListAggregatesRequest{PageSize: 1000, PageToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := protojson.Marshal(page)
		check("ListAggregates", raw)
		if tok = page.GetNextPageToken(); tok == "" {
			break
		}
	}
	for tok := ""; ; {
		page, err := orders.ListOrders(ctx, &pb.ListOrdersRequest{PageSize: 1000, PageToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := protojson.Marshal(page)
		check("ListOrders", raw)
		if tok = page.GetNextPageToken(); tok == "" {
			break
		}
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	stream, err := pb.NewWatchServiceClient(conn).Watch(watchCtx, &pb.WatchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for watched := int64(0); watched < head.GetSequence(); {
		msg, err := stream.Recv()
		if err != nil {
			t.Fatalf("watch: %v after %d entries", err, watched)
		}
		raw, _ := protojson.Marshal(msg)
		check("Watch", raw)
		if msg.GetEntry() != nil {
			watched = msg.GetEntry().GetSequence()
		}
	}
	stopWatch()
	if listed != int(head.GetSequence()) {
		t.Fatalf("ListJournal gave %d entries, the head is at %d", listed, head.GetSequence())
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
			// Bodies and payloads are compressed in the file: their
			// bytes are not text to find keys in (a blanked value's
			// quotes can be followed by compressed bytes), so the file
			// is searched for the planted values themselves, and the
			// stored entries, decoded, in full below.
			for _, l := range p.literalLeaks(data) {
				if len(leaks) < 20 {
					leaks = append(leaks, when+" paystate.db"+suffix+": "+l)
				}
			}
		}
		return size
	}
	live := scanFiles("live")
	private := privateFiles(t, srv.dataDir)
	srv.stop()
	stopped := scanFiles("stopped")
	// Every stored entry as the store decodes it, field by field.
	st := srv.openStore()
	for after := int64(0); ; {
		es, err := st.Journal(ctx, nil, after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			check(fmt.Sprintf("stored entry %d body", e.Seq), e.RedactedBody)
			check(fmt.Sprintf("stored entry %d payload", e.Seq), e.Payload)
			e.RedactedBody, e.Payload = nil, nil
			check(fmt.Sprintf("stored entry %d", e.Seq), fmt.Appendf(nil, "%q", fmt.Sprintf("%+v", e)))
		}
		if len(es) < 1000 {
			break
		}
		after = es[len(es)-1].Seq
	}
	logs := srv.log.Bytes()
	check("server log", logs)

	if len(leaks) > 0 {
		t.Fatalf("card data found (seed %d):\n%s", seed, strings.Join(leaks, "\n"))
	}
	if proved == 0 || proved < len(acked) {
		t.Fatalf("%d of %d acknowledged entries checked against the body sent", proved, len(acked))
	}
	var planted []string
	for k, n := range p.counts {
		planted = append(planted, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(planted)
	t.Logf("card data: seed %d, %d webhooks (answers %v) in %s; %d card numbers planted (%s); %d journal entries (%d with a body, %d body_sha256 equal to the SHA-256 of the body sent) and %d aggregate histories read over the API; %d bytes of database files live, %d stopped, %d bytes of logs, %d private files in the data dir: no card number, track data, PIN block or sensitive value found",
		seed, len(items), codes, elapsed.Round(time.Millisecond), len(p.pans), strings.Join(planted, ", "), head.GetSequence(), bodies, proved, len(seen), live, stopped, len(logs), private)
}

// postRaw posts one webhook and returns the status, the body and the
// X-Request-Id the server echoed.
func postRaw(base, provider string, body []byte, header http.Header) (int, []byte, string, error) {
	req, err := http.NewRequest(http.MethodPost, base+"/webhooks/"+provider, bytes.NewReader(body))
	if err != nil {
		return 0, nil, "", err
	}
	req.Header = header.Clone()
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, resp.Header.Get("X-Request-Id"), err
}

// privateFiles checks that every file in dir is readable by its owner only
// and every directory is 0700, and returns how many files there are.
func privateFiles(t *testing.T, dir string) int {
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if path == dir {
			return nil // the test made it; paystate makes its own 0700
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		} else {
			n++
		}
		if info.Mode().Perm() != want {
			t.Errorf("%s is mode %v, want %v", path, info.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// The oracle finds what it looks for, at any escaping depth, and nothing
// in what redaction leaves.
func TestLeakDetectors(t *testing.T) {
	p := newPlanter(rand.New(rand.NewPCG(1, 2)))
	p.pans["4111111111111111"], p.pans["4222222222222"] = true, true
	p.codes["Cvc_Code"], p.codes["card pin"] = true, true
	p.tails["291210100000123"] = true
	p.pins["0123456789ABCDEF"] = true
	for _, leak := range []string{
		`{"n":"4111 1111 1111 1111"}`, `4111.1111.1111.1111`, `{"n":4222222222222}`, `x4111\t1111\n1111_1111y`,
		`{"b":"{\"n\":\"4111\\t1111\\n1111 / 1111\"}"}`, `41 11 11 11 11 11 11 11`, `{"Cvc_Code":"123"}`,
		`{"b":"{\"Cvc_Code\":123}"}`, `{"card pin":{"v":1}}`, `"Cvc_Code": "1",`, `=291210100000123?`, `{"pin":"0123456789ABCDEF"}`,
	} {
		if len(p.cardLeaks([]byte(leak))) == 0 {
			t.Errorf("no leak found in %s", leak)
		}
	}
	for _, clean := range []string{
		`{"n":"411111******1111"}`, `{"n":"4111 11** **** 1111"}`, `{"Cvc_Code":"","card pin":{}}`, `{"a":"b","Cvc_Code":`,
		`{"cvcResult":"M"}`, `{"note":"Cvc_Code is dropped"}`, `4111111111111112`, `{"t":";411111******1111=***************?"}`,
		`{"id":"411111******1111~abcdefghijklmnop"}`, `{"b":"{\"Cvc_Code\":\"\"}"}`,
	} {
		if l := p.cardLeaks([]byte(clean)); len(l) > 0 {
			t.Errorf("%v found in %q", l, clean)
		}
	}
}
