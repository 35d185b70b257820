package viewcache

import "github.com/paystate/paystate/storage"

// Peek returns the view cached under key, without reading the store or
// counting a hit.
func (c *Cache) Peek(key storage.AggregateKey) (storage.AggregateView, bool) {
	v, _, ok := c.get(key)
	return v, ok
}
