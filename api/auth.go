package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Token is an API token as configured: its name, role and the hex SHA-256
// of the secret. Only hashes are held in memory.
type Token struct {
	Name, Role, SHA256 string
}

// Principal is the caller behind a valid token.
type Principal struct {
	Name, Role string
}

// HashToken returns the hex SHA-256 of a token secret.
func HashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Policy says which roles may call each RPC, by full method name. A method
// not listed is denied to everyone: a new RPC without a policy fails
// closed (and fails TestEveryRPCHasAPolicy).
var Policy = map[string][]string{
	"/paystate.v1.OrderService/GetOrder":                {"reader", "auditor", "fraud", "admin"},
	"/paystate.v1.OrderService/LookupOrders":            {"reader", "auditor", "fraud", "admin"},
	"/paystate.v1.OrderService/ListOrders":              {"reader", "auditor", "fraud", "admin"},
	"/paystate.v1.OrderService/BatchGetOrders":          {"reader", "auditor", "fraud", "admin"},
	"/paystate.v1.AggregateService/ListAggregates":      {"reader", "auditor", "fraud", "admin"},
	"/paystate.v1.AuditService/ListOrderEvents":         {"auditor", "admin"},
	"/paystate.v1.AggregateService/GetAggregate":        {"reader", "auditor", "fraud", "admin"},
	"/paystate.v1.AggregateService/ListAggregateEvents": {"auditor", "admin"},
	"/paystate.v1.AuditService/ListJournal":             {"auditor", "admin"},
	"/paystate.v1.MachineService/ListMachines":          {"reader", "auditor", "fraud", "admin"},
	"/paystate.v1.AuditService/GetEvent":                {"auditor", "admin"},
	"/paystate.v1.AuditService/GetChainHead":            {"auditor", "admin"},
	"/paystate.v1.AuditService/VerifyJournal":           {"auditor", "admin"},
	"/paystate.v1.WatchService/Watch":                   {"fraud", "auditor", "admin"},
}

// public methods need no token: health checks and reflection, so that
// load balancers and grpcurl can discover the server.
func public(method string) bool {
	return strings.HasPrefix(method, "/grpc.health.v1.Health/") ||
		strings.HasPrefix(method, "/grpc.reflection.")
}

// Authenticator checks bearer tokens against the policy.
type Authenticator struct {
	byHash map[string]Principal
}

// NewAuthenticator holds the given tokens.
func NewAuthenticator(tokens []Token) *Authenticator {
	a := &Authenticator{byHash: map[string]Principal{}}
	for _, t := range tokens {
		a.byHash[strings.ToLower(t.SHA256)] = Principal{Name: t.Name, Role: t.Role}
	}
	return a
}

// Authorize returns the caller of method, or Unauthenticated (no or
// unknown token) or PermissionDenied (the role may not call method).
func (a *Authenticator) Authorize(ctx context.Context, method string) (Principal, error) {
	if public(method) {
		return Principal{}, nil
	}
	// ValueFromIncomingContext, not FromIncomingContext: the latter
	// copies every header of the call, on every call.
	var bearer string
	if v := metadata.ValueFromIncomingContext(ctx, "authorization"); len(v) > 0 {
		bearer = v[0]
	}
	scheme, secret, _ := strings.Cut(bearer, " ")
	if !strings.EqualFold(scheme, "bearer") || secret == "" {
		return Principal{}, status.Error(codes.Unauthenticated, "missing bearer token")
	}
	// The lookup is by hash of the presented secret, so its timing says
	// nothing about any stored secret.
	p, ok := a.byHash[HashToken(strings.TrimSpace(secret))]
	if !ok {
		return Principal{}, status.Error(codes.Unauthenticated, "invalid token")
	}
	for _, role := range Policy[method] {
		if role == p.Role {
			return p, nil
		}
	}
	return Principal{}, status.Errorf(codes.PermissionDenied, "role %s may not call %s", p.Role, method)
}

// Unary is the unary interceptor. The handler's context carries the
// caller (principalFrom), for the interceptors after it.
func (a *Authenticator) Unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	p, err := a.Authorize(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	return next(withPrincipal(ctx, p), req)
}

// Stream is the stream interceptor; like Unary it puts the caller in the
// stream's context.
func (a *Authenticator) Stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) error {
	p, err := a.Authorize(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	return next(srv, principalStream{ss, withPrincipal(ss.Context(), p)})
}

type principalKey struct{}

func withPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// principalFrom returns the caller an Authenticator let through.
func principalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// principalStream is a stream whose context carries the caller.
type principalStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s principalStream) Context() context.Context { return s.ctx }
