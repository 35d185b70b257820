package viewcache

import (
	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/internal/view"
)

// Normalizer is a store that says how it reads a written aggregate back
// (its time precision and zone): the SQLite store. Through it a commit
// refreshes the views the cache holds instead of removing them, so that
// the read an order service makes right after its webhook is answered
// from memory.
type Normalizer interface {
	StoredAggregate(a storage.Aggregate) storage.Aggregate
}

func findNormalizer(s storage.Store) Normalizer {
	for {
		if n, ok := s.(Normalizer); ok {
			return n
		}
		u, ok := s.(storage.Unwrapper)
		if !ok {
			return nil
		}
		s = u.Unwrap()
	}
}

// register puts the keys t touched so far in flight, until commit.
func (c *Cache) register(t *tx) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range t.touched[len(t.registered):] {
		c.inflight[k]++
	}
	t.registered = t.touched[:len(t.touched):len(t.touched)]
	if t.all && !t.registeredAll {
		c.inflightAll++
		t.registeredAll = true
	}
}

// touchedInFlight reports whether a transaction in flight touches v: its
// key or one of its children's.
func (c *Cache) touchedInFlight(v storage.AggregateView) bool {
	if c.inflightAll > 0 {
		return true
	}
	if len(c.inflight) == 0 {
		return false
	}
	if c.inflight[v.Key] > 0 {
		return true
	}
	for _, ch := range v.Children {
		if c.inflight[ch.Key] > 0 {
			return true
		}
	}
	return false
}

// commit ends t: it takes its keys out of flight and refreshes the
// cached views it touched (committed, with writes known, through a
// Normalizer) or removes them.
func (c *Cache) commit(t *tx, committed bool, norm Normalizer) {
	if len(t.touched) == 0 && !t.all {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, k := range t.registered {
		if c.inflight[k]--; c.inflight[k] <= 0 {
			delete(c.inflight, k)
		}
	}
	if t.registeredAll {
		c.inflightAll--
	}
	if t.all {
		clear(c.views)
		clear(c.parentOf)
		return
	}
	// The views t touched, as cached before this commit.
	affected := map[storage.AggregateKey]storage.AggregateView{}
	var buf [128]byte
	for _, k := range t.touched {
		for _, v := range [...]storage.AggregateKey{k, c.parentOf[k]} {
			if v == (storage.AggregateKey{}) {
				continue
			}
			if _, seen := affected[v]; seen {
				continue
			}
			if e, ok := c.views[string(appendKey(buf[:0], v))]; ok {
				affected[v] = decode(e)
			}
		}
	}
	fresh := map[storage.AggregateKey]storage.AggregateView{}
	if committed && norm != nil {
		for k, old := range affected {
			if v, ok := c.refreshed(t, old, norm); ok {
				fresh[k] = v
			}
		}
	}
	for k := range affected {
		c.dropLocked(string(appendKey(buf[:0], k)))
	}
	for k, v := range fresh {
		e, ok := encode(v)
		if !ok {
			continue
		}
		for _, ch := range v.Children {
			if p, ok := c.parentOf[ch.Key]; ok && p != k {
				// Another view still lists it: not one this commit
				// refreshed (each of those was dropped above), so
				// one the child left before; it cannot be exact.
				c.dropLocked(string(appendKey(buf[:0], p)))
			}
		}
		for _, ch := range v.Children {
			c.parentOf[ch.Key] = k
		}
		c.views[string(appendKey(nil, k))] = e
	}
}

// refreshed returns old, the view cached before t committed, as the store
// reads it after; ok is false when that is not known for sure (the view
// is then removed).
func (c *Cache) refreshed(t *tx, old storage.AggregateView, norm Normalizer) (storage.AggregateView, bool) {
	key := old.Key
	// The store lists no children of a key with an empty id (its view
	// query skips parent_id ''); no aggregate has one, and none is
	// refreshed.
	if t.failed || key.ID == "" || c.touchedInFlight(old) {
		return storage.AggregateView{}, false
	}
	self, ok := c.held(t, old.HeldAggregate, norm)
	if !ok || self.Key != key {
		return storage.AggregateView{}, false
	}
	v := storage.AggregateView{HeldAggregate: self}
	listed := map[storage.AggregateKey]bool{}
	for _, ch := range old.Children {
		listed[ch.Key] = true
		h, ok := c.held(t, ch, norm)
		if !ok {
			return storage.AggregateView{}, false
		}
		if h.Key == (storage.AggregateKey{}) || h.Parent != key {
			continue // deleted, or moved to another parent
		}
		v.Children = append(v.Children, h)
	}
	for k, w := range t.rows {
		if w.deleted || w.a.Parent != key || listed[k] {
			continue
		}
		// A new child: its held count is known only from a view that
		// holds it (its own, or its previous parent's).
		base, ok := c.cachedHeld(k)
		if !ok || c.inflight[k] > 0 {
			return storage.AggregateView{}, false
		}
		h, ok := c.held(t, base, norm)
		if !ok {
			return storage.AggregateView{}, false
		}
		v.Children = append(v.Children, h)
	}
	if len(v.Children) > maxChildren {
		return storage.AggregateView{}, false
	}
	for _, ch := range v.Children {
		if ch.Key == key {
			return storage.AggregateView{}, false // its own parent: not worth the care
		}
	}
	view.SortChildren(v.Children)
	return v, true
}

// held returns h, an aggregate and its held count as cached before t
// committed, as they are after: the row t wrote last (the zero key when
// it deleted it) and the count moved by t's holds and releases.
func (c *Cache) held(t *tx, h storage.HeldAggregate, norm Normalizer) (storage.HeldAggregate, bool) {
	key := h.Key
	if w, ok := t.rows[key]; ok {
		if w.deleted {
			return storage.HeldAggregate{}, true
		}
		h.Aggregate = norm.StoredAggregate(w.a)
	}
	h.Pending += t.pending[key]
	return h, h.Pending >= 0
}

// cachedHeld finds k's held count (with its row, which held replaces)
// in a cached view: its own, or the one listing it as a child.
func (c *Cache) cachedHeld(k storage.AggregateKey) (storage.HeldAggregate, bool) {
	var buf [128]byte
	if e, ok := c.views[string(appendKey(buf[:0], k))]; ok {
		return decode(e).HeldAggregate, true
	}
	if p, ok := c.parentOf[k]; ok {
		if e, ok := c.views[string(appendKey(buf[:0], p))]; ok {
			for _, ch := range decode(e).Children {
				if ch.Key == k {
					return ch, true
				}
			}
		}
	}
	return storage.HeldAggregate{}, false
}
