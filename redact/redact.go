// Package redact removes cardholder data from webhook bodies before they are
// stored, logged or served (PCI DSS v4 requirements 3.3 to 3.5: sensitive
// authentication data is never kept after authorisation, and a primary
// account number is shown at most as its first six and last four digits).
//
// Body is the single entry point. It never fails: whatever it is given, it
// returns bytes that are safe to keep.
//
// # Valid JSON
//
// A body that is valid JSON is walked value by value and re-encoded:
//
//   - A member whose key is a sensitive authentication field is removed,
//     key and value, at any depth. Keys are compared case-insensitively
//     after removing '_' and '-', so "CVV2", "card_security_code" and
//     "Track-1" all match. The fields are: cvv, cvv2, cvc, cvc2, cid, csc,
//     securitycode, cardsecuritycode, cardverificationvalue, track, track1,
//     track2, trackdata, pin, pinblock, magstripe.
//   - In every string (object keys included) and every number, each
//     PAN-shaped run of digits is masked: see Masking below. A number that
//     is masked becomes a string ("4111111111111111" → "411111******1111").
//   - A string or number directly under an allow-listed key is left as it
//     is: cardTransactionIdentifier, hostReferenceNumber, externalPaymentId
//     (matched like sensitive keys). These are reference numbers that are
//     long digit strings by design and would otherwise be masked now and
//     then because one in ten passes the Luhn check. An object or array
//     under such a key is walked normally.
//
// The output is compact (no insignificant whitespace), object members stay
// in their original order (duplicates included), numbers keep their
// original text, and strings are escaped minimally: '"', '\\', control
// characters, U+2028 and U+2029 are escaped, HTML characters are not.
// The same input always gives the same output, and for valid JSON
// Body(Body(b)) equals Body(b).
//
// # Not JSON
//
// A body that is not valid JSON (truncated, form-encoded, XML, text) is kept
// byte for byte except that the value of anything that looks like a
// sensitive key is blanked ("cvv":"123" → "cvv":"", cvv=123 → cvv=,
// card[cvv]=123 → card[cvv]=, "track":{...} → "track":{},
// <cvv>123</cvv> → <cvv></cvv>; an unterminated quoted value blanks the
// rest of the body) and PAN-shaped runs are masked as below. The
// allow-list does not apply. Digits written as JSON escapes (\u0034) are
// not recognised on this path.
//
// # Masking
//
// A candidate is a run of 13 to 19 ASCII digits, written either without
// separators or as groups of digits joined by single spaces or dashes
// ("4111 1111 1111 1111", "3782-822463-10005"), that passes the Luhn check.
// A run of digits without separators is taken whole: a 12- or 20-digit
// number is never a candidate, nor is any part of it. Within groups joined
// by separators, every span of whole consecutive groups that holds 13 to 19
// digits is a candidate, so a PAN is found even when other numbers are
// written next to it ("ref 12 4111 1111 1111 1111"). Each candidate keeps
// its first six and last four digits; the digits between them become '*',
// separators stay. When kept digits and neighbouring groups happen to form
// a new candidate, it is masked too, so the output holds no candidate at all
// (outside allow-listed fields). Digits outside ASCII are not considered.
package redact

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"
)

// sensitiveKeys are sensitive authentication data (PCI DSS 3.3.1), in
// normalized form (see normalizeKey).
var sensitiveKeys = setOf(
	"cvv", "cvv2", "cvc", "cvc2", "cid", "csc",
	"securitycode", "cardsecuritycode", "cardverificationvalue",
	"track", "track1", "track2", "trackdata", "magstripe",
	"pin", "pinblock",
)

// allowedKeys hold reference numbers that are long digit strings by design.
var allowedKeys = setOf(
	"cardtransactionidentifier",
	"hostreferencenumber",
	"externalpaymentid",
)

func setOf(keys ...string) map[string]bool {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}

