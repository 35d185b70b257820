package api

import (
	"context"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
)

// The checks every filter of the read API shares (ListOrders,
// ListAggregates, ListJournal, Watch): a value that can match nothing is
// refused as InvalidArgument naming what would match, rather than
// answered with an empty page or, worse, a watch that stays silent
// forever and looks like "nothing happened".

// parseKind reads a kind as a client may write it: the lowercase name
// ("refund") or the enum spelling every response carries in its kind
// field ("KIND_REFUND"), which a client copies into its next filter.
func parseKind(kind string) (sm.Kind, error) {
	k := sm.Kind(strings.TrimPrefix(strings.ToLower(kind), "kind_"))
	if sm.CanonicalStates(k) == nil {
		names := make([]string, len(sm.Kinds))
		for i, known := range sm.Kinds {
			names[i] = string(known)
		}
		return "", status.Errorf(codes.InvalidArgument, "unknown kind %q: one of %s (or the enum spelling, e.g. KIND_REFUND)",
			kind, strings.Join(names, ", "))
	}
	return k, nil
}

// parseKinds is parseKind of each.
func parseKinds(kinds []string) ([]string, error) {
	var out []string
	for _, s := range kinds {
		k, err := parseKind(s)
		if err != nil {
			return nil, err
		}
		out = append(out, string(k))
	}
	return out, nil
}

// parseState reads a state filter in lowercase and refuses one that no
// aggregate of kinds (every kind when empty) can be in.
func parseState(state string, kinds []string) (string, error) {
	s := sm.State(strings.ToLower(state))
	var known []string
	for _, k := range sm.Kinds {
		if len(kinds) > 0 && !slices.Contains(kinds, string(k)) {
			continue
		}
		if sm.IsCanonical(k, s) {
			return string(s), nil
		}
		for _, c := range sm.CanonicalStates(k) {
			known = append(known, string(c))
		}
	}
	slices.Sort(known)
	of := ""
	if len(kinds) > 0 {
		of = " of " + strings.Join(kinds, ", ")
	}
	return "", status.Errorf(codes.InvalidArgument, "%q is not a canonical state%s: one of %s",
		state, of, strings.Join(slices.Compact(known), ", "))
}

// checkProvider refuses a provider filter this server has no machine for
// (unknownProvider's answer), unless the store holds aggregates of it: a
// provider disabled since, its credentials taken out of the
// configuration, keeps its history readable.
func checkProvider(ctx context.Context, machines *sm.Registry, r storage.Reader, provider string) error {
	if provider == "" {
		return nil
	}
	unknown := unknownProvider(machines, provider)
	if unknown == nil {
		return nil
	}
	held, err := r.ListAggregates(ctx, storage.AggregateFilter{Provider: provider}, storage.AggregateKey{}, 1)
	if err != nil {
		return err
	}
	if len(held) > 0 {
		return nil
	}
	return unknown
}
