package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/sqlite"
)

// TestRebuildFindsAndFixesTamperedState: state edited behind paystate's
// back is reported by rebuild (exit non-zero) and rewritten by --fix.
func TestRebuildFindsAndFixesTamperedState(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	for _, ev := range []string{"AUTHORISED", "CAPTURED"} {
		s.webhook(t, sample(t, ev))
	}
	s.shutdown()

	var out bytes.Buffer
	stdout = &out
	t.Cleanup(func() { stdout = os.Stdout })
	env := func(k string) string { return map[string]string{"PAYSTATE_DATA_DIR": dir}[k] }
	require.NoError(t, run(t.Context(), []string{"migrate"}, env))
	require.Contains(t, out.String(), "schema version")
	require.NoError(t, run(t.Context(), []string{"rebuild"}, env), out.String())

	// Move the order's state behind paystate's back.
	store, err := sqlite.Open(t.Context(), filepath.Join(dir, "paystate.db"))
	require.NoError(t, err)
	key := storage.AggregateKey{Provider: "ngenius", Kind: "payment", ID: "abc123xyz"}
	require.NoError(t, store.Update(t.Context(), func(tx storage.Tx) error {
		a, err := tx.LockAggregate(t.Context(), key)
		if err != nil {
			return err
		}
		a.State, a.Captured = "refunded", 1
		if err := tx.PutAggregate(t.Context(), a); err != nil {
			return err
		}
		// An aggregate no journal entry explains, and a lost receipt.
		a.Key.ID = "phantom"
		if err := tx.PutAggregate(t.Context(), a); err != nil {
			return err
		}
		return tx.DeleteReceipt(t.Context(), storage.ReceiptKey{Provider: "ngenius", DedupeKey: receiptOf(t, store, key)})
	}))
	require.NoError(t, store.Close())

	out.Reset()
	require.ErrorIs(t, run(t.Context(), []string{"rebuild"}, env), errMismatch)
	require.Contains(t, out.String(), "3 differ")
	require.Contains(t, out.String(), "aggregates ngenius/payment/phantom: stored, but no journal entry")
	require.Contains(t, out.String(), "receipts ngenius/")
	require.NoError(t, run(t.Context(), []string{"rebuild", "--fix"}, env))
	require.Contains(t, out.String(), "fixed 3")
	out.Reset()
	require.NoError(t, run(t.Context(), []string{"rebuild"}, env))
	require.Contains(t, out.String(), "0 differ")

	store, err = sqlite.Open(t.Context(), filepath.Join(dir, "paystate.db"))
	require.NoError(t, err)
	defer store.Close()
	a, err := store.Aggregate(t.Context(), key)
	require.NoError(t, err)
	require.Equal(t, "captured", a.State)
	_, err = store.Aggregate(t.Context(), storage.AggregateKey{Provider: "ngenius", Kind: "payment", ID: "phantom"})
	require.ErrorIs(t, err, storage.ErrNotFound)
}

// receiptOf is the dedupe key of key's first journal entry.
func receiptOf(t *testing.T, r storage.Reader, key storage.AggregateKey) string {
	t.Helper()
	es, err := r.Journal(t.Context(), &key, 0, 1)
	require.NoError(t, err)
	require.NotEmpty(t, es)
	return es[0].DedupeKey
}