// normalizeKey lower-cases k and removes '_' and '-'.
func normalizeKey(k string) string {
	plain := true // most keys are already lower-case ASCII without separators
	for i := 0; i < len(k) && plain; i++ {
		c := k[i]
		plain = c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
	}
	if plain {
		return k
	}
	var b strings.Builder
	b.Grow(len(k))
	for _, r := range strings.ToLower(k) {
		if r != '_' && r != '-' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// redactor holds the key lists, so that tests can run without the
// allow-list.
type redactor struct {
	sensitive map[string]bool
	allow     map[string]bool
}

var defaultRedactor = redactor{sensitive: sensitiveKeys, allow: allowedKeys}

// Body returns raw with sensitive authentication data removed and PANs
// masked; see the package documentation. It never modifies raw and always
// returns a new slice.
func Body(raw []byte) []byte { return defaultRedactor.body(raw) }

func (r redactor) body(raw []byte) []byte {
	if json.Valid(raw) {
		if out, err := r.jsonBody(raw); err == nil {
			return out
		}
	}
	return r.rawBody(raw)
}

// frame is an open object or array during the walk.
type frame struct {
	object    bool
	members   int  // members or elements written so far
	expectKey bool // objects: the next token is a key
}

var errUnbalanced = errors.New("redact: unbalanced JSON")

// jsonBody walks a valid JSON document value by value, so that member order
// and number text survive, and writes the redacted document. It relies on
// body having checked json.Valid: the lexer does not diagnose errors.
func (r redactor) jsonBody(raw []byte) ([]byte, error) {
	lx := lexer{b: raw}
	out := bytes.NewBuffer(make([]byte, 0, len(raw)))
	var stack []frame
	allowNext := false // the next scalar is an allow-listed value

	for {
		tok, ok := lx.next()
		if !ok {
			break
		}
		var top *frame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		if tok.kind == tokEnd {
			if top == nil {
				return nil, errUnbalanced
			}
			out.WriteByte(tok.delim)
			stack = stack[:len(stack)-1]
			continue
		}

		if top != nil && top.object && top.expectKey {
			if tok.kind != tokString {
				return nil, errUnbalanced
			}
			key := lx.str(tok)
			norm := normalizeKey(key)
			if r.sensitive[norm] {
				lx.skipValue()
				continue
			}
			if top.members > 0 {
				out.WriteByte(',')
			}
			top.members++
			writeString(out, maskString(key))
			out.WriteByte(':')
			top.expectKey = false
			allowNext = r.allow[norm]
			continue
		}

		// A value: in an array it needs a separator, in an object the next
		// token is a key again.
		if top != nil {
			if top.object {
				top.expectKey = true
			} else {
				if top.members > 0 {
					out.WriteByte(',')
				}
				top.members++
			}
		}
		allowed := allowNext
		allowNext = false
		switch tok.kind {
		case tokBegin:
			out.WriteByte(tok.delim)
			stack = append(stack, frame{object: tok.delim == '{', expectKey: tok.delim == '{'})
		case tokString:
			v := lx.str(tok)
			if !allowed {
				v = maskString(v)
			}
			writeString(out, v)
		case tokNumber:
			s := string(raw[tok.start:tok.end])
			if m := maskString(s); !allowed && m != s {
				writeString(out, m)
			} else {
				out.WriteString(s)
			}
		case tokLiteral: // true, false, null: their text is canonical
			out.Write(raw[tok.start:tok.end])
		}
	}
	if len(stack) != 0 {
		return nil, errUnbalanced
	}
	return out.Bytes(), nil
}

type tokKind uint8

const (
	tokBegin   tokKind = iota // '{' or '['
	tokEnd                    // '}' or ']'
	tokString                 // b[start:end] is the quoted text
	tokNumber                 // b[start:end] is the number's text
	tokLiteral                // true, false or null
)

type token struct {
	kind       tokKind
	delim      byte
	start, end int
	escaped    bool // the string holds a backslash or a byte >= 0x80
}

// lexer splits a document that json.Valid accepted into tokens. It is an
// order of magnitude cheaper than encoding/json's Decoder.Token, which
// allocates an interface value per token and re-scans every value; on
// valid input it yields the same tokens (FuzzJSONBodyMatchesDecoder).
type lexer struct {
	b []byte
	i int
}

// next returns the next token, treating ',' and ':' as whitespace: the
// walker knows the structure from the frames.
func (l *lexer) next() (token, bool) {
	for l.i < len(l.b) {
		c := l.b[l.i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || c == ':':
			l.i++
		case c == '{' || c == '[':
			l.i++
			return token{kind: tokBegin, delim: c}, true
		case c == '}' || c == ']':
			l.i++
			return token{kind: tokEnd, delim: c}, true
		case c == '"':
			t := token{kind: tokString, start: l.i}
			j := l.i + 1
			for ; j < len(l.b) && l.b[j] != '"'; j++ {
				if l.b[j] == '\\' {
					j++
					t.escaped = true
				} else if l.b[j] >= utf8.RuneSelf {
					t.escaped = true
				}
			}
			l.i = j + 1
			t.end = l.i
			return t, true
		case c == 't' || c == 'f' || c == 'n':
			t := token{kind: tokLiteral, start: l.i}
			for l.i < len(l.b) && l.b[l.i] >= 'a' && l.b[l.i] <= 'z' {
				l.i++
			}
			t.end = l.i
			return t, true
		default: // a number: '-', digits, '.', 'e', 'E', '+'
			t := token{kind: tokNumber, start: l.i}
			for l.i < len(l.b) && isNumberByte(l.b[l.i]) {
				l.i++
			}
			t.end = l.i
			return t, true
		}
	}
	return token{}, false
}

func isNumberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

// str decodes a string token. Plain ASCII without escapes is its own text;
// anything else goes through encoding/json, so that escapes, surrogate
// pairs and invalid UTF-8 (replaced by U+FFFD) decode exactly as the
// standard library decodes them.
func (l *lexer) str(t token) string {
	if !t.escaped {
		return string(l.b[t.start+1 : t.end-1])
	}
	var s string
	if err := json.Unmarshal(l.b[t.start:t.end], &s); err != nil {
		// Unreachable for a document json.Valid accepted.
		return ""
	}
	return s
}

// skipValue skips the value after a key the walker drops.
func (l *lexer) skipValue() {
	depth := 0
	for {
		t, ok := l.next()
		if !ok {
			return
		}
		switch t.kind {
		case tokBegin:
			depth++
		case tokEnd:
			depth--
		}
		if depth == 0 {
			return
		}
	}
}

// writeString writes s as a JSON string without HTML escaping.
func writeString(buf *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	buf.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"':
				buf.WriteString(`\"`)
			case c == '\\':
				buf.WriteString(`\\`)
			case c == '\n':
				buf.WriteString(`\n`)
			case c == '\r':
				buf.WriteString(`\r`)
			case c == '\t':
				buf.WriteString(`\t`)
			case c < 0x20:
				buf.WriteString(`\u00`)
				buf.WriteByte(hex[c>>4])
				buf.WriteByte(hex[c&0xf])
			default:
				buf.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			buf.WriteString(`\ufffd`)
		case r == '\u2028':
			buf.WriteString(`\u2028`)
		case r == '\u2029':
			buf.WriteString(`\u2029`)
		default:
			buf.WriteString(s[i : i+size])
		}
		i += size
	}
	buf.WriteByte('"')
}

