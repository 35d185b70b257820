package redact

import (
	"bytes"
	"unicode"
	"unicode/utf8"
)

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
		apply(b, marks)
		changed = true
		if whole {
			return true
		}
	}
}

// What candidates marks at a byte of b.
const (
	markByte = 1 // the byte becomes '*'
	markWide = 2 // the fullwidth digit that starts here becomes '＊'
)

// apply writes the masks marks holds into b. A fullwidth digit becomes a
// fullwidth asterisk, which is as long in UTF-8, so that masking never
// changes a text's length or cuts a character in two.
func apply(b []byte, marks []uint8) {
	for p := 0; p < len(b); p++ {
		switch marks[p] {
		case markByte:
			b[p] = '*'
		case markWide:
			copy(b[p:], wideStar)
			p += len(wideStar) - 1
		}
	}
}

// wideStar is U+FF0A FULLWIDTH ASTERISK, what a masked fullwidth digit
// becomes.
const wideStar = "\uFF0A"

// digitAt returns the value of the digit that starts at b[i] and its
// length in bytes, or a length of 0. Digits are ASCII and fullwidth
// (U+FF10 to U+FF19: what an East Asian input method types into a form);
// a digit of any other script is not one.
func digitAt(b []byte, i int) (value byte, size int) {
	switch c := b[i]; {
	case c >= '0' && c <= '9':
		return c - '0', 1
	case c == 0xEF && i+2 < len(b) && b[i+1] == 0xBC && b[i+2] >= 0x90 && b[i+2] <= 0x99:
		return b[i+2] - 0x90, 3
	}
	return 0, 0
}

// isSep reports whether the ASCII byte c may stand between the digit
// groups of a card number as people and systems write it.
func isSep(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '\f', '\v', '.', '/', '_', '-':
		return true
	}
	return false
}

// isSepRune is isSep for any rune. Beyond ASCII a separator is what
// typesetting, locale-aware number formatting and copying from documents
// put between digit groups in place of a space or a dash: a space of any
// width (category Zs: no-break, figure, narrow no-break, ideographic, ...),
// a line or paragraph separator, an invisible character (zero-width space,
// non-joiner and joiner, word joiner, byte order mark, soft hyphen), a
// dash (category Pd: hyphen, en and em dash, fullwidth hyphen-minus, ...)
// and the minus sign.
func isSepRune(r rune) bool {
	if r < utf8.RuneSelf {
		return isSep(byte(r))
	}
	switch r {
	case '\u00AD', '\u200B', '\u200C', '\u200D', '\u2060', '\uFEFF', '\u2212':
		return true
	}
	return unicode.In(r, unicode.Zs, unicode.Zl, unicode.Zp, unicode.Pd)
}

// sepLen returns the length of the separator at b[i], or 0. In a raw body
// a JSON escape of a separator (\n, \t, \r, \f, \/, or \u and four hex
// digits, as "\u00a0" or "\u2013") counts as one.
func sepLen(b []byte, i int, raw bool) int {
	c := b[i]
	if c >= utf8.RuneSelf {
		if r, size := utf8.DecodeRune(b[i:]); isSepRune(r) {
			return size
		}
		return 0
	}
	if isSep(c) {
		return 1
	}
	if raw && c == '\\' && i+1 < len(b) {
		switch b[i+1] {
		case 'n', 't', 'r', 'f', '/':
			return 2
		case 'u':
			if r, ok := hex4(b[i+2:]); ok && isSepRune(r) {
				return 6
			}
		}
	}
	return 0
}

// escapeLen returns the length of the JSON escape at b[i], a backslash,
// so that the hex digits of "\u2013" are not taken for a group of digits.
func escapeLen(b []byte, i int) int {
	if i+1 < len(b) && b[i+1] == 'u' {
		if _, ok := hex4(b[i+2:]); ok {
			return 6
		}
	}
	return min(2, len(b)-i)
}

// hex4 decodes the four hex digits that start b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// hasDigitRun is a fast pre-check: is there any run of 13 digits, counting
// separators as part of the run? ASCII text is judged byte by byte; only
// bytes beyond ASCII are decoded.
func hasDigitRun(s string) bool {
	n := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c >= '0' && c <= '9':
				n++
				if n >= minPAN {
					return true
				}
			case n > 0 && isSep(c):
			default:
				n = 0
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r >= '\uFF10' && r <= '\uFF19':
			n++
			if n >= minPAN {
				return true
			}
		case n > 0 && isSepRune(r):
		default:
			n = 0
		}
		i += size
	}
	return false
}

// group is a maximal run of digits, b[start:end].
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
func candidates(b []byte, whole, raw bool) []uint8 {
	var marks []uint8
	var chain []group // groups joined by runs of separators
	flush := func() {
		marks = chainCandidates(b, chain, whole, raw, marks)
		chain = chain[:0]
	}
	for i := 0; i < len(b); {
		if raw && b[i] == '\\' {
			i += escapeLen(b, i)
			continue
		}
		if _, size := digitAt(b, i); size == 0 {
			i++
			continue
		}
		g := group{start: i}
		for i < len(b) {
			_, size := digitAt(b, i)
			if size == 0 {
				break
			}
			i += size
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
func chainCandidates(b []byte, chain []group, whole, raw bool, marks []uint8) []uint8 {
	var digits [maxPAN]byte
	var pos [maxPAN]int
	for a := range chain {
		n := 0
	spans:
		for c := a; c < len(chain); c++ {
			g := chain[c]
			for p := g.start; p < g.end; {
				v, size := digitAt(b, p)
				if n == maxPAN {
					break spans
				}
				digits[n], pos[n] = v, p
				n++
				p += size
			}
			if n >= minPAN && luhn(digits[:n]) {
				if marks == nil {
					marks = make([]uint8, len(b))
				}
				from, to := keep, n-keepR
				if whole {
					from, to = 0, n
				}
				for _, p := range pos[from:to] {
					marks[p] = markByte
					if b[p] >= utf8.RuneSelf {
						marks[p] = markWide
					}
				}
				from, to = trackData(b, g.end, raw)
				for p := from; p < to; p++ {
					marks[p] = markByte
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
		// Masked byte by byte, a character cut at the limit would leave
		// invalid UTF-8 behind.
		for to < len(b) && !utf8.RuneStart(b[to]) {
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
