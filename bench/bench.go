// Package bench is `paystate bench`: every scenario next to its baseline,
// in one process on loopback, so that a noisy machine still gives honest
// ratios. It lives apart from the command so that cmd/paystate stays thin;
// the command hands it the server it measures (Paystate). See
// docs/performance.md for a run and what bounds each figure.
package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	gwruntime "github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/paystate/paystate/config"
	"github.com/paystate/paystate/engine"
	pb "github.com/paystate/paystate/proto/paystate/v1"
	"github.com/paystate/paystate/providers"
	"github.com/paystate/paystate/providers/ngenius"
	"github.com/paystate/paystate/redact"
	sim "github.com/paystate/paystate/simulator"
	sm "github.com/paystate/paystate/statemachine"
	"github.com/paystate/paystate/storage"
)

// Paystate is what the bench measures, handed over by the paystate command
// so that the bench runs exactly the server, store and providers that
// `paystate serve` runs.
type Paystate struct {
	// Serve serves cfg until ctx ends; ready, if set, is told the bound
	// addresses once both listeners are open.
	Serve func(ctx context.Context, cfg config.Config, dev *config.DevCredentials, log *slog.Logger, ready func(httpAddr, grpcAddr string)) error
	// OpenStore opens the database cfg configures.
	OpenStore func(ctx context.Context, cfg config.Config) (storage.Store, string, error)
	// Providers builds the providers c enables.
	Providers func(c config.Providers) ([]providers.Provider, []string, error)
	// TuneGC tunes the collector as the server does until stop is called.
	TuneGC func(ctx context.Context) (stop func())
}

// Options are the bench's flags.
type Options struct {
	Quick bool `json:"quick"`
	// Conns are the ingest load generator's concurrency levels; the first
	// is also PostgreSQL's.
	Conns    sizesFlag     `json:"conns"`
	Webhooks int           `json:"webhooks"`
	Rate     int           `json:"rate"`
	RateFor  time.Duration `json:"rate_duration_ns"`
	Orders   int           `json:"orders"`
	ReadFor  time.Duration `json:"read_duration_ns"`
	Watchers int           `json:"watchers"`
	Watched  int           `json:"watched_events"`
	Growth   sizesFlag     `json:"growth_sizes"`
	// postgres is the DSN of the PostgreSQL scenario (it may hold a
	// password: never written out); PostgreSQL says whether there was one.
	postgres   string
	PostgreSQL bool   `json:"postgresql"`
	DataDir    string `json:"-"`
	// Only names the scenarios to run (empty: all of them).
	Only scenarioSet `json:"only,omitempty"`
}

// benchScenarios are the names --only accepts, in the order they run.
var benchScenarios = []string{"ingest", "postgres", "reads", "watch", "rebuild", "growth"}

// scenarioSet is the --only flag: a comma-separated subset of
// benchScenarios.
type scenarioSet []string

func (s *scenarioSet) String() string { return strings.Join(*s, ",") }

// Type names the flag's value in help (pflag.Value).
func (s *scenarioSet) Type() string { return "scenarios" }

// Type names the flag's value in help (pflag.Value).
func (s *sizesFlag) Type() string { return "sizes" }

func (s *scenarioSet) Set(v string) error {
	*s = nil
	for _, name := range strings.Split(v, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(benchScenarios, name) {
			return fmt.Errorf("unknown scenario %q (want some of %s)", name, strings.Join(benchScenarios, ","))
		}
		*s = append(*s, name)
	}
	return nil
}

// runs says whether scenario is selected.
func (s scenarioSet) runs(scenario string) bool {
	return len(s) == 0 || slices.Contains(s, scenario)
}

