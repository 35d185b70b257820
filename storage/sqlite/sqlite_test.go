package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/storagetest"
)

func openTestStore(t *testing.T, opts ...Option) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "paystate.db")
	s, err := Open(t.Context(), path, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s, path
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storagetest.Backend {
		s, _ := openTestStore(t)
		return storagetest.Backend{
			Store: s,
			Tamper: func(seq int64, reason string) error {
				return execOne(s.writer, `UPDATE journal SET reason = ? WHERE seq = ?`, reason, seq)
			},
			DeleteLast: func() error {
				return execOne(s.writer, `DELETE FROM journal WHERE seq = (SELECT MAX(seq) FROM journal)`)
			},
		}
	})
}

// execOne runs a statement behind the store's back and insists it changed
// exactly one row.
func execOne(db *sql.DB, query string, args ...any) error {
	res, err := db.ExecContext(context.Background(), query, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n != 1 {
		return fmt.Errorf("%d rows changed, want 1", n)
	}
	return nil
}

// rawDB opens the file with only the given parameters: a second, foreign
// handle on the database, as another process would have.
func rawDB(t *testing.T, path, params string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+escapePath(path)+"?"+params)
	require.NoError(t, err)
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func sqliteCode(err error) sqlite3.ErrNo {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

func TestPragmasOnEveryConnection(t *testing.T) {
	t.Parallel()
	s, _ := openTestStore(t)
	ctx := t.Context()
	// Some traffic first, so the pools have opened and reused connections.
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		return tx.PutAggregate(ctx, storage.Aggregate{Key: storage.AggregateKey{Provider: "p", Kind: "k", ID: "1"}})
	}))

	check := func(t *testing.T, c *sql.Conn, wantQueryOnly int) {
		t.Helper()
		var mode string
		var synchronous, busy, fk, queryOnly int
		require.NoError(t, c.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode))
		require.NoError(t, c.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&synchronous))
		require.NoError(t, c.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&busy))
		require.NoError(t, c.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk))
		require.NoError(t, c.QueryRowContext(ctx, `PRAGMA query_only`).Scan(&queryOnly))
		require.Equal(t, "wal", mode)
		require.Equal(t, 2, synchronous, "synchronous=FULL")
		require.Equal(t, 5000, busy)
		require.Equal(t, 1, fk)
		require.Equal(t, wantQueryOnly, queryOnly)
	}

	w, err := s.writer.Conn(ctx)
	require.NoError(t, err)
	defer w.Close()
	check(t, w, 0)

	// Held at once, these are three distinct connections of the read pool.
	var readers []*sql.Conn
	for range 3 {
		c, err := s.reader.Conn(ctx)
		require.NoError(t, err)
		defer c.Close()
		readers = append(readers, c)
	}
	for i, c := range readers {
		t.Run(fmt.Sprintf("reader%d", i), func(t *testing.T) { check(t, c, 1) })
		_, err := c.ExecContext(ctx, `DELETE FROM aggregates`)
		require.Equal(t, sqlite3.ErrReadonly, sqliteCode(err), "readers cannot write: %v", err)
	}
}

// While fn runs, and before it has touched anything, the transaction holds
// the write lock: BEGIN IMMEDIATE, not a deferred BEGIN (which would take
// it only at the first write).
func TestUpdateBeginsImmediate(t *testing.T) {
	t.Parallel()
	s, path := openTestStore(t)
	ctx := t.Context()
	probe := rawDB(t, path, "_busy_timeout=0&_txlock=immediate")

	inFn, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Update(ctx, func(storage.Tx) error {
			close(inFn)
			<-release
			return nil
		})
	}()
	<-inFn
	_, err := probe.BeginTx(ctx, nil)
	require.Equal(t, sqlite3.ErrBusy, sqliteCode(err), "the write lock is already taken: %v", err)
	close(release)
	require.NoError(t, <-done)

	ptx, err := probe.BeginTx(ctx, nil)
	require.NoError(t, err, "released at commit")
	require.NoError(t, ptx.Rollback())
}

