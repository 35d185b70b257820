package redact

import "unicode/utf8"

// Truncate shortens s to at most n bytes for a log line, an answer or a
// stored description: it cuts on a rune boundary and ends a cut text with
// "…", so that a reader knows it was cut. Mask (Text) before truncating
// text that may hold a card number: a cut made first could leave too
// little of the number to be recognised.
func Truncate(s string, n int) string {
	const mark = "…"
	if len(s) <= n {
		return s
	}
	if n < len(mark) {
		return ""
	}
	n -= len(mark)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + mark
}
