package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/storage"
)

// sealerKeys are the aggregates the sealer tests write.
var sealerKeys = []storage.AggregateKey{
	{Provider: "acme", Kind: "payment", ID: "p1"},
	{Provider: "acme", Kind: "payment", ID: "p2"},
	{Provider: "zeta", Kind: "refund", ID: "r1"},
}

// writeStep is one engine-like transaction on key: under the aggregate's
// lock (Lookup), it resolves the oldest event held for key when there is
// one (an entry naming it in ResolvesSeq, then Undefer), holds a new
// event every third step, or applies one (version + 1).
func writeStep(ctx context.Context, s *Store, key storage.AggregateKey, name string, step int) error {
	return s.Update(ctx, func(tx storage.Tx) error {
		l, err := tx.Lookup(ctx, nil, []storage.AggregateKey{key})
		if err != nil {
			return err
		}
		a, ok := l.Aggregates[key]
		if !ok {
			a = storage.Aggregate{Key: key, State: "created"}
		}
		if l.Held[key] {
			held, err := tx.DeferredFor(ctx, key)
			if err != nil {
				return err
			}
			if len(held) == 0 {
				return fmt.Errorf("%s: Lookup says held, DeferredFor finds nothing", name)
			}
			e := storage.JournalEntry{Key: key, Event: name, Verdict: "applied", Actor: "engine",
				DedupeKey: held[0].DedupeKey, ResolvesSeq: held[0].Seq, VersionAfter: a.Version}
			if err := tx.Append(ctx, &e); err != nil {
				return err
			}
			return tx.Undefer(ctx, held[0].Seq)
		}
		if step%3 == 2 {
			e := storage.JournalEntry{Key: key, Event: name, Verdict: "deferred", DedupeKey: "evt_" + name,
				BodySHA256: "ab", VersionAfter: a.Version, Actor: "webhook"}
			if err := tx.Append(ctx, &e); err != nil {
				return err
			}
			return tx.Defer(ctx, storage.DeferredEvent{Seq: e.Seq, Key: key, DedupeKey: e.DedupeKey, BodySHA256: "ab",
				ReceivedAt: t0, ExpiresAt: t0.Add(time.Hour)})
		}
		a.Version++
		if err := tx.PutAggregate(ctx, a); err != nil {
			return err
		}
		e := storage.JournalEntry{Key: key, Event: name, Verdict: "applied", DedupeKey: "evt_" + name,
			VersionAfter: a.Version, Actor: "webhook"}
		return tx.Append(ctx, &e)
	})
}

