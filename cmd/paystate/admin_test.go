package main

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/config"
	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/postgres"
	"github.com/paystate/paystate/storage/sqlite"
)

// TestRebuildFindsAndFixesTamperedState: state edited behind paystate's
// back is reported by rebuild (exit non-zero) and rewritten by --fix.
func TestRebuildFindsAndFixesTamperedState(t *testing.T) {
	dir := capturedOrder(t)
	env, out := adminEnv(t, dir)
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

// TestRebuildOnAReadOnlyLogin: an auditor whose login may only read runs
// rebuild: it opens the store without writing, checks what is sealed,
// and says that what is not sealed was not checked.
func TestRebuildOnAReadOnlyLogin(t *testing.T) {
	dsn, schema := testSchema(t, "readonly", "the read-only rebuild test")
	cfg := config.Defaults()
	cfg.HTTPAddr, cfg.GRPCAddr, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", t.TempDir()
	cfg.Store, cfg.StoreSchema = dsn, schema
	dev, err := config.FillDev(&cfg)
	require.NoError(t, err)
	s := startServerWith(t, cfg, dev)
	for _, ev := range []string{"AUTHORISED", "CAPTURED"} {
		s.webhook(t, sample(t, ev))
	}
	s.shutdown() // seals what it committed
	// One entry committed and left unsealed: no sealer runs.
	store, err := postgres.Open(t.Context(), dsn, postgres.WithSchema(schema))
	require.NoError(t, err)
	require.NoError(t, store.Update(t.Context(), func(tx storage.Tx) error {
		e := storage.JournalEntry{Key: storage.AggregateKey{Provider: "ngenius", Kind: "payment", ID: "later"},
			Event: "AUTHORISED", Verdict: "ignored", Actor: "webhook"}
		return tx.Append(t.Context(), &e)
	}))
	require.NoError(t, store.Close())

	u, err := url.Parse(dsn)
	require.NoError(t, err)
	q := u.Query()
	q.Set("options", "-c default_transaction_read_only=on")
	u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20") // pgx reads + as itself
	var out bytes.Buffer
	stdout = &out
	t.Cleanup(func() { stdout = os.Stdout })
	env := func(k string) string {
		return map[string]string{"PAYSTATE_DATA_DIR": cfg.DataDir, "PAYSTATE_STORE": u.String(), "PAYSTATE_STORE_SCHEMA": schema}[k]
	}
	require.NoError(t, run(t.Context(), []string{"rebuild"}, env), out.String())
	require.Contains(t, out.String(), "0 differ from the journal")
	require.Contains(t, out.String(), "this login may not write, so nothing was sealed: 1 entries")
}

// TestRebuildHonoursWhatOlderRulesApplied: a store an older release wrote
// holds an N-Genius PURCHASE_REVERSED of part of the purchase, applied by
// the rules before this release (which reject it now, amount), and the
// row those rules wrote. rebuild lists it as a notice and exits 0.
func TestRebuildHonoursWhatOlderRulesApplied(t *testing.T) {
	dir := capturedOrder(t)
	env, out := adminEnv(t, dir)
	olderReversal(t, dir)

	require.NoError(t, run(t.Context(), []string{"rebuild"}, env), out.String())
	require.Contains(t, out.String(), "0 differ")
	require.Contains(t, out.String(), "1 applied entries were decided under older rules")
	require.Contains(t, out.String(), "  notice: journal ")
	require.Contains(t, out.String(), "ngenius/payment/abc123xyz decided under older rules (machine version 0123456789ab, now ")
	require.Contains(t, out.String(), "journal says captured → voided, today's rules say rejected (amount: voiding ")
}

// olderReversal appends to the store in dir, whose order abc123xyz is
// captured, an applied PURCHASE_REVERSED of half of the capture as the
// rules before Rules 12 decided it (machine version 0123456789ab), with its
// receipt and the row those rules wrote.
func olderReversal(t *testing.T, dir string) {
	t.Helper()
	store, err := sqlite.Open(t.Context(), filepath.Join(dir, "paystate.db"))
	require.NoError(t, err)
	defer store.Close()
	key := storage.AggregateKey{Provider: "ngenius", Kind: "payment", ID: "abc123xyz"}
	require.NoError(t, store.Update(t.Context(), func(tx storage.Tx) error {
		a, err := tx.LockAggregate(t.Context(), key)
		if err != nil {
			return err
		}
		require.Greater(t, a.Captured, int64(1))
		part := a.Captured / 2
		at := time.Now().UTC().Truncate(time.Microsecond)
		e := &storage.JournalEntry{Key: key, Event: "PURCHASE_REVERSED", Verdict: "applied", StateBefore: a.State,
			StateAfter: "voided", VersionAfter: a.Version + 1, DedupeKey: "older-reversal", BodySHA256: "older-reversal",
			Payload:    fmt.Appendf(nil, `{"name":"PURCHASE_REVERSED","provider_status":"PURCHASE_REVERSED","amount":%d,"has_amount":true,"currency":%q}`, part, a.Currency),
			ReceivedAt: at, Actor: "webhook", MachineVersion: "0123456789ab"}
		if err := tx.Append(t.Context(), e); err != nil {
			return err
		}
		if err := tx.PutReceipt(t.Context(), "ngenius", e.DedupeKey, storage.Receipt{Seq: e.Seq, BodySHA256: e.BodySHA256}); err != nil {
			return err
		}
		// As those rules wrote it: the part off the capture, and off the
		// rest the capture in full took.
		a.State, a.ProviderStatus, a.Captured, a.Version, a.UpdatedAt = "voided", "PURCHASE_REVERSED", a.Captured-part, a.Version+1, at
		a.CapturedRest = min(a.CapturedRest, a.Captured)
		return tx.PutAggregate(t.Context(), a)
	}))
}

// TestVerifyListsWhatOlderRulesApplied: verify on the server passes on the
// same store, and prints the honoured entry as a notice.
func TestVerifyListsWhatOlderRulesApplied(t *testing.T) {
	dir := capturedOrder(t)
	olderReversal(t, dir)
	s := startServer(t, dir)
	cli, out := s.cli(t)
	require.NoError(t, run(t.Context(), []string{"verify"}, cli), out.String())
	require.Contains(t, out.String(), "1 applied entries were decided under older rules that today's rules decide otherwise")
	require.Contains(t, out.String(), "decided under older rules (machine version 0123456789ab, now ")
	require.NotContains(t, out.String(), "PROBLEM")
}

// TestRebuildCountsHeldExpiriesNotRecorded: a held event deferred before
// entries recorded its expiry has none to check it against, and rebuild
// says how many such rows it took as stored.
func TestRebuildCountsHeldExpiriesNotRecorded(t *testing.T) {
	dir := capturedOrder(t)
	env, out := adminEnv(t, dir)
	store, err := sqlite.Open(t.Context(), filepath.Join(dir, "paystate.db"))
	require.NoError(t, err)
	key := storage.AggregateKey{Provider: "ngenius", Kind: "payment", ID: "held-before"}
	received := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	require.NoError(t, store.Update(t.Context(), func(tx storage.Tx) error {
		e := &storage.JournalEntry{Key: key, Event: "CAPTURED", Verdict: "deferred",
			Reason: "early: CAPTURED is legal from authorized, which new can still reach", StateBefore: "new", StateAfter: "new",
			DedupeKey: "held-before/CAPTURED", BodySHA256: "b0d7", ReceivedAt: received, Actor: "webhook"}
		if err := tx.Append(t.Context(), e); err != nil {
			return err
		}
		if err := tx.PutReceipt(t.Context(), "ngenius", e.DedupeKey, storage.Receipt{Seq: e.Seq, BodySHA256: e.BodySHA256}); err != nil {
			return err
		}
		return tx.Defer(t.Context(), storage.DeferredEvent{Seq: e.Seq, Key: key, DedupeKey: e.DedupeKey,
			BodySHA256: e.BodySHA256, ReceivedAt: received, ExpiresAt: received.Add(time.Hour)})
	}))
	require.NoError(t, store.Close())

	require.NoError(t, run(t.Context(), []string{"rebuild"}, env), out.String())
	require.Contains(t, out.String(), "0 differ from the journal")
	require.Contains(t, out.String(), "1 held events were deferred before the journal recorded expiries: their expiry was not checked")
}
