package redact

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// gen builds random JSON documents with card numbers, track data and
// sensitive fields planted in them, and remembers what it planted. It
// knows nothing of the package: its PANs, separators, key spellings and
// placements are its own (see independent_test.go for its oracle).
type gen struct {
	r       *rand.Rand
	pans    map[string]bool // the digits of every planted PAN
	tails   []string        // planted track data after the PAN (expiry, service code, discretionary data)
	markers []string        // planted values under sensitive keys
	dropped []string        // planted sensitive keys as spelled
	kept    []string        // planted values under look-alike keys that must survive
	counts  map[string]int  // planted PANs by placement and separator style
}

func newGen(r *rand.Rand) *gen {
	return &gen{r: r, pans: map[string]bool{}, counts: map[string]int{}}
}

// Random text never contains 'Z' or 'Y' so that markers are unique.
const textAlphabet = "abcdefghijklmnopqrstuvwxABCDEFGHIJKLMNOPQRSTUVWX0123456789 -_/:.,;=+#()<>&'\"\\\t\né€\u00a0\u2013\uff11"

func (g *gen) text(max int) string {
	rs := []rune(textAlphabet)
	n := g.r.Intn(max + 1)
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteRune(rs[g.r.Intn(len(rs))])
	}
	return b.String()
}

// key returns a random key that no sensitive spelling can be found in:
// its letters exclude c, i, k, n, p, r, t and v.
func (g *gen) key() string {
	const letters = "abdefghjlmoqsuwxyz"
	n := 1 + g.r.Intn(8)
	b := []byte{'x'}
	for i := 0; i < n; i++ {
		b = append(b, letters[g.r.Intn(len(letters))])
	}
	return string(b)
}

// pan returns a random Luhn-valid number of 13 to 19 digits.
func (g *gen) pan() string {
	n := 13 + g.r.Intn(7)
	d := make([]byte, n)
	d[0] = byte('1' + g.r.Intn(9))
	for i := 1; i < n-1; i++ {
		d[i] = byte('0' + g.r.Intn(10))
	}
	for c := byte('0'); c <= '9'; c++ {
		d[n-1] = c
		if luhnString(string(d)) {
			break
		}
	}
	g.pans[string(d)] = true
	return string(d)
}

// sepStyles are the ways the groups of a card number are separated.
// "fullwidth" writes the digits fullwidth, separated by ideographic
// spaces, as an East Asian input method types them.
var sepStyles = []struct{ name, sep string }{
	{"none", ""}, {"space", " "}, {"dash", "-"}, {"dot", "."}, {"slash", "/"}, {"underscore", "_"},
	{"two spaces", "  "}, {"tab", "\t"}, {"newline", "\n"}, {"spaced dash", " - "}, {"crlf", "\r\n"},
	{"no-break space", "\u00a0"}, {"figure space", "\u2007"}, {"narrow no-break space", "\u202f"},
	{"ideographic space", "\u3000"}, {"zero-width space", "\u200b"}, {"zero-width joiner", "\u200d"},
	{"word joiner", "\u2060"}, {"byte order mark", "\ufeff"}, {"soft hyphen", "\u00ad"},
	{"line separator", "\u2028"}, {"en dash", "\u2013"}, {"em dash", "\u2014"}, {"spaced en dash", " \u2013 "},
	{"hyphen", "\u2010"}, {"minus sign", "\u2212"}, {"fullwidth hyphen-minus", "\uff0d"},
	{"fullwidth", "\u3000"}, {"mixed", ""},
}

// mixedSeps are what the "mixed" style draws its runs of separators from.
var mixedSeps = []string{" ", "\t", "\n", ".", "/", "_", "-", "\u00a0", "\u202f", "\u200b", "\u2013", "\u2014", "\u3000"}