// Another handle (another process) holding the write lock makes Update
// wait for it, within the busy timeout, instead of failing.
func TestUpdateWaitsForAnotherWriter(t *testing.T) {
	t.Parallel()
	s, path := openTestStore(t)
	ctx := t.Context()
	holder := rawDB(t, path, "_txlock=immediate")
	htx, err := holder.BeginTx(ctx, nil)
	require.NoError(t, err)

	// fn runs only once Update holds the write lock: it must find the
	// other handle's lock released. The pause gives a wrong Update (one
	// that does not wait) the time to show itself.
	var released, enteredAfterRelease atomic.Bool
	done := make(chan error, 1)
	go func() {
		done <- s.Update(ctx, func(tx storage.Tx) error {
			enteredAfterRelease.Store(released.Load())
			e := storage.JournalEntry{Key: storage.AggregateKey{Provider: "p"}, Event: "waited"}
			return tx.Append(ctx, &e)
		})
	}()
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Update returned (%v) while another handle held the write lock", err)
	default:
	}
	released.Store(true)
	require.NoError(t, htx.Rollback())
	require.NoError(t, <-done)
	require.True(t, enteredAfterRelease.Load(), "Update's fn ran while another handle held the write lock")
	head, err := s.Head(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(1), head.Seq)
}

// A lock held past the 5 s busy timeout: Update retries and succeeds once
// the lock is gone, or, out of attempts, reports ErrUnavailable.
func TestUpdateBusyPastTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the 5 s busy timeout")
	}
	t.Parallel()
	for _, tc := range []struct {
		name     string
		attempts int
	}{{"retried", 5}, {"out-of-attempts", 1}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, path := openTestStore(t, WithRetry(tc.attempts, 10*time.Millisecond))
			ctx := t.Context()
			holder := rawDB(t, path, "_txlock=immediate")
			htx, err := holder.BeginTx(ctx, nil)
			require.NoError(t, err)
			defer func() { _ = htx.Rollback() }()
			// The holder lets go once the first attempt has given up.
			var retryErrs []error
			s.onRetry = func(err error) {
				retryErrs = append(retryErrs, err)
				require.NoError(t, htx.Rollback())
			}

			runs := 0
			start := time.Now()
			err = s.Update(ctx, func(tx storage.Tx) error {
				runs++
				return tx.PutReceipt(ctx, "p", "k", storage.Receipt{Seq: 1})
			})
			require.GreaterOrEqual(t, time.Since(start), 5*time.Second, "the busy timeout was waited out")
			if tc.attempts == 1 {
				require.ErrorIs(t, err, storage.ErrUnavailable)
				require.Equal(t, sqlite3.ErrBusy, sqliteCode(err), "%v", err)
				require.Zero(t, runs, "BEGIN never got the lock")
				require.Empty(t, retryErrs)
				return
			}
			require.NoError(t, err)
			require.Len(t, retryErrs, 1)
			require.ErrorIs(t, retryErrs[0], storage.ErrUnavailable)
			require.Equal(t, sqlite3.ErrBusy, sqliteCode(retryErrs[0]))
			require.Equal(t, 1, runs, "fn ran once: the first attempt failed at BEGIN")
		})
	}
}

