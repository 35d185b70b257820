package bulkload

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/engine"
	"github.com/paystate/paystate/providers/ngenius"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/postgres"
	"github.com/paystate/paystate/storage/sqlite"
)

// orders is an N-Genius order authorised, then captured; one sequence in
// ten arrives captured first, so that the template holds a deferral and
// its resolution.
func orders(reversed bool) Sequence {
	return Sequence{
		Provider: ngenius.New(ngenius.Config{}),
		Bodies: func(id string) [][]byte {
			var out [][]byte
			for _, ev := range []string{"AUTHORISED", "CAPTURED"} {
				out = append(out, fmt.Appendf(nil, `{"event":%q,"order":{"reference":"REF-%s","id":%q,"amount":{"currencyCode":"AED","value":10000}},"transaction":{"id":"txn-%s-%s","state":%q,"date":"2024-12-01T13:22:45Z"},"timestamp":"2024-12-01T13:22:45Z"}`,
					ev, id, id, id, ev, ev))
			}
			if reversed {
				out[0], out[1] = out[1], out[0]
			}
			return out
		},
		ID: func(i int) string { return fmt.Sprintf("ord-%07d", i) },
	}
}

func machines(t testing.TB, seq Sequence) *sm.Registry {
	reg, err := sm.NewRegistry(seq.Provider.Tables()...)
	require.NoError(t, err)
	return reg
}

func openSQLite(t testing.TB) (storage.Store, Options) {
	path := filepath.Join(t.TempDir(), "paystate.db")
	s, err := sqlite.Open(t.Context(), path)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s, Options{SQLiteFile: path}
}

func openSQLiteTx(t testing.TB) (storage.Store, Options) {
	s, _ := openSQLite(t)
	return s, Options{}
}

// A loaded store passes every check an auditor runs, and each copy is
// entry for entry what the engine writes when it ingests the same
// webhooks at the same time.
func TestLoadIsIndistinguishableFromIngest(t *testing.T) {
	t.Run("sqlite file", func(t *testing.T) { checkLoad(t, openSQLite) })
	t.Run("sqlite tx", func(t *testing.T) { checkLoad(t, openSQLiteTx) })
	t.Run("postgres", func(t *testing.T) {
		dsn := os.Getenv("PAYSTATE_TEST_POSTGRES_DSN")
		if dsn == "" {
			t.Skip("PAYSTATE_TEST_POSTGRES_DSN is not set (CI sets it)")
		}
		checkLoad(t, func(t testing.TB) (storage.Store, Options) {
			schema := fmt.Sprintf("bulkload_%d", time.Now().UnixNano())
			s, err := postgres.Open(t.Context(), dsn, postgres.WithSchema(schema))
			require.NoError(t, err)
			t.Cleanup(func() {
				s.Close()
				conn, err := pgx.Connect(context.Background(), dsn)
				if err == nil {
					conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
					conn.Close(context.Background())
				}
			})
			return s, Options{}
		})
	})
}

