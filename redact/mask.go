package redact

import "bytes"

// Text returns s with every PAN candidate masked and the rest of any track
// data that follows one blanked (see the package documentation). It is the
// masking applied to everything paystate stores, serves or logs besides
// bodies: parsed event fields, request ids, log messages and attributes.
// s itself is returned when it holds no candidate.
func Text(s string) string {
	if !hasDigitRun(s) {
		return s
	}
	b := []byte(s)
	if !maskInPlace(b, false) {
		return s
	}
	return string(b)
}

// maskBytes returns a copy of b with PAN candidates masked; raw says that
// b is a body as received, whose JSON escapes (\n, \t, ...) count as
// separators.
func maskBytes(b []byte, raw bool) []byte {
	out := bytes.Clone(b)
	if out == nil {
		out = []byte{}
	}
	maskInPlace(out, raw)
	return out
}

// maxPartialPasses bounds the passes that keep the first six and last four
// digits. A pass can leave kept digits that, with neighbouring groups, form
// a new candidate ("555555******4444 4111 1111 1111" when "4444 4111 1111
// 1111" passes the Luhn check); the next pass masks those. Input crafted to
// cascade further has its remaining candidates masked entirely in one last
// pass, which cannot create new candidates, so the work stays linear.
const maxPartialPasses = 4

// maskInPlace masks every candidate in b and reports whether it changed
// anything. Afterwards b holds no candidate.
func maskInPlace(b []byte, raw bool) bool {
	changed := false
	for pass := 0; ; pass++ {
		whole := pass == maxPartialPasses
		marks := candidates(b, whole, raw)
		if marks == nil {
			return changed
		}
		for p, m := range marks {
			if m {
				b[p] = '*'
			}
		}
		changed = true
		if whole {
			return true
		}
	}
}

// isSep reports whether c may stand between the digit groups of a card
// number as people and systems write it.
func isSep(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '\f', '\v', '.', '/', '_', '-':
		return true
	}
	return false
}

// sepLen returns the length of the separator at b[i], or 0. In a raw body
// a JSON escape of a separator (\n, \t, \r, \f, \/) counts as one.
func sepLen(b []byte, i int, raw bool) int {
	if isSep(b[i]) {
		return 1
	}
	if raw && b[i] == '\\' && i+1 < len(b) {
		switch b[i+1] {
		case 'n', 't', 'r', 'f', '/':
			return 2
		}
	}
	return 0
}

// hasDigitRun is a fast pre-check: is there any run of 13 digits, counting
// separators as part of the run?
func hasDigitRun(s string) bool {
	n := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			n++
			if n >= minPAN {
				return true
			}
		case n > 0 && isSep(c):
		default:
			n = 0
		}
	}
	return false
}

// group is a maximal run of ASCII digits, b[start:end].
type group struct{ start, end int }

const (
	minPAN = 13
	maxPAN = 19
	keep   = 6 // leading digits kept
	keepR  = 4 // trailing digits kept
)

// candidates marks the bytes to mask in b: the middle digits of every PAN
// candidate (see the package documentation), or all of its digits when
// whole is set, and the track data that follows a candidate. It returns nil
// when b holds no candidate.
func candidates(b []byte, whole, raw bool) []bool {
	var marks []bool
	var chain []group // groups joined by runs of separators
	flush := func() {
		marks = chainCandidates(b, chain, whole, raw, marks)
		chain = chain[:0]
	}
	for i := 0; i < len(b); {
		if b[i] < '0' || b[i] > '9' {
			i++
			continue
		}
		g := group{start: i}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		g.end = i
		if n := len(chain); n > 0 && !joined(b, chain[n-1].end, g.start, raw) {
			flush()
		}
		chain = append(chain, g)
	}
	flush()
	return marks
}

// joined reports whether b[from:to] is made of separators only.
func joined(b []byte, from, to int, raw bool) bool {
	for from < to {
		n := sepLen(b, from, raw)
		if n == 0 {
			return false
		}
		from += n
	}
	return from == to
}

// chainCandidates sets in marks (allocated on first use) the middle digit
// positions (all digit positions when whole is set) of every span of whole
// consecutive groups of chain that holds 13 to 19 digits and passes the
// Luhn check, and the track data after such a span.
func chainCandidates(b []byte, chain []group, whole, raw bool, marks []bool) []bool {
	var digits [maxPAN]byte
	var pos [maxPAN]int
	for a := range chain {
		n := 0
		for c := a; c < len(chain); c++ {
			g := chain[c]
			if n+(g.end-g.start) > maxPAN {
				break
			}
			for p := g.start; p < g.end; p++ {
				digits[n], pos[n] = b[p]-'0', p
				n++
			}
			if n >= minPAN && luhn(digits[:n]) {
				if marks == nil {
					marks = make([]bool, len(b))
				}
				from, to := keep, n-keepR
				if whole {
					from, to = 0, n
				}
				for _, p := range pos[from:to] {
					marks[p] = true
				}
				from, to = trackData(b, g.end, raw)
				for p := from; p < to; p++ {
					marks[p] = true
				}
			}
		}
	}
	return marks
}

// maxTrack bounds the track data masked after a card number: a whole track
// 1 is 79 characters.
const maxTrack = 79

// trackData returns the span, right after a card number that ends at
// b[i], that holds what a magnetic stripe or its chip equivalent stores
// beside the number: expiry, service code and discretionary data.
//
//   - Track 2 (";PAN=YYMMSSSDDDD?") and its chip form ("PAN D YYMM..."):
//     an '=' or 'D' followed by at least four digits; the digits are the
//     span.
//   - Track 1 ("%BPAN^NAME^YYMMSSSDDDD?"): a '^', the cardholder's name
//     (kept: it is not sensitive authentication data) up to a second '^',
//     then everything up to the end sentinel '?' or anything that cannot
//     be track data (a quote, a bracket, a line break, an escape).
func trackData(b []byte, i int, raw bool) (from, to int) {
	if i >= len(b) {
		return 0, 0
	}
	switch b[i] {
	case '=', 'D':
		j := i + 1
		for j < len(b) && j-i <= maxTrack && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j-(i+1) >= 4 {
			return i + 1, j
		}
	case '^':
		name := bytes.IndexByte(b[i+1:min(len(b), i+2+26)], '^')
		if name < 0 {
			return 0, 0
		}
		from = i + 2 + name
		to = from
		for to < len(b) && to-from < maxTrack && !trackEnd[b[to]] && !(raw && b[to] == '\\') {
			to++
		}
		return from, to
	}
	return 0, 0
}

// trackEnd marks the bytes that end the data of a track 1.
var trackEnd = func() (t [256]bool) {
	for _, c := range []byte("?\"'\\\n\r{}[]<>,;&") {
		t[c] = true
	}
	return t
}()

// luhn reports whether digits (values 0-9) pass the Luhn check.
func luhn(digits []byte) bool {
	sum := 0
	double := false
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i])
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}
