package engine

import "sync"

// Notifier tells subscribers that the journal has grown. A signal carries
// no data: subscribers read the journal from their own cursor, so a missed
// or merged signal loses nothing.
type Notifier struct {
	mu   sync.Mutex
	subs map[chan struct{}]struct{}
}

// NewNotifier returns an empty notifier.
func NewNotifier() *Notifier { return &Notifier{subs: map[chan struct{}]struct{}{}} }

// Subscribe returns a channel that receives a value after commits, and a
// function that ends the subscription.
func (n *Notifier) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	n.mu.Lock()
	n.subs[ch] = struct{}{}
	n.mu.Unlock()
	return ch, func() {
		n.mu.Lock()
		delete(n.subs, ch)
		n.mu.Unlock()
	}
}

// Subscribers counts live subscriptions.
func (n *Notifier) Subscribers() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.subs)
}

// Notify wakes every subscriber without blocking.
func (n *Notifier) Notify() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for ch := range n.subs {
		select {
		case ch <- struct{}{}:
		default: // already pending
		}
	}
}
