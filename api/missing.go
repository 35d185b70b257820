package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/paystate/paystate/redact"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
)

// whyMissing turns a read's ErrNotFound into an answer a person can act
// on: a provider this server has no machine for is InvalidArgument, not
// a missing order; an aggregate whose only events are held says so (it
// exists in the journal, it has no state yet). Other errors go to
// toStatus. id is the identifier as asked for (key.ID may be masked).
func whyMissing(ctx context.Context, log *slog.Logger, r storage.Reader, machines *sm.Registry, key storage.AggregateKey, id string, err error) error {
	if !errors.Is(err, storage.ErrNotFound) && status.Code(err) != codes.NotFound {
		return toStatus(ctx, log, err)
	}
	if err := unknownProvider(machines, key.Provider); err != nil {
		return err
	}
	held, herr := r.PendingDeferred(ctx, key)
	if herr == nil && held > 0 {
		return status.Errorf(codes.NotFound, "%s %s at %s has no state yet: %d event(s) are held until the events they follow arrive (its history shows them)",
			key.Kind, redact.Text(id), key.Provider, held)
	}
	return status.Errorf(codes.NotFound, "%s %s at %s: not found%s", key.Kind, redact.Text(id), key.Provider,
		otherKinds(ctx, r, machines, key))
}

// otherKinds says which other kinds of aggregate the provider has under
// the same id ("" when none): a refund's id asked for as an order is
// otherwise a plain miss, and the caller would not think to ask again
// with kind refund. Only kinds the provider has a machine for are read.
func otherKinds(ctx context.Context, r storage.Reader, machines *sm.Registry, key storage.AggregateKey) string {
	if machines == nil {
		return ""
	}
	var found []string
	for _, k := range sm.Kinds {
		if string(k) == key.Kind || machines.Machine(key.Provider, k) == nil {
			continue
		}
		other := key
		other.Kind = string(k)
		if _, err := r.Aggregate(ctx, other); err == nil {
			found = append(found, string(k))
		}
	}
	if len(found) == 0 {
		return ""
	}
	return fmt.Sprintf(" (the id names a %s there: GetAggregate with kind %s reads it)",
		strings.Join(found, " and a "), strings.Join(found, " or "))
}

// unknownProvider is InvalidArgument naming the providers this server
// knows when it has no machine for provider; nil when it has one, or when
// machines is nil (no registry to ask).
func unknownProvider(machines *sm.Registry, provider string) error {
	if machines == nil {
		return nil
	}
	var known []string
	for _, m := range machines.All() {
		known = append(known, m.Provider())
	}
	known = slices.Compact(known)
	if len(known) > 0 && !slices.Contains(known, provider) {
		return status.Errorf(codes.InvalidArgument, "unknown provider %q: this server knows %s", provider, strings.Join(known, ", "))
	}
	return nil
}

// noEvents is journalPage's NotFound, or, for a provider this server has
// no machine for, why there cannot be any.
func noEvents(machines *sm.Registry, provider string, err error) error {
	if status.Code(err) != codes.NotFound {
		return err
	}
	if perr := unknownProvider(machines, provider); perr != nil {
		return perr
	}
	return err
}
