package redact

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// An oracle for the tests that shares no code with the package: the
// definition of a candidate written again, with regular expressions.

var (
	// A chain is digit groups (ASCII or fullwidth digits) joined by runs of
	// separators: ASCII whitespace, '.', '/', '_', any Unicode space, line
	// or paragraph separator, dash or minus sign, and the invisible
	// characters.
	sepClass = `[\t\n\r\f\v./_\p{Zs}\p{Zl}\p{Zp}\p{Pd}\x{2212}\x{200B}-\x{200D}\x{2060}\x{FEFF}\x{00AD}]`
	digit    = `[0-9\x{FF10}-\x{FF19}]`
	chainRE  = regexp.MustCompile(digit + `+(?:` + sepClass + `+` + digit + `+)*`)
	groupRE  = regexp.MustCompile(digit + `+`)
	sepRE    = regexp.MustCompile(`^` + sepClass + `$`)
	escapeRE = regexp.MustCompile(`\\(?:u[0-9a-fA-F]{4}|.)`)
)

// unescapeSeps rewrites every JSON escape in a body that is not JSON as
// one character: a space for an escaped separator (\n, \t, \r, \f, \/,
// \u00a0, \u2013, ...), an 'x' for anything else, digits included (they
// are not recognised on that path).
func unescapeSeps(s string) string {
	return escapeRE.ReplaceAllStringFunc(s, func(e string) string {
		switch e[1] {
		case 'n', 't', 'r', 'f', '/':
			return " "
		case 'u':
			r, err := strconv.ParseUint(e[2:], 16, 32)
			if err == nil && sepRE.MatchString(string(rune(r))) {
				return " "
			}
		}
		return "x"
	})
}

// asciiDigits writes fullwidth digits as ASCII ones.
func asciiDigits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '\uFF10' && r <= '\uFF19' {
			return '0' + r - '\uFF10'
		}
		return r
	}, s)
}

func luhnString(s string) bool {
	sum := 0
	for i := 0; i < len(s); i++ {
		d := int(s[len(s)-1-i] - '0')
		if i%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

// findCandidates returns the digits of every PAN candidate in s: spans of
// whole digit groups joined by separators that hold 13 to 19 digits and
// pass the Luhn check.
func findCandidates(s string) []string { return candidatesRE(s) }

// findRawCandidates is findCandidates for a body that is not JSON.
func findRawCandidates(s string) []string { return candidatesRE(unescapeSeps(s)) }

func candidatesRE(s string) []string {
	var out []string
	for _, chain := range chainRE.FindAllString(asciiDigits(s), -1) {
		groups := groupRE.FindAllString(chain, -1)
		for a := range groups {
			digits := ""
			for c := a; c < len(groups); c++ {
				digits += groups[c]
				if len(digits) > 19 {
					break
				}
				if len(digits) >= 13 && luhnString(digits) {
					out = append(out, digits)
				}
			}
		}
	}
	return out
}

// chainDigits returns the digits of every chain of s (raw: JSON escapes
// of separators count), separators removed: a PAN written with any
// separators is a substring of one of them.
func chainDigits(s string, raw bool) []string {
	if raw {
		s = unescapeSeps(s)
	}
	var out []string
	for _, chain := range chainRE.FindAllString(asciiDigits(s), -1) {
		if d := strings.Join(groupRE.FindAllString(chain, -1), ""); len(d) >= 13 {
			out = append(out, d)
		}
	}
	return out
}

// holdsPAN reports whether any of pans appears in s, written with any
// separators.
func holdsPAN(s string, raw bool, pans map[string]bool) string {
	for _, d := range chainDigits(s, raw) {
		for i := 0; i+13 <= len(d); i++ {
			for n := 13; n <= 19 && i+n <= len(d); n++ {
				if pans[d[i:i+n]] {
					return d[i : i+n]
				}
			}
		}
	}
	return ""
}

// jsonTexts returns every key, string and number text of a valid JSON
// document.
func jsonTexts(t testing.TB, doc []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var out []string
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("not JSON: %v", err)
		}
		switch v := tok.(type) {
		case string:
			out = append(out, v)
		case json.Number:
			out = append(out, string(v))
		}
	}
}

// jsonKeys returns every object key of a valid JSON document, at any
// depth.
func jsonKeys(t testing.TB, doc []byte) map[string]bool {
	t.Helper()
	var v any
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	found := map[string]bool{}
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				found[k] = true
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(v)
	return found
}
