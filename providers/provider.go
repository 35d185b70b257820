package providers

import (
	"errors"
	"time"

	"github.com/paystate/paystate/statemachine"
)

// Headers is the read side of a webhook's HTTP headers (http.Header
// satisfies it) so that providers never depend on net/http.
type Headers interface {
	Get(key string) string
}

// Errors a provider returns: Authenticate's wrap ErrUnauthenticated,
// Parse's wrap ErrMalformed, so that a caller holding only the error can
// tell which step refused the request. The webhook handler answers by the
// step that failed, whatever the error wraps: any Authenticate error is 401
// (nothing stored as trusted), any Parse error 400 (recorded for audit).
var (
	ErrUnauthenticated = errors.New("webhook not authenticated")
	ErrMalformed       = errors.New("malformed webhook body")
)

// Provider is one payment provider's webhook integration.
type Provider interface {
	// Name is the provider's URL segment and storage name, e.g. "ngenius".
	Name() string
	// Authenticate decides whether the raw body really came from the
	// provider. It must compare secrets in constant time and must not parse
	// the body beyond what the signature scheme needs. Errors wrap
	// ErrUnauthenticated.
	Authenticate(h Headers, body []byte, now time.Time) error
	// Parse turns an authenticated body into one or more normalized events.
	// Errors wrap ErrMalformed. An event type the provider does not know
	// yet is not an error: it comes back with Kind set as well as can be
	// told (or empty) and is recorded by the engine.
	Parse(body []byte) ([]Event, error)
	// Tables returns the provider's machine for each kind it supports.
	Tables() []statemachine.Table
}

// Ref names an aggregate of the same provider.
type Ref struct {
	Kind statemachine.Kind
	ID   string
}

// Event is one provider event, normalized.
type Event struct {
	Provider string
	// Kind and AggregateID identify the aggregate. Kind is empty for an
	// event with no lifecycle (customer.created, BATCH_GENERATED, ...).
	Kind        statemachine.Kind
	AggregateID string
	// Parent links a child (refund, chargeback, ...) to its payment when the
	// payload names it.
	Parent            *Ref
	MerchantReference string
	// Name is the provider's word for what happened: an event name or, for
	// status-snapshot providers, the status.
	Name string
	// ProviderStatus is the provider's own status to show beside the
	// canonical state; usually Name.
	ProviderStatus string
	// Amount is in minor units of Currency (ISO 4217); HasAmount tells a
	// zero amount from none.
	Amount    int64
	HasAmount bool
	Currency  string
	// OccurredAt is when the provider says it happened (zero if unknown).
	OccurredAt time.Time
	// DedupeKey identifies the delivery: the provider's event id where it
	// sends one, otherwise derived from the payload. The same key with a
	// different body is a conflict, never a duplicate.
	DedupeKey string
	// RecordOnly marks an event with no lifecycle: recorded, not transitioned.
	RecordOnly bool
	// Snapshot marks a status snapshot of the aggregate itself that carries
	// no identity of its own (Magnius; an Inyo payment's own object): the
	// provider can truly send the same body again once the aggregate has
	// moved on (ACTIVE, PAST_DUE, ACTIVE). Its DedupeKey then holds only
	// while the aggregate stays where it was decided (a retry is a
	// duplicate until the aggregate changes), and a snapshot equal to the
	// aggregate's current status is a duplicate. Events with an identity of
	// their own (a provider event id, a child object's operation on its
	// parent) leave it false: their key holds for ever.
	Snapshot bool
	// Operation marks an event another object reports about this aggregate
	// (an Inyo child object capturing or refunding its parent payment). It
	// moves the aggregate, but the provider status shown for the aggregate
	// stays the aggregate's own: the child's status is the child's, so an
	// aggregate only operations have reached has no provider status yet.
	Operation bool
}
