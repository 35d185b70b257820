package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/storagetest"
)

// The tests need a PostgreSQL server they may create schemas in. Each test
// works in a schema of its own, with a random name, dropped when it ends;
// nothing else in the database is touched.
const dsnEnv = "PAYSTATE_TEST_POSTGRES_DSN"

func testDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(dsnEnv)
	if dsn == "" {
		t.Skip("PAYSTATE_TEST_POSTGRES_DSN is not set: PostgreSQL tests skipped (CI sets it; e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	}
	return dsn
}

// rawConn is a plain connection, behind the store's back, as an operator
// or another program would have; schema, when set, is its search_path.
func rawConn(t testing.TB, dsn, schema string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	require.NoError(t, err)
	if schema != "" {
		cfg.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	}
	c, err := pgx.ConnectConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// schemaName is a fresh name; dropSchemaAtCleanup removes whatever ends up
// under it.
func schemaName() string {
	return fmt.Sprintf("paystate_test_%016x", rand.Uint64())
}

func dropSchemaAtCleanup(t testing.TB, dsn, schema string) {
	t.Helper()
	// Registered first, so it runs after the stores are closed. t.Context
	// is already cancelled when cleanups run.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
}

// newSchema creates an empty schema for t.
func newSchema(t testing.TB) (dsn, schema string) {
	t.Helper()
	dsn, schema = testDSN(t), schemaName()
	dropSchemaAtCleanup(t, dsn, schema)
	c := rawConn(t, dsn, "")
	_, err := c.Exec(context.Background(), `CREATE SCHEMA `+pgx.Identifier{schema}.Sanitize())
	require.NoError(t, err)
	require.NoError(t, c.Close(context.Background()))
	return dsn, schema
}

func openIn(t testing.TB, dsn, schema string, opts ...Option) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn, append([]Option{WithSchema(schema)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// seal seals every entry committed so far.
func seal(t testing.TB, s *Store) {
	t.Helper()
	_, err := s.Seal(context.Background())
	require.NoError(t, err)
}

// setup is a fresh schema and a store open on it.
type setup struct {
	dsn, schema string
	s           *Store
}

func newSetup(t testing.TB, opts ...Option) setup {
	t.Helper()
	dsn, schema := newSchema(t)
	return setup{dsn: dsn, schema: schema, s: openIn(t, dsn, schema, opts...)}
}

// exec runs a statement on a fresh connection behind the store's back and
// insists it changed exactly one row.
func (su setup) execOne(query string, args ...any) error {
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(su.dsn)
	if err != nil {
		return err
	}
	cfg.RuntimeParams["search_path"] = pgx.Identifier{su.schema}.Sanitize()
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	tag, err := c.Exec(ctx, query, args...)
	if err != nil {
		return err
	}
	if n := tag.RowsAffected(); n != 1 {
		return fmt.Errorf("%d rows changed, want 1", n)
	}
	return nil
}

func TestConformance(t *testing.T) {
	testDSN(t)
	storagetest.Run(t, func(t *testing.T) storagetest.Backend {
		su := newSetup(t)
		return storagetest.Backend{
			Store: su.s,
			Tamper: func(seq int64, reason string) error {
				return su.execOne(`UPDATE journal SET reason = $1 WHERE seq = $2`, reason, seq)
			},
			DeleteLast: func() error {
				return su.execOne(`DELETE FROM journal WHERE seq = (SELECT MAX(seq) FROM journal)`)
			},
		}
	})
}

var (
	t0     = time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.UTC)
	payKey = storage.AggregateKey{Provider: "acme", Kind: "payment", ID: "pay_1"}
)

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// Two Stores on one schema are two paystate replicas: two pools, no
// shared memory. Their writers, interleaved at random, must still leave one
// gap-free chain and lose no aggregate update.
func TestReplicasWriteConcurrently(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	replicas := []*Store{su.s, openIn(t, su.dsn, su.schema)}
	ctx := t.Context()
	const writers, perWriter = 8, 25
	keys := []storage.AggregateKey{
		{Provider: "acme", Kind: "payment", ID: "p1"},
		{Provider: "acme", Kind: "payment", ID: "p2"},
		{Provider: "zeta", Kind: "refund", ID: "r1"},
	}

	var wg sync.WaitGroup
	errs := make(chan error, len(replicas)*writers)
	for r, s := range replicas {
		for w := range writers {
			wg.Go(func() {
				for i := range perWriter {
					key := keys[(w+i)%len(keys)]
					err := s.Update(ctx, func(tx storage.Tx) error {
						a, err := tx.LockAggregate(ctx, key)
						switch {
						case errors.Is(err, storage.ErrNotFound):
							a = storage.Aggregate{Key: key, State: "created", CreatedAt: t0}
						case err != nil:
							return err
						}
						a.Version++
						a.UpdatedAt = t0.Add(time.Duration(a.Version) * time.Microsecond)
						if err := tx.PutAggregate(ctx, a); err != nil {
							return err
						}
						e := storage.JournalEntry{Key: key, Event: fmt.Sprintf("r%d-w%d-%d", r, w, i),
							Verdict: "applied", VersionAfter: a.Version, ReceivedAt: t0, Actor: "webhook"}
						return tx.Append(ctx, &e)
					})
					if err != nil {
						errs <- fmt.Errorf("replica %d, writer %d, update %d: %w", r, w, i, err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	const total = 2 * writers * perWriter
	seal(t, replicas[1])
	es, err := su.s.Journal(ctx, nil, 0, 10*total)
	require.NoError(t, err)
	require.Len(t, es, total)
	next := map[storage.AggregateKey]int64{}
	for i, e := range es {
		require.Equal(t, int64(i+1), e.Seq, "gap-free global sequence")
		next[e.Key]++
		require.Equal(t, next[e.Key], e.VersionAfter, "entry %d: writers of %v were serialized", e.Seq, e.Key)
	}
	var sum int64
	for _, k := range keys {
		a, err := replicas[1].Aggregate(ctx, k)
		require.NoError(t, err)
		require.Equal(t, next[k], a.Version, "no lost update of %v", k)
		sum += a.Version
	}
	require.Equal(t, int64(total), sum)
	for r, s := range replicas {
		rep, err := storage.VerifyChain(ctx, s)
		require.NoError(t, err)
		require.True(t, rep.OK, "replica %d: %+v", r, rep)
		require.Equal(t, storage.ChainHead{Seq: total, Hash: es[total-1].Hash}, rep.Head)
	}
}

// Two replicas receive the same webhook at the same moment. Each checks
// the dedupe receipt and, finding none, applies the event and writes the
// receipt. Exactly one may apply it; the other must see the receipt — on
// its first try, since the chain head lock makes check-then-put one step
// (had the receipts primary key refused its insert instead, its caller's
// retry would have seen the receipt, and the test counts such refusals).
func TestReplicasRaceForReceipt(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	replicas := []*Store{su.s, openIn(t, su.dsn, su.schema)}
	ctx := t.Context()
	const events = 40

	deliver := func(s *Store, dedupe string) (outcome string, refused int, err error) {
		for range 3 { // the caller's retry, as a provider's redelivery would be
			err = s.Update(ctx, func(tx storage.Tx) error {
				outcome = ""
				if _, err := tx.Receipt(ctx, "acme", dedupe); err == nil {
					outcome = "duplicate"
					return nil
				} else if !errors.Is(err, storage.ErrNotFound) {
					return err
				}
				// Widen the window between check and put: without the head
				// lock both replicas would be in here together.
				time.Sleep(2 * time.Millisecond)
				e := storage.JournalEntry{Key: payKey, Event: "captured", Verdict: "applied",
					DedupeKey: dedupe, BodySHA256: "ab", ReceivedAt: t0, Actor: "webhook"}
				if err := tx.Append(ctx, &e); err != nil {
					return err
				}
				if err := tx.PutReceipt(ctx, "acme", dedupe, storage.Receipt{Seq: e.Seq, BodySHA256: "ab"}); err != nil {
					return err
				}
				outcome = "applied"
				return nil
			})
			if err == nil {
				return outcome, refused, nil
			}
			refused++
		}
		return "", refused, err
	}

	refusals := 0
	for i := range events {
		dedupe := fmt.Sprintf("evt_%d", i)
		var outcomes [2]string
		var refused [2]int
		var errs [2]error
		start := make(chan struct{})
		var wg sync.WaitGroup
		for r, s := range replicas {
			wg.Go(func() {
				<-start
				outcomes[r], refused[r], errs[r] = deliver(s, dedupe)
			})
		}
		close(start)
		wg.Wait()
		require.NoError(t, errors.Join(errs[:]...), dedupe)
		require.ElementsMatch(t, []string{"applied", "duplicate"}, outcomes[:], "%s: exactly one replica applies it", dedupe)
		refusals += refused[0] + refused[1]
	}
	require.Zero(t, refusals, "no replica ever decided without seeing the other's receipt")

	seal(t, su.s)
	es, err := su.s.Journal(ctx, nil, 0, 1000)
	require.NoError(t, err)
	require.Len(t, es, events, "one journal entry per event")
	rep, err := storage.VerifyChain(ctx, su.s)
	require.NoError(t, err)
	require.True(t, rep.OK, "%+v", rep)
}

// A batch of events costs two round trips whatever its size: BEGIN, the
// next block of handles, the aggregates' locks and the lookup; the
// writes, the journal's inserts and COMMIT. No chain head lock.
func TestBatchRoundTrips(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	ctx := t.Context()
	var trips []int
	su.s.onTx = func(n int) { trips = append(trips, n) }
	for batch := range 2 {
		require.NoError(t, su.s.Update(ctx, func(tx storage.Tx) error {
			var rks []storage.ReceiptKey
			var aks []storage.AggregateKey
			for i := range 10 {
				rks = append(rks, storage.ReceiptKey{Provider: "acme", DedupeKey: fmt.Sprintf("evt_%d_%d", batch, i)})
				aks = append(aks, storage.AggregateKey{Provider: "acme", Kind: "payment", ID: fmt.Sprintf("p%d", i)})
			}
			if _, err := tx.Lookup(ctx, rks, aks); err != nil {
				return err
			}
			for i := range 10 {
				e := storage.JournalEntry{Key: aks[i], Event: "e", DedupeKey: rks[i].DedupeKey}
				if err := tx.Append(ctx, &e); err != nil {
					return err
				}
				if err := tx.PutReceipt(ctx, "acme", rks[i].DedupeKey, storage.Receipt{Seq: e.Seq, BodySHA256: "ab"}); err != nil {
					return err
				}
				if err := tx.PutAggregate(ctx, storage.Aggregate{Key: aks[i], State: "authorized", Version: int64(batch + 1)}); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	require.Equal(t, []int{2, 2}, trips)
	seal(t, su.s)
	rep, err := storage.VerifyChain(ctx, su.s)
	require.NoError(t, err)
	require.True(t, rep.OK, "%+v", rep)
	require.EqualValues(t, 20, rep.Head.Seq)
}

// While fn decides, the transaction holds the advisory locks of the
// aggregates it read, not the chain head: another replica may commit
// meanwhile, unless it writes the same aggregate. The head is never
// locked by a writer, and everything is released at commit.
func TestDecidingHoldsTheAggregateNotTheHead(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	ctx := t.Context()
	probe := rawConn(t, su.dsn, su.schema)
	tryLock := func(key storage.AggregateKey) bool {
		var got bool
		require.NoError(t, probe.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, aggregateLock(su.schema, key)).Scan(&got))
		if got {
			_, err := probe.Exec(ctx, `SELECT pg_advisory_unlock($1)`, aggregateLock(su.schema, key))
			require.NoError(t, err)
		}
		return got
	}

	inFn, held := make(chan struct{}), make(chan struct{})
	release := sync.OnceFunc(func() { close(held) })
	defer release() // even when an assertion fails: Close waits for the connection
	done := make(chan error, 1)
	go func() {
		done <- su.s.Update(ctx, func(tx storage.Tx) error {
			if _, err := tx.Lookup(ctx, nil, []storage.AggregateKey{payKey}); err != nil {
				return err
			}
			e := storage.JournalEntry{Key: payKey, Event: "e"}
			if err := tx.Append(ctx, &e); err != nil {
				return err
			}
			close(inFn)
			<-held
			return nil
		})
	}()
	<-inFn
	_, err := probe.Exec(ctx, `SELECT seq FROM chain_head WHERE id = 1 FOR UPDATE NOWAIT`)
	require.NoError(t, err, "the head is free while fn decides")
	require.False(t, tryLock(payKey), "the aggregate fn read is held")
	require.True(t, tryLock(storage.AggregateKey{Provider: "acme", Kind: "refund", ID: "re_1"}), "another aggregate is not")
	release()
	require.NoError(t, <-done)
	require.True(t, tryLock(payKey), "released at commit")
	seal(t, su.s)
	head, err := su.s.Head(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, head.Seq)
}

// holdAggregate takes key's advisory lock from another session until the
// returned function is called.
func holdAggregate(t *testing.T, su setup, key storage.AggregateKey) (release func()) {
	t.Helper()
	holder := rawConn(t, su.dsn, su.schema)
	_, err := holder.Exec(t.Context(), `SELECT pg_advisory_lock($1)`, aggregateLock(su.schema, key))
	require.NoError(t, err)
	var once sync.Once
	release = func() {
		once.Do(func() {
			_, err := holder.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, aggregateLock(su.schema, key))
			require.NoError(t, err)
		})
	}
	t.Cleanup(release)
	return release
}

// holdHead locks the chain head from another session until the returned
// function is called.
func holdHead(t *testing.T, su setup) (release func()) {
	t.Helper()
	holder := rawConn(t, su.dsn, su.schema)
	htx, err := holder.Begin(t.Context())
	require.NoError(t, err)
	_, err = htx.Exec(t.Context(), `SELECT seq FROM chain_head WHERE id = 1 FOR UPDATE`)
	require.NoError(t, err)
	var once sync.Once
	release = func() { once.Do(func() { require.NoError(t, htx.Rollback(context.Background())) }) }
	t.Cleanup(release)
	return release
}

// A lock wait that runs out (55P03) is retried, and reported as
// ErrUnavailable once the attempts are spent.
func TestRetryLockTimeout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		attempts int
	}{{"retried", 5}, {"out-of-attempts", 1}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			su := newSetup(t, WithLockTimeout(200*time.Millisecond), WithRetry(tc.attempts, 10*time.Millisecond))
			ctx := t.Context()
			release := holdAggregate(t, su, payKey)
			var retryErrs []error
			su.s.onRetry = func(err error) {
				retryErrs = append(retryErrs, err)
				release()
			}
			runs := 0
			start := time.Now()
			err := su.s.Update(ctx, func(tx storage.Tx) error {
				runs++
				if _, err := tx.LockAggregate(ctx, payKey); err != nil && !errors.Is(err, storage.ErrNotFound) {
					return err
				}
				e := storage.JournalEntry{Key: payKey, Event: "e"}
				return tx.Append(ctx, &e)
			})
			require.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond, "the lock timeout was waited out")
			if tc.attempts == 1 {
				require.ErrorIs(t, err, storage.ErrUnavailable)
				require.Equal(t, codeLockNotAvailable, pgCode(err), "%v", err)
				require.ErrorContains(t, err, "lock aggregates")
				require.Equal(t, 1, runs)
				require.Empty(t, retryErrs)
				return
			}
			require.NoError(t, err)
			require.Len(t, retryErrs, 1)
			require.ErrorIs(t, retryErrs[0], storage.ErrUnavailable)
			require.Equal(t, codeLockNotAvailable, pgCode(retryErrs[0]))
			require.ErrorContains(t, retryErrs[0], "lock aggregates")
			require.Equal(t, 2, runs)
		})
	}
}

// A deadlock with another session (40P01) is retried: fn holds the
// aggregate's advisory lock and waits for its row, which the other session
// holds, and the other session then waits for the advisory lock.
// PostgreSQL aborts the transaction whose deadlock_timeout expires first,
// ours, which waited first.
func TestRetryDeadlock(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	ctx := t.Context()
	require.NoError(t, su.s.Update(ctx, func(tx storage.Tx) error {
		return tx.PutAggregate(ctx, storage.Aggregate{Key: payKey, State: "authorized", Version: 1})
	}))

	other := rawConn(t, su.dsn, su.schema)
	otx, err := other.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = otx.Rollback(context.Background()) }()
	_, err = otx.Exec(ctx, `SELECT 1 FROM aggregates WHERE provider = $1 AND kind = $2 AND id = $3 FOR UPDATE`,
		payKey.Provider, payKey.Kind, payKey.ID)
	require.NoError(t, err)

	var retryErrs []error
	su.s.onRetry = func(err error) { retryErrs = append(retryErrs, err) }
	var runs int
	var pid uint32
	pidKnown := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- su.s.Update(ctx, func(stx storage.Tx) error {
			runs++
			if runs == 1 {
				pid = stx.(*tx).conn.PgConn().PID()
				close(pidKnown)
			}
			a, err := stx.LockAggregate(ctx, payKey)
			if err != nil {
				return err
			}
			a.Version++
			return stx.PutAggregate(ctx, a)
		})
	}()

	// Once our transaction waits for the row, close the cycle.
	<-pidKnown
	probe := rawConn(t, su.dsn, "")
	require.Eventually(t, func() bool {
		var waiting bool
		err := probe.QueryRow(ctx, `SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1`, pid).Scan(&waiting)
		return err == nil && waiting
	}, time.Minute, 5*time.Millisecond)
	// PostgreSQL aborts whichever waiter runs its deadlock check first, a
	// deadlock_timeout after it began to wait. Ours began first, but on a
	// loaded machine the two checks can still swap; a long timeout here makes
	// ours the victim every time.
	_, err = otx.Exec(ctx, `SET LOCAL deadlock_timeout = '60s'`)
	require.NoError(t, err)
	_, err = otx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, aggregateLock(su.schema, payKey))
	require.NoError(t, err, "the other session got the aggregate's lock once ours was aborted")
	require.NoError(t, otx.Commit(ctx))

	require.NoError(t, <-done)
	require.Len(t, retryErrs, 1)
	require.Equal(t, codeDeadlockDetected, pgCode(retryErrs[0]), "%v", retryErrs[0])
	require.ErrorIs(t, retryErrs[0], storage.ErrUnavailable)
	require.Equal(t, 2, runs)
	a, err := su.s.Aggregate(ctx, payKey)
	require.NoError(t, err)
	require.Equal(t, int64(2), a.Version)
}

// Retries are decided by SQLSTATE alone, wherever the error comes from;
// any other error from fn is returned as it is, at once.
func TestRetryBySQLState(t *testing.T) {
	t.Parallel()
	su := newSetup(t, WithRetry(3, time.Millisecond))
	ctx := t.Context()
	for _, tc := range []struct {
		name     string
		code     string
		failRuns int
		wantRuns int
		wantErr  bool
	}{
		{"serialization-then-ok", codeSerializationFailure, 2, 3, false},
		{"deadlock-then-ok", codeDeadlockDetected, 1, 2, false},
		{"lock-timeout-always", codeLockNotAvailable, 99, 3, true},
		{"unique-violation", codeUniqueViolation, 99, 1, true},
		{"connection-failure", "08006", 99, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runs := 0
			var last error
			err := su.s.Update(ctx, func(storage.Tx) error {
				runs++
				if runs > tc.failRuns {
					return nil
				}
				last = fmt.Errorf("run %d: %w", runs, &pgconn.PgError{Code: tc.code, Message: "synthetic"})
				return last
			})
			require.Equal(t, tc.wantRuns, runs)
			if tc.wantErr {
				require.Same(t, last, err, "fn's error is returned unchanged")
			} else {
				require.NoError(t, err)
			}
		})
	}
}

// PostgreSQL aborts a transaction at its first failed statement. fn that
// ignores such an error and returns nil must not be told its work was
// committed.
func TestFailedStatementFailsUpdate(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	ctx := t.Context()
	require.NoError(t, su.s.Update(ctx, func(tx storage.Tx) error {
		return tx.PutReceipt(ctx, "acme", "evt_1", storage.Receipt{Seq: 1, BodySHA256: "ab"})
	}))
	var dupErr, afterErr error
	err := su.s.Update(ctx, func(tx storage.Tx) error {
		e := storage.JournalEntry{Key: payKey, Event: "e"}
		if err := tx.Append(ctx, &e); err != nil {
			return err
		}
		// The insert is held back with the writes nothing waits for; the
		// next statement that waits sends it, and reports its failure.
		if err := tx.PutReceipt(ctx, "acme", "evt_1", storage.Receipt{Seq: 2}); err != nil {
			return err
		}
		_, dupErr = tx.Receipt(ctx, "acme", "evt_2")
		afterErr = tx.PutAggregate(ctx, storage.Aggregate{Key: payKey})
		return nil // ignoring both
	})
	require.Error(t, dupErr)
	require.NotErrorIs(t, dupErr, storage.ErrNotFound)
	require.ErrorContains(t, dupErr, "put receipt")
	require.Equal(t, codeUniqueViolation, pgCode(dupErr))
	require.NotErrorIs(t, dupErr, storage.ErrUnavailable)
	require.Error(t, afterErr, "the transaction is aborted")
	require.Error(t, err)
	require.ErrorIs(t, err, dupErr, "Update reports the first failure")
	head, err := su.s.Head(ctx)
	require.NoError(t, err)
	require.Zero(t, head.Seq, "nothing committed")
}

// Text PostgreSQL cannot store is refused before any SQL is sent, so the
// transaction goes on; reads by such a key find nothing.
func TestInvalidText(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	s, ctx := su.s, t.Context()
	nul := storage.AggregateKey{Provider: "acme", Kind: "payment", ID: "pay\x00"}
	bad := storage.AggregateKey{Provider: "acme", Kind: "payment", ID: "pay\xff"}

	var errs []error
	var appended storage.JournalEntry
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		for _, step := range []func() error{
			func() error { e := storage.JournalEntry{Key: payKey, Reason: "a\x00b"}; return tx.Append(ctx, &e) },
			func() error {
				e := storage.JournalEntry{Key: payKey, Skipped: []string{"ok", "\xff"}}
				return tx.Append(ctx, &e)
			},
			func() error { return tx.PutAggregate(ctx, storage.Aggregate{Key: bad}) },
			func() error { return tx.PutAggregate(ctx, storage.Aggregate{Key: payKey, MerchantReference: "\x00"}) },
			func() error { return tx.PutReceipt(ctx, "acme", "evt\x00", storage.Receipt{}) },
			func() error { return tx.Defer(ctx, storage.DeferredEvent{Seq: 1, Key: nul}) },
		} {
			errs = append(errs, step())
		}
		for _, k := range []storage.AggregateKey{nul, bad} {
			if _, err := tx.LockAggregate(ctx, k); !errors.Is(err, storage.ErrNotFound) {
				return fmt.Errorf("LockAggregate(%q) = %w, want ErrNotFound", k.ID, err)
			}
			if held, err := tx.DeferredFor(ctx, k); err != nil || len(held) != 0 {
				return fmt.Errorf("DeferredFor(%q) = %v, %w", k.ID, held, err)
			}
		}
		if _, err := tx.Receipt(ctx, "acme", "evt\xff"); !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("Receipt = %w, want ErrNotFound", err)
		}
		// The transaction is still good.
		appended = storage.JournalEntry{Key: payKey, Event: "after", Reason: "montant remboursé — 12,50 €",
			RedactedBody: []byte("\x00\xff"), Payload: []byte{0}}
		return tx.Append(ctx, &appended)
	}))
	for i, err := range errs {
		require.ErrorIs(t, err, ErrInvalidText, "step %d", i)
		require.NotErrorIs(t, err, storage.ErrUnavailable, "step %d: a retry cannot fix it", i)
	}
	seal(t, s)
	es, err := s.Journal(ctx, nil, 0, 10)
	require.NoError(t, err)
	require.Len(t, es, 1)
	require.Equal(t, int64(1), es[0].Seq, "refused appends took no seq")
	require.Equal(t, []byte("\x00\xff"), es[0].RedactedBody, "bytea keeps any bytes")
	require.Equal(t, storage.EntryHash(&es[0], storage.GenesisHash), es[0].Hash)

	for _, k := range []storage.AggregateKey{nul, bad} {
		_, err := s.Aggregate(ctx, k)
		require.ErrorIs(t, err, storage.ErrNotFound)
		kids, err := s.Children(ctx, k)
		require.NoError(t, err)
		require.Empty(t, kids)
		es, err := s.Journal(ctx, &k, 0, 10)
		require.NoError(t, err)
		require.Empty(t, es)
		n, err := s.PendingDeferred(ctx, k)
		require.NoError(t, err)
		require.Zero(t, n)
	}
	refs, err := s.AggregatesByReference(ctx, "order\x00")
	require.NoError(t, err)
	require.Empty(t, refs)
}

