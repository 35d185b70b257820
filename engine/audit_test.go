package engine

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/providers"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/postgres"
	"github.com/paystate/paystate/storage/sqlite"
)

// auditBackend is a fresh store on a real database, and a way to change
// that database behind the store's back as an intruder with the file (or
// a database login) would.
type auditBackend struct {
	name string
	open func(t *testing.T) (storage.Store, func(query string, args ...any))
}

// auditBackends are SQLite on a temporary file, and PostgreSQL in a
// schema of its own when PAYSTATE_TEST_POSTGRES_DSN is set.
func auditBackends() []auditBackend {
	bs := []auditBackend{{"sqlite", func(t *testing.T) (storage.Store, func(string, ...any)) {
		path := filepath.Join(t.TempDir(), "paystate.db")
		store, err := sqlite.Open(t.Context(), path)
		require.NoError(t, err)
		t.Cleanup(func() { _ = store.Close() })
		db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close() })
		return store, func(query string, args ...any) {
			t.Helper()
			_, err := db.ExecContext(context.Background(), query, args...)
			require.NoError(t, err, query)
		}
	}}}
	dsn := os.Getenv("PAYSTATE_TEST_POSTGRES_DSN")
	if dsn == "" {
		return bs
	}
	return append(bs, auditBackend{"postgres", func(t *testing.T) (storage.Store, func(string, ...any)) {
		store, _, exec := openPostgresAudit(t, dsn)
		return store, exec
	}})
}

// openPostgresAudit is the PostgreSQL auditBackend, in a fresh schema
// whose name it returns too.
func openPostgresAudit(t *testing.T, dsn string) (storage.Store, string, func(string, ...any)) {
	schema := fmt.Sprintf("audit_%d", time.Now().UnixNano())
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(dsn)
	require.NoError(t, err)
	cfg.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, dsn)
		if err == nil {
			_, _ = c.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
			_ = c.Close(ctx)
		}
	})
	store, err := postgres.Open(t.Context(), dsn, postgres.WithSchema(schema))
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	return store, schema, func(query string, args ...any) {
		t.Helper()
		c, err := pgx.ConnectConfig(ctx, cfg)
		require.NoError(t, err)
		defer c.Close(ctx)
		_, err = c.Exec(ctx, dollarPlaceholders(query), args...)
		require.NoError(t, err, query)
	}
}

