package redact

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
)

// An oracle for the tests that shares no code with the package: the
// definition of a candidate written again, with regular expressions.

var (
	// A chain is digit groups joined by runs of separators; in a raw body
	// a JSON escape of a separator is one too.
	chainRE    = regexp.MustCompile(`[0-9]+(?:[ \t\n\r\f\v./_-]+[0-9]+)*`)
	rawChainRE = regexp.MustCompile(`[0-9]+(?:(?:[ \t\n\r\f\v./_-]|\\[ntrf/])+[0-9]+)*`)
	groupRE    = regexp.MustCompile(`[0-9]+`)
)

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
func findCandidates(s string) []string { return candidatesRE(s, chainRE) }

// findRawCandidates is findCandidates for a body that is not JSON.
func findRawCandidates(s string) []string { return candidatesRE(s, rawChainRE) }

func candidatesRE(s string, re *regexp.Regexp) []string {
	var out []string
	for _, chain := range re.FindAllString(s, -1) {
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
	re := chainRE
	if raw {
		re = rawChainRE
	}
	var out []string
	for _, chain := range re.FindAllString(s, -1) {
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
