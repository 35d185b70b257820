package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/config"
	"github.com/paystate/paystate/engine"
	"github.com/paystate/paystate/providers/ngenius"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/postgres"
	"github.com/paystate/paystate/storage/sqlite"
)

// TestUpgradeDerivesAmountFacts: a store written before the amount facts
// (SQLite up to 0010, PostgreSQL up to 0008: no amount_known, no rests),
// opened by this binary, is correct without `rebuild --fix`: the audit is
// clean, the $0 card check's amount is known, and a late part after a
// capture in full without an amount is decided against the rest that
// capture took (7000): one 4000 inside it, a second rejected.
func TestUpgradeDerivesAmountFacts(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			cfg := config.Defaults()
			cfg.DataDir = t.TempDir()
			// downgrade takes the schema back to before 0011 (PostgreSQL
			// 0009): the columns the old code did not have, and their
			// migrations' records.
			downgrade := func(ctx context.Context) {
				db, err := sql.Open("sqlite3", sqlitePath(cfg))
				require.NoError(t, err)
				defer db.Close()
				for _, q := range []string{
					`ALTER TABLE aggregates DROP COLUMN amount_known`,
					`ALTER TABLE aggregates DROP COLUMN captured_rest`,
					`ALTER TABLE aggregates DROP COLUMN refunded_rest`,
					`DROP TABLE amount_facts_pending`,
					`DELETE FROM schema_migrations WHERE version >= 11`,
				} {
					_, err := db.ExecContext(ctx, q)
					require.NoError(t, err, q)
				}
			}
			if backend == "postgres" {
				cfg.Store, cfg.StoreSchema = testSchema(t, "upgrade", "the PostgreSQL upgrade test")
				downgrade = func(ctx context.Context) {
					conn, err := pgx.Connect(ctx, cfg.Store)
					require.NoError(t, err)
					defer conn.Close(ctx)
					_, err = conn.Exec(ctx, `SET search_path TO `+cfg.StoreSchema+`;
						ALTER TABLE aggregates DROP COLUMN amount_known, DROP COLUMN captured_rest, DROP COLUMN refunded_rest;
						DROP TABLE amount_facts_pending;
						DELETE FROM schema_migrations WHERE version >= 9`)
					require.NoError(t, err)
				}
			}
			ctx := t.Context()
			p := ngenius.New(ngenius.Config{})
			reg, err := registry()
			require.NoError(t, err)
			at := 0
			deliver := func(eng *engine.Engine, order, event string, orderAmount, amount int64) engine.Outcome {
				t.Helper()
				at++
				body := upgradeWebhook(t, order, event, orderAmount, amount, at)
				events, err := p.Parse(body)
				require.NoError(t, err)
				sum := sha256.Sum256(body)
				out, err := eng.Submit(ctx, engine.Delivery{Provider: p.Name(), BodySHA256: hex.EncodeToString(sum[:]),
					RedactedBody: body, Events: events})
				require.NoError(t, err)
				require.Len(t, out, 1)
				return out[0]
			}
			run := func(fn func(storage.Store, *engine.Engine)) {
				store, _, release, err := openStoreLocked(ctx, cfg, slog.New(slog.DiscardHandler), lockServe, "serve")
				require.NoError(t, err)
				eng := engine.New(store, reg, engine.Config{SweepEvery: time.Hour})
				rctx, cancel := context.WithCancel(ctx)
				done := make(chan struct{})
				go func() { defer close(done); eng.Run(rctx) }()
				fn(store, eng)
				cancel()
				<-done
				require.NoError(t, store.Close())
				release()
			}

			run(func(_ storage.Store, eng *engine.Engine) {
				for _, s := range []struct {
					event  string
					amount int64
				}{{"AUTHORISED", -1}, {"PARTIALLY_CAPTURED", 3000}, {"CAPTURED", -1}} {
					o := deliver(eng, "o1", s.event, 10000, s.amount)
					require.Equal(t, sm.VerdictApplied, o.Verdict, "%s: %s", s.event, o.Reason)
				}
				o := deliver(eng, "check", "AUTHORISED", 0, -1)
				require.Equal(t, sm.VerdictApplied, o.Verdict, o.Reason)
			})
			downgrade(ctx)

			// Opened by the store alone (as a login that may not write
			// leaves it), the facts are not derived yet: the audit does
			// not call the rows the migration left tampered with.
			var raw storage.Store
			if backend == "sqlite" {
				raw, err = sqlite.Open(ctx, sqlitePath(cfg))
			} else {
				raw, err = postgres.Open(ctx, cfg.Store, pgOptions(cfg)...)
			}
			require.NoError(t, err)
			rep, err := engine.Audit(ctx, raw, reg, engine.AuditConfig{})
			require.NoError(t, err)
			require.True(t, rep.OK(), "%v", rep.Problems)
			require.Equal(t, 2, rep.FactsPending, "o1's rest and the card check's known amount")
			require.NoError(t, raw.Close())

			run(func(store storage.Store, eng *engine.Engine) {
				rep, err := engine.Audit(ctx, store, reg, engine.AuditConfig{})
				require.NoError(t, err)
				require.True(t, rep.OK(), "%v", rep.Problems)
				require.Zero(t, rep.FactsPending)
				check, err := store.Aggregate(ctx, storage.AggregateKey{Provider: "ngenius", Kind: string(sm.KindPayment), ID: "check"})
				require.NoError(t, err)
				require.True(t, check.AmountKnown, "the $0 card check's amount")

				o := deliver(eng, "o1", "PARTIALLY_CAPTURED", 10000, 4000)
				require.Equal(t, sm.VerdictApplied, o.Verdict, o.Reason)
				o = deliver(eng, "o1", "PARTIALLY_CAPTURED", 10000, 4000)
				require.Equal(t, sm.VerdictRejected, o.Verdict, o.Reason)
				require.Regexp(t, "^amount", o.Reason)
			})
		})
	}
}

// upgradeWebhook is an N-Genius webhook of order: its event, the order's
// amount and the transaction's (none when negative), at second at.
func upgradeWebhook(t *testing.T, order, event string, orderAmount, amount int64, at int) []byte {
	ts := time.Date(2026, 1, 1, 0, 0, at, 0, time.UTC).Format(time.RFC3339)
	tx := map[string]any{"id": "txn-" + event + "-" + ts, "state": event, "date": ts}
	if amount >= 0 {
		tx["amount"] = map[string]any{"currencyCode": "AED", "value": amount}
	}
	body, err := json.Marshal(map[string]any{
		"event": event,
		"order": map[string]any{"reference": "REF-" + order, "id": order,
			"amount": map[string]any{"currencyCode": "AED", "value": orderAmount}},
		"transaction": tx,
		"timestamp":   ts,
	})
	require.NoError(t, err)
	return body
}