// dollarPlaceholders turns ? into $1, $2, ...
func dollarPlaceholders(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// auditOrders is how many orders writeAuditJournal writes.
const auditOrders = 30

// sender submits one acme payment event through eng, its body hash being
// its dedupe key (a resend is a duplicate).
func sender(t *testing.T, eng *Engine) func(i int, name string, amount int64) {
	return func(i int, name string, amount int64) {
		t.Helper()
		id := fmt.Sprintf("o%d", i)
		ev := providers.Event{Provider: "acme", Kind: sm.KindPayment, AggregateID: id, Name: name, DedupeKey: id + "/" + name,
			Amount: amount, HasAmount: amount > 0, Currency: "EUR", MerchantReference: "ref-" + id}
		_, err := eng.Submit(context.Background(), Delivery{Provider: "acme", BodySHA256: ev.DedupeKey, Events: []providers.Event{ev}})
		require.NoError(t, err)
	}
}

// runEngine runs an engine over store until the test ends or stop is
// called.
func runEngine(t *testing.T, store storage.Store, reg *sm.Registry) (*Engine, func()) {
	eng := New(store, reg, Config{SweepEvery: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); eng.Run(ctx) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return eng, stop
}

// writeAuditJournal fills store through the engine: applied, duplicate,
// rejected, record-only, deferred-then-resolved and still-held events,
// and a malformed body.
func writeAuditJournal(t *testing.T, store storage.Store, reg *sm.Registry) {
	t.Helper()
	eng, stop := runEngine(t, store, reg)
	defer stop()
	send := sender(t, eng)
	for i := range auditOrders {
		if i%7 == 0 {
			send(i, "CAPTURE", 0) // early: deferred, resolved by the AUTH
		}
		if i%9 != 4 {
			send(i, "AUTH", 1000)
		} else {
			send(i, "REFUND", 10) // held: its AUTH never comes
		}
	}
	for i := range auditOrders {
		send(i, "NOTE", 0)
		switch {
		case i%9 == 4:
		case i%5 == 0:
			send(i, "VOID", 0)
		case i%7 != 0:
			send(i, "CAPTURE", 600)
			send(i, "CAPTURE", 600) // duplicate
		}
		send(i, "REFUND", 100)
	}
	_, err := eng.Submit(context.Background(), Delivery{Provider: "acme", BodySHA256: "feed", Malformed: "not JSON"})
	require.NoError(t, err)
}

func auditRegistry(t *testing.T) *sm.Registry {
	reg, err := sm.NewRegistry(replayTable(sm.Captured))
	require.NoError(t, err)
	return reg
}

func audit(t *testing.T, store storage.Reader, reg *sm.Registry) *AuditReport {
	t.Helper()
	rep, err := Audit(t.Context(), store, reg, AuditConfig{})
	require.NoError(t, err)
	return rep
}

const aggregateInsert = `INSERT INTO aggregates (provider, kind, id, merchant_reference, parent_provider, parent_kind,
	parent_id, state, provider_status, currency, amount, authorized, captured, refunded, version, created_at, updated_at)
	VALUES ('acme', 'payment', 'phantom', 'ref-x', '', '', '', 'captured', 'CAPTURE', 'EUR', 99999999, 99999999, 99999999, 0, 2, 1, 1)`

// TestAuditDetectsTampering changes one derived table (or cuts the
// journal) behind the store's back, the cases of the adversarial audit,
// and wants Audit to name the table and row, Repair to rewrite it from the
// journal, and Audit to pass again afterwards.
func TestAuditDetectsTampering(t *testing.T) {
	t.Parallel()
	type tamper struct {
		name string
		// do changes the database; send, when the case needs it, delivers
		// events afterwards through a running engine.
		do func(t *testing.T, exec func(string, ...any), send func(i int, name string, amount int64))
		// want are (table, row) pairs Audit must report.
		want [][2]string
		// unfixable: the journal itself now holds a wrong verdict.
		unfixable bool
		// detail, when set, is part of what one of the problems says.
		detail string
	}
	cases := []tamper{
		{name: "T9 receipt deleted", do: func(t *testing.T, exec func(string, ...any), _ func(int, string, int64)) {
			exec(`DELETE FROM receipts WHERE provider = 'acme' AND dedupe_key = 'o3/CAPTURE'`)
		}, want: [][2]string{{TableReceipts, "acme/o3/CAPTURE"}}},
		{name: "T9 receipt deleted, then the event redelivered", do: func(t *testing.T, exec func(string, ...any), send func(int, string, int64)) {
			exec(`DELETE FROM receipts WHERE provider = 'acme' AND dedupe_key = 'o2/AUTH'`)
			send(2, "AUTH", 1000) // decided as new: stale, a second first verdict
		}, want: [][2]string{{TableJournal, ""}, {TableReceipts, "acme/o2/AUTH"}}, unfixable: true, detail: "got its first verdict at"},
		{name: "receipt repointed", do: func(t *testing.T, exec func(string, ...any), _ func(int, string, int64)) {
			exec(`UPDATE receipts SET seq = seq + 1 WHERE provider = 'acme' AND dedupe_key = 'o8/AUTH'`)
		}, want: [][2]string{{TableReceipts, "acme/o8/AUTH"}}},
		{name: "phantom receipt", do: func(t *testing.T, exec func(string, ...any), _ func(int, string, int64)) {
			exec(`INSERT INTO receipts (provider, dedupe_key, seq, body_sha256) VALUES ('acme', 'o1/CLOSE', 3, 'x')`)
		}, want: [][2]string{{TableReceipts, "acme/o1/CLOSE"}}, detail: "no journal entry has this dedupe key"},
		{name: "T10 held event deleted", do: func(t *testing.T, exec func(string, ...any), _ func(int, string, int64)) {
			exec(`DELETE FROM deferred WHERE seq = (SELECT MIN(seq) FROM deferred)`)
		}, want: [][2]string{{TableDeferred, ""}}},
		{name: "phantom held event", do: func(t *testing.T, exec func(string, ...any), _ func(int, string, int64)) {
			exec(`INSERT INTO deferred (seq, provider, kind, aggregate_id, dedupe_key, payload, body_sha256, received_at, expires_at)
				SELECT seq, provider, kind, aggregate_id, dedupe_key, payload, body_sha256, received_at, received_at + 1
				FROM journal WHERE seq = 2`)
		}, want: [][2]string{{TableDeferred, "2"}}},
		{name: "held event resolved but left held", do: func(t *testing.T, exec func(string, ...any), _ func(int, string, int64)) {
			exec(`INSERT INTO deferred (seq, provider, kind, aggregate_id, dedupe_key, payload, body_sha256, received_at, expires_at)
				SELECT seq, provider, kind, aggregate_id, dedupe_key, payload, body_sha256, received_at, received_at + 1
				FROM journal WHERE seq = 1`) // o0's early CAPTURE, resolved by its AUTH
		}, want: [][2]string{{TableDeferred, "1"}}},
		{name: "held event changed", do: func(t *testing.T, exec func(string, ...any), _ func(int, string, int64)) {
			exec(`UPDATE deferred SET dedupe_key = 'other' WHERE seq = (SELECT MIN(seq) FROM deferred)`)
		}, want: [][2]string{{TableDeferred, ""}}},
		{name: "held event's expiry moved to its receipt", do: func(t *testing.T, exec func(string, ...any), _ func(int, string, int64)) {
			exec(`UPDATE deferred SET expires_at = received_at WHERE seq = (SELECT MIN(seq) FROM deferred)`)
		}, want: [][2]string{{TableDeferred, ""}}, detail: "held the event until"},
		{name: "held event's expiry moved ten years later", do: func(t *testing.T, exec func(string, ...any), _ func(int, string, int64)) {
			exec(`UPDATE deferred SET expires_at = expires_at + 315360000000000 WHERE seq = (SELECT MIN(seq) FROM deferred)`)
		}, want: [][2]string{{TableDeferred, ""}}, detail: "held the event until"},
		{name: "T8 phantom aggregate", do: func(t *testing.T, exec func(string, ...any), _ func(int, string, int64)) {
			exec(aggregateInsert)
		}, want: [][2]string{{TableAggregates, "acme/payment/phantom"}}},
		{name: "T8b aggregate deleted", do: func(t *testing.T, exec func(string, ...any), _ func(int, string, int64)) {
			exec(`DELETE FROM aggregates WHERE id = 'o11'`)
		}, want: [][2]string{{TableAggregates, "acme/payment/o11"}}},
		{name: "T8c aggregate amount changed", do: func(t *testing.T, exec func(string, ...any), _ func(int, string, int64)) {
			exec(`UPDATE aggregates SET captured = captured + 3000 WHERE id = 'o11'`)
		}, want: [][2]string{{TableAggregates, "acme/payment/o11"}}},
		{name: "parent link forged", do: func(t *testing.T, exec func(string, ...any), _ func(int, string, int64)) {
			exec(`UPDATE aggregates SET parent_provider = 'acme', parent_kind = 'payment', parent_id = 'o1' WHERE id = 'o2'`)
		}, want: [][2]string{{TableAggregates, "acme/payment/o2"}}},
		{name: "T6 tail cut and the head moved to match", do: func(t *testing.T, exec func(string, ...any), _ func(int, string, int64)) {
			exec(`DELETE FROM journal WHERE seq > 40`)
			exec(`UPDATE chain_head SET seq = 40, hash = (SELECT hash FROM journal WHERE seq = 40) WHERE id = 1`)
		}, want: [][2]string{{TableReceipts, ""}, {TableAggregates, ""}}},
	}
	for _, be := range auditBackends() {
		for _, tc := range cases {
			t.Run(be.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				store, exec := be.open(t)
				reg := auditRegistry(t)
				writeAuditJournal(t, store, reg)
				rep := audit(t, store, reg)
				require.True(t, rep.OK(), "before tampering: %v %v", rep.Chain, rep.Problems)
				require.Positive(t, rep.Receipts)
				require.Positive(t, rep.Deferred, "the journal leaves events held")
				require.Positive(t, rep.Aggregates)

				var send func(int, string, int64)
				if tc.unfixable {
					eng, stop := runEngine(t, store, reg)
					defer stop()
					send = sender(t, eng)
				}
				tc.do(t, exec, send)

				rep = audit(t, store, reg)
				require.True(t, rep.Chain.OK, "the chain itself still verifies: %s", rep.Chain.Problem)
				require.False(t, rep.OK(), "tampering went unnoticed")
				for _, w := range tc.want {
					require.True(t, hasProblem(rep, w[0], w[1]), "want a %s problem at %q; got %v", w[0], w[1], rep.Problems)
				}
				if tc.detail != "" {
					require.Contains(t, fmt.Sprint(rep.Problems), tc.detail)
				}
				n, err := Repair(t.Context(), store, rep)
				require.NoError(t, err)
				require.Positive(t, n)
				rep = audit(t, store, reg)
				if tc.unfixable {
					require.True(t, hasProblem(rep, TableJournal, ""), "the journal's second first verdict stays reported")
					for _, p := range rep.Problems {
						require.Equal(t, TableJournal, p.Table, "every derived row was repaired: %v", p)
					}
					return
				}
				require.True(t, rep.OK(), "after Repair: %v", rep.Problems)
			})
		}
	}
}

func hasProblem(rep *AuditReport, table, row string) bool {
	for _, p := range rep.Problems {
		if p.Table == table && (row == "" || p.Row == row) {
			return true
		}
	}
	return false
}

// TestRepairReleasesRestoredHeldEvent: a held event whose row was deleted
// is never released; restored by Repair, the event it waits for releases
// it.
func TestRepairReleasesRestoredHeldEvent(t *testing.T) {
	t.Parallel()
	store, exec := auditBackends()[0].open(t)
	reg := auditRegistry(t)
	writeAuditJournal(t, store, reg)
	exec(`DELETE FROM deferred WHERE provider = 'acme' AND aggregate_id = 'o4'`) // o4's REFUND waits for AUTH and CAPTURE
	rep := audit(t, store, reg)
	require.True(t, hasProblem(rep, TableDeferred, ""), "%v", rep.Problems)
	_, err := Repair(t.Context(), store, rep)
	require.NoError(t, err)

	eng, stop := runEngine(t, store, reg)
	defer stop()
	send := sender(t, eng)
	send(4, "AUTH", 1000)
	send(4, "CAPTURE", 1000)
	a, err := store.Aggregate(t.Context(), storage.AggregateKey{Provider: "acme", Kind: "payment", ID: "o4"})
	require.NoError(t, err)
	require.Equal(t, string(sm.PartiallyRefunded), a.State, "the restored REFUND was released")
	require.Equal(t, int64(10), a.Refunded)
	require.True(t, audit(t, store, reg).OK())
}

// TestAuditUnderLiveTraffic: audits running while the engine commits see
// no problem that is not there (the server's VerifyJournal runs live).
func TestAuditUnderLiveTraffic(t *testing.T) {
	t.Parallel()
	for _, be := range auditBackends() {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			store, _ := be.open(t)
			reg := auditRegistry(t)
			writeAuditJournal(t, store, reg)
			eng, stop := runEngine(t, store, reg)
			defer stop()
			send := sender(t, eng)
			done := make(chan struct{})
			var wg sync.WaitGroup
			for w := range 2 {
				wg.Go(func() {
					for i := 1000 * (w + 1); ; i++ {
						select {
						case <-done:
							return
						default:
						}
						// Early, held, then released; a new aggregate;
						// a duplicate.
						send(i, "CAPTURE", 0)
						send(i, "AUTH", 1000)
						send(i, "AUTH", 1000)
						send(i, "REFUND", 10)
					}
				})
			}
			for range 5 {
				rep := audit(t, store, reg)
				require.True(t, rep.OK(), "%v %v", rep.Chain, rep.Problems)
			}
			close(done)
			wg.Wait()
			rep := audit(t, store, reg)
			require.True(t, rep.OK(), "%v", rep.Problems)
		})
	}
}

