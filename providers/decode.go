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
	"unicode"
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
	if err := checkLossless(body, v); err != nil {
		return err
	}
	return checkUniqueMembers(body, v)
}

// checkUniqueMembers reports a body in which a member paystate reads
// appears twice in one object ({"status": "AUTHORIZED", "status":
// "DECLINED"}). encoding/json keeps the last one; other readers, and an
// auditor reading the stored body, may take the first, so the body says
// two things and is malformed. Names are compared as encoding/json matches
// them to fields: after unescaping, ignoring case. A body with such twins
// is decoded again with every later twin renamed out of reach, so the
// first one counts; if v changes, a field read held two values. Twins in
// fields paystate does not read, or with equal values, change nothing and
// are kept in the body only.
func checkUniqueMembers(body []byte, v any) error {
	twins := laterTwins(body)
	if len(twins) == 0 {
		return nil
	}
	const rename = `\u0000` // a name prefix no field of ours matches
	marked := make([]byte, 0, len(body)+len(twins)*len(rename))
	last := 0
	for _, at := range twins {
		marked = append(marked, body[last:at+1]...)
		marked = append(marked, rename...)
		last = at + 1
	}
	marked = append(marked, body[last:]...)
	again := reflect.New(reflect.TypeOf(v).Elem())
	dec := json.NewDecoder(bytes.NewReader(marked))
	dec.UseNumber()
	if err := dec.Decode(again.Interface()); err != nil || !sameBesidesRenames(v, again.Interface()) {
		return errors.New("a member paystate reads appears twice in one object (JSON member names must be unique)")
	}
	return nil
}

// sameBesidesRenames reports whether v and again, decoded from a body and
// from that body with later twins renamed, hold the same values where a
// struct field reads them. Where nothing resolves names yet the renames
// are undone: text kept raw (json.RawMessage) is left to the decoder that
// reads it later (PayEngine's data matches names exactly), and a map keeps
// every name, the last of exact twins winning as in v.
func sameBesidesRenames(v, again any) bool {
	return sameValue(reflect.ValueOf(v), reflect.ValueOf(again))
}

var rawMessageType = reflect.TypeFor[json.RawMessage]()

func sameValue(a, b reflect.Value) bool {
	if a.Kind() != b.Kind() {
		return false
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return sameValue(a.Elem(), b.Elem())
	case reflect.Struct:
		for i := range a.NumField() {
			if !sameValue(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Slice:
		if a.Type() == rawMessageType {
			return bytes.Equal(unrename(a.Bytes()), unrename(b.Bytes()))
		}
		if a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !sameValue(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if a.Type().Key().Kind() != reflect.String {
			return reflect.DeepEqual(a.Interface(), b.Interface())
		}
		undone := map[string]reflect.Value{}
		for _, k := range b.MapKeys() {
			if name, ok := strings.CutPrefix(k.String(), "\x00"); ok {
				undone[name] = b.MapIndex(k)
			} else if _, set := undone[k.String()]; !set {
				undone[k.String()] = b.MapIndex(k)
			}
		}
		if len(undone) != a.Len() {
			return false
		}
		for _, k := range a.MapKeys() {
			w, ok := undone[k.String()]
			if !ok || !sameValue(a.MapIndex(k), w) {
				return false
			}
		}
		return true
	default:
		return a.Equal(b)
	}
}

// unrename removes the renames checkUniqueMembers made from raw text.
func unrename(raw []byte) []byte {
	return bytes.ReplaceAll(raw, []byte(`"\u0000`), []byte(`"`))
}

// laterTwins returns the offsets of the opening quotes of member names
// that repeat an earlier name of the same object (equal under
// bytes.EqualFold, as encoding/json matches names to fields), in body
// order. body is valid JSON. Names are compared in place; an object with
// many members is indexed by folded name instead, so no body costs more
// than linear time.
func laterTwins(body []byte) []int {
	type object struct {
		first  int                 // index in names of its first member
		folded map[string]struct{} // its names, once it has many
	}
	const manyMembers = 32
	var (
		twins   []int
		names   [][]byte
		objects []object
		frames  []bool // per open container: true for an object
	)
	for i := 0; i < len(body); i++ {
		switch body[i] {
		case '{':
			frames = append(frames, true)
			objects = append(objects, object{first: len(names)})
		case '[':
			frames = append(frames, false)
		case '}':
			frames = frames[:len(frames)-1]
			names = names[:objects[len(objects)-1].first]
			objects = objects[:len(objects)-1]
		case ']':
			frames = frames[:len(frames)-1]
		case '"':
			start := i
			escaped := false
			for i++; body[i] != '"'; i++ {
				if body[i] == '\\' {
					i, escaped = i+1, true
				}
			}
			j := i + 1
			for j < len(body) && (body[j] == ' ' || body[j] == '\t' || body[j] == '\r' || body[j] == '\n') {
				j++
			}
			if j == len(body) || body[j] != ':' || !frames[len(frames)-1] {
				continue
			}
			name := body[start+1 : i]
			if escaped {
				var s string
				_ = json.Unmarshal(body[start:i+1], &s)
				name = []byte(s)
			}
			o := &objects[len(objects)-1]
			twin := false
			if o.folded != nil {
				_, twin = o.folded[foldName(name)]
			} else {
				for _, n := range names[o.first:] {
					if bytes.EqualFold(n, name) {
						twin = true
						break
					}
				}
			}
			if twin {
				twins = append(twins, start)
				continue
			}
			names = append(names, name)
			switch count := len(names) - o.first; {
			case o.folded != nil:
				o.folded[foldName(name)] = struct{}{}
			case count > manyMembers:
				o.folded = make(map[string]struct{}, count)
				for _, n := range names[o.first:] {
					o.folded[foldName(n)] = struct{}{}
				}
			}
		}
	}
	return twins
}

// foldName maps name to one spelling per class of names bytes.EqualFold
// calls equal: each rune becomes the smallest rune of its simple
// case-folding orbit.
func foldName(name []byte) string {
	var b strings.Builder
	for _, r := range string(name) {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		b.WriteRune(least)
	}
	return b.String()
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
// holds a NUL character (U+0000, "\u0000" in JSON). Such text cannot be
// stored faithfully (PostgreSQL text refuses NUL, JSON would alter invalid
// UTF-8), so the delivery is treated as malformed rather than failing
// storage again on every retry. The error wraps ErrMalformed and names the
// provider, the field and what is wrong with it.
func CheckText(events []Event) error {
	for _, ev := range events {
		fields := []struct{ name, value string }{{"aggregate id", ev.AggregateID}, {"name", ev.Name},
			{"provider status", ev.ProviderStatus}, {"dedupe key", ev.DedupeKey},
			{"merchant reference", ev.MerchantReference}, {"currency", ev.Currency}, {"kind", string(ev.Kind)}}
		if ev.Parent != nil {
			fields = append(fields, struct{ name, value string }{"parent id", ev.Parent.ID})
		}
		for _, f := range fields {
			if why := textProblem(f.value); why != "" {
				return fmt.Errorf("%w: %s: the event's %s %s", ErrMalformed, ev.Provider, f.name, why)
			}
		}
	}
	return nil
}

// textProblem says what keeps s from being stored as text, or "".
func textProblem(s string) string {
	switch {
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	case strings.ContainsRune(s, 0):
		return "holds a NUL character (U+0000), which paystate cannot store"
	}
	return ""
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
