package engine_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/engine"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/postgres"
	"github.com/paystate/paystate/storage/sqlite"
)

// stallingStore stops answering while stalled: Update waits until its
// ctx ends, as a database behind a silent connection does (pgx gives up
// at the ctx's deadline).
type stallingStore struct {
	storage.Store
	stalled atomic.Bool
}

func (s *stallingStore) Update(ctx context.Context, fn func(storage.Tx) error) error {
	if s.stalled.Load() {
		<-ctx.Done()
		return ctx.Err()
	}
	return s.Store.Update(ctx, fn)
}

// deadlineBundle is an engine over a fresh SQLite store with a short
// commit deadline.
func deadlineBundle(t *testing.T, wrap func(storage.Store) storage.Store, opts ...sqlite.Option) (*bundle, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "paystate.db")
	store, err := sqlite.Open(t.Context(), path, opts...)
	require.NoError(t, err)
	b := deadlineBundleOn(t, store, wrap(store))
	b.path = path
	return b, path
}

// deadlineBundleOn is an engine over eng (store, or store wrapped) with a
// short commit deadline.
func deadlineBundleOn(t *testing.T, store, eng storage.Store) *bundle {
	t.Helper()
	reg, err := sm.NewRegistry(testTable())
	require.NoError(t, err)
	b := &bundle{store: store, reg: reg, clock: &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}}
	b.eng = engine.New(eng, reg, engine.Config{Now: b.clock.Now, SweepEvery: time.Hour, CommitTimeout: commitTimeout})
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel, b.done = cancel, make(chan struct{})
	go func() { defer close(b.done); b.eng.Run(ctx) }()
	t.Cleanup(func() { b.stop(t) })
	return b
}

// commitTimeout is short, for the stalled cases' sake, yet long enough
// for the commits that must succeed on a loaded machine.
const commitTimeout = time.Second

// answers bounds "answers instead of hanging": generous, never a speed
// assertion (a loaded machine can delay an answer by seconds).
const answers = 30 * commitTimeout

// submitBounded submits and requires an answer before answers runs out;
// the caller's own ctx is longer, so that only the engine's deadline can
// end the wait in time.
func submitBounded(t *testing.T, b *bundle, e ev) ([]engine.Outcome, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
	defer cancel()
	type answer struct {
		out []engine.Outcome
		err error
	}
	got := make(chan answer, 1)
	go func() { out, err := b.submit(ctx, e); got <- answer{out, err} }()
	select {
	case a := <-got:
		return a.out, a.err
	case <-time.After(answers):
		t.Fatalf("no answer within %s (commit timeout %s)", answers, commitTimeout)
		return nil, nil
	}
}

// A store that stops answering fails the batch with ErrUnavailable within
// the commit deadline, Ready says so, and both recover once it answers:
// the timed-out delivery was not committed, so it applies on retry.
func TestCommitDeadlineOnAStalledStore(t *testing.T) {
	t.Parallel()
	var st *stallingStore
	b, _ := deadlineBundle(t, func(s storage.Store) storage.Store { st = &stallingStore{Store: s}; return st })
	require.Equal(t, sm.VerdictApplied, b.send(t, ev{name: "AUTH", amount: 100}).Verdict)
	require.NoError(t, b.eng.Ready(t.Context()))

	st.stalled.Store(true)
	_, err := submitBounded(t, b, ev{name: "CAPTURE", amount: 100})
	require.ErrorIs(t, err, storage.ErrUnavailable)
	require.ErrorIs(t, b.eng.Ready(t.Context()), storage.ErrUnavailable, "the last commit failed")

	st.stalled.Store(false)
	require.Eventually(t, func() bool { return b.eng.Ready(t.Context()) == nil }, time.Minute, 10*time.Millisecond,
		"Ready's probe commits once the store answers")
	out, err := submitBounded(t, b, ev{name: "CAPTURE", amount: 100})
	require.NoError(t, err)
	require.Equal(t, sm.VerdictApplied, out[0].Verdict, "the delivery that timed out was not committed")
}

// SQLite: another connection holds the write lock (a stalled writer, a
// backup). The busy timeout, set to the commit deadline, and the
// deadline's interrupt answer within the bound; nothing was committed.
func TestCommitDeadlineOnALockedSQLite(t *testing.T) {
	t.Parallel()
	b, path := deadlineBundle(t, func(s storage.Store) storage.Store { return s }, sqlite.WithBusyTimeout(commitTimeout))
	require.Equal(t, sm.VerdictApplied, b.send(t, ev{name: "AUTH", amount: 100}).Verdict)

	holder, err := sql.Open("sqlite3", "file:"+path+"?_txlock=immediate&_busy_timeout=0")
	require.NoError(t, err)
	defer holder.Close()
	htx, err := holder.BeginTx(t.Context(), nil)
	require.NoError(t, err)
	_, err = submitBounded(t, b, ev{name: "CAPTURE", amount: 100})
	require.ErrorIs(t, err, storage.ErrUnavailable)
	require.Error(t, b.eng.Ready(t.Context()))

	require.NoError(t, htx.Rollback())
	require.Eventually(t, func() bool { return b.eng.Ready(t.Context()) == nil }, time.Minute, 10*time.Millisecond)
	out, err := submitBounded(t, b, ev{name: "CAPTURE", amount: 100})
	require.NoError(t, err)
	require.Equal(t, sm.VerdictApplied, out[0].Verdict, "the delivery that timed out was not committed")
}

