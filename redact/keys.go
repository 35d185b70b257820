package redact

import "strings"

// SensitiveKey reports whether a member, form field, XML element or log
// attribute named k holds sensitive authentication data (PCI DSS 3.3.1):
// a card security code, a PIN or PIN block, or track data. The rule is a
// family of spellings, not a list: see the package documentation, "Keys".
func SensitiveKey(k string) bool {
	if plainKey(k) {
		return sensitiveJoined(k, k)
	}
	var buf [64]byte // most keys are short: no allocation for their joined spelling
	return sensitiveJoined(k, joinKey(buf[:0], k))
}

// sensitiveJoined is SensitiveKey of k, whose joined spelling (joinKey)
// is j.
func sensitiveJoined[S string | []byte](k string, j S) bool {
	if !mayBeSensitive(j) {
		return false
	}
	in := partsIn(j)
	if in&outcomePart != 0 {
		return false
	}
	if in&(codePart|trackPart|pinPart) != 0 || string(j) == "cid" || string(j) == "cardcid" || string(j) == "pin" {
		return true
	}
	if in&(pinWord|trackWord) == 0 {
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
func mayBeSensitive[S string | []byte](j S) bool {
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

// The lists of parts, as bits of what partsIn finds; pinWord and
// trackWord are "pin" and "track" anywhere in a key, which send it to the
// word-by-word rule.
const (
	codePart = 1 << iota
	trackPart
	pinPart
	outcomePart
	pinWord
	trackWord
)

// keyPart is one part of a list (a bit above).
type keyPart struct {
	s    string
	list uint8
}

// keyParts holds every list's parts by their first byte, so that partsIn
// looks at each byte of a key once instead of searching the key for one
// part after another (thirty searches a key, for every key of every body
// on the ingest path).
var keyParts = func() (t [256][]keyPart) {
	for _, l := range []struct {
		parts []string
		list  uint8
	}{{codeParts, codePart}, {trackParts, trackPart}, {pinParts, pinPart}, {outcomeParts, outcomePart},
		{[]string{"pin"}, pinWord}, {[]string{"track"}, trackWord}} {
		for _, p := range l.parts {
			t[p[0]] = append(t[p[0]], keyPart{p, l.list})
		}
	}
	return t
}()

// partsIn returns the lists that have a part j contains.
func partsIn[S string | []byte](j S) uint8 {
	var in uint8
	for i := 0; i < len(j); i++ {
		for _, p := range keyParts[j[i]] {
			if len(j)-i >= len(p.s) && string(j[i:i+len(p.s)]) == p.s {
				in |= p.list
			}
		}
	}
	return in
}

// plainKey reports whether k is its own joined spelling (joinKey), as
// most keys are: lower-case ASCII letters and digits only.
func plainKey(k string) bool {
	for i := 0; i < len(k); i++ {
		if c := k[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// joinKey appends to b the joined spelling of k: k in lower case with
// everything but ASCII letters and digits removed. "Cvc_Code", "cvc-code"
// and "CVC CODE" are all "cvccode".
func joinKey(b []byte, k string) []byte {
	for i := 0; i < len(k); i++ {
		switch c := k[i]; {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b = append(b, c)
		case c >= 'A' && c <= 'Z':
			b = append(b, c+'a'-'A')
		}
	}
	return b
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