func TestSchemaTooNew(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "paystate.db")
	s, err := Open(ctx, path)
	require.NoError(t, err)
	require.NoError(t, s.Close())

	future := LatestSchemaVersion() + 1
	raw := rawDB(t, path, "")
	_, err = raw.ExecContext(ctx,
		`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'from_the_future.sql', 0)`, future)
	require.NoError(t, err)
	require.NoError(t, raw.Close())

	_, err = Open(ctx, path)
	require.ErrorIs(t, err, storage.ErrSchemaTooNew)
	_, err = Migrate(ctx, path)
	require.ErrorIs(t, err, storage.ErrSchemaTooNew)
	v, err := SchemaVersion(ctx, path)
	require.NoError(t, err)
	require.Equal(t, future, v)
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	ms, err := migrations()
	require.NoError(t, err)
	require.NotEmpty(t, ms)
	latest := LatestSchemaVersion()
	require.Equal(t, len(ms), latest)

	path := filepath.Join(t.TempDir(), "paystate.db")
	_, err = SchemaVersion(ctx, path)
	require.ErrorIs(t, err, fs.ErrNotExist, "a missing file is not created")
	_, err = os.Stat(path)
	require.ErrorIs(t, err, fs.ErrNotExist)

	applied, err := Migrate(ctx, path)
	require.NoError(t, err)
	var want []int
	for v := 1; v <= latest; v++ {
		want = append(want, v)
	}
	require.Equal(t, want, applied)
	applied, err = Migrate(ctx, path)
	require.NoError(t, err)
	require.Empty(t, applied, "already current")

	v, err := SchemaVersion(ctx, path)
	require.NoError(t, err)
	require.Equal(t, latest, v)

	s, err := Open(ctx, path)
	require.NoError(t, err)
	defer s.Close()
	v, err = s.SchemaVersion(ctx)
	require.NoError(t, err)
	require.Equal(t, latest, v)

	_, err = Open(ctx, "")
	require.Error(t, err)
	_, err = Open(ctx, ":memory:")
	require.Error(t, err, "two pools on one in-memory database cannot work")
}

// Paths are passed as file: URIs; characters that mean something in a URI
// must stay part of the name.
func TestOddPath(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "a dir#with?odd%20chars")
	require.NoError(t, os.Mkdir(dir, 0o755))
	path := filepath.Join(dir, "pay state.db")
	s, err := Open(t.Context(), path)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	_, err = os.Stat(path)
	require.NoError(t, err, "created under its own name")
	entries, err := os.ReadDir(filepath.Dir(dir))
	require.NoError(t, err)
	require.Len(t, entries, 1, "and nowhere else")
}

func TestDataSurvivesReopen(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "paystate.db")
	key := storage.AggregateKey{Provider: "acme", Kind: "payment", ID: "pay_1"}
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	agg := storage.Aggregate{Key: key, MerchantReference: "order-1", State: "captured", Currency: "EUR",
		Amount: 500, Authorized: 500, Captured: 500, Version: 3, CreatedAt: at, UpdatedAt: at}
	held := storage.DeferredEvent{Seq: 3, Key: key, DedupeKey: "evt_3", Payload: []byte("p"),
		BodySHA256: "ab", ReceivedAt: at, ExpiresAt: at.Add(time.Hour)}

	s, err := Open(ctx, path)
	require.NoError(t, err)
	var last storage.JournalEntry
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		for i := range 3 {
			last = storage.JournalEntry{Key: key, Event: fmt.Sprint("e", i), Verdict: "applied",
				VersionAfter: int64(i + 1), ReceivedAt: at, Skipped: []string{"x"}, Actor: "webhook"}
			if err := tx.Append(ctx, &last); err != nil {
				return err
			}
		}
		if err := tx.PutAggregate(ctx, agg); err != nil {
			return err
		}
		if err := tx.PutReceipt(ctx, "acme", "evt_1", storage.Receipt{Seq: 1, BodySHA256: "ab"}); err != nil {
			return err
		}
		return tx.Defer(ctx, held)
	}))
	require.NoError(t, s.Close())

	s, err = Open(ctx, path)
	require.NoError(t, err)
	defer s.Close()
	got, err := s.Aggregate(ctx, key)
	require.NoError(t, err)
	require.Equal(t, agg, got)
	head, err := s.Head(ctx)
	require.NoError(t, err)
	require.Equal(t, storage.ChainHead{Seq: 3, Hash: last.Hash}, head)
	rep, err := storage.VerifyChain(ctx, s)
	require.NoError(t, err)
	require.True(t, rep.OK, "%+v", rep)
	n, err := s.PendingDeferred(ctx, key)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		r, err := tx.Receipt(ctx, "acme", "evt_1")
		if err == nil && r.Seq != 1 {
			err = fmt.Errorf("receipt %+v", r)
		}
		return err
	}))
}