// rawBody redacts a body that is not valid JSON.
func (r redactor) rawBody(raw []byte) []byte {
	return maskBytes(r.blankValues(raw))
}

func isKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
}

// separatorEnd looks for a key's separator at b[i]: "key": (JSON-like),
// 'key'=, key=, key :, card[key]= (form encoding), or the '>' of <key> and
// <ns:key> (XML-like). It returns where the value starts and whether the
// separator is a tag's.
func separatorEnd(b []byte, i int) (end int, tag, ok bool) {
	j := i
	if j < len(b) && (b[j] == '"' || b[j] == '\'') {
		j++
	}
	if j < len(b) && b[j] == ']' {
		j++
	}
	if j < len(b) && (b[j] == '"' || b[j] == '\'') {
		j++
	}
	for j < len(b) && isSpace(b[j]) {
		j++
	}
	if j < len(b) && (b[j] == ':' || b[j] == '=') {
		j++
		for j < len(b) && isSpace(b[j]) {
			j++
		}
		return j, false, true
	}
	if i < len(b) && b[i] == '>' {
		return i + 1, true, true
	}
	return 0, false, false
}

// blankValues returns a copy of b in which the value after every sensitive
// key is empty (see valueEnd). A key is a run of letters, digits, '_' and
// '-' followed by a separator; values are skipped by the scan only when they
// are blanked, so that a value never hides a key that follows it
// ("note=cvv=123").
func (r redactor) blankValues(b []byte) []byte {
	out := make([]byte, 0, len(b))
	last := 0
	for i := 0; i < len(b); {
		if !isKeyByte(b[i]) {
			i++
			continue
		}
		ks := i
		for i < len(b) && isKeyByte(b[i]) {
			i++
		}
		vs, tag, ok := separatorEnd(b, i)
		if !ok {
			continue
		}
		if tag && (ks == 0 || (b[ks-1] != '<' && b[ks-1] != ':')) || !r.sensitive[normalizeKey(string(b[ks:i]))] {
			i = vs
			continue
		}
		ve, repl := valueEnd(b, vs, tag)
		out = append(out, b[last:vs]...)
		out = append(out, repl...)
		last, i = ve, ve
	}
	return append(out, b[last:]...)
}