func checkLoad(t *testing.T, open func(t testing.TB) (storage.Store, Options)) {
	ctx := t.Context()
	const n = 2000
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, reversed := range []bool{false, true} {
		t.Run(fmt.Sprintf("reversed=%v", reversed), func(t *testing.T) {
			seq := orders(reversed)
			reg := machines(t, seq)
			store, o := open(t)
			var progress []int
			o.PerCommit, o.Start, o.Progress = 1000, start, func(done int) { progress = append(progress, done) }
			st, err := Load(ctx, store, reg, seq, n, o)
			require.NoError(t, err)
			perAggregate := int64(2)
			if reversed {
				perAggregate = 3 // deferred, applied, resolved
			}
			require.Equal(t, n, st.Aggregates)
			require.Equal(t, n*perAggregate, st.Entries)
			require.Equal(t, n, progress[len(progress)-1])
			require.Greater(t, len(progress), 3, "several transactions")

			chain, err := storage.VerifyChain(ctx, store)
			require.NoError(t, err)
			require.True(t, chain.OK, chain.Problem)
			require.Equal(t, st.Entries, chain.Checked)
			bad, err := engine.Verify(ctx, store, reg)
			require.NoError(t, err)
			require.Empty(t, bad)
			aggs, _, err := engine.Replay(ctx, store, reg)
			require.NoError(t, err)
			require.Equal(t, n, aggs.Len())

			last := storage.AggregateKey{Provider: ngenius.Name, Kind: "payment", ID: seq.ID(n - 1)}
			a, err := store.Aggregate(ctx, last)
			require.NoError(t, err)
			require.Equal(t, "captured", a.State)
			require.EqualValues(t, 2, a.Version)
			require.EqualValues(t, 10000, a.Captured)
			require.Equal(t, "REF-"+seq.ID(n-1), a.MerchantReference)

			// Aggregate 1234, ingested alone through the engine at the time
			// its copy was given, writes the same entries.
			const i = 1234
			key := storage.AggregateKey{Provider: ngenius.Name, Kind: "payment", ID: seq.ID(i)}
			ref, refOptions := openSQLite(t)
			at := start.Add(i * time.Microsecond)
			eng := engine.New(ref, reg, engine.Config{Now: func() time.Time { return at }})
			engCtx, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); eng.Run(engCtx) }()
			for _, body := range seq.Bodies(seq.ID(i)) {
				d, err := delivery(seq.Provider, body)
				require.NoError(t, err)
				_, err = eng.Submit(ctx, d)
				require.NoError(t, err)
			}
			stop()
			<-done
			want, err := ref.Journal(ctx, &key, 0, 10)
			require.NoError(t, err)
			got, err := store.Journal(ctx, &key, 0, 10)
			require.NoError(t, err)
			require.Len(t, got, len(want))
			offset := got[0].Seq - want[0].Seq
			for j := range want {
				w, g := want[j], got[j]
				if w.ResolvesSeq != 0 {
					w.ResolvesSeq += offset
				}
				w.Seq, w.PrevHash, w.Hash = 0, "", ""
				g.Seq, g.PrevHash, g.Hash = 0, "", ""
				require.Equal(t, w, g, "entry %d", j)
			}
			if o.SQLiteFile != "" {
				// Row for row, in the columns' own encodings (hashes as
				// bytes, bodies compressed: storage/sqlite's layout).
				require.Equal(t, storedRows(t, refOptions.SQLiteFile, key), storedRows(t, o.SQLiteFile, key))
			}
			wantAgg, err := ref.Aggregate(ctx, key)
			require.NoError(t, err)
			gotAgg, err := store.Aggregate(ctx, key)
			require.NoError(t, err)
			require.Equal(t, wantAgg, gotAgg)

			// The copies' receipts are there: the same webhook again is a
			// duplicate, not a second capture.
			err = store.Update(ctx, func(tx storage.Tx) error {
				for _, e := range got {
					if e.Actor != engine.ActorWebhook {
						continue
					}
					r, err := tx.Receipt(ctx, ngenius.Name, e.DedupeKey)
					if err != nil {
						return err
					}
					require.Equal(t, e.BodySHA256, r.BodySHA256)
				}
				return nil
			})
			require.NoError(t, err)
		})
	}
}

// storedRows are the journal rows of key as the file holds them, but for
// the columns that depend on the position in the chain.
func storedRows(t *testing.T, path string, key storage.AggregateKey) [][]any {
	db, err := sql.Open("sqlite3", sqlite.ReadOnlyURI(path))
	require.NoError(t, err)
	defer db.Close()
	rows, err := db.QueryContext(t.Context(), `SELECT typeof(prev_hash), typeof(hash), body_sha256, redacted_body,
		payload, layout, received_at FROM journal WHERE provider = ? AND kind = ? AND aggregate_id = ? ORDER BY seq`,
		key.Provider, key.Kind, key.ID)
	require.NoError(t, err)
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		r := make([]any, 7)
		ptrs := make([]any, len(r))
		for i := range r {
			ptrs[i] = &r[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		out = append(out, r)
	}
	require.NoError(t, rows.Err())
	require.NotEmpty(t, out)
	return out
}

// An id of another length would shift every length-prefixed field after
// it: refused.
func TestLoadRefusesIDsOfAnotherLength(t *testing.T) {
	seq := orders(false)
	seq.ID = func(i int) string { return fmt.Sprintf("ord-%d", i) }
	store, o := openSQLite(t)
	_, err := Load(t.Context(), store, machines(t, seq), seq, 20, o)
	require.ErrorContains(t, err, "not as long as")
}
