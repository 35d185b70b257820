package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/internal/view"
)

// views reads aggregate views (what a GetOrder that the view cache does
// not hold costs) on connections of its own, through the driver rather
// than database/sql, whose pool, Rows (with a goroutine watching every
// query whose context can be cancelled) and reflection-based Scan were a
// third of the instructions of such a read, and without the timer
// storage.WithTimeout would set for every read (BenchmarkAggregateView
// under callgrind: 61.8 k instructions and 52 allocations a read through
// database/sql and the timer, 34.1 k and 25 this way).
//
// How a read stays bounded without a timer of its own: the only waits in
// a point read on SQLite are for a connection (here: a timer is set only
// when every connection is busy, which is what a store that stopped
// answering looks like), for a lock (SQLite's busy timeout, which serve
// sets to the same store_timeout; a WAL reader rarely needs one), and
// the kernel's (which neither a timer nor an interrupt ends: the read in
// the kernel stays there either way, and the reads behind it give up at
// the bound). A caller that gives up still interrupts its statement
// (the driver watches its context).
//
// Its connections are query_only and opened like the read pool's, with
// SQLite's own mutexes off (_mutex=no): a connection is used by one
// goroutine at a time, which this pool ensures, and sqlite3_interrupt,
// which another goroutine may call, takes no mutex.
type views struct {
	dsn  string
	idle chan *pointConn // connections not in use
	// slots holds one token for every connection that may still be
	// opened: a read takes an idle connection, or a slot to open one, or
	// waits for either.
	slots chan struct{}
	done  chan struct{} // closed by close

	mu     sync.Mutex
	closed bool
}

type pointConn struct {
	c    *sqlite3.SQLiteConn
	args [3]driver.NamedValue
	dest [aggregateColumnCount + 2]driver.Value
}

// aggregateColumnCount is the number of aggregateColumns.
const aggregateColumnCount = 21

func newViews(dsn string, conns int) *views {
	v := &views{dsn: dsn, idle: make(chan *pointConn, conns), slots: make(chan struct{}, conns), done: make(chan struct{})}
	for range conns {
		v.slots <- struct{}{}
	}
	return v
}

// errClosed is a read after Close: unavailable, as a transaction after
// Close is.
var errClosed = fmt.Errorf("sqlite: store closed: %w", storage.ErrUnavailable)

// get returns a connection: an idle one, a new one while fewer than the
// bound are open, or the first one released within bound (0: as long as
// ctx lasts). Only that last case, a pool whose every connection is busy,
// sets a timer: a store that stops answering holds its connections, and
// the reads behind them give up at the bound (ErrUnavailable) instead of
// queueing.
func (v *views) get(ctx context.Context, bound time.Duration) (*pointConn, error) {
	select {
	case pc := <-v.idle:
		return pc, nil
	case <-v.slots:
		return v.open()
	default:
	}
	var expired <-chan time.Time
	if bound > 0 {
		t := time.NewTimer(bound)
		defer t.Stop()
		expired = t.C
	}
	select {
	case pc := <-v.idle:
		return pc, nil
	case <-v.slots:
		return v.open()
	case <-v.done:
		return nil, errClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-expired:
		return nil, fmt.Errorf("sqlite: no read connection free within %s: %w: %w", bound, storage.ErrUnavailable, context.DeadlineExceeded)
	}
}

// open opens a connection in a slot get took.
func (v *views) open() (*pointConn, error) {
	v.mu.Lock()
	closed := v.closed
	v.mu.Unlock()
	if closed {
		v.slots <- struct{}{}
		return nil, errClosed
	}
	c, err := (&sqlite3.SQLiteDriver{}).Open(v.dsn)
	if err != nil {
		v.slots <- struct{}{}
		return nil, err
	}
	return &pointConn{c: c.(*sqlite3.SQLiteConn)}, nil
}

// put gives back pc, which get returned. A connection is closed instead
// when the store is closed, or when its statement failed in a way that
// may have left it unusable (its slot is then freed for a new one).
func (v *views) put(pc *pointConn, broken bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed || broken {
		pc.c.Close()
		v.slots <- struct{}{}
		return
	}
	v.idle <- pc // never blocks: there are no more connections than room
}

// close closes the idle connections; those in use are closed as they are
// given back (a connection is never closed under a statement: its
// mutexes are off).
func (v *views) close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return nil
	}
	v.closed = true
	close(v.done)
	var errs []error
	for {
		select {
		case pc := <-v.idle:
			errs = append(errs, pc.c.Close())
		default:
			return errors.Join(errs...)
		}
	}
}

// read runs viewQuery for key on pc.
func (pc *pointConn) read(ctx context.Context, key storage.AggregateKey) (storage.AggregateView, bool, error) {
	pc.args = [3]driver.NamedValue{{Ordinal: 1, Value: key.Provider}, {Ordinal: 2, Value: key.Kind}, {Ordinal: 3, Value: key.ID}}
	rows, err := pc.c.QueryContext(ctx, viewQuery, pc.args[:])
	if err != nil {
		return storage.AggregateView{}, false, err
	}
	var v storage.AggregateView
	found := false
	for {
		err := rows.Next(pc.dest[:])
		if err == io.EOF {
			break
		}
		if err != nil {
			rows.Close()
			return storage.AggregateView{}, false, err
		}
		h, child, err := heldFromValues(pc.dest[:])
		if err != nil {
			rows.Close()
			return storage.AggregateView{}, false, err
		}
		if child {
			v.Children = append(v.Children, h)
		} else {
			v.HeldAggregate, found = h, true
		}
	}
	if err := rows.Close(); err != nil {
		return storage.AggregateView{}, false, err
	}
	clear(pc.dest[:])
	clear(pc.args[:])
	view.SortChildren(v.Children)
	return v, found, nil
}

// heldFromValues reads a row of viewQuery: aggregateColumns, the held
// count and whether the row is a child.
func heldFromValues(d []driver.Value) (storage.HeldAggregate, bool, error) {
	var h storage.HeldAggregate
	a := &h.Aggregate
	var err error
	str := func(i int) string {
		switch s := d[i].(type) {
		case string:
			return s
		case []byte: // a value written as a BLOB reads as database/sql would convert it
			return string(s)
		}
		if err == nil {
			err = fmt.Errorf("sqlite: view column %d: want text, got %T", i, d[i])
		}
		return ""
	}
	num := func(i int) int64 {
		switch n := d[i].(type) {
		case int64:
			return n
		case bool:
			if n {
				return 1
			}
			return 0
		}
		if err == nil {
			err = fmt.Errorf("sqlite: view column %d: want an integer, got %T", i, d[i])
		}
		return 0
	}
	a.Key = storage.AggregateKey{Provider: str(0), Kind: str(1), ID: str(2)}
	a.MerchantReference = str(3)
	a.Parent = storage.AggregateKey{Provider: str(4), Kind: str(5), ID: str(6)}
	a.State, a.ProviderStatus, a.Currency = str(7), str(8), str(9)
	a.Amount, a.Authorized, a.Captured, a.Refunded = num(10), num(11), num(12), num(13)
	a.AmountsUnknown = num(14) != 0
	a.AmountKnown, a.CapturedRest, a.RefundedRest = num(15) != 0, num(16), num(17)
	a.Version = num(18)
	a.CreatedAt, a.UpdatedAt = fromMicros(num(19)), fromMicros(num(20))
	h.Pending = int(num(21))
	child := num(22) != 0
	return h, child, err
}
