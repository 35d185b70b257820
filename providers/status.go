package providers

import (
	"context"
	"errors"

	"github.com/paystate/paystate/statemachine"
)

// StatusFetcher asks a provider where an aggregate stands now. It is the
// seam for reconciliation: a provider that never retries a webhook
// (N-Genius) or sends only ids and statuses (Magnius) can still be brought
// back in line by asking it.
//
// FetchStatus returns the events, oldest first, that take an aggregate
// which has seen none of them to the provider's current status: a
// captured card payment is an authorisation and then a capture. The
// caller, not the fetcher, decides which of them the aggregate still
// lacks (package reconcile runs them past the machine first) and submits
// those through the engine like any webhook. Every event carries a
// DedupeKey derived only from what the provider said, so that asking twice
// yields the same keys. Errors: ErrUnknownAggregate when the provider does
// not know id, ErrUnsupportedKind for a kind it cannot be asked about,
// ErrUnknownStatus when it answers with a status the fetcher cannot map;
// anything else (network, authentication) is worth trying again later.
type StatusFetcher interface {
	FetchStatus(ctx context.Context, kind statemachine.Kind, id string) ([]Event, error)
}

// Errors of StatusFetcher.
var (
	ErrUnknownAggregate = errors.New("the provider does not know this aggregate")
	ErrUnsupportedKind  = errors.New("the provider's status API cannot be asked about this kind")
	ErrUnknownStatus    = errors.New("the provider reported a status that cannot be mapped")
)
