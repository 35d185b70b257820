package bench

// The ingest scenario against PostgreSQL, with one paystate and with two
// on the same database (replicas behind a load balancer: the load
// generator spreads its posts over them).

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/paystate/paystate/config"
	"github.com/paystate/paystate/redact"
)

// benchPostgres runs the ingest scenario against the database of o.Postgres
// with 1 and 2 replicas, each on a fresh schema that is dropped afterwards.
func benchPostgres(ctx context.Context, ps Paystate, cfg config.Config, dev *config.DevCredentials, o Options, baseline float64, step func(string, ...any)) ([]Row, error) {
	skipped := func(why string) []Row {
		return []Row{{Scenario: "ingest", Variant: "paystate PostgreSQL, 1 and 2 replicas", Skipped: true, Note: "skipped: " + why}}
	}
	if o.postgres == "" {
		return skipped("no --postgres DSN, and PAYSTATE_TEST_POSTGRES_DSN is not set"), nil
	}
	if err := pingPostgres(ctx, o.postgres); err != nil {
		return skipped("PostgreSQL did not answer: " + redact.Truncate(err.Error(), 200)), nil
	}
	var rows []Row
	var notifyRow Row
	for _, replicas := range []int{1, 2} {
		// A plan signed just before it is posted: PayEngine's signatures
		// are good for 300 s.
		step("preparing %d signed webhooks", o.Webhooks)
		plan, err := ingestPlan(dev, fmt.Sprintf("pg%d", replicas), o.Webhooks, 1)
		if err != nil {
			return rows, err
		}
		step("ingest: paystate PostgreSQL, %d replica(s), %d connections", replicas, o.Conns[0])
		row, watchRow, err := pgIngest(ctx, ps, cfg, dev, o, plan, replicas, baseline, step)
		if err != nil {
			return rows, err
		}
		rows = append(rows, row)
		if replicas > 1 {
			notifyRow = watchRow
		}
	}
	if one := rows[0].PerSec; one > 0 {
		rows[1].Note = strings.TrimPrefix(rows[1].Note+"; ", "; ") + fmt.Sprintf("2 replicas / 1 replica: %.2f× the events a second", rows[1].PerSec/one)
	}
	return append(rows, notifyRow), nil
}

// pgWatchers is how many watchers the cross-replica delivery is timed
// with: the latency measured is LISTEN/NOTIFY's, not the fan-out's, which
// the SQLite watch row measures.
const pgWatchers = 4

// pgIngest runs the closed loop over replicas servers on one fresh schema,
// sampling PostgreSQL's lock waits meanwhile. With two replicas it then
// times, on the same servers, the delivery to watchers on the second of
// entries committed by the first (LISTEN/NOTIFY): watchRow.
func pgIngest(ctx context.Context, ps Paystate, cfg config.Config, dev *config.DevCredentials, o Options, plan []benchHook, replicas int, baseline float64, step func(string, ...any)) (row, watchRow Row, err error) {
	schema := fmt.Sprintf("paystate_bench_%d", time.Now().UnixNano())
	defer func() { err = errors.Join(err, dropSchema(o.postgres, schema)) }()
	// The servers' connections carry the schema's name, so that their
	// backends can be told from anyone else's.
	pcfg := cfg
	pcfg.Store, pcfg.StoreSchema = withApplicationName(o.postgres, schema), schema
	var bases []string
	var servers []*benchServer
	for i := range replicas {
		// Each server keeps the checkpoints it signed beside its data and
		// refuses a store that no longer holds them: the SQLite run's log
		// in the shared data dir is not this schema's.
		rcfg := pcfg
		rcfg.CheckpointLogFile = filepath.Join(cfg.DataDir, fmt.Sprintf("%s-replica%d-checkpoints.jsonl", schema, i+1))
		srv, err := startBenchServer(ctx, ps, rcfg, dev)
		if err != nil {
			return row, watchRow, err
		}
		defer srv.close()
		servers = append(servers, srv)
		bases = append(bases, srv.http)
	}
	pg0, measured := pgBackendCPU(ctx, o.postgres, schema)
	stopSampling := sampleLockWaits(ctx, o.postgres, schema)
	r := closedLoop(ctx, bases, plan, o.Conns[0])
	waits, sampled := stopSampling()
	pg1, measured1 := pgBackendCPU(ctx, o.postgres, schema)
	var pgCPU time.Duration
	if measured && measured1 {
		pgCPU = pg1 - pg0
		r.cpu += pgCPU
	}
	noun := "replica"
	if replicas > 1 {
		noun = "replicas"
	}
	row = loadRow("ingest", fmt.Sprintf("paystate PostgreSQL, %d %s, %d conns", replicas, noun, o.Conns[0]), r, baseline)
	note := "CPU: this process only (PostgreSQL is not on this machine, or its processes are not readable)"
	if measured && measured1 && r.ok > 0 {
		note = fmt.Sprintf("CPU includes the PostgreSQL backends serving paystate (%.0f µs/op of it; the server's background processes are not counted)",
			float64(pgCPU.Microseconds())/float64(r.ok))
	}
	row.Note = strings.TrimPrefix(row.Note+"; ", "; ") + note
	if sampled && r.ok > 0 {
		row.LockWaitUs = float64(waits.total().Microseconds()) / float64(r.ok)
		row.Note += "; " + waits.note(r.ok)
	}
	if replicas > 1 {
		step("watch: PostgreSQL, commit on replica 1 → %d watchers on replica 2, %d events", pgWatchers, o.Watched)
		watchRow, err = benchWatch(ctx, servers[0], servers[1], dev, pgWatchers, o.Watched,
			fmt.Sprintf("PostgreSQL, commit on replica 1 → %d watchers on replica 2 (LISTEN/NOTIFY)", pgWatchers))
		if err != nil {
			return row, watchRow, err
		}
	}
	return row, watchRow, nil
}

// withApplicationName sets application_name in a URL or key=value DSN.
func withApplicationName(dsn, name string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		q.Set("application_name", name)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " application_name=" + name
}

func pingPostgres(ctx context.Context, dsn string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	return errors.Join(conn.Ping(ctx), conn.Close(ctx))
}

func dropSchema(dsn, schema string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("bench: dropping schema %s: %w", schema, err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	return err
}

// pgBackendCPU is the CPU time so far of the PostgreSQL backends whose
// connections are named app, read from /proc; ok is false when the
// server is not on this machine or that cannot be read.
func pgBackendCPU(ctx context.Context, dsn, app string) (cpu time.Duration, ok bool) {
	pc, err := pgx.ParseConfig(dsn)
	if err != nil || !localHost(pc.Host) {
		return 0, false
	}
	conn, err := pgx.ConnectConfig(ctx, pc)
	if err != nil {
		return 0, false
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = $1`, app)
	if err != nil {
		return 0, false
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil || len(pids) == 0 {
		return 0, false
	}
	for _, pid := range pids {
		t, err := procCPU(int(pid))
		if err != nil {
			return 0, false
		}
		cpu += t
	}
	return cpu, true
}

func localHost(host string) bool {
	if strings.HasPrefix(host, "/") || host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// procCPU is a process's user plus system time from /proc/PID/stat, whose
// figures are in the kernel's USER_HZ of 100 a second.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces and parentheses:
	// count fields after the last ')'. utime and stime are fields 14 and
	// 15 of the line.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += n
	}
	return time.Duration(ticks) * (time.Second / 100), nil
}