// TestAuditReportsProgress: the walk over the chain reports each entry it
// read, of the head it started from, ending at the head.
func TestAuditReportsProgress(t *testing.T) {
	t.Parallel()
	store, _ := auditBackends()[0].open(t)
	reg := auditRegistry(t)
	writeAuditJournal(t, store, reg)
	head, err := store.Head(t.Context())
	require.NoError(t, err)
	var calls, last int64
	rep, err := Audit(t.Context(), store, reg, AuditConfig{Progress: func(done, total int64) {
		calls++
		require.Equal(t, last+1, done, "one call per entry, in order")
		require.Equal(t, head.Seq, total)
		last = done
	}})
	require.NoError(t, err)
	require.True(t, rep.OK())
	require.Equal(t, head.Seq, last)
	require.Equal(t, head.Seq, calls)
}

// TestRepairRestoresExpiredEventWaiting: an event that expired waiting is
// derived from the journal alone (its deferral and its expiry): its row,
// deleted or unmarked, is reported, restored by Repair, and still revived
// when its predecessor lands.
func TestRepairRestoresExpiredEventWaiting(t *testing.T) {
	t.Parallel()
	for _, be := range auditBackends() {
		for _, tamper := range []string{
			`DELETE FROM deferred WHERE provider = 'acme' AND aggregate_id = 'o4'`,
			`UPDATE deferred SET expired_seq = 0 WHERE provider = 'acme' AND aggregate_id = 'o4'`,
		} {
			t.Run(be.name+"/"+strings.Fields(tamper)[0], func(t *testing.T) {
				t.Parallel()
				store, exec := be.open(t)
				reg := auditRegistry(t)
				writeAuditJournal(t, store, reg)
				eng, stop := runEngine(t, store, reg)
				out, err := eng.Sweep(t.Context(), time.Now().Add(48*time.Hour))
				require.NoError(t, err)
				require.NotEmpty(t, out, "o4's REFUND expires, its AUTH never came")
				if se, ok := storage.AsSealer(store); ok {
					_, err := se.Seal(t.Context())
					require.NoError(t, err)
				}
				require.True(t, audit(t, store, reg).OK(), "expired events wait in the held table, marked")
				stop()

				exec(tamper)
				rep := audit(t, store, reg)
				require.True(t, hasProblem(rep, TableDeferred, ""), "%v", rep.Problems)
				_, err = Repair(t.Context(), store, rep)
				require.NoError(t, err)
				require.True(t, audit(t, store, reg).OK())

				eng, stop = runEngine(t, store, reg)
				defer stop()
				send := sender(t, eng)
				send(4, "AUTH", 1000)
				send(4, "CAPTURE", 1000)
				a, err := store.Aggregate(t.Context(), storage.AggregateKey{Provider: "acme", Kind: "payment", ID: "o4"})
				require.NoError(t, err)
				require.Equal(t, string(sm.PartiallyRefunded), a.State, "the expired REFUND was revived")
				if se, ok := storage.AsSealer(store); ok {
					_, err := se.Seal(t.Context())
					require.NoError(t, err)
				}
				require.True(t, audit(t, store, reg).OK())
			})
		}
	}
}