func TestCheckpoint(t *testing.T) {
	t.Parallel()
	s, path := openTestStore(t)
	ctx := t.Context()
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		for range 50 {
			e := storage.JournalEntry{Key: storage.AggregateKey{Provider: "p"}, Event: "e",
				RedactedBody: []byte(strings.Repeat("x", 1000))}
			if err := tx.Append(ctx, &e); err != nil {
				return err
			}
		}
		return nil
	}))
	st, err := os.Stat(path + "-wal")
	require.NoError(t, err)
	require.NotZero(t, st.Size(), "commits went to the WAL")

	require.NoError(t, s.Checkpoint(ctx))
	st, err = os.Stat(path + "-wal")
	require.NoError(t, err)
	require.Zero(t, st.Size(), "TRUNCATE empties the WAL")

	rep, err := storage.VerifyChain(ctx, s)
	require.NoError(t, err)
	require.True(t, rep.OK)
	require.Equal(t, int64(50), rep.Checked)
}

// A reader that keeps one snapshot (a backup copying the database) does
// not make Checkpoint hold the writer for the busy timeout: it gives up
// after checkpointWait, commits go on, and the writer keeps its own busy
// timeout. (Waiting the timeout out, this test would outlast go test's
// deadline: the timeout is an hour.)
func TestCheckpointDoesNotWaitOutAReader(t *testing.T) {
	t.Parallel()
	s, path := openTestStore(t, WithBusyTimeout(time.Hour))
	ctx := t.Context()
	appendOne := func() error {
		return s.Update(ctx, func(tx storage.Tx) error {
			return tx.Append(ctx, &storage.JournalEntry{Key: storage.AggregateKey{Provider: "p"}, Event: "e"})
		})
	}
	require.NoError(t, appendOne())
	reader := rawDB(t, path, "mode=ro")
	snapshot, err := reader.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer snapshot.Rollback()
	var n int
	require.NoError(t, snapshot.QueryRowContext(ctx, `SELECT COUNT(*) FROM journal`).Scan(&n))
	require.NoError(t, appendOne(), "a commit the snapshot does not see: the WAL cannot be emptied")

	require.ErrorIs(t, s.Checkpoint(ctx), storage.ErrUnavailable)
	require.NoError(t, appendOne())
	var ms int64
	require.NoError(t, s.writer.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&ms))
	require.Equal(t, time.Hour.Milliseconds(), ms, "the writer's own busy timeout back")

	require.NoError(t, snapshot.Rollback())
	require.NoError(t, s.Checkpoint(ctx), "the reader gone, the WAL is emptied")
}

// Touch is the readiness probe's proof that the database can commit
// (engine.Ready after a failed commit), so its commit must reach the disk.
// SQLite does not write a row rewritten with the bytes it already holds: a
// Touch that only wrote the head back committed without writing anything,
// and /readyz said ready on a full disk while every webhook got 503.
func TestTouchWritesToTheLog(t *testing.T) {
	t.Parallel()
	s, path := openTestStore(t)
	ctx := t.Context()
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		e := storage.JournalEntry{Key: storage.AggregateKey{Provider: "p"}, Event: "e"}
		return tx.Append(ctx, &e)
	}))
	require.NoError(t, s.Checkpoint(ctx))
	st, err := os.Stat(path + "-wal")
	require.NoError(t, err)
	require.Zero(t, st.Size(), "TRUNCATE empties the WAL")

	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error { return tx.Touch(ctx) }))
	st, err = os.Stat(path + "-wal")
	require.NoError(t, err)
	require.NotZero(t, st.Size(), "a Touch committed without writing: it proves nothing about the disk")
	head, err := s.Head(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(1), head.Seq, "and it changed nothing")
}

