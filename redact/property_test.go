package redact

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// gen builds random JSON documents with card numbers and sensitive fields
// planted in them, and remembers what it planted.
type gen struct {
	r       *rand.Rand
	pans    []string // the digits of every planted PAN
	written []string // every planted PAN as written (with its separators)
	markers []string // every planted sensitive value that is a string
	cvvs    int      // sensitive members planted
}

// Random text never contains 'Z' so that markers are unique, and random keys
// start with 'k' so that they are never sensitive or allow-listed.
const textAlphabet = "abcdefghijklmnopqrstuvwxyABCDEFGHIJKLMNOPQRSTUVWXY0123456789 -_/:.,;=+#()<>&'\"\\\t\né€"

func (g *gen) text(max int) string {
	rs := []rune(textAlphabet)
	n := g.r.Intn(max + 1)
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteRune(rs[g.r.Intn(len(rs))])
	}
	return b.String()
}

func (g *gen) key() string {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	n := 1 + g.r.Intn(8)
	b := []byte{'k'}
	for i := 0; i < n; i++ {
		b = append(b, letters[g.r.Intn(len(letters))])
	}
	return string(b)
}

// pan returns a random Luhn-valid PAN of 13 to 19 digits.
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
	return string(d)
}

// formatted writes digits plain, in groups of four, or in irregular groups,
// with spaces or dashes.
func (g *gen) formatted(digits string) string {
	if g.r.Intn(3) == 0 {
		return digits
	}
	sep := " "
	if g.r.Intn(2) == 0 {
		sep = "-"
	}
	var parts []string
	for rest := digits; rest != ""; {
		n := 4
		if g.r.Intn(3) == 0 {
			n = 1 + g.r.Intn(6)
		}
		n = min(n, len(rest))
		parts = append(parts, rest[:n])
		rest = rest[n:]
	}
	return strings.Join(parts, sep)
}

// boundary returns text that does not end (or, with start, begin) in a
// digit, so that a planted PAN is not glued to other digits.
func (g *gen) boundary(start bool) string {
	s := g.text(6)
	sep := []string{"", " ", "x", ":", "-", "/", "é"}[g.r.Intn(7)]
	if start {
		return sep + strings.TrimLeft(s, "0123456789")
	}
	return strings.TrimRight(s, "0123456789") + sep
}

func (g *gen) sensitiveKey() string {
	names := []string{"cvv", "cvv2", "cvc", "cvc2", "cid", "csc", "security_code", "cardSecurityCode",
		"card-verification-value", "track", "track1", "Track_2", "trackData", "pin", "PIN_BLOCK", "magStripe"}
	k := []byte(names[g.r.Intn(len(names))])
	for i := range k {
		if g.r.Intn(2) == 0 {
			k[i] = strings.ToUpper(string(k[i]))[0]
		}
	}
	if g.r.Intn(3) == 0 {
		i := g.r.Intn(len(k) + 1)
		k = append(k[:i], append([]byte{"_-"[g.r.Intn(2)]}, k[i:]...)...)
	}
	return string(k)
}

func (g *gen) sensitiveValue() any {
	marker := fmt.Sprintf("Z%03dZ%dZ", g.r.Intn(1000), len(g.markers))
	g.markers = append(g.markers, marker)
	switch g.r.Intn(4) {
	case 0:
		return marker
	case 1:
		return json.Number(strconv.Itoa(100 + g.r.Intn(9900)))
	case 2:
		return map[string]any{"value": marker, "n": []any{marker, 1}}
	default:
		return []any{marker}
	}
}

func (g *gen) plantedPAN() any {
	p := g.pan()
	g.pans = append(g.pans, p)
	if g.r.Intn(4) == 0 {
		g.written = append(g.written, p)
		return json.Number(p)
	}
	w := g.formatted(p)
	g.written = append(g.written, w)
	return g.boundary(false) + w + g.boundary(true)
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
			switch g.r.Intn(6) {
			case 0:
				obj = append(obj, member{g.sensitiveKey(), g.sensitiveValue()})
				g.cvvs++
			case 1:
				obj = append(obj, member{g.key(), g.plantedPAN()})
			default:
				obj = append(obj, member{g.key(), g.value(depth - 1)})
			}
		}
		return obj
	case 2, 3:
		var arr []any
		for i, n := 0, g.r.Intn(5); i < n; i++ {
			if g.r.Intn(5) == 0 {
				arr = append(arr, g.plantedPAN())
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

// TestBodyProperty plants random PANs and sensitive fields in random JSON
// and checks that none survives. REDACT_SEED reproduces a run.
func TestBodyProperty(t *testing.T) {
	seed := time.Now().UnixNano()
	if s := os.Getenv("REDACT_SEED"); s != "" {
		var err error
		seed, err = strconv.ParseInt(s, 10, 64)
		require.NoError(t, err)
	}
	t.Logf("seed %d (set REDACT_SEED to reproduce)", seed)
	r := rand.New(rand.NewSource(seed))

	iterations := 3000
	if testing.Short() {
		iterations = 300
	}
	var planted, plantedCVV int
	for i := 0; i < iterations; i++ {
		g := &gen{r: r}
		// The document is an object so that there is room for members.
		root := members{{g.key(), g.value(4)}, {g.sensitiveKey(), g.sensitiveValue()}, {g.key(), g.plantedPAN()}}
		g.cvvs++
		r.Shuffle(len(root), func(a, b int) { root[a], root[b] = root[b], root[a] })
		in, err := json.Marshal(root)
		require.NoError(t, err)
		if r.Intn(2) == 0 {
			in, err = json.MarshalIndent(json.RawMessage(in), "", "  ")
			require.NoError(t, err)
		}

		out := Body(in)
		fail := func(format string, args ...any) {
			t.Fatalf("seed %d, document %d: %s\ninput:  %s\noutput: %s", seed, i, fmt.Sprintf(format, args...), in, out)
		}
		if !json.Valid(out) {
			fail("output is not JSON")
		}
		for j, p := range g.pans {
			if strings.Contains(string(out), p) {
				fail("PAN %s survived", p)
			}
			if strings.Contains(string(out), g.written[j]) {
				fail("PAN %q survived as written", g.written[j])
			}
		}
		for _, m := range g.markers {
			if strings.Contains(string(out), m) {
				fail("sensitive value %s survived", m)
			}
		}
		if keys := sensitiveKeysIn(t, out); len(keys) > 0 {
			fail("sensitive keys survived: %v", keys)
		}
		if again := Body(in); string(again) != string(out) {
			fail("not deterministic")
		}
		planted += len(g.pans)
		plantedCVV += g.cvvs
	}
	t.Logf("%d documents, %d PANs and %d sensitive fields planted", iterations, planted, plantedCVV)
}