// TestAuditOnAReadOnlyConnection: an auditor's connection may not write,
// so it cannot seal. Audit then checks what is sealed and counts the
// rest: entries committed and not sealed (an aggregate's new events, a
// held event's resolution, a new aggregate) are in flight, not problems,
// while rows changed behind paystate's back are still reported, on a
// read-only transaction and under a login that may only read alike.
func TestAuditOnAReadOnlyConnection(t *testing.T) {
	t.Parallel()
	dsn := os.Getenv("PAYSTATE_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("PAYSTATE_TEST_POSTGRES_DSN is not set")
	}
	ctx := t.Context()
	store, schema, exec := openPostgresAudit(t, dsn)
	reg := auditRegistry(t)
	writeAuditJournal(t, store, reg)
	require.NoError(t, storage.SealAll(ctx, store))
	eng, stop := runEngine(t, store, reg)
	send := sender(t, eng)
	send(200, "CAPTURE", 0) // held, and sealed
	send(201, "AUTH", 1000)
	require.NoError(t, storage.SealAll(ctx, store))
	send(200, "AUTH", 1000)   // resolves it: the row is gone, the resolution unsealed
	send(201, "CAPTURE", 600) // a new entry of an aggregate
	send(300, "AUTH", 1000)   // a new aggregate
	stop()
	se, _ := storage.AsSealer(store)
	unsealed, err := se.Unsealed(ctx, nil)
	require.NoError(t, err)
	require.Positive(t, unsealed)
	exec(`UPDATE aggregates SET captured = captured + 3000 WHERE id = 'o11'`)
	exec(`DELETE FROM deferred WHERE aggregate_id = 'o4'`) // o4's REFUND, held since it was sealed
	want := func(t *testing.T, rep *AuditReport) {
		t.Helper()
		require.True(t, rep.Chain.OK, "%+v", rep.Chain)
		require.Len(t, rep.Problems, 2, "%v", rep.Problems)
		require.True(t, hasProblem(rep, TableAggregates, "acme/payment/o11"), "%v", rep.Problems)
		require.True(t, hasProblem(rep, TableDeferred, ""), "%v", rep.Problems)
	}

	role := schema + "_reader"
	exec(`CREATE ROLE ` + role + ` LOGIN`)
	t.Cleanup(func() { exec(`DROP OWNED BY ` + role); exec(`DROP ROLE ` + role) })
	exec(`GRANT USAGE ON SCHEMA ` + schema + ` TO ` + role)
	exec(`GRANT SELECT ON ALL TABLES IN SCHEMA ` + schema + ` TO ` + role)
	for _, tc := range []struct {
		name string
		dsn  func(u *url.URL)
	}{
		{"read-only transactions", func(u *url.URL) {
			q := u.Query()
			q.Set("options", "-c default_transaction_read_only=on")
			u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20") // pgx reads + as itself
		}},
		{"a login that may only read", func(u *url.URL) { u.User = url.User(role) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := url.Parse(dsn)
			require.NoError(t, err)
			tc.dsn(u)
			ro, err := postgres.Open(ctx, u.String(), postgres.WithSchema(schema))
			require.NoError(t, err)
			defer ro.Close()
			_, err = ro.Seal(ctx)
			require.ErrorIs(t, err, storage.ErrReadOnly)
			rep := audit(t, ro, reg)
			want(t, rep)
			require.True(t, rep.ReadOnly)
			require.Equal(t, unsealed, rep.Unsealed)
		})
	}
	// Where it may write, it seals first and checks everything.
	rep := audit(t, store, reg)
	want(t, rep)
	require.False(t, rep.ReadOnly)
	require.Zero(t, rep.Unsealed)
}