// Row is one line of the table (and of the JSON).
type Row struct {
	Scenario string  `json:"scenario"`
	Variant  string  `json:"variant"`
	Ops      int64   `json:"ops"`
	Failed   int64   `json:"failed"`
	Seconds  float64 `json:"seconds"`
	PerSec   float64 `json:"per_second"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
	P999ms   float64 `json:"p999_ms"`
	CPUus    float64 `json:"cpu_us_per_op"`
	// WriterCPUus: the engine writer thread's own CPU per webhook
	// (ingest; paystate_engine_writer_cpu_seconds_total).
	WriterCPUus float64 `json:"writer_cpu_us_per_op,omitempty"`
	Ratio       float64 `json:"ratio_to_baseline,omitempty"`
	// BytesPerEvent: the database's size over its journal entries
	// (growth).
	BytesPerEvent float64 `json:"bytes_per_event,omitempty"`
	// P99Growth: p99 over the same read's on the smallest store (growth).
	P99Growth float64 `json:"p99_vs_smallest_store,omitempty"`
	// LockWaitUs: PostgreSQL backend time spent waiting on locks per
	// operation, sampled from pg_stat_activity (PostgreSQL rows).
	LockWaitUs float64 `json:"lock_wait_us_per_op,omitempty"`
	// Skipped: the scenario could not run here; Note says why.
	Skipped bool   `json:"skipped,omitempty"`
	Note    string `json:"note,omitempty"`
}

// Report is a whole run: what `--json` writes.
type Report struct {
	Started  time.Time `json:"started"`
	Options  Options   `json:"options"`
	Machine  Machine   `json:"machine"`
	Rows     []Row     `json:"rows"`
	LoadAvgs []string  `json:"load_averages"`
}

// Machine is what the run knows of the machine it ran on.
type Machine struct {
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
}

// Flags are `paystate bench`'s command line: the run's Options and where
// its results go. BindFlags registers them on the paystate command's flag
// set (so that help, completion and parsing are the command line's own);
// Run runs the bench as they say.
type Flags struct {
	Options
	// JSON is the file the results are also written to (--json).
	JSON string
	// CPUProfile is the file of a CPU profile of the whole run.
	CPUProfile string
}

// BindFlags registers the bench's flags, at their defaults, on fs.
func BindFlags(fs *pflag.FlagSet) *Flags {
	f := &Flags{}
	o := &f.Options
	fs.BoolVar(&o.Quick, "quick", false, "every scenario for a second or two on tiny data (CI)")
	o.Conns = sizesFlag{16, 256}
	fs.Var(&o.Conns, "conns", "concurrent connections of the ingest load generator, comma-separated: the closed-loop run (and its baseline) runs once per level; PostgreSQL uses the first")
	fs.IntVar(&o.Webhooks, "webhooks", 60000, "webhooks posted by the closed-loop ingest run")
	fs.IntVar(&o.Rate, "rate", 5000, "webhooks a second of the fixed-rate ingest run")
	fs.DurationVar(&o.RateFor, "rate-for", 10*time.Second, "duration of the fixed-rate ingest run")
	fs.IntVar(&o.Orders, "orders", 100000, "orders pre-loaded for the read scenario")
	fs.DurationVar(&o.ReadFor, "read-for", 5*time.Second, "duration of each read run")
	fs.IntVar(&o.Watchers, "watchers", 100, "concurrent watchers")
	fs.IntVar(&o.Watched, "watched", 200, "webhooks whose delivery to every watcher is timed")
	o.Growth = sizesFlag{10_000, 1_000_000}
	fs.Var(&o.Growth, "growth", "orders in each store of the growth scenario, comma-separated (e.g. 10000,1000000,10000000)")
	fs.StringVar(&o.postgres, "postgres", "", "PostgreSQL DSN for the PostgreSQL ingest scenario (not given: $PAYSTATE_TEST_POSTGRES_DSN; neither: skipped)")
	fs.StringVar(&o.DataDir, "data-dir", "", "directory for the bench's database (not given: a temporary directory, removed)")
	fs.Var(&o.Only, "only", "run only these scenarios, comma-separated: "+strings.Join(benchScenarios, ",")+" (not given: all)")
	fs.StringVar(&f.JSON, "json", "", "also write the results as JSON to this file")
	fs.StringVar(&f.CPUProfile, "cpuprofile", "", "write a CPU profile of the whole run (server and load generator) to this file")
	return f
}

// ScenarioNames are the values --only takes, in the order they run.
func ScenarioNames() []string { return slices.Clone(benchScenarios) }

// Main runs `paystate bench` with its command-line arguments (after the
// word bench), printing progress and the table to stdout.
func Main(ctx context.Context, args []string, stdout io.Writer, ps Paystate) error {
	fs := pflag.NewFlagSet("bench", pflag.ContinueOnError)
	f := BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	return f.Run(ctx, fs, stdout, ps)
}

// Run runs the bench as f says; fs, the set f was bound to, tells which
// flags were given (--quick's tiny sizes leave those alone).
func (f *Flags) Run(ctx context.Context, fs *pflag.FlagSet, stdout io.Writer, ps Paystate) error {
	if f.Quick {
		// Tiny defaults; flags given explicitly still win.
		for name, v := range map[string]string{"webhooks": "1500", "rate": "500", "rate-for": "1s", "orders": "2000", "read-for": "300ms", "watchers": "10", "watched": "20", "growth": "1000,5000"} {
			if !fs.Changed(name) {
				if err := fs.Set(name, v); err != nil {
					return err
				}
			}
		}
	}
	o := f.Options
	if !fs.Changed("postgres") {
		o.postgres = os.Getenv("PAYSTATE_TEST_POSTGRES_DSN")
	}
	o.PostgreSQL = o.postgres != ""
	if len(o.Conns) == 0 || o.Webhooks < 1 || o.Rate < 1 || o.Orders < 1 || o.Watchers < 1 || o.Watched < 1 {
		return errors.New("bench: --conns, --webhooks, --rate, --orders, --watchers and --watched must be positive")
	}
	if f.CPUProfile != "" {
		pf, err := os.Create(f.CPUProfile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	rep, err := runBench(ctx, ps, o, stdout)
	if err != nil {
		return err
	}
	printBench(stdout, rep)
	if f.JSON != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		return os.WriteFile(f.JSON, append(b, '\n'), 0o644)
	}
	return nil
}

// runBench runs every scenario; progress goes to progress.
func runBench(ctx context.Context, ps Paystate, o Options, progress io.Writer) (*Report, error) {
	rep := &Report{Started: time.Now().UTC(), Options: o, Machine: Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}}
	step := func(format string, a ...any) {
		rep.LoadAvgs = append(rep.LoadAvgs, loadAvg())
		fmt.Fprintf(progress, "bench: "+format+" (load average %s)\n", append(a, loadAvg())...)
	}
	dir := o.DataDir
	if dir == "" {
		d, err := os.MkdirTemp("", "paystate-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	cfg := config.Defaults()
	cfg.HTTPAddr, cfg.GRPCAddr, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", dir
	// The API's per-token rate limit would measure itself, not paystate.
	cfg.APIRateLimit = config.RateLimit{}
	dev, err := config.FillDev(&cfg)
	if err != nil {
		return nil, err
	}

	step("loading %d orders directly through the engine", o.Orders)
	t0 := time.Now()
	if err := preloadOrders(ctx, ps, cfg, o.Orders); err != nil {
		return nil, fmt.Errorf("bench: preload: %w", err)
	}
	rep.Rows = append(rep.Rows, Row{Scenario: "preload", Variant: "engine, direct", Ops: int64(o.Orders), Seconds: time.Since(t0).Seconds(), PerSec: float64(o.Orders) / time.Since(t0).Seconds(), Note: "one event per order, group commit up to 1000"})

	srv, err := startBenchServer(ctx, ps, cfg, dev)
	if err != nil {
		return nil, err
	}
	defer srv.close()
	// The server tunes the collector as `paystate serve` does, until it
	// stops: the growth scenario sets GOGC for its loader itself.
	stopTuning := ps.TuneGC(ctx)
	defer stopTuning()

	// 1. Ingest, and its no-op baseline, which PostgreSQL's rows are
	// compared with too.
	var noopRate float64
	if o.Only.runs("ingest") || o.Only.runs("postgres") {
		levels := o.Conns
		if !o.Only.runs("ingest") {
			levels = levels[:1]
		}
		for i, conns := range levels {
			// Every level posts webhooks of its own: the same ones again
			// would all be duplicates.
			step("preparing %d signed webhooks", o.Webhooks)
			plan, err := ingestPlan(dev, fmt.Sprintf("closed%d", i), o.Webhooks, uint64(1+i))
			if err != nil {
				return nil, err
			}
			noop, err := startNoopHTTP()
			if err != nil {
				return nil, err
			}
			step("ingest: no-op handler, %d connections", conns)
			base := closedLoop(ctx, []string{noop.url}, plan, conns)
			noop.close()
			rowBase := loadRow("ingest", fmt.Sprintf("no-op handler, %d conns", conns), base, 0)
			if i == 0 {
				noopRate = rowBase.PerSec
			}
			rep.Rows = append(rep.Rows, rowBase)
			if o.Only.runs("ingest") {
				step("ingest: paystate, %d connections", conns)
				before, err := readWriterTime(ctx, srv.http)
				if err != nil {
					return nil, err
				}
				real := closedLoop(ctx, []string{srv.http}, plan, conns)
				after, err := readWriterTime(ctx, srv.http)
				if err != nil {
					return nil, err
				}
				row := loadRow("ingest", fmt.Sprintf("paystate SQLite FULL, %d conns", conns), real, rowBase.PerSec)
				row.WriterCPUus = writerCPUus(before, after, real.ok)
				if note := writerNote(before, after, real.elapsed, real.ok); note != "" {
					row.Note = strings.TrimPrefix(row.Note+"; ", "; ") + note
				}
				rep.Rows = append(rep.Rows, row)
			}
		}
		if o.Only.runs("ingest") {
			n := max(1, int(float64(o.Rate)*o.RateFor.Seconds()))
			step("ingest: fixed rate %d/s for %s (%d webhooks)", o.Rate, o.RateFor, n)
			ratePlan, err := ingestPlan(dev, "rate", n, 100)
			if err != nil {
				return nil, err
			}
			before, err := readWriterTime(ctx, srv.http)
			if err != nil {
				return nil, err
			}
			fixed := fixedRate(ctx, srv.http, ratePlan[:n], o.Rate)
			after, err := readWriterTime(ctx, srv.http)
			if err != nil {
				return nil, err
			}
			row := loadRow("ingest", fmt.Sprintf("paystate, fixed %d/s", o.Rate), fixed, 0)
			row.WriterCPUus = writerCPUus(before, after, fixed.ok)
			if note := writerNote(before, after, fixed.elapsed, fixed.ok); note != "" {
				row.Note = strings.TrimPrefix(row.Note+"; ", "; ") + note
			}
			rep.Rows = append(rep.Rows, row)
		}
	}
	if o.Only.runs("postgres") {
		rows, err := benchPostgres(ctx, ps, cfg, dev, o, noopRate, step)
		rep.Rows = append(rep.Rows, rows...)
		if err != nil {
			return nil, err
		}
	}

	// 2. Reads.
	if o.Only.runs("reads") {
		step("reads: gRPC and REST GetOrder over %d orders", o.Orders)
		rows, err := benchReads(ctx, srv, o, filepath.Join(dir, "paystate.db"))
		if err != nil {
			return nil, err
		}
		rep.Rows = append(rep.Rows, rows...)
	}

	// 5. Watch.
	if o.Only.runs("watch") {
		step("watch: %d watchers, %d events", o.Watchers, o.Watched)
		row, err := benchWatch(ctx, srv, srv, dev, o.Watchers, o.Watched, fmt.Sprintf("%d watchers, commit→delivery", o.Watchers))
		if err != nil {
			return nil, err
		}
		rep.Rows = append(rep.Rows, row)
	}

	// 4. Rebuild: the server stops first (it owns the store).
	if err := srv.close(); err != nil {
		return nil, err
	}
	stopTuning()
	if o.Only.runs("rebuild") {
		step("rebuild: replaying the whole journal")
		row, err := benchRebuild(ctx, ps, cfg)
		if err != nil {
			return nil, err
		}
		rep.Rows = append(rep.Rows, row)
	}

	// 3. Growth, on stores of its own.
	if o.Only.runs("growth") {
		rows, err := benchGrowth(ctx, ps, cfg, dev, o, dir, step)
		rep.Rows = append(rep.Rows, rows...)
		if err != nil {
			return nil, err
		}
	}
	rep.LoadAvgs = append(rep.LoadAvgs, loadAvg())
	return rep, nil
}

func loadRow(scenario, variant string, r loadResult, baseline float64) Row {
	row := Row{Scenario: scenario, Variant: variant, Ops: r.ok, Failed: r.failed, Seconds: r.elapsed.Seconds()}
	if r.elapsed > 0 {
		row.PerSec = float64(r.ok) / r.elapsed.Seconds()
	}
	if r.ok > 0 {
		row.CPUus = float64(r.cpu.Microseconds()) / float64(r.ok)
	}
	row.P50ms, row.P99ms, row.P999ms = ms(percentile(r.latencies, 0.5)), ms(percentile(r.latencies, 0.99)), ms(percentile(r.latencies, 0.999))
	if baseline > 0 {
		row.Ratio = row.PerSec / baseline
	}
	if r.firstErr != "" {
		row.Note = "first failure: " + redact.Truncate(r.firstErr, 120)
	}
	return row
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func printBench(w io.Writer, rep *Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tvariant\tops\tfailed\tops/s\tp50 ms\tp99 ms\tp99.9 ms\tCPU µs/op\t× baseline\t")
	for _, r := range rep.Rows {
		if r.Skipped {
			fmt.Fprintf(tw, "%s\t%s\tskipped\t\t\t\t\t\t\t\t\n", r.Scenario, r.Variant)
			continue
		}
		ratio := ""
		if r.Ratio > 0 {
			ratio = fmt.Sprintf("%.2f", r.Ratio)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%.0f\t%s\t\n", r.Scenario, r.Variant, r.Ops, r.Failed, r.PerSec, r.P50ms, r.P99ms, r.P999ms, r.CPUus, ratio)
	}
	tw.Flush()
	for _, r := range rep.Rows {
		if r.Note != "" {
			fmt.Fprintf(w, "%s, %s: %s\n", r.Scenario, r.Variant, r.Note)
		}
	}
}

// processCPU is the user plus system CPU time of this process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadAvg is the first line of /proc/loadavg where there is one.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// benchMachines is the state-machine registry and providers of cfg.
func benchMachines(ps Paystate, cfg config.Config) (*sm.Registry, map[string]providers.Provider, error) {
	provs, _, err := ps.Providers(cfg.Providers)
	if err != nil {
		return nil, nil, err
	}
	var tables []sm.Table
	byName := map[string]providers.Provider{}
	for _, p := range provs {
		tables = append(tables, p.Tables()...)
		byName[p.Name()] = p
	}
	reg, err := sm.NewRegistry(tables...)
	return reg, byName, err
}

// benchOrderID is the id of pre-loaded order i.
func benchOrderID(i int) string { return fmt.Sprintf("bench-%08d", i) }

func benchOrderBody(id, event string) []byte {
	return fmt.Appendf(nil, `{"event":%q,"order":{"reference":"REF-%s","id":%q,"amount":{"currencyCode":"AED","value":10000}},"transaction":{"id":"txn-%s-%s","state":%q,"date":"2024-12-01T13:22:45Z"},"timestamp":"2024-12-01T13:22:45Z"}`,
		event, id, id, id, event, event)
}

// preloadOrders puts n authorised N-Genius orders into the store of cfg
// through the engine, without HTTP: many submitters, so that the engine
// gathers up to 1000 deliveries a commit.
func preloadOrders(ctx context.Context, ps Paystate, cfg config.Config, n int) error {
	store, _, err := ps.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	machines, byName, err := benchMachines(ps, cfg)
	if err != nil {
		return err
	}
	eng := engine.New(store, machines, engine.Config{MaxBatch: 1000})
	engCtx, stop := context.WithCancel(ctx)
	var run sync.WaitGroup
	run.Go(func() { eng.Run(engCtx) })
	defer func() { stop(); run.Wait() }()
	p := byName[ngenius.Name]
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range 2000 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || firstErr.Load() != nil {
					return
				}
				body := benchOrderBody(benchOrderID(i), "AUTHORISED")
				events, err := p.Parse(body)
				if err == nil {
					sum := sha256.Sum256(body)
					_, err = eng.Submit(ctx, engine.Delivery{Provider: ngenius.Name, BodySHA256: hex.EncodeToString(sum[:]), RedactedBody: body, Events: events, Actor: "bench"})
				}
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if v := firstErr.Load(); v != nil {
		return v.(error)
	}
	return nil
}

// benchServer is a real paystate running in this process.
type benchServer struct {
	http  string
	conn  *grpc.ClientConn
	token string
	stop  context.CancelFunc
	done  chan error
	once  sync.Once
	err   error
}

func startBenchServer(ctx context.Context, ps Paystate, cfg config.Config, dev *config.DevCredentials) (*benchServer, error) {
	ctx, cancel := context.WithCancel(ctx)
	s := &benchServer{token: dev.APIToken, stop: cancel, done: make(chan error, 1)}
	addrs := make(chan [2]string, 1)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() {
		s.done <- ps.Serve(ctx, cfg, nil, log, func(h, g string) { addrs <- [2]string{h, g} })
	}()
	select {
	case a := <-addrs:
		s.http = "http://" + a[0]
		conn, err := grpc.NewClient(a[1], grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			cancel()
			<-s.done
			return nil, err
		}
		s.conn = conn
		return s, nil
	case err := <-s.done:
		cancel()
		return nil, fmt.Errorf("bench: server did not start: %v", err)
	}
}

func (s *benchServer) authed(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+s.token)
}

func (s *benchServer) close() error {
	s.once.Do(func() {
		s.conn.Close()
		s.stop()
		s.err = <-s.done
	})
	return s.err
}

// noopHTTP is the ingest baseline: it reads the body and answers 200.
type noopHTTP struct {
	url string
	srv *http.Server
}

func startNoopHTTP() (*noopHTTP, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"results":[]}`))
	})}
	go srv.Serve(lis)
	return &noopHTTP{url: "http://" + lis.Addr().String(), srv: srv}, nil
}