// journalCorruptStore is a database whose journal pages are damaged
// while broken is set, the chain head's page intact: an Append fails with
// ErrCorrupt, Ready's probe (a Touch) still commits.
type journalCorruptStore struct {
	storage.Store
	broken atomic.Bool
}

func (s *journalCorruptStore) Update(ctx context.Context, fn func(storage.Tx) error) error {
	return s.Store.Update(ctx, func(tx storage.Tx) error { return fn(&journalCorruptTx{Tx: tx, s: s}) })
}

type journalCorruptTx struct {
	storage.Tx
	s *journalCorruptStore
}

func (t *journalCorruptTx) Append(ctx context.Context, e *storage.JournalEntry) error {
	if t.s.broken.Load() {
		return fmt.Errorf("journal page 6: %w: database disk image is malformed", storage.ErrCorrupt)
	}
	return t.Tx.Append(ctx, e)
}

// A database found corrupted stays not ready: a commit that passes (Ready's
// probe, whose page is sound, or a delivery whose pages are) says nothing
// of the pages that failed, and no retry repairs them. Seen on a SQLite
// file with one journal page overwritten: each webhook 500, /readyz 200
// again a second later.
func TestCorruptionKeepsTheEngineNotReady(t *testing.T) {
	t.Parallel()
	var st *journalCorruptStore
	b, _ := deadlineBundle(t, func(s storage.Store) storage.Store { st = &journalCorruptStore{Store: s}; return st })
	require.Equal(t, sm.VerdictApplied, b.send(t, ev{name: "AUTH", amount: 100}).Verdict)
	require.NoError(t, b.eng.Ready(t.Context()))

	st.broken.Store(true)
	_, err := submitBounded(t, b, ev{name: "CAPTURE", amount: 100})
	require.ErrorIs(t, err, storage.ErrCorrupt)
	// Ready has never probed, so it probes now, and the probe commits.
	require.ErrorIs(t, b.eng.Ready(t.Context()), storage.ErrCorrupt, "a probe that committed cleared a corrupted database")

	st.broken.Store(false)
	out, err := submitBounded(t, b, ev{name: "CAPTURE", amount: 100})
	require.NoError(t, err)
	require.Equal(t, sm.VerdictApplied, out[0].Verdict)
	require.ErrorIs(t, b.eng.Ready(t.Context()), storage.ErrCorrupt, "a delivery that committed cleared a corrupted database")
}

// PostgreSQL: another session keeps writers out of a table a webhook
// writes (LOCK TABLE). The webhooks fail within the deadline, and Ready
// says not ready until the lock is released: its probe waits for the
// same tables, not only for the chain head, which nothing locked.
func TestCommitDeadlineOnALockedPostgresTable(t *testing.T) {
	t.Parallel()
	dsn := os.Getenv("PAYSTATE_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("PAYSTATE_TEST_POSTGRES_DSN is not set: the PostgreSQL readiness test skipped")
	}
	schema := fmt.Sprintf("ready_%d", time.Now().UnixNano())
	t.Cleanup(func() {
		ctx := context.Background()
		if c, err := pgx.Connect(ctx, dsn); err == nil {
			_, _ = c.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
			_ = c.Close(ctx)
		}
	})
	store, err := postgres.Open(t.Context(), dsn, postgres.WithSchema(schema))
	require.NoError(t, err)
	b := deadlineBundleOn(t, store, store)
	require.Equal(t, sm.VerdictApplied, b.send(t, ev{name: "AUTH", amount: 100}).Verdict)

	holder, err := pgx.Connect(t.Context(), dsn)
	require.NoError(t, err)
	defer func() { _ = holder.Close(context.Background()) }()
	htx, err := holder.Begin(t.Context())
	require.NoError(t, err)
	_, err = htx.Exec(t.Context(), `LOCK TABLE `+pgx.Identifier{schema, "journal"}.Sanitize()+` IN ACCESS EXCLUSIVE MODE`)
	require.NoError(t, err)
	_, err = submitBounded(t, b, ev{name: "CAPTURE", amount: 100})
	require.ErrorIs(t, err, storage.ErrUnavailable)
	require.Error(t, b.eng.Ready(t.Context()))
	time.Sleep(1100 * time.Millisecond) // past probeEvery: the next Ready probes again
	require.Error(t, b.eng.Ready(t.Context()), "a probe committed while webhooks cannot")

	require.NoError(t, htx.Rollback(t.Context()))
	require.Eventually(t, func() bool { return b.eng.Ready(t.Context()) == nil }, time.Minute, 10*time.Millisecond)
	out, err := submitBounded(t, b, ev{name: "CAPTURE", amount: 100})
	require.NoError(t, err)
	require.Equal(t, sm.VerdictApplied, out[0].Verdict, "the delivery that timed out was not committed")
}
