package engine

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/sqlite"
)

// TestDeriveFactsRewritesWhatTheJournalRebuilds: DeriveFacts, at the
// first open after the amount-facts migrations, writes the facts the
// replay derives into the rows that lack them and counts those it
// rewrote; the row of an aggregate the machines can no longer rebuild
// keeps what it has (the audit reports it); and the derivation is marked
// done, so the next open does nothing.
func TestDeriveFactsRewritesWhatTheJournalRebuilds(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store, db, exec := factsStore(t)
	writeAuditJournal(t, store, auditRegistry(t))
	known := func(id string) bool {
		t.Helper()
		var k bool
		require.NoError(t, db.QueryRowContext(ctx, `SELECT amount_known FROM aggregates WHERE id = ?`, id).Scan(&k))
		return k
	}

	// As a migration leaves them: o1 (authorized 1000, captured) and o5
	// (authorized 1000, voided) without their amount known.
	exec(`UPDATE aggregates SET amount_known = 0 WHERE id IN ('o1', 'o5')`)
	exec(`INSERT INTO amount_facts_pending (id) VALUES (1)`)
	// Machines on which a capture is legal only after a void decide o1's
	// capture otherwise; an older version applied it, so it stands. But
	// they no longer rebuild o1's journal once it holds an authorization
	// applied after the capture under their own version, which they
	// cannot have decided; o5's they do.
	tb := replayTable(sm.Captured)
	for i := range tb.Transitions {
		if tb.Transitions[i].Event == "CAPTURE" {
			tb.Transitions[i].From = []sm.State{sm.Voided}
		}
	}
	changed, err := sm.NewRegistry(tb)
	require.NoError(t, err)
	_, err = appendAppliedAs(ctx, store, storage.AggregateKey{Provider: "acme", Kind: "payment", ID: "o1"},
		changed.Machine("acme", sm.KindPayment).Version(), authPayload())
	require.NoError(t, err)

	p, err := DeriveFacts(ctx, store, changed, nil)
	require.NoError(t, err)
	require.NotNil(t, p)
	require.True(t, p.Replayed)
	require.Equal(t, 1, p.Rewritten, "only o5's facts differed from a rebuilt aggregate's")
	require.True(t, known("o5"))
	require.False(t, known("o1"), "an aggregate the replay cannot rebuild keeps its row")
	pending, err := store.FactsPending(ctx)
	require.NoError(t, err)
	require.False(t, pending)

	p, err = DeriveFacts(ctx, store, changed, nil)
	require.NoError(t, err)
	require.Nil(t, p, "done: nothing pending")
}

// TestDeriveFactsReachesEveryPage: the stored aggregates are compared a
// page at a time; with one more than a page, the last one's facts are
// derived too before the derivation is marked done.
func TestDeriveFactsReachesEveryPage(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store, db, exec := factsStore(t)
	reg := auditRegistry(t)
	eng, stop := runEngine(t, store, reg)
	send := sender(t, eng)
	const orders = replayPage + 1
	for i := range orders {
		send(i, "AUTH", 1000)
	}
	stop()
	exec(`UPDATE aggregates SET amount_known = 0`)
	exec(`INSERT INTO amount_facts_pending (id) VALUES (1)`)

	p, err := DeriveFacts(ctx, store, reg, nil)
	require.NoError(t, err)
	require.NotNil(t, p)
	require.Equal(t, orders, p.Compared)
	require.Equal(t, orders, p.Rewritten)
	var unknown int
	require.NoError(t, db.QueryRowContext(ctx, `SELECT COUNT(*) FROM aggregates WHERE NOT amount_known`).Scan(&unknown))
	require.Zero(t, unknown)
}

// TestDeriveFactsRewritesWhatOlderRulesDerived: after a release whose rules
// derive the provider status, the face amount and the totals differently
// from the same verdicts (SQLite 0014 marks the store), DeriveFacts writes
// what the replay gives into those columns, so verify finds nothing after
// the upgrade; a row whose state differs from the replay too is left for
// the audit to report.
func TestDeriveFactsRewritesWhatOlderRulesDerived(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store, db, exec := factsStore(t)
	reg := auditRegistry(t)
	writeAuditJournal(t, store, reg)
	// What an older release's rules could have left: another provider
	// status, face amount and totals (o1, o5); o10 also in another state,
	// which no release derives from the same journal.
	exec(`UPDATE aggregates SET provider_status = 'OLDER', amount = 7, amount_known = 0,
		authorized = 1, captured = 2, refunded = 3, amounts_unknown = 1, captured_rest = 4, refunded_rest = 5
		WHERE id IN ('o1', 'o5', 'o10')`)
	exec(`UPDATE aggregates SET state = 'failed' WHERE id = 'o10'`)
	exec(`INSERT INTO amount_facts_pending (id) VALUES (1)`)

	p, err := DeriveFacts(ctx, store, reg, nil)
	require.NoError(t, err)
	require.NotNil(t, p)
	require.Equal(t, 2, p.Rewritten, "o1 and o5; not o10, whose state differs")
	bad, err := Verify(ctx, store, reg)
	require.NoError(t, err)
	require.Len(t, bad, 1, "only o10 differs from the journal: %v", bad)
	require.Equal(t, "o10", bad[0].Key.ID)
	require.Contains(t, bad[0].Detail, "failed")
	var status string
	require.NoError(t, db.QueryRowContext(ctx, `SELECT provider_status FROM aggregates WHERE id = 'o10'`).Scan(&status))
	require.Equal(t, "OLDER", status, "a row changed elsewhere keeps what it has")
}

// factsStore is a SQLite store in a temporary file, a second connection to
// the same file for writing rows behind paystate's back (as a migration
// leaves them), and exec on that connection.
func factsStore(t *testing.T) (*sqlite.Store, *sql.DB, func(q string)) {
	t.Helper()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "paystate.db")
	store, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return store, db, func(q string) {
		t.Helper()
		_, err := db.ExecContext(ctx, q)
		require.NoError(t, err, q)
	}
}
