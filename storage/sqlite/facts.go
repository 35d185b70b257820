package sqlite

import (
	"context"

	"github.com/paystate/paystate/storage"
)

var _ storage.FactsDeriver = (*Store)(nil)

// FactsPending reports whether 0013's mark is still there.
func (s *Store) FactsPending(ctx context.Context) (bool, error) {
	var n int
	err := s.reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM amount_facts_pending`).Scan(&n)
	return n > 0, classify("read amount_facts_pending", err)
}

// SetFacts writes the facts in one write transaction.
func (s *Store) SetFacts(ctx context.Context, facts []storage.Aggregate) (err error) {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return unavailable("begin", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	update, err := tx.PrepareContext(ctx, `UPDATE aggregates SET provider_status = ?, amount = ?, amount_known = ?,
		authorized = ?, captured = ?, refunded = ?, amounts_unknown = ?, captured_rest = ?, refunded_rest = ?
		WHERE provider = ? AND kind = ? AND id = ? AND version = ?`)
	if err != nil {
		return classify("set amount facts", err)
	}
	defer update.Close()
	for _, a := range facts {
		if _, err := update.ExecContext(ctx, a.ProviderStatus, a.Amount, a.AmountKnown,
			a.Authorized, a.Captured, a.Refunded, a.AmountsUnknown, a.CapturedRest, a.RefundedRest,
			a.Key.Provider, a.Key.Kind, a.Key.ID, a.Version); err != nil {
			return classify("set amount facts", err)
		}
	}
	if err := update.Close(); err != nil {
		return classify("set amount facts", err)
	}
	if err := tx.Commit(); err != nil {
		return unavailable("commit", err)
	}
	return nil
}

// FactsDerived deletes 0013's mark.
func (s *Store) FactsDerived(ctx context.Context) error {
	_, err := s.writer.ExecContext(ctx, `DELETE FROM amount_facts_pending`)
	return classify("delete amount_facts_pending", err)
}
