package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/paystate/paystate/checkpoint"
)

// Problem is one thing wrong with a configuration, and where it is.
type Problem struct {
	// Line and Column locate the key in the file (1-based); Line is 0 when
	// the value does not come from the file (a default, the environment).
	Line, Column int
	// Path is the key, e.g. providers.generic.algorithm or api_tokens[1].role;
	// an environment variable's name for a problem in the environment.
	Path string
	Msg  string
}

func (p Problem) String() string {
	where := "(not in the file)"
	if p.Line > 0 {
		where = fmt.Sprintf("line %d", p.Line)
	}
	if p.Path == "" {
		return where + ": " + p.Msg
	}
	return where + ": " + p.Path + ": " + p.Msg
}

// Check reads a configuration file the way `paystate serve --config` does
// (defaults, the file, then env) and returns every problem it can find,
// each with the line of the offending key: unknown keys and values of the
// wrong type from the YAML decoder, then the validation rules, then what
// each of startup finds (the files, keys and URLs serve will open; each
// error starts with the key it is about, e.g. "tls.cert_file: ..."). A
// file with no problems returns the effective configuration and none.
func Check(raw []byte, env func(string) string, startup ...func(Config) []error) (Config, []Problem) {
	c := Defaults()
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		// Not YAML at all: nothing else can be said.
		return c, []Problem{syntaxProblem(err)}
	}
	var problems []Problem
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for _, e := range te.Errors {
				problems = append(problems, decodeProblem(&root, e))
			}
		} else {
			problems = append(problems, syntaxProblem(err))
		}
	}
	if err := c.applyEnv(env); err != nil {
		msg := strings.TrimPrefix(err.Error(), "config: ")
		name, rest, _ := strings.Cut(msg, ":")
		problems = append(problems, Problem{Path: name, Msg: strings.TrimSpace(rest)})
	}
	for _, err := range validationErrors(c.Validate()) {
		problems = append(problems, locate(&root, err.Error()))
	}
	for _, check := range startup {
		for _, err := range check(c) {
			problems = append(problems, locate(&root, err.Error()))
		}
	}
	if c.CheckpointKeyFile != "" {
		// Read only here: a client command loading the same file need
		// not reach the server's key.
		if _, err := checkpoint.LoadKey(c.CheckpointKeyFile); err != nil {
			problems = append(problems, locate(&root, "checkpoint_key_file: "+err.Error()))
		}
	}
	if len(c.APITokens) == 0 {
		p := Problem{Path: "api_tokens", Msg: "no API token is configured: serve refuses a file without one (nobody could read state)"}
		if n := lookup(&root, "api_tokens"); n != nil {
			p.Line, p.Column = n.Line, n.Column
		}
		problems = append(problems, p)
	}
	sort.SliceStable(problems, func(i, j int) bool {
		a, b := problems[i], problems[j]
		if (a.Line == 0) != (b.Line == 0) {
			return b.Line == 0 // what is in the file first
		}
		return a.Line < b.Line
	})
	return c, problems
}

// validationErrors splits what Validate returned into its rules' errors.
func validationErrors(err error) []error {
	if err == nil {
		return nil
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			return j.Unwrap()
		}
	}
	return []error{err}
}

var (
	lineRe    = regexp.MustCompile(`line (\d+)(?:, column (\d+))?:\s*`)
	unknownRe = regexp.MustCompile(`field (\S+) not found in type`)
	// pathRe is the key path a validation message starts with.
	pathRe = regexp.MustCompile(`^[a-z_]+(\[\d+\])?(\.[a-z_]+(\[\d+\])?)*`)
)

func syntaxProblem(err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	p := Problem{Msg: msg}
	if m := lineRe.FindStringSubmatch(msg); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		p.Column, _ = strconv.Atoi(m[2])
		p.Msg = strings.Replace(msg, m[0], "", 1)
	}
	return p
}

// decodeProblem turns one of the decoder's "line N: ..." messages into a
// problem, naming the key found on that line.
func decodeProblem(root *yaml.Node, e string) Problem {
	p := syntaxProblem(errors.New(e))
	if m := unknownRe.FindStringSubmatch(p.Msg); m != nil {
		p.Msg = fmt.Sprintf("unknown key %q (see README, Configuration, for every key)", m[1])
		if path, key := keyAt(root, p.Line, m[1]); key != nil {
			p.Path, p.Column = path, key.Column
		}
		return p
	}
	if path, key := keyAt(root, p.Line, ""); key != nil {
		p.Path, p.Column = path, key.Column
	}
	p.Msg = strings.TrimPrefix(p.Msg, "cannot unmarshal ")
	return p
}

