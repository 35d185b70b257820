package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/paystate/paystate/storage"
)

var _ storage.FactsDeriver = (*Store)(nil)

// FactsPending reports whether 0011's mark is still there.
func (s *Store) FactsPending(ctx context.Context) (bool, error) {
	if s.closed.Load() {
		return false, errClosed
	}
	var pending bool
	err := s.reader.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM amount_facts_pending)`).Scan(&pending)
	return pending, classify("read amount_facts_pending", err)
}

// SetFacts writes the facts in one transaction.
func (s *Store) SetFacts(ctx context.Context, facts []storage.Aggregate) error {
	if s.closed.Load() {
		return errClosed
	}
	var b pgx.Batch
	for _, a := range facts {
		b.Queue(`UPDATE aggregates SET provider_status = $1, amount = $2, amount_known = $3,
			authorized = $4, captured = $5, refunded = $6, amounts_unknown = $7, captured_rest = $8, refunded_rest = $9
			WHERE provider = $10 AND kind = $11 AND id = $12 AND version = $13`,
			a.ProviderStatus, a.Amount, a.AmountKnown, a.Authorized, a.Captured, a.Refunded, a.AmountsUnknown,
			a.CapturedRest, a.RefundedRest, a.Key.Provider, a.Key.Kind, a.Key.ID, a.Version)
	}
	return s.factsWrite(ctx, "set amount facts", func(tx pgx.Tx) error { return tx.SendBatch(ctx, &b).Close() })
}

// FactsDerived deletes 0011's mark.
func (s *Store) FactsDerived(ctx context.Context) error {
	if s.closed.Load() {
		return errClosed
	}
	return s.factsWrite(ctx, "delete amount_facts_pending", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM amount_facts_pending`)
		return err
	})
}

// factsWrite runs fn in a transaction of the write pool; a login that may
// not write gets storage.ErrReadOnly.
func (s *Store) factsWrite(ctx context.Context, op string, fn func(pgx.Tx) error) error {
	err := pgx.BeginFunc(ctx, s.writer, fn)
	if readOnly(err) {
		return fmt.Errorf("postgres: %s: %w: %w", op, storage.ErrReadOnly, err)
	}
	return classify(op, err)
}
