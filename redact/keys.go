package redact

import "strings"

// SensitiveKey reports whether a member, form field, XML element or log
// attribute named k holds sensitive authentication data (PCI DSS 3.3.1):
// a card security code, a PIN or PIN block, or track data. The rule is a
// family of spellings, not a list: see the package documentation, "Keys".
func SensitiveKey(k string) bool {
	j := joinedKey(k)
	if !mayBeSensitive(j) || hasAny(j, outcomeParts) {
		return false
	}
	if hasAny(j, codeParts) || j == "cid" || j == "cardcid" || hasAny(j, trackParts) || j == "pin" || hasAny(j, pinParts) {
		return true
	}
	if !strings.Contains(j, "pin") && !strings.Contains(j, "track") {
		return false
	}
	w := words(k)
	for i, x := range w {
		next := ""
		if i+1 < len(w) {
			next = w[i+1]
		}
		switch x {
		case "pin":
			// "pin code" is a postal code (India's PIN code), not a PIN.
			if next != "code" {
				return true
			}
		case "track":
			switch next {
			case "", "1", "2", "3", "i", "ii", "one", "two", "data", "raw":
				return true
			}
		}
	}
	return false
}

// codeParts name a card security code wherever they appear in a key:
// CVV, CVV2, CVC, CVC2, CVN, CVD, CSC, "security code", Authorize.net's
// "card code", "card verification value/number".
var codeParts = []string{"cvv", "cvc", "cvn", "cvd", "csc", "securitycode", "cardcode", "cardverification", "verificationvalue"}

// trackParts name track data wherever they appear in a key.
var trackParts = []string{"track1", "track2", "track3", "trackdata", "magstripe", "magneticstripe"}

// pinParts name a PIN or PIN block wherever they appear in a key.
var pinParts = []string{"pinblock", "cardpin", "encryptedpin", "pindata", "pinnumber"}

// outcomeParts name the outcome of a check rather than the checked value
// ("cvvResult": "M", "cvc_check": "pass", "pinVerified": true): such a key
// is kept, since processors return these for the merchant to act on.
var outcomeParts = []string{"result", "resp", "check", "status", "match", "indicator", "presen", "provided", "outcome", "verified"}

// mayBeSensitive is a fast pre-check, on the ingest path for every key:
// every sensitive spelling holds one of these pairs of letters (cv, cs, ci,
// pi, tr, st, co, ve).
func mayBeSensitive(j string) bool {
	for i := 1; i < len(j); i++ {
		switch j[i-1] {
		case 'c':
			if c := j[i]; c == 'v' || c == 's' || c == 'i' || c == 'o' {
				return true
			}
		case 'p':
			if j[i] == 'i' {
				return true
			}
		case 't':
			if c := j[i]; c == 'r' {
				return true
			}
		case 's':
			if j[i] == 't' {
				return true
			}
		case 'v':
			if j[i] == 'e' {
				return true
			}
		}
	}
	return false
}

func hasAny(s string, parts []string) bool {
	for _, p := range parts {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// joinedKey is k in lower case with everything but ASCII letters and
// digits removed: "Cvc_Code", "cvc-code" and "CVC CODE" are all "cvccode".
func joinedKey(k string) string {
	plain := true // most keys are already lower-case ASCII letters and digits
	for i := 0; i < len(k) && plain; i++ {
		c := k[i]
		plain = c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
	}
	if plain {
		return k
	}
	b := make([]byte, 0, len(k))
	for i := 0; i < len(k); i++ {
		switch c := k[i]; {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b = append(b, c)
		case c >= 'A' && c <= 'Z':
			b = append(b, c+'a'-'A')
		}
	}
	return string(b)
}

// words splits a key into lower-case words at anything that is not an
// ASCII letter or digit, between a lower-case letter and an upper-case one,
// between letters and digits, and before the last capital of a run of
// capitals followed by a lower-case letter: "cardPIN2", "PINBlock" and
// "track_2" give [card pin 2], [pin block] and [track 2].
func words(k string) []string {
	const (
		other = iota
		lower
		upper
		digit
	)
	class := func(c byte) int {
		switch {
		case c >= 'a' && c <= 'z':
			return lower
		case c >= 'A' && c <= 'Z':
			return upper
		case c >= '0' && c <= '9':
			return digit
		}
		return other
	}
	var out []string
	start := -1
	for i := 0; i <= len(k); i++ {
		c := other
		if i < len(k) {
			c = class(k[i])
		}
		if start >= 0 {
			p := class(k[i-1])
			split := c == other || (c == digit) != (p == digit) || p == lower && c == upper ||
				p == upper && c == lower && i-1 > start
			if split {
				end := i
				if p == upper && c == lower {
					end = i - 1 // "PINBlock": the B starts the next word
				}
				out = append(out, strings.ToLower(k[start:end]))
				start = -1
				if c != other {
					start = end
				}
			}
		}
		if start < 0 && c != other {
			start = i
		}
	}
	return out
}