// Every connection of both pools has the schema as its search_path; the
// read pool's sessions are read-only, the write pool's carry the lock
// timeout.
func TestSessionSettingsOnEveryConnection(t *testing.T) {
	t.Parallel()
	su := newSetup(t, WithLockTimeout(1500*time.Millisecond))
	s, ctx := su.s, t.Context()
	wantPath := su.schema // shown unquoted: the random names need no quotes
	show := func(c *pgx.Conn, name string) string {
		var v string
		require.NoError(t, c.QueryRow(ctx, `SELECT current_setting($1)`, name).Scan(&v))
		return v
	}

	for i := range 3 { // held at once: three distinct connections
		c, err := s.reader.Acquire(ctx)
		require.NoError(t, err)
		defer c.Release()
		require.Equal(t, wantPath, show(c.Conn(), "search_path"), "reader %d", i)
		require.Equal(t, "on", show(c.Conn(), "default_transaction_read_only"), "reader %d", i)
		_, err = c.Exec(ctx, `DELETE FROM aggregates`)
		require.Equal(t, codeReadOnlyTransaction, pgCode(err), "readers cannot write: %v", err)
	}
	for i := range 2 {
		c, err := s.writer.Acquire(ctx)
		require.NoError(t, err)
		defer c.Release()
		require.Equal(t, wantPath, show(c.Conn(), "search_path"), "writer %d", i)
		require.Equal(t, "off", show(c.Conn(), "default_transaction_read_only"), "writer %d", i)
		require.Equal(t, "1500ms", show(c.Conn(), "lock_timeout"), "writer %d", i)
	}
}