// TestAuditChecksHeldExpiry: a held event's expiry is the one its
// deferral's entry recorded. Moved to its receipt, the engine expires it
// at once, a rejection nobody earned: the row, kept marked, is named, and
// Repair restores the recorded expiry.
func TestAuditChecksHeldExpiry(t *testing.T) {
	t.Parallel()
	for _, be := range auditBackends() {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			store, exec := be.open(t)
			reg := auditRegistry(t)
			writeAuditJournal(t, store, reg)
			require.NoError(t, storage.SealAll(t.Context(), store))
			held := heldFor(t, store, "o4")
			exec(`UPDATE deferred SET expires_at = received_at WHERE provider = 'acme' AND aggregate_id = 'o4'`)

			eng, stop := runEngine(t, store, reg)
			out, err := eng.Sweep(t.Context(), time.Now())
			require.NoError(t, err)
			require.Len(t, out, 1, "the forged expiry is acted on")
			stop()
			require.NoError(t, storage.SealAll(t.Context(), store))

			rep := audit(t, store, reg)
			require.True(t, hasProblem(rep, TableDeferred, fmt.Sprint(held.Seq)), "%v", rep.Problems)
			require.Contains(t, fmt.Sprint(rep.Problems), "held the event until "+held.ExpiresAt.Format(heldUntilLayout))
			_, err = Repair(t.Context(), store, rep)
			require.NoError(t, err)
			require.True(t, audit(t, store, reg).OK())
			require.Equal(t, held.ExpiresAt, heldFor(t, store, "o4").ExpiresAt)
		})
	}
}