// formatted writes digits in groups (of four, or irregular) with one of
// sepStyles, and returns the style's name.
func (g *gen) formatted(digits string) (string, string) {
	st := sepStyles[g.r.Intn(len(sepStyles))]
	if st.name == "none" {
		return digits, st.name
	}
	if st.name == "fullwidth" {
		digits = strings.Map(func(r rune) rune { return r - '0' + '\uFF10' }, digits)
	}
	var parts []string
	for rest := []rune(digits); len(rest) > 0; {
		n := 4
		if g.r.Intn(3) == 0 {
			n = 1 + g.r.Intn(6)
		}
		n = min(n, len(rest))
		parts = append(parts, string(rest[:n]))
		rest = rest[n:]
	}
	if st.name != "mixed" {
		return strings.Join(parts, st.sep), st.name
	}
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			for range 1 + g.r.Intn(3) {
				b.WriteString(mixedSeps[g.r.Intn(len(mixedSeps))])
			}
		}
		b.WriteString(p)
	}
	return b.String(), st.name
}

// boundary returns text that does not end (or, with start, begin) in a
// digit or a separator, so that a planted PAN is not joined to other
// digits.
func (g *gen) boundary(start bool) string {
	s := g.text(6)
	sep := []string{"", " x", "x", ":", "(", "é"}[g.r.Intn(6)]
	cut := "0123456789 \t\n\r./_-=^\u00a0\u2013\uff11"
	if start {
		return sep + strings.TrimLeft(s, cut)
	}
	return strings.TrimRight(s, cut) + sep + " "
}

// placedPAN plants a PAN in one of the ways a value carries one.
func (g *gen) placedPAN() any {
	p := g.pan()
	switch g.r.Intn(5) {
	case 0:
		g.counts["JSON number"]++
		return json.Number(p)
	case 1: // track data in free text
		tail := g.digits(10 + g.r.Intn(20))
		g.tails = append(g.tails, tail)
		if g.r.Intn(2) == 0 {
			g.counts["track 2"]++
			return g.boundary(false) + ";" + p + "=" + tail + "?" + g.boundary(true)
		}
		g.counts["track 1"]++
		return g.boundary(false) + "%B" + p + "^DOE/JANE^" + tail + "?" + g.boundary(true)
	case 2:
		w, style := g.formatted(p)
		g.counts["string: "+style]++
		return w
	default:
		w, style := g.formatted(p)
		g.counts["free text: "+style]++
		return g.boundary(false) + w + g.boundary(true)
	}
}

func (g *gen) digits(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + g.r.Intn(10))
	}
	return string(b)
}

// Spellings of sensitive authentication data, as words; spelled() joins
// them in a random style.
var (
	codeWords = [][]string{{"cvv"}, {"cvc"}, {"cvn"}, {"cvd"}, {"csc"}, {"cvv", "2"}, {"cvc", "2"}, {"cid"},
		{"security", "code"}, {"card", "code"}, {"card", "verification", "value"}, {"card", "security", "code"},
		{"card", "verification", "number"}}
	codePrefixes = [][]string{nil, nil, {"card"}, {"cc"}, {"payment"}}
	codeSuffixes = [][]string{nil, nil, {"number"}, {"code"}, {"value"}, {"digits"}}
	otherWords   = [][]string{{"track"}, {"track", "1"}, {"track", "2"}, {"track", "data"}, {"track", "2", "data"},
		{"mag", "stripe"}, {"magnetic", "stripe"}, {"pin"}, {"pin", "block"}, {"card", "pin"}, {"encrypted", "pin", "block"}}
	// lookAlikes hold outcomes and other fields that must be kept.
	lookAlikes = []string{"cvvResult", "cvc_check", "cvvResponse", "CVV2_MATCH", "cvcResult", "cardHolderVerificationCode",
		"addressVerificationCode", "trackingNumber", "trackId", "pinCode", "pin_code", "spin", "shipping",
		"cardholderName", "securityCodeResult", "avsResult", "pinVerified", "cvv_present"}
)