func TestSchemaTooNew(t *testing.T) {
	t.Parallel()
	dsn, schema := newSchema(t)
	ctx := t.Context()
	s, err := Open(ctx, dsn, WithSchema(schema))
	require.NoError(t, err)
	require.NoError(t, s.Close())

	future := LatestSchemaVersion() + 1
	_, err = rawConn(t, dsn, schema).Exec(ctx,
		`INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, 'from_the_future.sql', 0)`, future)
	require.NoError(t, err)

	_, err = Open(ctx, dsn, WithSchema(schema))
	require.ErrorIs(t, err, storage.ErrSchemaTooNew)
	_, err = Migrate(ctx, dsn, WithSchema(schema))
	require.ErrorIs(t, err, storage.ErrSchemaTooNew)
	v, err := SchemaVersion(ctx, dsn, WithSchema(schema))
	require.NoError(t, err)
	require.Equal(t, future, v)
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	ctx := t.Context()
	ms, err := migrations()
	require.NoError(t, err)
	require.NotEmpty(t, ms)
	latest := LatestSchemaVersion()
	require.Equal(t, len(ms), latest)

	// A schema that does not exist yet: SchemaVersion leaves it alone,
	// Migrate creates it.
	schema := schemaName()
	dropSchemaAtCleanup(t, dsn, schema)
	v, err := SchemaVersion(ctx, dsn, WithSchema(schema))
	require.NoError(t, err)
	require.Zero(t, v)
	var exists bool
	probe := rawConn(t, dsn, "")
	const schemaExists = `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`
	require.NoError(t, probe.QueryRow(ctx, schemaExists, schema).Scan(&exists))
	require.False(t, exists, "SchemaVersion changes nothing")

	applied, err := Migrate(ctx, dsn, WithSchema(schema))
	require.NoError(t, err)
	var want []int
	for v := 1; v <= latest; v++ {
		want = append(want, v)
	}
	require.Equal(t, want, applied)
	require.NoError(t, probe.QueryRow(ctx, schemaExists, schema).Scan(&exists))
	require.True(t, exists)
	applied, err = Migrate(ctx, dsn, WithSchema(schema))
	require.NoError(t, err)
	require.Empty(t, applied, "already current")

	v, err = SchemaVersion(ctx, dsn, WithSchema(schema))
	require.NoError(t, err)
	require.Equal(t, latest, v)
	s := openIn(t, dsn, schema)
	v, err = s.SchemaVersion(ctx)
	require.NoError(t, err)
	require.Equal(t, latest, v)

	// Every table is in the schema, none anywhere else on the path.
	var tables []string
	rows, err := probe.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`, schema)
	require.NoError(t, err)
	tables, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"aggregates", "amount_facts_pending", "chain_head", "checkpoints", "deferred", "journal", "receipts", "schema_migrations"}, tables)

	_, err = Open(ctx, "not a DSN ===")
	require.Error(t, err)
	_, err = Open(ctx, dsn, WithSchema(strings.Repeat("s", 64)))
	require.ErrorContains(t, err, "longer than 63 bytes", "PostgreSQL would truncate it")
}

// paystate processes starting together on a fresh schema: every one
// succeeds, and the migrations are applied exactly once.
func TestConcurrentOpensMigrateOnce(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	ctx := t.Context()
	schema := schemaName() // not created: the first to get the lock creates it
	dropSchemaAtCleanup(t, dsn, schema)

	const n = 4
	var wg sync.WaitGroup
	applied := make([][]int, n)
	errs := make([]error, 2*n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			applied[i], errs[i] = Migrate(ctx, dsn, WithSchema(schema))
		})
		wg.Go(func() {
			<-start
			// A webhook's lock timeout does not apply to waiting for
			// another process's migration.
			s, err := Open(ctx, dsn, WithSchema(schema), WithLockTimeout(time.Millisecond))
			if err == nil {
				err = s.Close()
			}
			errs[n+i] = err
		})
	}
	close(start)
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	nonEmpty := 0
	for _, a := range applied {
		if len(a) > 0 {
			nonEmpty++
		}
	}
	require.LessOrEqual(t, nonEmpty, 1, "at most one Migrate applied anything (an Open may have been first): %v", applied)
	var rowsN int
	require.NoError(t, rawConn(t, dsn, schema).QueryRow(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&rowsN))
	require.Equal(t, LatestSchemaVersion(), rowsN)
}

func TestDataSurvivesReopen(t *testing.T) {
	t.Parallel()
	dsn, schema := newSchema(t)
	ctx := t.Context()
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	agg := storage.Aggregate{Key: payKey, MerchantReference: "order-1", State: "captured", Currency: "EUR",
		Amount: 500, Authorized: 500, Captured: 500, Version: 3, CreatedAt: at, UpdatedAt: at}
	held := storage.DeferredEvent{Seq: 3, Key: payKey, DedupeKey: "evt_3", Payload: []byte("p"),
		BodySHA256: "ab", ReceivedAt: at, ExpiresAt: at.Add(time.Hour)}

	s, err := Open(ctx, dsn, WithSchema(schema))
	require.NoError(t, err)
	var last storage.JournalEntry
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		for i := range 3 {
			last = storage.JournalEntry{Key: payKey, Event: fmt.Sprint("e", i), Verdict: "applied",
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
	// Closed (a crash, as far as the database knows) between the commit
	// and any seal: the entries are durable, and unsealed.
	require.NoError(t, s.Close())

	s = openIn(t, dsn, schema)
	got, err := s.Aggregate(ctx, payKey)
	require.NoError(t, err)
	require.Equal(t, agg, got)
	head, err := s.Head(ctx)
	require.NoError(t, err)
	require.Equal(t, storage.ChainHead{Seq: 0, Hash: storage.GenesisHash}, head)
	unsealed, err := s.Unsealed(ctx, nil)
	require.NoError(t, err)
	require.EqualValues(t, 3, unsealed)
	seal(t, s) // the next process's sealer
	es, err := s.Journal(ctx, nil, 0, 10)
	require.NoError(t, err)
	require.Len(t, es, 3)
	require.Equal(t, "e2", es[2].Event)
	head, err = s.Head(ctx)
	require.NoError(t, err)
	require.Equal(t, storage.ChainHead{Seq: 3, Hash: es[2].Hash}, head)
	rep, err := storage.VerifyChain(ctx, s)
	require.NoError(t, err)
	require.True(t, rep.OK, "%+v", rep)
	n, err := s.PendingDeferred(ctx, payKey)
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

// The chain head is not derived from the journal: rows cut from the end
// leave the head pointing past them.
func TestHeadIsStoredNotDerived(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	ctx := t.Context()
	require.NoError(t, su.s.Update(ctx, func(tx storage.Tx) error {
		for range 3 {
			e := storage.JournalEntry{Key: storage.AggregateKey{Provider: "p"}, Event: "e"}
			if err := tx.Append(ctx, &e); err != nil {
				return err
			}
		}
		return nil
	}))
	seal(t, su.s)
	_, err := rawConn(t, su.dsn, su.schema).Exec(ctx, `DELETE FROM journal`)
	require.NoError(t, err)
	head, err := su.s.Head(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(3), head.Seq)
	rep, err := storage.VerifyChain(ctx, su.s)
	require.NoError(t, err)
	require.False(t, rep.OK)
	require.Equal(t, int64(1), rep.FirstBad)
}

func TestUndeferUnknownIsNotFound(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	ctx := t.Context()
	err := su.s.Update(ctx, func(tx storage.Tx) error { return tx.Undefer(ctx, 42) })
	require.ErrorIs(t, err, storage.ErrNotFound)
}

// The server cannot be reached at all: nothing listens on the port. This
// needs no PostgreSQL and runs everywhere.
func TestUnreachableServer(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	dsn := "postgres://paystate@" + addr + "/paystate?sslmode=disable&connect_timeout=2"
	ctx := t.Context()

	start := time.Now()
	_, err = Open(ctx, dsn, WithSchema("paystate"))
	require.ErrorIs(t, err, storage.ErrUnavailable)
	require.Less(t, time.Since(start), 10*time.Second)
	_, err = Migrate(ctx, dsn)
	require.ErrorIs(t, err, storage.ErrUnavailable)
	_, err = SchemaVersion(ctx, dsn)
	require.ErrorIs(t, err, storage.ErrUnavailable)
}

// proxy forwards TCP connections to the server until cut, which closes
// every connection and stops listening: the network between paystate
// and its database failing.
type proxy struct {
	ln     net.Listener
	mu     sync.Mutex
	conns  []net.Conn
	closed bool
}

func startProxy(t *testing.T, network, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{ln: ln}
	t.Cleanup(p.cut)
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial(network, target)
			if err != nil {
				_ = client.Close()
				continue
			}
			if !p.track(client, server) {
				return
			}
			go func() { _, _ = io.Copy(server, client); _ = server.Close() }()
			go func() { _, _ = io.Copy(client, server); _ = client.Close() }()
		}
	}()
	return p
}

func (p *proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		for _, c := range cs {
			_ = c.Close()
		}
		return false
	}
	p.conns = append(p.conns, cs...)
	return true
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	_ = p.ln.Close()
	for _, c := range p.conns {
		_ = c.Close()
	}
}

// viaProxy returns dsn pointed at a proxy in front of its server.
func viaProxy(t *testing.T, dsn string) (string, *proxy) {
	t.Helper()
	cfg, err := pgconn.ParseConfig(dsn)
	require.NoError(t, err)
	network, target := "tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	if strings.HasPrefix(cfg.Host, "/") {
		network, target = "unix", fmt.Sprintf("%s/.s.PGSQL.%d", cfg.Host, cfg.Port)
	}
	p := startProxy(t, network, target)
	host, port, err := net.SplitHostPort(p.ln.Addr().String())
	require.NoError(t, err)
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Host = net.JoinHostPort(host, port)
		q := u.Query()
		q.Del("host")
		q.Del("port")
		u.RawQuery = q.Encode()
		return u.String(), p
	}
	return dsn + " host=" + host + " port=" + port, p
}

func TestUnavailable(t *testing.T) {
	t.Parallel()
	put := func(ctx context.Context, s *Store, ref string) error {
		return s.Update(ctx, func(tx storage.Tx) error {
			return tx.PutAggregate(ctx, storage.Aggregate{Key: payKey, MerchantReference: ref})
		})
	}

	// The network to the server goes away under an open store.
	t.Run("connection-lost", func(t *testing.T) {
		t.Parallel()
		dsn, schema := newSchema(t)
		proxied, p := viaProxy(t, dsn)
		s := openIn(t, proxied, schema)
		ctx := t.Context()
		require.NoError(t, put(ctx, s, "before"))
		_, err := s.Aggregate(ctx, payKey)
		require.NoError(t, err)

		p.cut()
		err = put(ctx, s, "after")
		require.ErrorIs(t, err, storage.ErrUnavailable)
		_, err = s.Aggregate(ctx, payKey)
		require.ErrorIs(t, err, storage.ErrUnavailable)
		require.NotErrorIs(t, err, storage.ErrNotFound)
		_, err = s.Head(ctx)
		require.ErrorIs(t, err, storage.ErrUnavailable)
	})

	// An administrator (or a failover) ends the session mid-transaction:
	// 57P01 or a closed connection, either way ErrUnavailable, nothing
	// committed, and the next Update gets a fresh connection. Needs
	// PostgreSQL 14 or later (pg_terminate_backend with a timeout, so the
	// session is gone before fn goes on) and a role that may signal the
	// store's sessions (the same role, or pg_signal_backend).
	t.Run("backend-terminated", func(t *testing.T) {
		t.Parallel()
		su := newSetup(t)
		ctx := t.Context()
		admin := rawConn(t, su.dsn, "")
		runs := 0
		err := su.s.Update(ctx, func(stx storage.Tx) error {
			runs++
			pid := stx.(*tx).conn.PgConn().PID()
			var ok bool
			if err := admin.QueryRow(ctx, `SELECT pg_terminate_backend($1, 5000)`, pid).Scan(&ok); err != nil || !ok {
				return fmt.Errorf("terminate backend %d: %v, %w", pid, ok, err)
			}
			return putRef(ctx, stx, "terminated")
		})
		require.ErrorIs(t, err, storage.ErrUnavailable)
		require.Equal(t, 1, runs, "not retried: a broken connection is not a conflict")
		_, err = su.s.Aggregate(ctx, payKey)
		require.ErrorIs(t, err, storage.ErrNotFound, "nothing committed")
		require.NoError(t, put(ctx, su.s, "next"), "the pool replaced the connection")
	})

	t.Run("closed", func(t *testing.T) {
		t.Parallel()
		dsn, schema := newSchema(t)
		s, err := Open(t.Context(), dsn, WithSchema(schema))
		require.NoError(t, err)
		require.NoError(t, s.Close())
		require.NoError(t, s.Close(), "Close twice")
		require.ErrorIs(t, put(t.Context(), s, "x"), storage.ErrUnavailable)
		_, err = s.Aggregate(t.Context(), payKey)
		require.ErrorIs(t, err, storage.ErrUnavailable)
	})
}

func putRef(ctx context.Context, stx storage.Tx, ref string) error {
	return stx.PutAggregate(ctx, storage.Aggregate{Key: payKey, MerchantReference: ref})
}

// Classification is by SQLSTATE and error type alone. Needs no server.
func TestClassify(t *testing.T) {
	t.Parallel()
	pg := func(code string) error {
		return &pgconn.PgError{Severity: "ERROR", Code: code, Message: "whatever the server says"}
	}
	for _, tc := range []struct {
		name                  string
		err                   error
		notFound, unavailable bool
		retried               bool
		corrupt               bool
	}{
		{"no rows", pgx.ErrNoRows, true, false, false, false},
		{"serialization failure", pg("40001"), false, true, true, false},
		{"deadlock", pg("40P01"), false, true, true, false},
		{"lock not available", pg("55P03"), false, true, true, false},
		{"connection failure", pg("08006"), false, true, false, false},
		{"admin shutdown", pg("57P01"), false, true, false, false},
		{"crash shutdown", pg("57P02"), false, true, false, false},
		{"cannot connect now", pg("57P03"), false, true, false, false},
		{"too many connections", pg("53300"), false, true, false, false},
		{"disk full", pg("53100"), false, true, false, false},
		{"io error", pg("58030"), false, true, false, false},
		{"read-only standby", pg("25006"), false, true, false, false},
		{"unique violation", pg("23505"), false, false, false, false},
		{"syntax error", pg("42601"), false, false, false, false},
		// statement_timeout (WithTimeout): the server did not finish in
		// time. pgx cancels a caller's ctx by deadline, not by a cancel
		// request, so 57014 is the server's bound or an operator's.
		{"query canceled", pg("57014"), false, true, false, false},
		{"idle in transaction timeout", pg("25P03"), false, true, false, false},
		{"data corrupted", pg("XX001"), false, false, false, true},
		{"index corrupted", pg("XX002"), false, false, false, true},
		{"connection reset", &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}, false, true, false, false},
		{"unexpected EOF", fmt.Errorf("receive message: %w", io.ErrUnexpectedEOF), false, true, false, false},
		{"caller's deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), false, false, false, false},
		{"caller's cancel", fmt.Errorf("query: %w", context.Canceled), false, false, false, false},
		{"anything else", errors.New("cannot scan"), false, false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := classify("op", tc.err)
			require.ErrorIs(t, got, tc.err, "the cause is kept")
			require.Equal(t, tc.notFound, errors.Is(got, storage.ErrNotFound), "ErrNotFound: %v", got)
			require.Equal(t, tc.unavailable, errors.Is(got, storage.ErrUnavailable), "ErrUnavailable: %v", got)
			require.Equal(t, tc.retried, retryable(got), "retried: %v", got)
			require.Equal(t, tc.corrupt, errors.Is(got, storage.ErrCorrupt), "ErrCorrupt: %v", got)
		})
	}
}

// TestLookupPlannedForTheTableItFinds: inside Update, a statement is
// planned for the table as it is when it runs, not from a generic plan
// cached while the table was empty. The lookup of receipts is prepared
// and run six times on an empty table (after five runs PostgreSQL may
// switch a prepared statement to a generic plan, and an empty table makes
// hashing a sequential scan look cheapest), then 20 000 receipts are
// added: its plan must now search the primary key, not scan the table.
func TestLookupPlannedForTheTableItFinds(t *testing.T) {
	su := newSetup(t)
	ctx := t.Context()
	var plan string
	err := su.s.Update(ctx, func(stx storage.Tx) error {
		pgTx := stx.(*tx).conn
		if err := stx.(*tx).send(ctx); err != nil { // BEGIN, the head lock and the queued SET LOCAL
			return err
		}
		if _, err := pgTx.Exec(ctx, `PREPARE look(text[], text[]) AS `+receiptLookup); err != nil {
			return err
		}
		keys := `(ARRAY['acme', 'acme'], ARRAY['evt_5', 'evt_999'])`
		for range 6 {
			if _, err := pgTx.Exec(ctx, `EXECUTE look`+keys); err != nil {
				return err
			}
		}
		if _, err := pgTx.Exec(ctx, `INSERT INTO receipts (provider, dedupe_key, seq, body_sha256)
			SELECT 'acme', 'evt_' || g, g, 'x' FROM generate_series(1, 20000) g`); err != nil {
			return err
		}
		rows, err := pgTx.Query(ctx, `EXPLAIN EXECUTE look`+keys)
		if err != nil {
			return err
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		plan = strings.Join(lines, "\n")
		if err != nil {
			return err
		}
		_, err = pgTx.Exec(ctx, `DEALLOCATE look`)
		return err
	})
	require.NoError(t, err)
	require.Contains(t, plan, "Index Scan using receipts_pkey", plan)
	require.NotContains(t, plan, "Seq Scan on receipts", plan)
}

// WithTimeout bounds every statement and every idle moment inside a write
// transaction on the server itself, for a client that can no longer say
// so: the statement fails, the idle session is ended, and either way
// Update reports ErrUnavailable and commits nothing. Migrations are
// exempt (Open ran them under the same option).
func TestServerSideTimeouts(t *testing.T) {
	t.Parallel()
	const bound = 200 * time.Millisecond
	su := newSetup(t, WithTimeout(bound))
	ctx := t.Context()
	for _, tc := range []struct {
		name  string
		stall func(stx storage.Tx) error
	}{
		{"statement", func(stx storage.Tx) error {
			_, err := stx.(*tx).conn.Exec(ctx, `SELECT pg_sleep(30)`)
			return stx.(*tx).classify("sleep", err)
		}},
		{"idle in transaction", func(stx storage.Tx) error {
			time.Sleep(5 * bound) // the client stalls mid-transaction
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			err := su.s.Update(ctx, func(stx storage.Tx) error {
				if err := stx.PutAggregate(ctx, storage.Aggregate{Key: payKey, MerchantReference: tc.name}); err != nil {
					return err
				}
				if err := stx.(*tx).send(ctx); err != nil {
					return err
				}
				return tc.stall(stx)
			})
			require.ErrorIs(t, err, storage.ErrUnavailable)
			require.Less(t, time.Since(start), 25*time.Second, "the server's bound ended it, not pg_sleep")
			_, err = su.s.Aggregate(ctx, payKey)
			require.ErrorIs(t, err, storage.ErrNotFound, "nothing was committed")
		})
	}
}

// Inside the transaction Append names an entry by a handle, usable
// wherever a sequence is. Once Update has committed the entry is durable
// and unsealed: its Seq is 0, it is not in the journal, its receipt and
// held event name its handle, verify's count and Unsealed see it. A seal
// gives it its place: the receipt and held event read back with the
// sequence, and the entry resolving it carries it in ResolvesSeq.
func TestHandlesUntilSealed(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	ctx := t.Context()
	require.NoError(t, su.s.Update(ctx, func(tx storage.Tx) error {
		e := storage.JournalEntry{Key: payKey, Event: "first"}
		return tx.Append(ctx, &e)
	}))
	seal(t, su.s)
	held := storage.JournalEntry{Key: payKey, Event: "held", DedupeKey: "evt_held"}
	var inTx int64
	require.NoError(t, su.s.Update(ctx, func(tx storage.Tx) error {
		if err := tx.Append(ctx, &held); err != nil {
			return err
		}
		inTx = held.Seq
		if !storage.IsHandle(held.Seq) || held.Hash != "" {
			return fmt.Errorf("append gave seq %d, hash %q: want a handle", held.Seq, held.Hash)
		}
		if err := tx.PutReceipt(ctx, "acme", "evt_held", storage.Receipt{Seq: held.Seq, BodySHA256: "ab"}); err != nil {
			return err
		}
		if err := tx.Defer(ctx, storage.DeferredEvent{Seq: held.Seq, Key: payKey, DedupeKey: "evt_held", BodySHA256: "ab"}); err != nil {
			return err
		}
		got, err := tx.DeferredFor(ctx, payKey)
		if err != nil {
			return err
		}
		if len(got) != 1 || got[0].Seq != held.Seq {
			return fmt.Errorf("held in this transaction: %+v", got)
		}
		return nil
	}))
	require.True(t, storage.IsHandle(inTx))
	require.Zero(t, held.Seq, "unsealed: no sequence yet")
	es, err := su.s.Journal(ctx, nil, 0, 10)
	require.NoError(t, err)
	require.Len(t, es, 1, "an unsealed entry is not in the journal")
	n, err := su.s.Unsealed(ctx, nil)
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	n, err = su.s.Unsealed(ctx, &payKey)
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	r, err := su.s.Receipts(ctx, storage.ReceiptKey{}, 10)
	require.NoError(t, err)
	require.Equal(t, inTx, r[0].Seq, "an unsealed entry's receipt names its handle")
	d, err := su.s.Deferred(ctx, 0, 10)
	require.NoError(t, err)
	require.Empty(t, d, "nor is its held event among the sealed")

	// Resolved, by another transaction, while the deferral is unsealed:
	// the resolving entry names the handle, which the seal rewrites.
	resolving := storage.JournalEntry{Key: payKey, Event: "held", Actor: "engine"}
	require.NoError(t, su.s.Update(ctx, func(tx storage.Tx) error {
		got, err := tx.DeferredFor(ctx, payKey)
		if err != nil {
			return err
		}
		if len(got) != 1 || got[0].Seq != inTx {
			return fmt.Errorf("held: %+v, want the handle %d", got, inTx)
		}
		resolving.ResolvesSeq = got[0].Seq
		if err := tx.Append(ctx, &resolving); err != nil {
			return err
		}
		// Left held, to read it back translated.
		return nil
	}))
	require.Equal(t, inTx, resolving.ResolvesSeq)
	seal(t, su.s)
	n, err = su.s.Unsealed(ctx, nil)
	require.NoError(t, err)
	require.Zero(t, n)
	r, err = su.s.Receipts(ctx, storage.ReceiptKey{}, 10)
	require.NoError(t, err)
	require.Len(t, r, 1)
	require.EqualValues(t, 2, r[0].Seq)
	d, err = su.s.Deferred(ctx, 0, 10)
	require.NoError(t, err)
	require.Len(t, d, 1)
	require.EqualValues(t, 2, d[0].Seq)
	es, err = su.s.Journal(ctx, nil, 0, 10)
	require.NoError(t, err)
	require.Len(t, es, 3)
	require.EqualValues(t, 2, es[1].Seq)
	require.Equal(t, "held", es[1].Event)
	require.EqualValues(t, 2, es[2].ResolvesSeq, "resolves_seq rewritten from the handle")
	resolving.Seq, resolving.ResolvesSeq, resolving.PrevHash, resolving.Hash = 3, 2, es[1].Hash, es[2].Hash
	require.Equal(t, resolving, normEntry(es[2], resolving))
	rep, err := storage.VerifyChain(ctx, su.s)
	require.NoError(t, err)
	require.True(t, rep.OK, "%+v", rep)

	// A writer undefers by the handle it read; a repair by the sequence.
	require.NoError(t, su.s.Update(ctx, func(tx storage.Tx) error { return tx.Undefer(ctx, 2) }))
	d, err = su.s.Deferred(ctx, 0, 10)
	require.NoError(t, err)
	require.Empty(t, d)
}

// normEntry is got with the fields a store may normalize taken from want.
func normEntry(got, want storage.JournalEntry) storage.JournalEntry {
	got.ReceivedAt, got.OccurredAt, got.Skipped = want.ReceivedAt, want.OccurredAt, want.Skipped
	got.RedactedBody, got.Payload = want.RedactedBody, want.Payload
	return got
}

// Two replicas (two stores) writing one aggregate that does not exist yet,
// through the engine's path (Lookup, then PutAggregate and Append): the
// aggregate's advisory lock serializes them although there is no row to
// lock, so no update is lost and the journal holds the aggregate's
// versions in order, while nothing else waits on a global lock.
func TestReplicasCreateOneAggregate(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	ctx := t.Context()
	other := openIn(t, su.dsn, su.schema)
	key := storage.AggregateKey{Provider: "acme", Kind: "payment", ID: "new_1"}
	const perWriter = 15
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w, s := range []*Store{su.s, other, su.s, other} {
		wg.Go(func() {
			for i := range perWriter {
				err := s.Update(ctx, func(tx storage.Tx) error {
					l, err := tx.Lookup(ctx, nil, []storage.AggregateKey{key})
					if err != nil {
						return err
					}
					a, ok := l.Aggregates[key]
					if !ok {
						a = storage.Aggregate{Key: key, State: "created"}
					}
					a.Version++
					if err := tx.PutAggregate(ctx, a); err != nil {
						return err
					}
					e := storage.JournalEntry{Key: key, Event: fmt.Sprintf("w%d-%d", w, i), VersionAfter: a.Version}
					return tx.Append(ctx, &e)
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	a, err := su.s.Aggregate(ctx, key)
	require.NoError(t, err)
	require.EqualValues(t, 4*perWriter, a.Version, "no lost update")
	seal(t, other)
	es, err := su.s.Journal(ctx, nil, 0, 1000)
	require.NoError(t, err)
	require.Len(t, es, 4*perWriter)
	for i, e := range es {
		require.EqualValues(t, i+1, e.Seq)
		require.Equal(t, e.Seq, e.VersionAfter, "the aggregate's entries in version order")
	}
	rep, err := storage.VerifyChain(ctx, su.s)
	require.NoError(t, err)
	require.True(t, rep.OK, "%+v", rep)
}

// The same delivery of an event with no aggregate, taken by two replicas
// at once: both find no receipt, one inserts it, and the other's insert
// conflicts at commit; Update runs it again, and its lookup now finds the
// receipt.
func TestReplicasRaceOnAReceipt(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	ctx := t.Context()
	other := openIn(t, su.dsn, su.schema)
	rk := storage.ReceiptKey{Provider: "acme", DedupeKey: "evt_race"}
	looked := make(chan struct{}, 2)
	proceed := make(chan struct{})
	var dup [2]bool
	var retried [2]int
	var wg sync.WaitGroup
	for i, s := range []*Store{su.s, other} {
		s.onRetry = func(error) { retried[i]++ }
		wg.Go(func() {
			first := true
			err := s.Update(ctx, func(tx storage.Tx) error {
				l, err := tx.Lookup(ctx, []storage.ReceiptKey{rk}, nil)
				if err != nil {
					return err
				}
				if first {
					first = false
					looked <- struct{}{}
					<-proceed
				}
				if _, ok := l.Receipts[rk]; ok {
					dup[i] = true
					e := storage.JournalEntry{Key: storage.AggregateKey{Provider: "acme"}, Verdict: "duplicate"}
					return tx.Append(ctx, &e)
				}
				e := storage.JournalEntry{Key: storage.AggregateKey{Provider: "acme"}, Verdict: "rejected", DedupeKey: rk.DedupeKey}
				if err := tx.Append(ctx, &e); err != nil {
					return err
				}
				return tx.PutReceipt(ctx, rk.Provider, rk.DedupeKey, storage.Receipt{Seq: e.Seq, BodySHA256: "ab"})
			})
			require.NoError(t, err)
		})
	}
	<-looked
	<-looked
	close(proceed)
	wg.Wait()
	require.True(t, dup[0] != dup[1], "one recorded the event, the other a duplicate: %v", dup)
	require.Equal(t, 1, retried[0]+retried[1])
	seal(t, su.s)
	rep, err := storage.VerifyChain(ctx, su.s)
	require.NoError(t, err)
	require.True(t, rep.OK, "%+v", rep)
	require.EqualValues(t, 2, rep.Head.Seq)
}

// Touch's commit waits for what a webhook's commit waits for: a session
// that keeps writers out of a table a webhook writes (an operator's LOCK
// TABLE, a migration) keeps Touch from committing too, or the readiness
// probe would call the store ready while every webhook fails. Reads of
// the table are allowed under SHARE, so only the write can tell.
func TestTouchWaitsForTheTablesWebhooksWrite(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	touch := func() error {
		ctx, late, cancel := storage.Bound(t.Context(), 300*time.Millisecond)
		defer cancel()
		return late(su.s.Update(ctx, func(tx storage.Tx) error { return tx.Touch(ctx) }))
	}
	require.NoError(t, touch())
	for _, lock := range []string{
		"journal IN ACCESS EXCLUSIVE MODE", "journal IN SHARE MODE", "receipts IN SHARE MODE",
		"aggregates IN SHARE MODE", "deferred IN SHARE MODE",
	} {
		holder := rawConn(t, su.dsn, su.schema)
		htx, err := holder.Begin(t.Context())
		require.NoError(t, err)
		_, err = htx.Exec(t.Context(), `LOCK TABLE `+lock)
		require.NoError(t, err)
		require.ErrorIs(t, touch(), storage.ErrUnavailable, "Touch committed while another session held %s", lock)
		require.NoError(t, htx.Rollback(t.Context()))
		require.NoError(t, touch(), "after %s was released", lock)
	}
}