func (n *noopHTTP) close() { n.srv.Close() }

// noopOrders is the read baseline: GetOrder answers a fixed order of the
// same size as the real one.
type noopOrders struct {
	pb.UnimplementedOrderServiceServer
	reply *pb.Order
}

func (n *noopOrders) GetOrder(context.Context, *pb.GetOrderRequest) (*pb.Order, error) {
	return n.reply, nil
}

// readLoop calls fn from streams goroutines for d and measures each call.
func readLoop(ctx context.Context, streams int, d time.Duration, fn func(ctx context.Context, i int) error) loadResult {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	per := make([][]time.Duration, streams)
	var failed atomic.Int64
	var firstErr atomic.Value
	var calls atomic.Int64
	cpu0 := processCPU()
	start := time.Now()
	var wg sync.WaitGroup
	for s := range streams {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(calls.Add(1))
				t0 := time.Now()
				err := fn(context.WithoutCancel(ctx), i)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				per[s] = append(per[s], time.Since(t0))
			}
		})
	}
	wg.Wait()
	r := loadResult{elapsed: time.Since(start), cpu: processCPU() - cpu0, failed: failed.Load()}
	for _, l := range per {
		r.latencies = append(r.latencies, l...)
	}
	r.ok = int64(len(r.latencies))
	if v := firstErr.Load(); v != nil {
		r.firstErr = v.(string)
	}
	return r
}

