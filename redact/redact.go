package redact

import (
	"bytes"
	"encoding/json"
	"errors"
	"unicode/utf8"
)

// Body returns raw with sensitive authentication data removed and PANs
// masked; see the package documentation. It never modifies raw and always
// returns a new slice.
func Body(raw []byte) []byte {
	if validJSON(raw) {
		if out, err := jsonBody(raw); err == nil {
			return out
		}
	}
	return rawBody(raw)
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
// body having checked that it is valid (validJSON): the lexer does not
// diagnose errors.
func jsonBody(raw []byte) ([]byte, error) {
	lx := lexer{b: raw}
	out := bytes.NewBuffer(make([]byte, 0, len(raw)))
	var stack []frame

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
			if SensitiveKey(key) {
				lx.skipValue()
				continue
			}
			if top.members > 0 {
				out.WriteByte(',')
			}
			top.members++
			writeString(out, Text(key))
			out.WriteByte(':')
			top.expectKey = false
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
		switch tok.kind {
		case tokBegin:
			out.WriteByte(tok.delim)
			stack = append(stack, frame{object: tok.delim == '{', expectKey: tok.delim == '{'})
		case tokString:
			writeString(out, Text(lx.str(tok)))
		case tokNumber:
			s := string(raw[tok.start:tok.end])
			if m := Text(s); m != s {
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

// writeString writes s as a JSON string without HTML escaping. Runs of
// bytes that need no escape are written at once (byte by byte, this was
// a tenth of a webhook's handler instructions).
func writeString(buf *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	buf.WriteByte('"')
	start := 0 // s[start:i] is written as it is
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			buf.WriteString(s[start:i])
			switch c {
			case '"':
				buf.WriteString(`\"`)
			case '\\':
				buf.WriteString(`\\`)
			case '\n':
				buf.WriteString(`\n`)
			case '\r':
				buf.WriteString(`\r`)
			case '\t':
				buf.WriteString(`\t`)
			default:
				buf.WriteString(`\u00`)
				buf.WriteByte(hex[c>>4])
				buf.WriteByte(hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		var esc string
		switch {
		case r == utf8.RuneError && size == 1:
			esc = `\ufffd`
		case r == '\u2028':
			esc = `\u2028`
		case r == '\u2029':
			esc = `\u2029`
		default:
			i += size
			continue
		}
		buf.WriteString(s[start:i])
		buf.WriteString(esc)
		i += size
		start = i
	}
	buf.WriteString(s[start:])
	buf.WriteByte('"')
}

// rawBody redacts a body that is not valid JSON.
func rawBody(raw []byte) []byte {
	return maskBytes(blankValues(raw), true)
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
func blankValues(b []byte) []byte {
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
		if tag && (ks == 0 || (b[ks-1] != '<' && b[ks-1] != ':')) || !SensitiveKey(string(quotedKey(b, ks, i))) {
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

// maxQuotedKey bounds how far back quotedKey looks for an opening quote.
const maxQuotedKey = 64

// quotedKey returns the key that ends at b[i]: b[ks:i], or, when b[i] is a
// closing quote, everything back to its opening quote, so that a quoted
// key with spaces or dots ("card code": "123") is judged whole.
func quotedKey(b []byte, ks, i int) []byte {
	if i >= len(b) || (b[i] != '"' && b[i] != '\'') {
		return b[ks:i]
	}
	from := max(0, ks-maxQuotedKey)
	q := bytes.LastIndexByte(b[from:ks], b[i])
	if q < 0 {
		return b[ks:i]
	}
	return b[from+q+1 : i]
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