func TestUnavailable(t *testing.T) {
	t.Parallel()
	key := storage.AggregateKey{Provider: "acme", Kind: "payment", ID: "pay_1"}
	put := func(ctx context.Context, s *Store, ref string) error {
		return s.Update(ctx, func(tx storage.Tx) error {
			return tx.PutAggregate(ctx, storage.Aggregate{Key: key, MerchantReference: ref})
		})
	}

	// The file is replaced by one that is not a database (a botched
	// restore, say): connections opened from then on fail, as corrupted.
	t.Run("file-replaced", func(t *testing.T) {
		t.Parallel()
		s, path := openTestStore(t)
		ctx := t.Context()
		require.NoError(t, put(ctx, s, "before"))

		// Let the pools close their connections (the last one to close
		// checkpoints the WAL away), then swap the file, WAL and all.
		s.writer.SetMaxIdleConns(0)
		s.reader.SetMaxIdleConns(0)
		junk := path + ".junk"
		require.NoError(t, os.WriteFile(junk, []byte(strings.Repeat("this is not a database. ", 400)), 0o644))
		require.NoError(t, os.Rename(junk, path))
		for _, f := range []string{path + "-wal", path + "-shm"} {
			if err := os.Remove(f); err != nil {
				require.ErrorIs(t, err, fs.ErrNotExist)
			}
		}

		// Not "unavailable, retry": no retry fixes it.
		err := put(ctx, s, "after")
		require.ErrorIs(t, err, storage.ErrCorrupt)
		require.NotErrorIs(t, err, storage.ErrUnavailable)
		require.Equal(t, sqlite3.ErrNotADB, sqliteCode(err), "%v", err)

		_, err = s.Aggregate(ctx, key)
		require.ErrorIs(t, err, storage.ErrCorrupt)
		require.NotErrorIs(t, err, storage.ErrNotFound)
	})

	// SQLITE_FULL from a statement inside fn: the Tx method classifies it
	// and Update returns fn's error, which wraps ErrUnavailable.
	t.Run("disk-full", func(t *testing.T) {
		t.Parallel()
		s, _ := openTestStore(t)
		ctx := t.Context()
		var pages int
		require.NoError(t, s.writer.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages))
		// The writer pool is its one connection, so this caps what Update uses.
		_, err := s.writer.ExecContext(ctx, fmt.Sprintf(`PRAGMA max_page_count = %d`, pages))
		require.NoError(t, err)

		err = put(ctx, s, strings.Repeat("r", 1<<20))
		require.ErrorIs(t, err, storage.ErrUnavailable)
		require.Equal(t, sqlite3.ErrFull, sqliteCode(err), "%v", err)
		_, err = s.Aggregate(ctx, key)
		require.ErrorIs(t, err, storage.ErrNotFound, "nothing committed")
	})

	t.Run("closed", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "paystate.db")
		s, err := Open(t.Context(), path)
		require.NoError(t, err)
		require.NoError(t, s.Close())
		require.ErrorIs(t, put(t.Context(), s, "x"), storage.ErrUnavailable)
	})
}

// The chain head is not derived from the journal: rows cut from the end
// leave the head pointing past them (the conformance suite checks that
// VerifyChain notices; this checks why).
func TestHeadIsStoredNotDerived(t *testing.T) {
	t.Parallel()
	s, _ := openTestStore(t)
	ctx := t.Context()
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		for range 3 {
			e := storage.JournalEntry{Key: storage.AggregateKey{Provider: "p"}, Event: "e"}
			if err := tx.Append(ctx, &e); err != nil {
				return err
			}
		}
		return nil
	}))
	_, err := s.writer.ExecContext(ctx, `DELETE FROM journal`)
	require.NoError(t, err)
	head, err := s.Head(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(3), head.Seq)
	rep, err := storage.VerifyChain(ctx, s)
	require.NoError(t, err)
	require.False(t, rep.OK)
	require.Equal(t, int64(1), rep.FirstBad)
}