// heldFor is the event held for acme's payment id.
func heldFor(t *testing.T, store storage.Reader, id string) storage.DeferredEvent {
	t.Helper()
	held, err := store.Deferred(t.Context(), 0, 1000)
	require.NoError(t, err)
	for _, h := range held {
		if h.Key.Provider == "acme" && h.Key.ID == id {
			return h
		}
	}
	require.FailNow(t, "nothing held for "+id)
	return storage.DeferredEvent{}
}

// TestAuditHeldExpiryUnrecorded: a deferral written before entries
// recorded the expiry says nothing of it, so the row's expiry is taken as
// it is, and counted as not checked.
func TestAuditHeldExpiryUnrecorded(t *testing.T) {
	t.Parallel()
	store, _ := auditBackends()[0].open(t)
	reg := auditRegistry(t)
	received := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	key := storage.AggregateKey{Provider: "acme", Kind: string(sm.KindPayment), ID: "old"}
	err := store.Update(t.Context(), func(tx storage.Tx) error {
		e := &storage.JournalEntry{Key: key, Event: "REFUND", Verdict: string(sm.VerdictDeferred),
			Reason: "early: REFUND is legal from captured, which new can still reach", StateBefore: "new", StateAfter: "new",
			DedupeKey: "old/REFUND", BodySHA256: "b0d7", ReceivedAt: received, Actor: ActorWebhook}
		if err := tx.Append(t.Context(), e); err != nil {
			return err
		}
		if err := tx.PutReceipt(t.Context(), "acme", e.DedupeKey, storage.Receipt{Seq: e.Seq, BodySHA256: e.BodySHA256}); err != nil {
			return err
		}
		return tx.Defer(t.Context(), storage.DeferredEvent{Seq: e.Seq, Key: key, DedupeKey: e.DedupeKey,
			BodySHA256: e.BodySHA256, ReceivedAt: received, ExpiresAt: received.Add(time.Hour)})
	})
	require.NoError(t, err)
	rep := audit(t, store, reg)
	require.True(t, rep.OK(), "%v", rep.Problems)
	require.Equal(t, 1, rep.ExpiryUnrecorded)
}
