package viewcache

import (
	"encoding/binary"
	"time"

	"github.com/paystate/paystate/storage"
)

// appendKey appends the cache's key for k: its three parts, each ended
// by a NUL (which no key part holds: stored strings have no NUL bytes).
func appendKey(b []byte, k storage.AggregateKey) []byte {
	b = append(append(b, k.Provider...), 0)
	b = append(append(b, k.Kind...), 0)
	return append(append(b, k.ID...), 0)
}

// encode flattens v into one string, which decode reads back with every
// string of the view a slice of it (no copy). It refuses a view whose
// times are not in UTC (decode gives UTC back; SQLite's are UTC).
func encode(v storage.AggregateView) (string, bool) {
	b := make([]byte, 0, 256)
	b, ok := appendHeld(b, v.HeldAggregate)
	if !ok {
		return "", false
	}
	b = binary.AppendUvarint(b, uint64(len(v.Children)))
	for _, ch := range v.Children {
		if b, ok = appendHeld(b, ch); !ok {
			return "", false
		}
	}
	return string(b), true
}

func appendHeld(b []byte, h storage.HeldAggregate) ([]byte, bool) {
	a := &h.Aggregate
	for _, s := range [...]string{a.Key.Provider, a.Key.Kind, a.Key.ID, a.MerchantReference,
		a.Parent.Provider, a.Parent.Kind, a.Parent.ID, a.State, a.ProviderStatus, a.Currency} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	for _, n := range [...]int64{a.Amount, a.Authorized, a.Captured, a.Refunded, a.CapturedRest, a.RefundedRest, a.Version, int64(h.Pending)} {
		b = binary.AppendVarint(b, n)
	}
	var flags byte
	for i, f := range [...]bool{a.AmountsUnknown, a.AmountKnown} {
		if f {
			flags |= 1 << i
		}
	}
	b = append(b, flags)
	for _, t := range [...]time.Time{a.CreatedAt, a.UpdatedAt} {
		if t.IsZero() {
			if t != (time.Time{}) {
				return nil, false
			}
			b = append(b, 0)
			continue
		}
		if t != t.UTC() {
			return nil, false
		}
		b = append(b, 1)
		b = binary.AppendVarint(b, t.Unix())
		b = binary.AppendUvarint(b, uint64(t.Nanosecond()))
	}
	return b, true
}

// decode reads what encode wrote (nothing else reaches it).
func decode(e string) storage.AggregateView {
	r := reader{s: e}
	v := storage.AggregateView{HeldAggregate: r.held()}
	if n := int(r.uvarint()); n > 0 {
		v.Children = make([]storage.HeldAggregate, n)
		for i := range v.Children {
			v.Children[i] = r.held()
		}
	}
	return v
}

type reader struct {
	s   string
	off int
}

func (r *reader) uvarint() uint64 {
	var x uint64
	var shift uint
	for {
		c := r.s[r.off]
		r.off++
		if c < 0x80 {
			return x | uint64(c)<<shift
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
}

func (r *reader) varint() int64 {
	u := r.uvarint()
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}

func (r *reader) str() string {
	n := int(r.uvarint())
	s := r.s[r.off : r.off+n]
	r.off += n
	return s
}

func (r *reader) time() time.Time {
	flag := r.s[r.off]
	r.off++
	if flag == 0 {
		return time.Time{}
	}
	sec := r.varint()
	return time.Unix(sec, int64(r.uvarint())).UTC()
}

func (r *reader) held() storage.HeldAggregate {
	var h storage.HeldAggregate
	a := &h.Aggregate
	for _, p := range [...]*string{&a.Key.Provider, &a.Key.Kind, &a.Key.ID, &a.MerchantReference,
		&a.Parent.Provider, &a.Parent.Kind, &a.Parent.ID, &a.State, &a.ProviderStatus, &a.Currency} {
		*p = r.str()
	}
	for _, p := range [...]*int64{&a.Amount, &a.Authorized, &a.Captured, &a.Refunded, &a.CapturedRest, &a.RefundedRest, &a.Version} {
		*p = r.varint()
	}
	h.Pending = int(r.varint())
	flags := r.s[r.off]
	r.off++
	for i, f := range [...]*bool{&a.AmountsUnknown, &a.AmountKnown} {
		*f = flags&(1<<i) != 0
	}
	a.CreatedAt = r.time()
	a.UpdatedAt = r.time()
	return h
}
