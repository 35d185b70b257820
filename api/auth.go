package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/paystate/paystate/config"
)

// Token is an API token as configured: its name, role and the hex SHA-256
// of the secret. Only hashes are held in memory.
type Token struct {
	Name   string
	Role   config.Role
	SHA256 string
}

// Principal is the caller behind a valid token.
type Principal struct {
	Name string
	Role config.Role
}

// HashToken returns the hex SHA-256 of a token secret.
func HashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// policy says which roles may call each RPC, by full method name. A method
// not listed is denied to everyone: a new RPC without a policy fails
// closed. TestPolicyIsTheDocumentedMatrix holds it to the matrix the
// README documents (apitest.RoleMatrix).
var policy = map[string][]config.Role{
	"/paystate.v1.OrderService/GetOrder":                {config.RoleReader, config.RoleAuditor, config.RoleFraud, config.RoleAdmin},
	"/paystate.v1.OrderService/LookupOrders":            {config.RoleReader, config.RoleAuditor, config.RoleFraud, config.RoleAdmin},
	"/paystate.v1.OrderService/ListOrders":              {config.RoleReader, config.RoleAuditor, config.RoleFraud, config.RoleAdmin},
	"/paystate.v1.OrderService/BatchGetOrders":          {config.RoleReader, config.RoleAuditor, config.RoleFraud, config.RoleAdmin},
	"/paystate.v1.AggregateService/ListAggregates":      {config.RoleReader, config.RoleAuditor, config.RoleFraud, config.RoleAdmin},
	"/paystate.v1.AuditService/ListOrderEvents":         {config.RoleAuditor, config.RoleAdmin},
	"/paystate.v1.AggregateService/GetAggregate":        {config.RoleReader, config.RoleAuditor, config.RoleFraud, config.RoleAdmin},
	"/paystate.v1.AggregateService/ListAggregateEvents": {config.RoleAuditor, config.RoleAdmin},
	"/paystate.v1.AuditService/ListJournal":             {config.RoleAuditor, config.RoleAdmin},
	"/paystate.v1.MachineService/ListMachines":          {config.RoleReader, config.RoleAuditor, config.RoleFraud, config.RoleAdmin},
	"/paystate.v1.AuditService/GetEvent":                {config.RoleAuditor, config.RoleAdmin},
	"/paystate.v1.AuditService/GetChainHead":            {config.RoleAuditor, config.RoleAdmin},
	"/paystate.v1.AuditService/VerifyJournal":           {config.RoleAuditor, config.RoleAdmin},
	"/paystate.v1.WatchService/Watch":                   {config.RoleFraud, config.RoleAuditor, config.RoleAdmin},
	// Appends to the journal: only an operator decides to re-judge history.
	"/paystate.v1.MachineService/Reevaluate": {config.RoleAdmin},
	"/paystate.v1.CallerService/GetCaller":   {config.RoleReader, config.RoleAuditor, config.RoleFraud, config.RoleAdmin},
}

// public methods need no token: health checks and reflection, so that
// load balancers and grpcurl can discover the server.
func public(method string) bool {
	return strings.HasPrefix(method, "/grpc.health.v1.Health/") ||
		strings.HasPrefix(method, "/grpc.reflection.")
}

// Authenticator checks bearer tokens against the policy.
type Authenticator struct {
	// byHash is keyed by the SHA-256 itself, not its hex: a call hashes
	// the presented secret and looks the sum up, with no string to build.
	byHash map[[sha256.Size]byte]Principal
}

// NewAuthenticator holds the given tokens. A hash that is not 64 hex
// digits matches no secret.
func NewAuthenticator(tokens []Token) *Authenticator {
	a := &Authenticator{byHash: map[[sha256.Size]byte]Principal{}}
	for _, t := range tokens {
		var sum [sha256.Size]byte
		if len(t.SHA256) != hex.EncodedLen(sha256.Size) {
			continue
		}
		if _, err := hex.Decode(sum[:], []byte(t.SHA256)); err != nil {
			continue
		}
		a.byHash[sum] = Principal{Name: t.Name, Role: t.Role}
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
	p, ok := a.byHash[sha256.Sum256([]byte(strings.TrimSpace(secret)))]
	if !ok {
		return Principal{}, status.Error(codes.Unauthenticated, "invalid token")
	}
	if slices.Contains(policy[method], p.Role) {
		return p, nil
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