// Skipped is JSON in the database; a name JSON cannot carry unchanged
// would break the entry's hash, so Append refuses it.
func TestAppendRefusesInvalidUTF8Skipped(t *testing.T) {
	t.Parallel()
	s, _ := openTestStore(t)
	ctx := t.Context()
	err := s.Update(ctx, func(tx storage.Tx) error {
		e := storage.JournalEntry{Key: storage.AggregateKey{Provider: "p"}, Skipped: []string{"ok", "bad\xff"}}
		return tx.Append(ctx, &e)
	})
	require.Error(t, err)
	head, err := s.Head(ctx)
	require.NoError(t, err)
	require.Zero(t, head.Seq)
}

func TestUndeferUnknownIsNotFound(t *testing.T) {
	t.Parallel()
	s, _ := openTestStore(t)
	ctx := t.Context()
	err := s.Update(ctx, func(tx storage.Tx) error { return tx.Undefer(ctx, 42) })
	require.ErrorIs(t, err, storage.ErrNotFound)
}

// TestListAggregatesPlans: a listing by kind and state searches
// aggregates_by_state and needs no sort; any other listing walks the
// primary key in order. A plan with a temporary B-tree sorts every
// matching row for one page; a SCAN reads every aggregate.
func TestListAggregatesPlans(t *testing.T) {
	s, _ := openTestStore(t)
	after := storage.AggregateKey{Provider: "acme", Kind: "payment", ID: "p1"}
	for _, c := range []struct {
		f    storage.AggregateFilter
		want string
	}{
		{storage.AggregateFilter{Kind: "payment", State: "fraud_review"}, "SEARCH a USING INDEX aggregates_by_state (kind=? AND state=? AND (provider,id)>(?,?))"},
		{storage.AggregateFilter{Provider: "acme", Kind: "payment", State: "fraud_review"}, "SEARCH a USING INDEX aggregates_by_state (kind=? AND state=? AND (provider,id)>(?,?))"},
		{storage.AggregateFilter{Kind: "payment", State: "fraud_review", UpdatedSince: time.Unix(1, 0)}, "SEARCH a USING INDEX aggregates_by_state (kind=? AND state=? AND (provider,id)>(?,?))"},
		{storage.AggregateFilter{Kind: "payment"}, "SEARCH a USING PRIMARY KEY ((provider,kind,id)>(?,?,?))"},
		{storage.AggregateFilter{}, "SEARCH a USING PRIMARY KEY ((provider,kind,id)>(?,?,?))"},
		{storage.AggregateFilter{Provider: "acme"}, "SEARCH a USING PRIMARY KEY (provider=? AND (kind,id)>(?,?))"},
		{storage.AggregateFilter{Provider: "acme", Kind: "payment"}, "SEARCH a USING PRIMARY KEY (provider=? AND (kind,id)>(?,?))"},
		{storage.AggregateFilter{State: "captured"}, "SEARCH a USING PRIMARY KEY ((provider,kind,id)>(?,?,?))"},
	} {
		q, args := listQuery(c.f, after, 100)
		rows, err := s.reader.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q, args...)
		require.NoError(t, err)
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			require.NoError(t, rows.Scan(&id, &parent, &unused, &detail))
			plan = append(plan, detail)
		}
		require.NoError(t, rows.Err())
		// Each row's held count is one search of deferred_by_aggregate.
		require.Equal(t, []string{c.want, "CORRELATED SCALAR SUBQUERY 1",
			"SEARCH d USING COVERING INDEX deferred_by_aggregate (provider=? AND kind=? AND aggregate_id=?)"}, plan, "%+v", c.f)
	}
}