// benchReads times GetOrder against its baselines on the store at dbPath,
// after reading the B-trees GetOrder searches through once (as growth
// does): otherwise the first row timed, one stream, paid for warming the
// page cache and the ones after it did not.
func benchReads(ctx context.Context, srv *benchServer, o Options, dbPath string) ([]Row, error) {
	orders := pb.NewOrderServiceClient(srv.conn)
	actx := srv.authed(ctx)
	sample, err := orders.GetOrder(actx, &pb.GetOrderRequest{Provider: ngenius.Name, OrderId: benchOrderID(0)})
	if err != nil {
		return nil, fmt.Errorf("bench: GetOrder of a pre-loaded order: %w", err)
	}
	if _, err := warmReadPath(ctx, dbPath); err != nil {
		return nil, err
	}
	// Likewise a server that has been answering for a while holds in its
	// view cache as many orders as the cache bounds (read_cache_views): each
	// order is read once through the server. The timed rows then read keys
	// in a sequence that does not repeat from row to row, so that a store
	// larger than the cache is timed at its steady share of hits (each row
	// notes it).
	if err := readEveryOrder(actx, orders, o.Orders); err != nil {
		return nil, err
	}
	// The baseline gRPC server and its gateway route. The route is
	// registered in-process, as api.Server registers its unary routes, so
	// that both sides of the REST ratio skip the loopback gRPC hop.
	glis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	gs := grpc.NewServer()
	pb.RegisterOrderServiceServer(gs, &noopOrders{reply: sample})
	go gs.Serve(glis)
	defer gs.Stop()
	nconn, err := grpc.NewClient(glis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer nconn.Close()
	mux := gwruntime.NewServeMux()
	if err := pb.RegisterOrderServiceHandlerServer(ctx, mux, &noopOrders{reply: sample}); err != nil {
		return nil, err
	}
	hlis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hs := &http.Server{Handler: mux}
	go hs.Serve(hlis)
	defer hs.Close()
	noopREST := "http://" + hlis.Addr().String()

	noop := pb.NewOrderServiceClient(nconn)
	key := func(i int) string { return benchOrderID(int(uint64(i)*2654435761) % o.Orders) }
	// cached runs a paystate read row and notes how many of its reads the
	// server's view cache answered (none noted when it has no cache).
	var offset int // where the paystate rows' key sequence goes on
	cached := func(run func() (loadResult, Row)) Row {
		before, err := readCacheCounts(ctx, srv.http)
		r, row := run()
		offset += int(r.ok + r.failed)
		after, err2 := readCacheCounts(ctx, srv.http)
		if err == nil && err2 == nil {
			if n := after.hits + after.misses - before.hits - before.misses; n > 0 {
				row.Note = strings.TrimPrefix(row.Note+"; ", "; ") + fmt.Sprintf("view cache answered %.0f %% of the reads", 100*(after.hits-before.hits)/n)
			}
		}
		return row
	}
	var rows []Row
	for _, streams := range []int{1, 16, 64} {
		b := readLoop(ctx, streams, o.ReadFor, func(ctx context.Context, i int) error {
			_, err := noop.GetOrder(ctx, &pb.GetOrderRequest{Provider: ngenius.Name, OrderId: key(i)})
			return err
		})
		br := loadRow("read gRPC", fmt.Sprintf("no-op server, %d streams", streams), b, 0)
		rows = append(rows, br, cached(func() (loadResult, Row) {
			r := readLoop(actx, streams, o.ReadFor, func(ctx context.Context, i int) error {
				_, err := orders.GetOrder(ctx, &pb.GetOrderRequest{Provider: ngenius.Name, OrderId: key(offset + i)})
				return err
			})
			return r, loadRow("read gRPC", fmt.Sprintf("paystate GetOrder, %d streams", streams), r, br.PerSec)
		}))
	}
	const restConns = 16
	c := benchClient(restConns)
	defer c.CloseIdleConnections()
	get := func(base string, from int) func(ctx context.Context, i int) error {
		return func(ctx context.Context, i int) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/providers/ngenius/orders/"+key(from+i), nil)
			if err != nil {
				return err
			}
			req.Header.Set("Authorization", "Bearer "+srv.token)
			resp, err := c.Do(req)
			if err != nil {
				return err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET: %s", resp.Status)
			}
			return nil
		}
	}
	b := readLoop(ctx, restConns, o.ReadFor, get(noopREST, 0))
	br := loadRow("read REST", fmt.Sprintf("no-op gateway route, %d conns", restConns), b, 0)
	rows = append(rows, br, cached(func() (loadResult, Row) {
		r := readLoop(ctx, restConns, o.ReadFor, get(srv.http, offset))
		return r, loadRow("read REST", fmt.Sprintf("paystate GET order, %d conns", restConns), r, br.PerSec)
	}))
	return rows, nil
}

