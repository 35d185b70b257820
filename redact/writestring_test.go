package redact

import (
	"bytes"
	"testing"
	"unicode/utf8"
)

// writeStringByByte is writeString as it was, byte by byte: the
// reference the faster one must match.
func writeStringByByte(buf *bytes.Buffer, s string) {
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

// writeString writes what the byte-by-byte version wrote, for every
// string: escapes, control bytes, invalid UTF-8, U+2028/U+2029 at the
// start, middle and end of runs.
func FuzzWriteString(f *testing.F) {
	for _, s := range []string{"", "plain", `a"b\\c`, "\n\r\t\x00\x1f\x7f", "\xff\xfe", "\u2028x\u2029", "é€😀",
		"tail\xc3", "\"", "\\", "\x01", "x\u2028", "4111 1111 1111 1111"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var got, want bytes.Buffer
		writeString(&got, s)
		writeStringByByte(&want, s)
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("writeString(%q) = %q, want %q", s, got.Bytes(), want.Bytes())
		}
		if utf8.ValidString(s) && !utf8.Valid(got.Bytes()) {
			t.Fatalf("writeString(%q) = %q: not UTF-8", s, got.Bytes())
		}
	})
}