// bareEnd marks the bytes that end a bare value.
var bareEnd = func() (t [256]bool) {
	for _, c := range []byte(" \t\r\n\f\v,;&<>{}[]()\"'") {
		t[c] = true
	}
	return t
}()

// valueEnd returns where the value starting at b[i] ends and what replaces
// it. A quoted value runs to its closing quote and becomes "" (or a lone
// quote when there is no closing one: a truncated body, whose rest is the
// value). An object or array runs to its matching bracket and becomes {} or
// [] (or just the opening bracket when truncated). An element's value runs
// to the next '<'. A bare value runs to whitespace or punctuation.
func valueEnd(b []byte, i int, tag bool) (end int, repl []byte) {
	if i >= len(b) {
		return i, nil
	}
	if tag {
		if j := bytes.IndexByte(b[i:], '<'); j >= 0 {
			return i + j, nil
		}
		return len(b), nil
	}
	switch c := b[i]; c {
	case '"', '\'':
		if j, ok := skipString(b, i); ok {
			return j, []byte{c, c}
		}
		return len(b), []byte{c}
	case '{', '[':
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, []byte{c, closer}
				}
			case '"', '\'':
				k, ok := skipString(b, j)
				if !ok {
					return len(b), []byte{c}
				}
				j = k - 1
			}
		}
		return len(b), []byte{c}
	}
	j := i
	for j < len(b) && !bareEnd[b[j]] {
		j++
	}
	return j, nil
}

// skipString returns the index just after the string that starts with the
// quote b[i]; backslash escapes count in double-quoted strings. ok is false
// when the string is not closed.
func skipString(b []byte, i int) (end int, ok bool) {
	q := b[i]
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			if q == '"' {
				j++
			}
		case q:
			return j + 1, true
		}
	}
	return len(b), false
}

// maskString masks PAN candidates in s; s itself is returned when there is
// none.
func maskString(s string) string {
	if !hasDigitRun(s) {
		return s
	}
	b := []byte(s)
	if !maskInPlace(b) {
		return s
	}
	return string(b)
}

// maskBytes returns a copy of b with PAN candidates masked.
func maskBytes(b []byte) []byte {
	out := bytes.Clone(b)
	if out == nil {
		out = []byte{}
	}
	maskInPlace(out)
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
func maskInPlace(b []byte) bool {
	changed := false
	for pass := 0; ; pass++ {
		whole := pass == maxPartialPasses
		marks := candidates(b, whole)
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

// hasDigitRun is a fast pre-check: is there any run of 13 digits, counting
// separators as part of the run?
func hasDigitRun(s string) bool {
	n := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			n++
			if n >= 13 {
				return true
			}
		case (c == ' ' || c == '-') && n > 0:
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

// candidates marks the digits to mask in b: the middle digits of every PAN
// candidate (see the package documentation), or all of its digits when
// whole is set. It returns nil when b holds no candidate.
func candidates(b []byte, whole bool) []bool {
	var marks []bool
	var chain []group // groups joined by single separators
	flush := func() {
		marks = chainCandidates(b, chain, whole, marks)
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
		if n := len(chain); n > 0 {
			prev := chain[n-1]
			if !(g.start == prev.end+1 && (b[prev.end] == ' ' || b[prev.end] == '-')) {
				flush()
			}
		}
		chain = append(chain, g)
	}
	flush()
	return marks
}

// chainCandidates sets in marks (allocated on first use) the middle digit
// positions (all digit positions when whole is set) of every span of whole
// consecutive groups of chain that holds 13 to 19 digits and passes the
// Luhn check.
func chainCandidates(b []byte, chain []group, whole bool, marks []bool) []bool {
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
			}
		}
	}
	return marks
}

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