// locate finds the key a validation message is about: the path it starts
// with, narrowed to the first key of that mapping the message mentions.
func locate(root *yaml.Node, msg string) Problem {
	msg = strings.TrimPrefix(msg, "config: ")
	path := pathRe.FindString(msg)
	rest := strings.TrimLeft(strings.TrimPrefix(msg, path), " ")
	if strings.HasPrefix(rest, "(") {
		// "api_tokens[0] (ops): ...": the path already says which item.
		if i := strings.Index(rest, "):"); i > 0 {
			rest = rest[i+2:]
		}
	}
	p := Problem{Path: path, Msg: strings.TrimLeft(rest, ": ")}
	if path == "" {
		p.Msg = msg
		return p
	}
	if n := lookupValue(root, path); n != nil && n.Kind == yaml.MappingNode {
		best, at := "", len(p.Msg)+1
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if j := wordIndex(p.Msg, k); j >= 0 && j < at {
				best, at = k, j
			}
		}
		if best != "" {
			path += "." + best
		}
	}
	p.Path = path
	// A key that is missing is pointed at through the nearest enclosing
	// key the file has: that is where it belongs.
	for at := path; at != ""; at = parentPath(at) {
		if n := lookup(root, at); n != nil {
			p.Line, p.Column = n.Line, n.Column
			break
		}
	}
	return p
}

// parentPath drops the last key or index of path.
func parentPath(path string) string {
	if strings.HasSuffix(path, "]") {
		return path[:strings.LastIndex(path, "[")]
	}
	if i := strings.LastIndex(path, "."); i >= 0 {
		return path[:i]
	}
	return ""
}

// wordIndex finds word in s as a whole word, or -1.
func wordIndex(s, word string) int {
	for from := 0; ; {
		i := strings.Index(s[from:], word)
		if i < 0 {
			return -1
		}
		i += from
		end := i + len(word)
		if (i == 0 || !isWordByte(s[i-1])) && (end == len(s) || !isWordByte(s[end])) {
			return i
		}
		from = i + 1
	}
}

func isWordByte(b byte) bool {
	return b == '_' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

type segment struct {
	key   string
	index int // -1: none
}

func splitPath(path string) []segment {
	var out []segment
	for _, part := range strings.Split(path, ".") {
		s := segment{key: part, index: -1}
		if k, idx, ok := strings.Cut(part, "["); ok {
			s.key = k
			s.index, _ = strconv.Atoi(strings.TrimSuffix(idx, "]"))
		}
		out = append(out, s)
	}
	return out
}

// lookup returns the node to point at for path: the key node of its last
// key, or the item of its last index; nil when the file does not have it.
func lookup(root *yaml.Node, path string) *yaml.Node {
	at, _ := walk(root, path)
	return at
}

// lookupValue returns the value node at path, or nil.
func lookupValue(root *yaml.Node, path string) *yaml.Node {
	_, v := walk(root, path)
	return v
}

func walk(root *yaml.Node, path string) (at, value *yaml.Node) {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, s := range splitPath(path) {
		if n.Kind != yaml.MappingNode {
			return nil, nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == s.key {
				at, next = n.Content[i], n.Content[i+1]
			}
		}
		if next == nil {
			return nil, nil
		}
		n = next
		if s.index >= 0 {
			if n.Kind != yaml.SequenceNode || s.index >= len(n.Content) {
				return nil, nil
			}
			n = n.Content[s.index]
			at = n
		}
	}
	return at, n
}

// keyAt finds the mapping key on line (named name, if given) and its path.
func keyAt(root *yaml.Node, line int, name string) (string, *yaml.Node) {
	var found *yaml.Node
	var foundPath string
	var visit func(n *yaml.Node, path string)
	visit = func(n *yaml.Node, path string) {
		if found != nil {
			return
		}
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				visit(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := k.Value
				if path != "" {
					p = path + "." + k.Value
				}
				// A value on the line counts too: the error may be about
				// a flow mapping's value, e.g. {defer_window: soon}.
				if (k.Line == line || v.Line == line && v.Kind == yaml.ScalarNode) && (name == "" || k.Value == name) {
					found, foundPath = k, p
					return
				}
				visit(v, p)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				visit(c, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
	visit(root, "")
	return foundPath, found
}

// Redacted renders c as YAML with every secret replaced by "<redacted>":
// the values of keys that hold secrets (tokens, passwords, webhook header
// values, HMAC secrets, API keys, bearer credentials) and the password of
// any URL. Public keys and token hashes are shown.
func Redacted(c Config) ([]byte, error) {
	raw, err := yaml.Marshal(c)
	if err != nil {
		return nil, err
	}
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		return nil, err
	}
	redactNode(&root, false)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&root); err != nil {
		return nil, err
	}
	return buf.Bytes(), enc.Close()
}

// secretKeys hold secrets; so does any key whose name contains one of
// secretWords.
var (
	secretKeys  = map[string]bool{"token": true, "header_values": true, "bearer": true, "api_key": true, "dsn": true}
	secretWords = []string{"secret", "password", "private"}
)

func isSecretKey(k string) bool {
	if secretKeys[k] {
		return true
	}
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

func redactNode(n *yaml.Node, secret bool) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			redactNode(c, secret)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			redactNode(n.Content[i+1], secret || isSecretKey(n.Content[i].Value))
		}
	case yaml.ScalarNode:
		switch {
		case secret && n.Value != "":
			n.Value, n.Style, n.Tag = "<redacted>", 0, "!!str"
		case strings.Contains(n.Value, "://"):
			if u, err := url.Parse(n.Value); err == nil && u.User != nil {
				if _, has := u.User.Password(); has {
					u.User = url.UserPassword(u.User.Username(), "redacted")
					n.Value = u.String()
				}
			}
		}
	}
}
