package providers

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	sm "github.com/paystate/paystate/statemachine"
)

func TestDecodeObject(t *testing.T) {
	t.Parallel()
	type body struct {
		N json.Number `json:"n"`
		S string      `json:"s"`
	}
	cases := []struct{ in, err string }{
		{`{"n": 12.50, "s": "x"}`, ""},
		{` {"n": 1}`, ""},
		{``, "empty body"},
		{`[1]`, "not a JSON object"},
		{`{"n": 1} {"n": 2}`, "trailing data"},
		{`{"n": 1`, "unexpected end"},
		{`{"s": 5}`, "number where string was expected"},
		{`{"n": "ten"}`, "a string that is not a number where a number was expected"},
		{`{"n": "4111111111111111x"}`, "where a number was expected"},
		{`{"s": "4111111111111111" "x"}`, "syntax error at offset"},
		// Text encoding/json would replace with U+FFFD in a field read.
		{"{\"s\": \"a\xffb\"}", "not valid UTF-8"},
		{`{"s": "a\udc80"}`, "not valid UTF-8"},
		{`{"s": "\ud83d"}`, "not valid UTF-8"},
		{`{"s": "\"\udc80"}`, "not valid UTF-8"},
		{`{"s": "\ud83d\ud83d"}`, "not valid UTF-8"},
		// Nothing lost where nothing is read, or nothing replaced.
		{"{\"n\": 1, \"other\": \"\xff\"}", ""},
		{`{"s": "a\\udc80"}`, ""},
		{`{"s": "\ud83d\ude00\u00e9"}`, ""},
		// A member read twice: encoding/json keeps the last, other readers
		// (and an auditor) the first. Names match as encoding/json
		// matches them: ignoring case, after unescaping.
		{`{"s": "AUTHORIZED", "s": "DECLINED"}`, "appears twice"},
		{`{"s": "AUTHORIZED", "S": "DECLINED"}`, "appears twice"},
		{`{"s": "AUTHORIZED", "\u0073": "DECLINED"}`, "appears twice"},
		{`{"n": 1, "s": "x", "n": 2}`, "appears twice"},
		// Twice with the same value, or twice where nothing is read.
		{`{"s": "x", "s": "x"}`, ""},
		{`{"s": "x", "other": 1, "other": 2}`, ""},
		{`{"s": "x", "o": {"a": 1, "a": 2}}`, ""},
		// Names are unique per object: a name an inner object (or an
		// object in an array) holds too is not a twin of its parent's.
		{`{"o": {"s": "inner"}, "s": "outer"}`, ""},
		{`{"o": [{"n": 1}, {"s": "inner"}], "n": 2, "s": "outer"}`, ""},
	}
	for _, tc := range cases {
		var b body
		err := DecodeObject([]byte(tc.in), &b)
		if tc.err == "" {
			require.NoError(t, err, tc.in)
			continue
		}
		require.ErrorContains(t, err, tc.err, tc.in)
		require.NotContains(t, err.Error(), "4111", "errors never quote the body")
	}
	// An object with many members is indexed by folded name: the same
	// answers.
	var many strings.Builder
	for i := range 40 {
		fmt.Fprintf(&many, `"m%d": %d, `, i, i)
	}
	var b body
	require.ErrorContains(t, DecodeObject([]byte(`{"s": "A", `+many.String()+`"S": "B"}`), &b), "appears twice")
	require.NoError(t, DecodeObject([]byte(`{"s": "A", `+many.String()+`"m1": 7}`), &b))
	require.NoError(t, DecodeObject([]byte(`{"n": 12.50}`), &b))
	require.Equal(t, json.Number("12.50"), b.N, "numbers stay exact")
}

func TestHashFieldsIsUnambiguous(t *testing.T) {
	t.Parallel()
	require.NotEqual(t, HashFields("ab", "c"), HashFields("a", "bc"))
	require.NotEqual(t, HashFields("a", ""), HashFields("a"))
	require.Equal(t, HashFields("x", "y"), HashFields("x", "y"))
}

func TestCloneTablesIsDeep(t *testing.T) {
	t.Parallel()
	orig := sm.Table{Provider: "p", Transitions: []sm.Transition{{Event: "E", From: []sm.State{sm.StateNew}, To: sm.Authorized}}}
	c := CloneTables(orig)
	c[0].Transitions[0].From[0] = sm.Captured
	c[0].Transitions[0].Event = "X"
	require.Equal(t, sm.StateNew, orig.Transitions[0].From[0])
	require.Equal(t, "E", orig.Transitions[0].Event)
}

func TestCheckText(t *testing.T) {
	t.Parallel()
	require.NoError(t, CheckText([]Event{{AggregateID: "ok-ü", Name: "E"}}))
	for _, tc := range []struct {
		ev   Event
		want string
	}{
		// NUL is valid UTF-8: the reason says what is wrong with it.
		{Event{Provider: "generic", AggregateID: "a\x00b"},
			"malformed webhook body: generic: the event's aggregate id holds a NUL character (U+0000), which paystate cannot store"},
		{Event{Provider: "inyo", AggregateID: "a", Name: "\xff"}, "malformed webhook body: inyo: the event's name is not valid UTF-8"},
		{Event{Provider: "ngenius", AggregateID: "a", Parent: &Ref{ID: "\xfe"}}, "malformed webhook body: ngenius: the event's parent id is not valid UTF-8"},
	} {
		err := CheckText([]Event{{AggregateID: "ok"}, tc.ev})
		require.ErrorIs(t, err, ErrMalformed)
		require.EqualError(t, err, tc.want)
	}
}

func TestFieldOrAlias(t *testing.T) {
	t.Parallel()
	str := func(s string) *string { return &s }
	v, err := FieldOrAlias("event", str(" A "), "eventName", nil)
	require.NoError(t, err)
	require.Equal(t, "A", v)
	v, err = FieldOrAlias("event", nil, "eventName", str("B"))
	require.NoError(t, err)
	require.Equal(t, "B", v)
	_, err = FieldOrAlias("event", str("A"), "eventName", str("B"))
	require.ErrorContains(t, err, "event and eventName disagree")
	_, err = FieldOrAlias("event", str(" "), "eventName", nil)
	require.ErrorContains(t, err, "missing event")
}

// FuzzDecodeObjectLosesNothingRead: whenever DecodeObject accepts a body, a
// string it decoded holds U+FFFD only where the body itself wrote one
// (as UTF-8 or as an escape), never where encoding/json replaced invalid
// bytes or an unpaired surrogate escape.
func FuzzDecodeObjectLosesNothingRead(f *testing.F) {
	for _, s := range []string{`{"s":"a"}`, "{\"s\":\"a\xffb\"}", `{"s":"a\udc80"}`, `{"s":"\ud83d\ude00"}`,
		`{"s":"\ufffd"}`, "{\"s\":\"\xef\xbf\xbd\"}", `{"s":"a\\udc80"}`, `{"s":"\"\udc80"}`, "{\"x\":\"\xff\",\"s\":\"ok\"}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var v struct {
			S string `json:"s"`
		}
		if DecodeObject(body, &v) != nil || !strings.ContainsRune(v.S, utf8.RuneError) {
			return
		}
		lower := strings.ToLower(string(body))
		if !strings.Contains(lower, "\xef\xbf\xbd") && !strings.Contains(lower, `\ufffd`) {
			t.Fatalf("decoded %q from %q: a replacement slipped through", v.S, body)
		}
	})
}