// readEveryOrder reads each of the n pre-loaded orders once through the
// server, on 64 streams.
func readEveryOrder(ctx context.Context, orders pb.OrderServiceClient, n int) error {
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n && firstErr.Load() == nil; i = int(next.Add(1) - 1) {
				if _, err := orders.GetOrder(ctx, &pb.GetOrderRequest{Provider: ngenius.Name, OrderId: benchOrderID(i)}); err != nil {
					firstErr.CompareAndSwap(nil, err)
				}
			}
		})
	}
	wg.Wait()
	if v := firstErr.Load(); v != nil {
		return fmt.Errorf("bench: reading every order once: %w", v.(error))
	}
	return nil
}

// benchWatch opens watchers watchers on the server watch, then posts
// watched webhooks one at a time to the server poster (the same server, or
// another replica on the same database); each delivery is timed from the
// webhook's 2xx (the commit is durable by then).
func benchWatch(ctx context.Context, poster, watch *benchServer, dev *config.DevCredentials, watchers, watched int, variant string) (Row, error) {
	srv := watch
	wctx, cancel := context.WithCancel(srv.authed(ctx))
	defer cancel()
	client := pb.NewWatchServiceClient(srv.conn)
	got := make([][]benchSeen, watchers)
	counts := make([]atomic.Int64, watchers)
	ready := make(chan error, watchers)
	// Every watcher resumes from the head as it is now, so that none can
	// miss the first webhook however late its stream reaches the server.
	head, err := pb.NewAuditServiceClient(srv.conn).GetChainHead(wctx, &pb.GetChainHeadRequest{})
	if err != nil {
		return Row{}, err
	}
	var wg sync.WaitGroup
	for w := range watchers {
		stream, err := client.Watch(wctx, &pb.WatchRequest{AfterSequence: head.GetSequence(), Providers: []string{ngenius.Name}})
		if err != nil {
			return Row{}, err
		}
		wg.Go(func() {
			first := true
			for {
				m, err := stream.Recv()
				if err != nil {
					if first {
						ready <- err
					}
					return
				}
				if m.Entry == nil {
					continue
				}
				got[w] = append(got[w], benchSeen{m.Entry.ProviderId, time.Now()})
				counts[w].Add(1)
				if first {
					first = false
					ready <- nil
				}
			}
		})
	}
	c := benchClient(1)
	defer c.CloseIdleConnections()
	send := func(id string) (time.Time, error) {
		body := benchOrderBody(id, "AUTHORISED")
		h, err := signNgenius(dev, body)
		if err != nil {
			return time.Time{}, err
		}
		ok, msg := post(ctx, c, poster.http, benchHook{provider: ngenius.Name, body: body, header: h})
		if !ok {
			return time.Time{}, fmt.Errorf("bench: watch webhook: %s", msg)
		}
		return time.Now(), nil
	}
	// A first webhook proves that every watcher is subscribed.
	if _, err := send("watch-warmup"); err != nil {
		return Row{}, err
	}
	for range watchers {
		select {
		case err := <-ready:
			if err != nil {
				return Row{}, fmt.Errorf("bench: watcher: %w", err)
			}
		case <-time.After(30 * time.Second):
			return Row{}, errors.New("bench: watchers did not see the first webhook in 30 s")
		}
	}
	acked := map[string]time.Time{}
	start := time.Now()
	for i := range watched {
		id := fmt.Sprintf("watch-%d", i)
		at, err := send(id)
		if err != nil {
			return Row{}, err
		}
		acked[id] = at
		time.Sleep(10 * time.Millisecond)
	}
	// Let the last deliveries arrive, then stop the watchers.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		if allDelivered(counts, watched+1) {
			break
		}
	}
	elapsed := time.Since(start)
	cancel()
	wg.Wait()
	r := loadResult{elapsed: elapsed}
	early := 0
	for _, list := range got {
		for _, s := range list {
			at, ok := acked[s.id]
			if !ok {
				continue
			}
			d := s.at.Sub(at)
			if d < 0 {
				// Delivered before the 2xx reached the client: counted
				// as zero.
				early++
				d = 0
			}
			r.latencies = append(r.latencies, d)
		}
	}
	r.ok = int64(len(r.latencies))
	r.failed = int64(watchers*watched) - r.ok
	row := loadRow("watch", variant, r, 0)
	row.PerSec = float64(r.ok) / elapsed.Seconds()
	row.Note = fmt.Sprintf("%d of %d deliveries arrived before the webhook's 2xx reached the client (counted as 0)", early, r.ok)
	return row, nil
}

