package api

import (
	"context"
	"sync"

	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// RateLimit bounds how fast one principal may call the API: a token
// bucket per principal (the authenticated token's name), refilled at
// PerSecond and holding at most Burst calls. The zero value (PerSecond 0)
// limits nothing.
type RateLimit struct {
	PerSecond float64
	Burst     int
}

// rateLimiter runs after authentication, so that only principals the
// configuration names get a bucket: the map cannot be grown by strangers.
// Public methods (health, reflection) carry no principal and are not
// limited. A stream counts once, when it opens.
type rateLimiter struct {
	limit   RateLimit
	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

func newRateLimiter(l RateLimit) *rateLimiter {
	return &rateLimiter{limit: l, buckets: map[string]*rate.Limiter{}}
}

// allow takes one call from the caller's bucket, or says
// ResourceExhausted.
func (l *rateLimiter) allow(ctx context.Context) error {
	if l == nil || l.limit.PerSecond <= 0 {
		return nil
	}
	p, ok := principalFrom(ctx)
	if !ok || p.Name == "" {
		return nil
	}
	l.mu.Lock()
	b, ok := l.buckets[p.Name]
	if !ok {
		b = rate.NewLimiter(rate.Limit(l.limit.PerSecond), max(l.limit.Burst, 1))
		l.buckets[p.Name] = b
	}
	l.mu.Unlock()
	if !b.Allow() {
		return status.Errorf(codes.ResourceExhausted, "rate limit exceeded: %g calls per second (burst %d) per token; retry later",
			l.limit.PerSecond, max(l.limit.Burst, 1))
	}
	return nil
}

// Unary is the unary interceptor; it runs after Authenticator.Unary.
func (l *rateLimiter) Unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	if err := l.allow(ctx); err != nil {
		return nil, err
	}
	return next(ctx, req)
}

// Stream is the stream interceptor; it runs after Authenticator.Stream.
func (l *rateLimiter) Stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) error {
	if err := l.allow(ss.Context()); err != nil {
		return err
	}
	return next(srv, ss)
}
