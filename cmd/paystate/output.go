package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Read commands print a table (aligned columns under a header; an empty
// result says so) or JSON (-o json): the API's own JSON, as the REST
// gateway answers it (protojson field names), indented the same way on
// every run. A single object (get, verify) is that object; a list (list,
// history, machines, migrate status) is a JSON array, [] when empty;
// watch prints one object per line.

const (
	formatTable   = "table"
	formatJSON    = "json"
	formatMermaid = "mermaid"
	formatText    = "text"
)

// outputFormat is the value of -o/--output: one of a command's formats.
type outputFormat struct {
	value   string
	allowed []string
}

func (o *outputFormat) String() string { return o.value }
func (o *outputFormat) Type() string   { return "format" }

func (o *outputFormat) Set(v string) error {
	if !slices.Contains(o.allowed, v) {
		return fmt.Errorf("want %s", orList(o.allowed))
	}
	o.value = v
	return nil
}

// JSON reports whether JSON was asked for.
func (o *outputFormat) JSON() bool { return o.value == formatJSON }

// outputFlag registers -o/--output on cmd, def first among the allowed
// formats (table and json when none are given).
func outputFlag(cmd *cobra.Command, def string, allowed ...string) *outputFormat {
	if len(allowed) == 0 {
		allowed = []string{formatTable, formatJSON}
	}
	o := &outputFormat{value: def, allowed: allowed}
	cmd.Flags().VarP(o, "output", "o", "output format: "+orList(allowed))
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(allowed, cobra.ShellCompDirectiveNoFileComp))
	return o
}

// listOutput checks that -o was given only with --list, on the commands
// whose read side is --list (send, simulate): their other output is what
// the server answered, printed as it is.
func listOutput(cmd *cobra.Command, list bool) error {
	if cmd.Flags().Changed("output") && !list {
		return fmt.Errorf("%s: -o/--output applies to --list only", cmdName(cmd))
	}
	return nil
}

// orList is "a, b or c".
func orList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// writeJSON writes v indented, with a final newline.
func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// protoJSON is m in the API's JSON; re-encoded by writeJSON it has the
// same layout on every run (protojson varies its spacing on purpose).
func protoJSON(m proto.Message) json.RawMessage {
	b, err := protojson.Marshal(m)
	if err != nil {
		// Every message here comes off the wire: it marshals.
		panic(err)
	}
	return b
}

// protoArray is ms as a JSON array, [] when empty.
func protoArray[M proto.Message](ms []M) []json.RawMessage {
	out := make([]json.RawMessage, 0, len(ms))
	for _, m := range ms {
		out = append(out, protoJSON(m))
	}
	return out
}

// table is aligned columns under a header.
type table struct {
	tw   *tabwriter.Writer
	buf  bytes.Buffer
	rows int
}

func newTable(w io.Writer, header ...string) *table {
	t := &table{}
	t.tw = tabwriter.NewWriter(&t.buf, 0, 0, 2, ' ', 0)
	fmt.Fprintln(t.tw, strings.Join(header, "\t"))
	return t
}

func (t *table) row(cells ...any) {
	s := make([]string, len(cells))
	for i, c := range cells {
		s[i] = fmt.Sprint(c)
	}
	fmt.Fprintln(t.tw, strings.Join(s, "\t"))
	t.rows++
}

// flush ends the table; with no rows, the header is not printed and
// empty is, so that an empty result says so.
func (t *table) flush(w io.Writer, empty string) error {
	if t.rows == 0 {
		_, err := fmt.Fprintln(w, empty)
		return err
	}
	if err := t.tw.Flush(); err != nil {
		return err
	}
	// An empty last cell leaves the padding of the one before it.
	var b strings.Builder
	for _, l := range strings.SplitAfter(t.buf.String(), "\n") {
		body, nl := strings.CutSuffix(l, "\n")
		b.WriteString(strings.TrimRight(body, " "))
		if nl {
			b.WriteByte('\n')
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