// The database and its -wal and -shm are readable by paystate's user only,
// whether Open creates them or finds them with looser permissions.
func TestDatabaseFilesArePrivate(t *testing.T) {
	t.Parallel()
	for _, existing := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "paystate.db")
		if existing {
			require.NoError(t, os.WriteFile(path, nil, 0o644))
			require.NoError(t, os.Chmod(path, 0o644))
		}
		s, err := Open(t.Context(), path)
		require.NoError(t, err)
		_, err = s.Head(t.Context())
		require.NoError(t, err)
		for _, suffix := range []string{"", "-wal", "-shm"} {
			info, err := os.Stat(path + suffix)
			require.NoError(t, err, "paystate.db%s should exist while the store is open", suffix)
			require.Equal(t, fs.FileMode(0o600), info.Mode().Perm(), "paystate.db%s (existing file: %v)", suffix, existing)
		}
		require.NoError(t, s.Close())
	}
}

// A damaged file is reported as corruption, never as "unavailable, retry":
// no retry fixes it. Both forms: pages overwritten inside a valid file
// (malformed) and a header that is not SQLite's (not a database).
func TestCorruptionIsNotUnavailable(t *testing.T) {
	t.Parallel()
	s, path := openTestStore(t)
	ctx := t.Context()
	body := []byte(strings.Repeat("x", 2000))
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		for i := range 200 {
			e := storage.JournalEntry{Key: storage.AggregateKey{Provider: "p", Kind: "payment", ID: fmt.Sprint(i)},
				Verdict: "applied", RedactedBody: body, ReceivedAt: time.Now()}
			if err := tx.Append(ctx, &e); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, s.Checkpoint(ctx))
	isCorrupt := func(err error) {
		t.Helper()
		require.ErrorIs(t, err, storage.ErrCorrupt)
		require.NotErrorIs(t, err, storage.ErrUnavailable)
	}

	// Garble every page but the first (the schema) in place.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	info, err := f.Stat()
	require.NoError(t, err)
	garbage := bytes.Repeat([]byte{0x5a}, int(info.Size())-4096)
	_, err = f.WriteAt(garbage, 4096)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.NoError(t, s.Close())
	s2, err := Open(ctx, path)
	if err == nil {
		defer s2.Close()
		_, err = s2.Journal(ctx, nil, 0, 1000)
	}
	isCorrupt(err)

	// Not a database at all.
	f, err = os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	_, err = f.WriteAt(bytes.Repeat([]byte{0x5a}, 100), 0)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	_, err = Open(ctx, path)
	isCorrupt(err)
}

// The writer's connection has no mutex of its own (_mutex=no): it relies
// on database/sql never using it from two goroutines at once. Writers,
// checkpoints and their cancellations (which the driver turns into
// sqlite3_interrupt from a goroutine of its own) all at once must leave
// a whole chain.
func TestWriterConnectionTakenInTurn(t *testing.T) {
	t.Parallel()
	s, _ := openTestStore(t)
	ctx := t.Context()
	const writers, commits = 4, 50
	var wg, checkpoints sync.WaitGroup
	stop := make(chan struct{})
	checkpoints.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			cctx, cancel := context.WithTimeout(ctx, time.Duration(rand.IntN(200))*time.Microsecond)
			_ = s.Checkpoint(cctx) // busy or cancelled is fine; misuse would not be
			cancel()
		}
	})
	errs := make(chan error, writers)
	for range writers {
		wg.Go(func() {
			for range commits {
				err := s.Update(ctx, func(tx storage.Tx) error {
					e := storage.JournalEntry{Key: storage.AggregateKey{Provider: "p"}, Event: "e", RedactedBody: []byte(`{"a":1}`)}
					return tx.Append(ctx, &e)
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for range writers * commits / 10 {
		_, err := s.Head(ctx)
		require.NoError(t, err)
	}
	wg.Wait()
	close(stop)
	checkpoints.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	rep, err := storage.VerifyChain(ctx, s)
	require.NoError(t, err)
	require.True(t, rep.OK, rep.Problem)
	require.Equal(t, int64(writers*commits), rep.Checked)
}
