package api

import (
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// DefaultMaxStreams is how many streams one principal may hold open at
// once when Options.MaxStreams is zero.
const DefaultMaxStreams = 128

// streamCap bounds the streams one principal (the authenticated token's
// name) holds open at once, over gRPC and REST alike: a REST watch is a
// gRPC stream of the same principal underneath. A stream is a goroutine,
// a store read per poll and a subscription for as long as the caller
// likes, so without a bound one token could hold as many as it cares to
// open; with it, what one token holds is bounded and the others' are not
// shared with it. It runs after authentication, so only principals the
// configuration names are counted.
type streamCap struct {
	max  int // <= 0: no cap
	mu   sync.Mutex
	open map[string]int
}

func newStreamCap(max int) *streamCap {
	return &streamCap{max: max, open: map[string]int{}}
}

// acquire counts one more stream for name, or says ResourceExhausted
// when name holds max already.
func (c *streamCap) acquire(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open[name] >= c.max {
		return status.Errorf(codes.ResourceExhausted,
			"too many open streams: a token may hold %d at once; close one (or reuse it) and retry", c.max)
	}
	c.open[name]++
	return nil
}

func (c *streamCap) release(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open[name]--; c.open[name] <= 0 {
		delete(c.open, name)
	}
}

// Stream is the stream interceptor; it runs after Authenticator.Stream.
func (c *streamCap) Stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) error {
	p, ok := principalFrom(ss.Context())
	if c.max <= 0 || !ok || p.Name == "" {
		return next(srv, ss)
	}
	if err := c.acquire(p.Name); err != nil {
		return err
	}
	defer c.release(p.Name)
	return next(srv, ss)
}
