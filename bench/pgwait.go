package bench

// Lock waits of the PostgreSQL scenario, from PostgreSQL's own statistics:
// pg_stat_activity says, for every backend, what it is waiting for right
// now (wait_event_type 'Lock' while it queues for a heavyweight lock: a
// row lock held by another transaction shows as 'transactionid' or
// 'tuple'). PostgreSQL keeps no running total of lock-wait time, so the
// bench samples the view at a fixed interval during the run and adds the
// intervals; nothing is installed or changed on the server.

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// lockWaitInterval is how often pg_stat_activity is read: short next to
// a transaction of the bench (milliseconds), long enough that the
// sampling query costs little.
const lockWaitInterval = 5 * time.Millisecond

// lockWaits is what sampling saw: each sample's backends of the schema
// waiting for a lock, by wait event, and those inside a transaction but
// waiting for paystate (idle in transaction, holding whatever locks they
// took).
type lockWaits struct {
	samples int
	elapsed time.Duration
	// waiting counts, over all samples, backends waiting on a lock, by
	// wait_event ("transactionid", "tuple", "advisory", ...).
	waiting map[string]int
	// idleInTx counts backends in a transaction waiting for their client.
	idleInTx int
	// active counts backends running a statement (waiting or not).
	active int
}

// sampleLockWaits reads pg_stat_activity for the backends whose
// application_name is app every lockWaitInterval until stop is called;
// stop returns what was seen. ok is false when the view could not be read.
func sampleLockWaits(ctx context.Context, dsn, app string) (stop func() (lockWaits, bool)) {
	ctx, cancel := context.WithCancel(ctx)
	var (
		mu  sync.Mutex
		out = lockWaits{waiting: map[string]int{}}
		ok  = true
		wg  sync.WaitGroup
	)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		cancel()
		return func() (lockWaits, bool) { return out, false }
	}
	start := time.Now()
	wg.Go(func() {
		defer conn.Close(context.WithoutCancel(ctx))
		t := time.NewTicker(lockWaitInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			rows, err := conn.Query(ctx, `SELECT state, COALESCE(wait_event_type, ''), COALESCE(wait_event, ''), count(*)
				FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid() GROUP BY 1, 2, 3`, app)
			if err != nil {
				if ctx.Err() == nil {
					mu.Lock()
					ok = false
					mu.Unlock()
				}
				return
			}
			var (
				state, typ, event string
				n                 int
			)
			mu.Lock()
			_, err = pgx.ForEachRow(rows, []any{&state, &typ, &event, &n}, func() error {
				switch {
				case typ == "Lock":
					out.waiting[event] += n
				case state == "idle in transaction":
					out.idleInTx += n
				}
				if state == "active" {
					out.active += n
				}
				return nil
			})
			if err == nil {
				out.samples++
			}
			mu.Unlock()
		}
	})
	return func() (lockWaits, bool) {
		cancel()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		out.elapsed = time.Since(start)
		return out, ok && out.samples > 0
	}
}

// total is the estimated backend time spent waiting on locks: every
// waiting backend seen in a sample stands for one sampling interval.
func (l lockWaits) total() time.Duration { return l.per(l.sum()) }

// per scales a count of backend-samples to backend time, by the mean
// time between samples actually achieved (a loaded machine samples late).
func (l lockWaits) per(n int) time.Duration {
	if l.samples == 0 {
		return 0
	}
	return time.Duration(float64(l.elapsed) / float64(l.samples) * float64(n))
}

// note says it for a bench row of ops operations.
func (l lockWaits) note(ops int64) string {
	if ops <= 0 {
		return ""
	}
	perOp := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(ops) }
	var by []string
	for _, ev := range slices.Sorted(maps.Keys(l.waiting)) {
		by = append(by, fmt.Sprintf("%s %.0f", ev, perOp(l.per(l.waiting[ev]))))
	}
	detail := ""
	if len(by) > 0 {
		detail = " (" + strings.Join(by, ", ") + ")"
	}
	return fmt.Sprintf("lock waits (pg_stat_activity sampled every %s, %d samples): %.0f µs/op%s, %.1f backends waiting on average; backends running a statement %.1f, idle in a transaction (waiting for paystate) %.1f on average",
		lockWaitInterval, l.samples, perOp(l.total()), detail,
		float64(l.sum())/float64(max(1, l.samples)), float64(l.active)/float64(max(1, l.samples)),
		float64(l.idleInTx)/float64(max(1, l.samples)))
}

func (l lockWaits) sum() int {
	n := 0
	for _, c := range l.waiting {
		n += c
	}
	return n
}