func (g *gen) spelled(words []string) string {
	sep := []string{"", "_", "-", " ", "."}[g.r.Intn(5)]
	style := g.r.Intn(4)
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

func (g *gen) sensitiveKey() string {
	var words []string
	if g.r.Intn(3) > 0 {
		p := codePrefixes[g.r.Intn(len(codePrefixes))]
		words = append(append(append(words, p...), codeWords[g.r.Intn(len(codeWords))]...), codeSuffixes[g.r.Intn(len(codeSuffixes))]...)
		if words[0] == "cid" || len(words) > 1 && words[1] == "cid" {
			words = []string{"cid"} // cid is a key of its own only
		}
	} else {
		words = otherWords[g.r.Intn(len(otherWords))]
	}
	k := g.spelled(words)
	g.dropped = append(g.dropped, k)
	return k
}

func (g *gen) sensitiveValue() any {
	marker := fmt.Sprintf("Z%03dZ%dZ", g.r.Intn(1000), len(g.markers))
	g.markers = append(g.markers, marker)
	switch g.r.Intn(4) {
	case 0:
		return marker
	case 1:
		return map[string]any{"value": marker, "n": []any{marker, 1}}
	case 2:
		return []any{marker}
	default:
		return marker[:2] + " " + marker[2:]
	}
}

func (g *gen) lookAlike() member {
	v := fmt.Sprintf("Y%dY", len(g.kept))
	g.kept = append(g.kept, v)
	return member{lookAlikes[g.r.Intn(len(lookAlikes))], v}
}

// value returns a random JSON value; objects are ordered member lists so
// that the document is written in a known order.
func (g *gen) value(depth int) any {
	choice := g.r.Intn(10)
	if depth <= 0 && choice < 4 {
		choice = 4 + g.r.Intn(6)
	}
	switch choice {
	case 0, 1:
		var obj members
		for i, n := 0, g.r.Intn(6); i < n; i++ {
			switch g.r.Intn(8) {
			case 0:
				obj = append(obj, member{g.sensitiveKey(), g.sensitiveValue()})
			case 1:
				obj = append(obj, member{g.key(), g.placedPAN()})
			case 2:
				obj = append(obj, g.lookAlike())
			case 3:
				w, style := g.formatted(g.pan())
				g.counts["object key: "+style]++
				obj = append(obj, member{w, g.value(depth - 1)})
			default:
				obj = append(obj, member{g.key(), g.value(depth - 1)})
			}
		}
		return obj
	case 2, 3:
		var arr []any
		for i, n := 0, g.r.Intn(5); i < n; i++ {
			if g.r.Intn(4) == 0 {
				arr = append(arr, g.placedPAN())
			} else {
				arr = append(arr, g.value(depth-1))
			}
		}
		if arr == nil {
			arr = []any{}
		}
		return arr
	case 4, 5:
		return g.text(20)
	case 6:
		return json.Number(strconv.FormatInt(g.r.Int63n(1_000_000_000_000)-500, 10))
	case 7:
		return json.Number(strconv.FormatFloat(g.r.NormFloat64()*1000, 'g', -1, 64))
	case 8:
		return g.r.Intn(2) == 0
	default:
		return nil
	}
}

type member struct {
	k string
	v any
}

type members []member

func (m members) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteByte('{')
	for i, e := range m {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(e.k)
		v, err := json.Marshal(e.v)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}

func propertySeed(t *testing.T) int64 {
	seed := time.Now().UnixNano()
	if s := os.Getenv("REDACT_SEED"); s != "" {
		var err error
		seed, err = strconv.ParseInt(s, 10, 64)
		require.NoError(t, err)
	}
	t.Logf("seed %d (set REDACT_SEED to reproduce)", seed)
	return seed
}

// TestBodyProperty plants random PANs (every separator style, as strings,
// numbers, keys, in free text and track data), sensitive members under
// random spellings and look-alike members in random JSON, sometimes
// truncated so that the body is not JSON, and checks that no PAN, track
// data or sensitive value survives, that no sensitive key is left, and
// that every look-alike value is kept. REDACT_SEED reproduces a run.
func TestBodyProperty(t *testing.T) {
	seed := propertySeed(t)
	r := rand.New(rand.NewSource(seed))

	iterations := 3000
	if testing.Short() {
		iterations = 300
	}
	total := map[string]int{}
	var planted, sensitive, truncated int
	for i := 0; i < iterations; i++ {
		g := newGen(r)
		// The document is an object so that there is room for members.
		root := members{{g.key(), g.value(4)}, {g.sensitiveKey(), g.sensitiveValue()}, {g.key(), g.placedPAN()}, g.lookAlike()}
		r.Shuffle(len(root), func(a, b int) { root[a], root[b] = root[b], root[a] })
		in, err := json.Marshal(root)
		require.NoError(t, err)
		if r.Intn(2) == 0 {
			in, err = json.MarshalIndent(json.RawMessage(in), "", "  ")
			require.NoError(t, err)
		}
		raw := r.Intn(5) == 0
		if raw { // cut after the last planted member: not JSON any more
			in = append(in[:len(in)-1:len(in)-1], []byte(`,"x":"`)...)
			truncated++
		}

		out := Body(in)
		fail := func(format string, args ...any) {
			t.Fatalf("seed %d, document %d: %s\ninput:  %q\noutput: %q", seed, i, fmt.Sprintf(format, args...), in, out)
		}
		if json.Valid(out) == raw {
			fail("output JSON: %v, input JSON: %v", json.Valid(out), !raw)
		}
		texts := []string{string(out)}
		if !raw {
			texts = jsonTexts(t, out)
		}
		for _, s := range texts {
			if p := holdsPAN(s, raw, g.pans); p != "" {
				fail("PAN %s survived", p)
			}
		}
		for _, tail := range g.tails {
			if strings.Contains(string(out), tail) {
				fail("track data %s survived", tail)
			}
		}
		for _, m := range g.markers {
			if strings.Contains(string(out), m) || strings.Contains(string(out), m[:2]+" "+m[2:]) {
				fail("sensitive value %s survived", m)
			}
		}
		for _, v := range g.kept {
			if !strings.Contains(string(out), `"`+v+`"`) {
				fail("look-alike value %s was removed", v)
			}
		}
		if !raw {
			keys := jsonKeys(t, out)
			for _, k := range g.dropped {
				if keys[k] {
					fail("sensitive key %q survived", k)
				}
			}
			if again := Body(out); string(again) != string(out) {
				fail("not idempotent")
			}
		}
		if again := Body(in); string(again) != string(out) {
			fail("not deterministic")
		}
		for k, n := range g.counts {
			total[k] += n
			planted += n
		}
		sensitive += len(g.dropped)
	}
	var lines []string
	for k, n := range total {
		lines = append(lines, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(lines)
	t.Logf("%d documents (%d not JSON): %d PANs planted, all masked (%s); %d sensitive members planted, all removed",
		iterations, truncated, planted, strings.Join(lines, ", "), sensitive)
}

// TestTextProperty: Text leaves no planted PAN, no track data and no
// candidate at all in random text, never changes its length, and is
// idempotent; IDKey.ID keeps identifiers apart.
func TestTextProperty(t *testing.T) {
	seed := propertySeed(t)
	r := rand.New(rand.NewSource(seed))
	iterations := 20000
	if testing.Short() {
		iterations = 2000
	}
	ids := NewIDKey([]byte("a test key of thirty-two bytes.."))
	byID := map[string]string{}
	planted := 0
	for i := 0; i < iterations; i++ {
		g := newGen(r)
		var b strings.Builder
		for range 1 + r.Intn(3) {
			b.WriteString(g.text(8))
			switch v := g.placedPAN().(type) {
			case string:
				b.WriteString(" " + v + " ")
			case json.Number:
				b.WriteString(" " + string(v) + " ")
			}
		}
		in := b.String()
		out := Text(in)
		fail := func(what string) {
			t.Fatalf("seed %d, text %d: %s\ninput:  %q\noutput: %q", seed, i, what, in, out)
		}
		if p := holdsPAN(out, false, g.pans); p != "" {
			fail("PAN " + p + " survived")
		}
		if c := findCandidates(out); len(c) > 0 {
			fail("candidate " + c[0] + " left")
		}
		for _, tail := range g.tails {
			if strings.Contains(out, tail) {
				fail("track data survived")
			}
		}
		if len(out) != len(in) || Text(out) != out {
			fail("length changed or not idempotent")
		}
		id := ids.ID(in)
		if c := findCandidates(id); len(c) > 0 || ids.ID(id) != id || ids.ID(in) != id {
			fail("identifier " + id + " holds a candidate, is not stable or not idempotent")
		}
		if prev, ok := byID[id]; ok && prev != in {
			fail("identifier " + id + " also stands for " + prev)
		}
		byID[id] = in
		planted += len(g.pans)
	}
	t.Logf("%d texts: %d PANs planted, all masked; %d identifiers, all distinct", iterations, planted, len(byID))
}
