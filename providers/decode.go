package providers

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	sm "github.com/paystate/paystate/statemachine"
)

// Helpers every provider shares. They keep the rules the same everywhere:
// a body is exactly one JSON object, numbers stay exact, and nothing of
// the body is echoed into an error (errors reach logs and audit reasons).

// DecodeObject decodes body, which must be exactly one JSON object, into v
// with numbers kept as json.Number. The error says what is wrong without
// quoting the body; callers wrap it with ErrMalformed.
func DecodeObject(body []byte, v any) error {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return errors.New("empty body")
	}
	if trimmed[0] != '{' {
		return errors.New("body is not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("invalid JSON: %s", describeJSONError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the JSON object")
	}
	return checkLossless(body, v)
}

// checkLossless reports a body whose decoding into v lost bytes.
// encoding/json replaces invalid UTF-8 and unpaired surrogate escapes
// (\udc80) with U+FFFD, so two identifiers that differ only there would
// become one. A body with neither decodes as sent; otherwise it is decoded
// again with every such sequence marked differently, and if v changes, a
// field paystate reads held one: the body is malformed. Bytes in fields
// paystate does not read leave v alone and are kept in the body only.
// Fields kept raw (json.RawMessage) count as read: they are decoded later.
func checkLossless(body []byte, v any) error {
	marked, lossy := markLossy(body)
	if !lossy {
		return nil
	}
	again := reflect.New(reflect.TypeOf(v).Elem())
	dec := json.NewDecoder(bytes.NewReader(marked))
	dec.UseNumber()
	if err := dec.Decode(again.Interface()); err != nil || !reflect.DeepEqual(v, again.Interface()) {
		return errors.New("a field paystate reads is not valid UTF-8 text (invalid bytes or an unpaired surrogate escape)")
	}
	return nil
}

// lossMark stands in for a lost sequence in the second decoding: U+FFFF is
// valid UTF-8 that encoding/json keeps as it is.
const lossMark = "\uffff"

// markLossy returns body with each invalid UTF-8 byte and each unpaired
// surrogate escape replaced by lossMark, and whether there was any.
func markLossy(body []byte) ([]byte, bool) {
	if utf8.Valid(body) && !bytes.Contains(body, []byte(`\u`)) {
		return body, false
	}
	out := make([]byte, 0, len(body))
	lossy, inString := false, false
	for i := 0; i < len(body); {
		c := body[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRune(body[i:])
			if r == utf8.RuneError && n == 1 {
				out, lossy = append(out, lossMark...), true
			} else {
				out = append(out, body[i:i+n]...)
			}
			i += n
			continue
		}
		switch {
		case c == '"':
			inString = !inString
		case inString && c == '\\' && i+1 < len(body):
			if hi, ok := surrogateEscape(body[i:]); ok {
				if lo, ok := surrogateEscape(body[i+6:]); ok && hi < 0xdc00 && lo >= 0xdc00 {
					out = append(out, body[i:i+12]...)
					i += 12
					continue
				}
				out, lossy = append(out, lossMark...), true
				i += 6
				continue
			}
			// Any other escape is copied whole, so that an escaped quote
			// or backslash does not end the string.
			out = append(out, body[i:i+2]...)
			i += 2
			continue
		}
		out = append(out, c)
		i++
	}
	return out, lossy
}

// surrogateEscape reads a \uXXXX escape at the start of b and returns its
// value when it is a UTF-16 surrogate.
func surrogateEscape(b []byte) (uint16, bool) {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
		return 0, false
	}
	v, err := strconv.ParseUint(string(b[2:6]), 16, 16)
	if err != nil || !utf16.IsSurrogate(rune(v)) {
		return 0, false
	}
	return uint16(v), true
}

// describeJSONError shortens encoding/json errors to what helps a reader
// without echoing body content.
func describeJSONError(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("syntax error at offset %d", syn.Offset)
	case errors.As(err, &typ):
		kind, _, _ := strings.Cut(typ.Value, " ")
		if typ.Field != "" {
			return fmt.Sprintf("%s: %s where %s was expected", typ.Field, kind, typ.Type)
		}
		return fmt.Sprintf("%s where %s was expected", kind, typ.Type)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "unexpected end of input"
	case strings.Contains(err.Error(), "invalid number literal"):
		// A quoted string in a json.Number field (an amount of "ten"):
		// encoding/json reports it with an untyped error that quotes the
		// value, so only its wording can tell it.
		return "a string that is not a number where a number was expected"
	}
	return "cannot decode"
}

// HashFields is the hex SHA-256 of the fields, each length-prefixed so that
// no two different lists hash alike. Providers that send no event id
// derive their dedupe keys with it.
func HashFields(fields ...string) string {
	h := sha256.New()
	var n [8]byte
	for _, f := range fields {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// CloneTables deep-copies tables so that a caller cannot change a
// provider's machines through the slices it was given.
func CloneTables(tables ...sm.Table) []sm.Table {
	out := make([]sm.Table, len(tables))
	for i, t := range tables {
		t.Transitions = slices.Clone(t.Transitions)
		for j := range t.Transitions {
			t.Transitions[j].From = slices.Clone(t.Transitions[j].From)
		}
		t.RecordOnly = slices.Clone(t.RecordOnly)
		out[i] = t
	}
	return out
}

// CheckText reports an event whose identifying text is not valid UTF-8 or
// holds a NUL byte. Such text cannot be stored faithfully (PostgreSQL text
// refuses it, JSON would alter it), so the delivery is treated as
// malformed rather than failing storage again on every retry.
func CheckText(events []Event) error {
	for _, ev := range events {
		for _, s := range []string{ev.AggregateID, ev.Name, ev.ProviderStatus, ev.DedupeKey,
			ev.MerchantReference, ev.Currency, string(ev.Kind)} {
			if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
				return errors.New("event fields are not valid UTF-8 text")
			}
		}
		if ev.Parent != nil && (!utf8.ValidString(ev.Parent.ID) || strings.ContainsRune(ev.Parent.ID, 0)) {
			return errors.New("event fields are not valid UTF-8 text")
		}
	}
	return nil
}

// FieldOrAlias returns the trimmed value of a field that providers send
// under two names (event/eventName, type/event): whichever is set, and an
// error naming both when they disagree or naming the field when neither
// is set. Callers wrap the error with ErrMalformed.
func FieldOrAlias(name string, value *string, alias string, aliasValue *string) (string, error) {
	var v, a string
	if value != nil {
		v = strings.TrimSpace(*value)
	}
	if aliasValue != nil {
		a = strings.TrimSpace(*aliasValue)
	}
	switch {
	case v != "" && a != "" && v != a:
		return "", fmt.Errorf("%s and %s disagree", name, alias)
	case v != "":
		return v, nil
	case a != "":
		return a, nil
	}
	return "", fmt.Errorf("missing %s", name)
}