// writeConcurrently runs writers goroutines per replica, each taking
// perWriter writeSteps over sealerKeys, and returns their errors.
func writeConcurrently(ctx context.Context, replicas []*Store, writers, perWriter int) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(replicas)*writers)
	for r, s := range replicas {
		for w := range writers {
			wg.Go(func() {
				for i := range perWriter {
					key := sealerKeys[(w+i)%len(sealerKeys)]
					if err := writeStep(ctx, s, key, fmt.Sprintf("r%d-w%d-%d", r, w, i), i); err != nil {
						errs <- err
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// checkSealedJournal checks what the sealer made of writeStep's entries:
// the chain verifies, nothing is left unsealed, every aggregate's applied
// entries carry its versions in order, and every resolution names, by
// its sequence, an earlier deferral of the same aggregate, once.
func checkSealedJournal(t *testing.T, s *Store, want int) {
	t.Helper()
	ctx := t.Context()
	n, err := s.Unsealed(ctx, nil)
	require.NoError(t, err)
	require.Zero(t, n)
	rep, err := storage.VerifyChain(ctx, s)
	require.NoError(t, err)
	require.True(t, rep.OK, "%+v", rep)
	es, err := s.Journal(ctx, nil, 0, 100_000)
	require.NoError(t, err)
	require.Len(t, es, want)
	version := map[storage.AggregateKey]int64{}
	deferredBy := map[int64]storage.JournalEntry{}
	resolved := map[int64]bool{}
	for i, e := range es {
		require.EqualValues(t, i+1, e.Seq)
		switch {
		case e.ResolvesSeq != 0:
			d, ok := deferredBy[e.ResolvesSeq]
			require.True(t, ok, "entry %d resolves %d, no earlier deferral", e.Seq, e.ResolvesSeq)
			require.Equal(t, d.Key, e.Key)
			require.Equal(t, d.DedupeKey, e.DedupeKey)
			require.False(t, resolved[e.ResolvesSeq], "entry %d resolves %d a second time", e.Seq, e.ResolvesSeq)
			resolved[e.ResolvesSeq] = true
			require.Equal(t, version[e.Key], e.VersionAfter, "entry %d: after %v's version %d", e.Seq, e.Key, version[e.Key])
		case e.Verdict == "deferred":
			deferredBy[e.Seq] = e
			require.Equal(t, version[e.Key], e.VersionAfter, "entry %d: after %v's version %d", e.Seq, e.Key, version[e.Key])
		default:
			version[e.Key]++
			require.Equal(t, version[e.Key], e.VersionAfter, "entry %d: %v's versions in order", e.Seq, e.Key)
		}
	}
	for _, k := range sealerKeys {
		a, err := s.Aggregate(ctx, k)
		require.NoError(t, err)
		require.Equal(t, version[k], a.Version, "no lost update of %v", k)
	}
	held, err := s.Deferred(ctx, 0, 1000)
	require.NoError(t, err)
	for _, h := range held {
		_, ok := deferredBy[h.Seq]
		require.True(t, ok, "held event %d is a deferral entry's sequence", h.Seq)
		require.False(t, resolved[h.Seq], "held event %d was resolved", h.Seq)
	}
	require.Equal(t, len(deferredBy), len(resolved)+len(held))
}

// Two replicas write while another session holds the chain head's row
// lock: no writer waits for it (a lock wait would run out after 2 s and
// fail the write). Their entries are durable and unsealed — not in the
// journal, counted by Unsealed, verify sees an intact empty chain — and
// once the head is free one seal chains all of them: per-aggregate
// versions in order, resolutions rewritten from handles to sequences.
func TestWritersNeverWaitForTheHead(t *testing.T) {
	t.Parallel()
	su := newSetup(t, WithLockTimeout(2*time.Second), WithRetry(1, time.Millisecond))
	ctx := t.Context()
	replicas := []*Store{su.s, openIn(t, su.dsn, su.schema, WithLockTimeout(2*time.Second), WithRetry(1, time.Millisecond))}
	release := holdHead(t, su)

	const writers, perWriter = 3, 12
	start := time.Now()
	require.NoError(t, writeConcurrently(ctx, replicas, writers, perWriter), "a writer waited for the chain head")
	t.Logf("%d transactions committed in %s with the head locked", 2*writers*perWriter, time.Since(start))

	const total = 2 * writers * perWriter
	n, err := su.s.Unsealed(ctx, nil)
	require.NoError(t, err)
	require.EqualValues(t, total, n)
	es, err := su.s.Journal(ctx, nil, 0, 10)
	require.NoError(t, err)
	require.Empty(t, es, "nothing is sealed while the head is held")
	rep, err := storage.VerifyChain(ctx, su.s)
	require.NoError(t, err)
	require.Equal(t, storage.ChainReport{OK: true, Head: storage.ChainHead{Hash: storage.GenesisHash}}, rep)

	// A seal waits for the head like any locker would.
	sealCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = replicas[1].Seal(sealCtx)
	cancel()
	require.Error(t, err, "sealed while another session held the head")

	release()
	sealed, err := replicas[1].Seal(ctx)
	require.NoError(t, err)
	require.Equal(t, total, sealed)
	checkSealedJournal(t, su.s, total)
}

// Both replicas run their sealer loop while their writers write, so that
// rounds seal while transactions are in flight and rows commit after
// rows with a larger commit_order were sealed. The chain must still be
// intact and respect every aggregate's order and every held event's
// deferral before its resolution, and Watch's notifier is told.
func TestSealersRaceWriters(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	ctx := t.Context()
	replicas := []*Store{su.s, openIn(t, su.dsn, su.schema)}
	sealCtx, stopSealing := context.WithCancel(ctx)
	var sealers sync.WaitGroup
	var mu sync.Mutex
	sealedBy := make([]int, len(replicas))
	var sealErrs []error
	for r, s := range replicas {
		sealers.Go(func() {
			_ = s.RunSealer(sealCtx, SealerConfig{Interval: 3 * time.Millisecond,
				OnSealed: func(n int) { mu.Lock(); sealedBy[r] += n; mu.Unlock() },
				OnError:  func(err error) { mu.Lock(); sealErrs = append(sealErrs, err); mu.Unlock() }})
		})
	}
	const writers, perWriter = 4, 25
	require.NoError(t, writeConcurrently(ctx, replicas, writers, perWriter))
	const total = 2 * writers * perWriter
	require.Eventually(t, func() bool {
		n, err := su.s.Unsealed(ctx, nil)
		return err == nil && n == 0
	}, 10*time.Second, 5*time.Millisecond, "the loops seal everything committed")
	stopSealing()
	sealers.Wait()
	require.Empty(t, sealErrs)
	require.Equal(t, total, sealedBy[0]+sealedBy[1], "each entry sealed once: %v", sealedBy)
	checkSealedJournal(t, su.s, total)
}

// A crash inside a seal round rolls it back whole: the rows stay
// unsealed, the head where it was, and the next round seals them.
func TestSealRoundIsAtomic(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	ctx := t.Context()
	for i := range 3 {
		require.NoError(t, writeStep(ctx, su.s, sealerKeys[0], fmt.Sprint("e", i), 0))
	}
	// A round cut after its rewrite, before COMMIT: the session dies.
	c := rawConn(t, su.dsn, su.schema)
	_, err := c.Exec(ctx, `BEGIN`)
	require.NoError(t, err)
	_, err = c.Exec(ctx, lockHead)
	require.NoError(t, err)
	_, err = c.Exec(ctx, `UPDATE journal SET seq = -seq + 1000, hash = 'x' WHERE seq < 0`)
	require.NoError(t, err)
	require.NoError(t, c.Close(ctx))

	n, err := su.s.Unsealed(ctx, nil)
	require.NoError(t, err)
	require.EqualValues(t, 3, n)
	sealed, err := su.s.Seal(ctx)
	require.NoError(t, err)
	require.Equal(t, 3, sealed)
	rep, err := storage.VerifyChain(ctx, su.s)
	require.NoError(t, err)
	require.True(t, rep.OK, "%+v", rep)
	require.EqualValues(t, 3, rep.Head.Seq)
}

// A resolution naming a handle that no sealed or sealable entry has is
// refused by the sealer, not chained.
func TestSealRefusesAnUnknownHandle(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	ctx := t.Context()
	require.NoError(t, su.s.Update(ctx, func(tx storage.Tx) error {
		e := storage.JournalEntry{Key: payKey, Event: "orphan", ResolvesSeq: -999_999}
		return tx.Append(ctx, &e)
	}))
	_, err := su.s.Seal(ctx)
	require.Error(t, err)
	require.False(t, errors.Is(err, storage.ErrUnavailable))
	head, err := su.s.Head(ctx)
	require.NoError(t, err)
	require.Zero(t, head.Seq)
}

// RunSealer does not queue on a head another round holds: it tries again
// a moment later, reports no error for it, and seals once the head is
// free.
func TestRunSealerWaitsOutABusyHead(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	// Its backends are told from other tests' by their application_name.
	sep := "?"
	if strings.Contains(su.dsn, "?") {
		sep = "&"
	}
	s := openIn(t, su.dsn+sep+"application_name="+su.schema, su.schema)
	ctx, cancel := context.WithCancel(t.Context())
	release := holdHead(t, su)
	var mu sync.Mutex
	var errs []error
	sealed := make(chan int, 16)
	done := make(chan error, 1)
	go func() {
		done <- s.RunSealer(ctx, SealerConfig{Interval: time.Hour,
			OnSealed: func(n int) { sealed <- n },
			OnError:  func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }})
	}()
	t.Cleanup(func() { cancel(); <-done })
	require.NoError(t, writeStep(t.Context(), s, sealerKeys[0], "e", 0)) // wakes the loop
	time.Sleep(100 * time.Millisecond)
	n, err := su.s.Unsealed(t.Context(), nil)
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "not sealed while the head is held")
	var waiting int
	require.NoError(t, rawConn(t, su.dsn, su.schema).QueryRow(t.Context(),
		`SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND application_name = $1`,
		su.schema).Scan(&waiting))
	require.Zero(t, waiting, "no backend queues on the head")
	release()
	select {
	case n := <-sealed:
		require.Equal(t, 1, n)
	case <-time.After(10 * time.Second):
		t.Fatal("not sealed once the head was free (the timer is an hour)")
	}
	mu.Lock()
	defer mu.Unlock()
	require.Empty(t, errs)
}

// journalScans runs query under EXPLAIN ANALYZE on c and returns how
// many times its plan's scans of the journal table ran.
func journalScans(t *testing.T, c *pgx.Conn, query string, args ...any) int {
	t.Helper()
	var plan []map[string]any
	require.NoError(t, c.QueryRow(t.Context(), `EXPLAIN (ANALYZE, FORMAT JSON) `+query, args...).Scan(&plan))
	loops := 0
	var walk func(n map[string]any)
	walk = func(n map[string]any) {
		// The target list's subqueries (the handle translations) scan the
		// journal too, as "SubPlan"s; only the row source is counted.
		if n["Relation Name"] == "journal" && n["Parent Relationship"] != "SubPlan" {
			loops += int(n["Actual Loops"].(float64))
		}
		children, _ := n["Plans"].([]any)
		for _, ch := range children {
			walk(ch.(map[string]any))
		}
	}
	require.Len(t, plan, 1)
	walk(plan[0]["Plan"].(map[string]any))
	return loops
}

// A round that finds the head busy reads no unsealed row: the read is
// sent with the lock, in the same round trip, but only a transaction
// that holds the head scans the journal.
func TestBusySealerReadsNothing(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	ctx := t.Context()
	for i := range 3 {
		require.NoError(t, writeStep(ctx, su.s, sealerKeys[0], fmt.Sprint("e", i), 0))
	}
	release := holdHead(t, su)
	c := rawConn(t, su.dsn, su.schema)
	_, err := c.Exec(ctx, `BEGIN`)
	require.NoError(t, err)
	tag, err := c.Exec(ctx, tryLockHead)
	require.NoError(t, err)
	require.Zero(t, tag.RowsAffected(), "the head is held elsewhere")
	require.Zero(t, journalScans(t, c, unsealedRows, sealBatch), "a busy round scanned the journal")
	_, err = c.Exec(ctx, `ROLLBACK`)
	require.NoError(t, err)

	release()
	_, err = c.Exec(ctx, `BEGIN`)
	require.NoError(t, err)
	tag, err = c.Exec(ctx, tryLockHead)
	require.NoError(t, err)
	require.EqualValues(t, 1, tag.RowsAffected())
	require.Equal(t, 1, journalScans(t, c, unsealedRows, sealBatch), "the round holding the head reads")
	_, err = c.Exec(ctx, `ROLLBACK`)
	require.NoError(t, err)

	// The mark is the transaction's: the next one starts without it.
	_, err = c.Exec(ctx, `BEGIN`)
	require.NoError(t, err)
	require.Zero(t, journalScans(t, c, unsealedRows, sealBatch))
	_, err = c.Exec(ctx, `ROLLBACK`)
	require.NoError(t, err)
}