func signNgenius(dev *config.DevCredentials, body []byte) (http.Header, error) {
	h, err := sim.Sign(ngenius.Name, body, dev, "", time.Now())
	if err != nil {
		return nil, err
	}
	h.Set("Content-Type", "application/json")
	return h, nil
}

// benchSeen is one delivery to a watcher: the order's id and when.
type benchSeen struct {
	id string
	at time.Time
}

// allDelivered says whether every watcher has received n entries.
func allDelivered(counts []atomic.Int64, n int) bool {
	for i := range counts {
		if counts[i].Load() < int64(n) {
			return false
		}
	}
	return true
}

// benchRebuild replays the whole journal of the stopped server's store.
func benchRebuild(ctx context.Context, ps Paystate, cfg config.Config) (Row, error) {
	store, _, err := ps.OpenStore(ctx, cfg)
	if err != nil {
		return Row{}, err
	}
	defer store.Close()
	machines, _, err := benchMachines(ps, cfg)
	if err != nil {
		return Row{}, err
	}
	head, err := store.Head(ctx)
	if err != nil {
		return Row{}, err
	}
	cpu0 := processCPU()
	t0 := time.Now()
	aggs, mismatches, err := engine.Replay(ctx, store, machines)
	if err != nil {
		return Row{}, err
	}
	r := loadResult{ok: head.Seq, elapsed: time.Since(t0), cpu: processCPU() - cpu0}
	row := loadRow("rebuild", "engine.Replay, whole journal", r, 0)
	row.Note = fmt.Sprintf("%d journal entries, %d aggregates rebuilt, %d mismatches", head.Seq, aggs.Len(), len(mismatches))
	return row, nil
}
