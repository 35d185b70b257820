// Package listq writes the WHERE clause of ListAggregates for both
// backends. It names only the filters that are set, so that the database
// sees "kind = ? AND state = ?" and can search aggregates_by_state. The
// query it replaces said, for every filter, "the parameter is empty OR the
// column equals it", which no planner can match to an index before it
// knows the parameters: listing the few payments in fraud_review read every
// aggregate, 1.4 s on a million of them.
package listq

import (
	"strings"

	"github.com/paystate/paystate/storage"
)

// Dialect is what differs between the backends.
type Dialect struct {
	// Param is the placeholder of the n-th argument (from 1).
	Param func(n int) string
	// Text wraps a text placeholder that is compared with a key column, in
	// the byte order the keys are sorted in.
	Text func(placeholder string) string
	// NoIndex wraps a column so that the planner does not search an index
	// for the condition on it (and keeps to the primary key's order).
	NoIndex func(column string) string
}

// Where is a WHERE clause (without the keyword) and its arguments, for
// "ORDER BY provider, kind, id" after the key after.
//
// With the kind and the state fixed, aggregates_by_state (kind, state,
// provider, id) holds the matching rows in the order asked for, and the
// cursor bounds a search of it. Otherwise the primary key (provider, kind,
// id) does: with the kind alone, aggregates_by_state would find the rows
// but not in order (the state comes between), and sorting every payment
// for one page is worse than walking the key. The columns each path must
// not search are wrapped in NoIndex.
func Where(d Dialect, f storage.AggregateFilter, since, until int64, after storage.AggregateKey) (string, []any) {
	w := &where{d: d}
	byState := f.Kind != "" && f.State != ""
	if byState {
		w.cond("kind = %", d.Text, f.Kind)
		w.cond("state = %", nil, f.State)
		if f.Provider != "" {
			w.cond(d.NoIndex("provider")+" = %", d.Text, f.Provider)
		}
	} else {
		if f.Provider != "" {
			w.cond("provider = %", d.Text, f.Provider)
		}
		if f.Kind != "" {
			w.cond(d.NoIndex("kind")+" = %", d.Text, f.Kind)
		}
		if f.State != "" {
			w.cond("state = %", nil, f.State)
		}
	}
	if since != 0 {
		w.cond("updated_at >= %", nil, since)
	}
	if until != 0 {
		w.cond("updated_at < %", nil, until)
	}
	switch {
	case byState:
		w.afterByState(f, after)
	case f.Provider != "":
		w.afterInProvider(f, after)
	default:
		w.cond("(provider, kind, id) > (%, %, %)", d.Text, after.Provider, after.Kind, after.ID)
	}
	return strings.Join(w.conds, " AND "), w.args
}

type where struct {
	d     Dialect
	conds []string
	args  []any
}

// cond adds a condition whose % signs are replaced by placeholders for args in
// turn, each wrapped by wrap when it is set.
func (w *where) cond(c string, wrap func(string) string, args ...any) {
	var b strings.Builder
	for _, a := range args {
		i := strings.IndexByte(c, '%')
		w.args = append(w.args, a)
		p := w.d.Param(len(w.args))
		if wrap != nil {
			p = wrap(p)
		}
		b.WriteString(c[:i])
		b.WriteString(p)
		c = c[i+1:]
	}
	b.WriteString(c)
	w.conds = append(w.conds, b.String())
}

// The cursor methods write "(provider, kind, id) > after" for rows whose
// fixed columns have the filter's values, over the columns left free, so
// that it bounds the search of the index in use. Comparing the tuples
// column by column: a fixed column whose value in after is below the
// filter's puts every row after it from there on, one above it none, and
// an equal value leaves the comparison to the next column.

// afterByState: the kind is fixed. (The provider may be too, but every row
// then has it, so comparing over it changes nothing.)
func (w *where) afterByState(f storage.AggregateFilter, after storage.AggregateKey) {
	switch {
	case after.Kind < f.Kind:
		w.cond("provider >= %", w.d.Text, after.Provider)
	case after.Kind > f.Kind:
		w.cond("provider > %", w.d.Text, after.Provider)
	default:
		w.cond("(provider, id) > (%, %)", w.d.Text, after.Provider, after.ID)
	}
}

// afterInProvider: the provider is fixed, and first in the key.
func (w *where) afterInProvider(f storage.AggregateFilter, after storage.AggregateKey) {
	switch {
	case after.Provider < f.Provider:
		// Every row of the provider.
	case after.Provider > f.Provider:
		w.conds = append(w.conds, "FALSE")
	default:
		w.cond("(kind, id) > (%, %)", w.d.Text, after.Kind, after.ID)
	}
}
