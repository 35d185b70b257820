package crashtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/paystate/paystate/config"
	"github.com/paystate/paystate/redact"
	"github.com/paystate/paystate/simulator"
	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/sqlite"
)

var (
	long     = flag.Bool("crash.long", false, "run the long forms: 20 kills during 5 000 webhooks, 10 000 card-data events")
	seedFlag = flag.Uint64("crash.seed", 0, "replay a run with this seed (env PAYSTATE_CRASH_SEED); 0 picks one")
)

// binary is the paystate executable built once for the package's tests.
var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "paystate-crashtest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "paystate")
	// The crashpoints tag adds the hook TestCrash stops the server with
	// (PAYSTATE_CRASHPOINT; cmd/paystate/crashpoints.go); without that
	// variable the binary is the release one.
	args := []string{"build", "-tags", "crashpoints", "-o", binary}
	if raceBuild {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "github.com/paystate/paystate/cmd/paystate")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "crashtest: building paystate:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// seed returns the run's random seed, from -crash.seed, the environment,
// or fresh, and logs it so that a failure can be replayed.
func seed(t *testing.T) uint64 {
	s := *seedFlag
	if s == 0 {
		if v := os.Getenv("PAYSTATE_CRASH_SEED"); v != "" {
			var err error
			if s, err = strconv.ParseUint(v, 10, 64); err != nil {
				t.Fatalf("PAYSTATE_CRASH_SEED=%q: %v", v, err)
			}
		}
	}
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay: go test ./crashtest -run '^%s$' -crash.seed %d)", s, t.Name(), s)
	return s
}

// logBuffer collects every line a server process writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.buf.Bytes())
}

// server runs the paystate binary on loopback ports with a data directory
// of its own, and can kill and restart it.
type server struct {
	t       *testing.T
	dataDir string
	args    []string
	env     []string
	log     *logBuffer
	// crashes receives the crashpoint lines of the server (see
	// crashpoint).
	crashes chan crashLine

	mu sync.Mutex
	// crashpoint is PAYSTATE_CRASHPOINT for the next start, if set.
	crashpoint string
	up         *sync.Cond
	proc       *exec.Cmd
	exited     chan struct{}
	httpURL    string
	grpc       string
	failed     error
	starts     int
	kills      int
}

// startBinary starts `paystate serve` with extra arguments and environment
// (PAYSTATE_* variables of the test's own environment are not passed on).
func startBinary(t *testing.T, args []string, env ...string) *server {
	t.Helper()
	s := newServer(t, args, env...)
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	return s
}

// newServer prepares what startBinary starts, without starting it.
func newServer(t *testing.T, args []string, env ...string) *server {
	t.Helper()
	s := &server{t: t, dataDir: t.TempDir(), args: args, log: &logBuffer{}, crashes: make(chan crashLine, 16)}
	s.up = sync.NewCond(&s.mu)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PAYSTATE_") {
			s.env = append(s.env, kv)
		}
	}
	// The harness reads the "serving" line for the bound ports: JSON.
	s.env = append(s.env, "PAYSTATE_LOG_FORMAT=json")
	// A commit the store takes longer than the store timeout over is
	// answered 503, which the tests that insist on 200s (the storm, the
	// card data) would count as a failure: on a machine whose disk other
	// work keeps busy a flush can stall for seconds, so the default 5 s
	// is raised well beyond any stall. A store that hangs is still
	// caught: its webhooks are answered 503 after 30 s, or not at all.
	s.env = append(s.env, "PAYSTATE_STORE_TIMEOUT=30s", "PAYSTATE_SHUTDOWN_TIMEOUT=30s")
	s.env = append(s.env, env...)
	t.Cleanup(func() {
		s.mu.Lock()
		p, exited := s.proc, s.exited
		s.mu.Unlock()
		if p != nil {
			p.Process.Kill()
			<-exited
		}
		// A binary built with -race reports a race on its stderr and
		// goes on.
		if log := s.log.Bytes(); bytes.Contains(log, []byte("WARNING: DATA RACE")) {
			t.Errorf("the server reported a data race:\n%s", tail(log, 8000))
		}
	})
	return s
}

// stopAt sets PAYSTATE_CRASHPOINT (point:n) for the next start; "" for
// none.
func (s *server) stopAt(crashpoint string) {
	s.mu.Lock()
	s.crashpoint = crashpoint
	s.mu.Unlock()
}

// start runs a new server process and returns once it is serving. It may
// be called from any goroutine: a failure is returned, and also makes url
// give up, so that senders waiting for a restart stop.
func (s *server) start() (err error) {
	defer func() {
		if err != nil {
			s.mu.Lock()
			s.failed = err
			s.up.Broadcast()
			s.mu.Unlock()
		}
	}()
	args := append([]string{"serve", "--data-dir", s.dataDir, "--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0"}, s.args...)
	cmd := exec.Command(binary, args...)
	cmd.Env = s.env
	s.mu.Lock()
	if s.crashpoint != "" {
		cmd.Env = append(slices.Clip(cmd.Env), "PAYSTATE_CRASHPOINT="+s.crashpoint)
	}
	s.mu.Unlock()
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting paystate: %w", err)
	}
	exited := make(chan struct{})
	addrs := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			s.log.Write(append(bytes.Clone(line), '\n'))
			var rec struct {
				Msg, HTTP, GRPC string
				crashLine
			}
			if json.Unmarshal(line, &rec) != nil {
				continue
			}
			switch rec.Msg {
			case "serving":
				select {
				case addrs <- [2]string{rec.HTTP, rec.GRPC}:
				default:
				}
			case "crashpoint":
				s.crashes <- rec.crashLine
			}
		}
		io.Copy(s.log, pr)
	}()
	go func() {
		cmd.Wait()
		pw.Close()
		close(exited)
	}()
	select {
	case a := <-addrs:
		s.mu.Lock()
		s.proc, s.exited, s.httpURL, s.grpc = cmd, exited, "http://"+a[0], a[1]
		s.starts++
		s.up.Broadcast()
		s.mu.Unlock()
		return nil
	case <-exited:
		return fmt.Errorf("paystate exited before serving:\n%s", tail(s.log.Bytes(), 8000))
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-exited
		return fmt.Errorf("paystate did not start serving within 60 s:\n%s", tail(s.log.Bytes(), 8000))
	}
}

// crashLine is what a server stopped at a crashpoint says: where, the
// webhooks (body SHA-256) a kill there must cut off, and those the engine
// answered while the transaction was not yet committed (none, unless it
// answers before COMMIT).
type crashLine struct {
	Point    string   `json:"point"`
	Cut      []string `json:"cut"`
	Answered []string `json:"answered"`
}

// kill sends SIGKILL and waits for the process to be gone.
func (s *server) kill() {
	s.mu.Lock()
	p, exited := s.proc, s.exited
	s.proc, s.httpURL = nil, ""
	s.mu.Unlock()
	if p == nil {
		return
	}
	p.Process.Signal(syscall.SIGKILL)
	<-exited
	s.mu.Lock()
	s.kills++
	s.mu.Unlock()
}

// stop asks the server to shut down gracefully (SIGTERM) and waits.
func (s *server) stop() {
	s.mu.Lock()
	p, exited := s.proc, s.exited
	s.proc, s.httpURL = nil, ""
	s.mu.Unlock()
	if p == nil {
		return
	}
	p.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(60 * time.Second):
		p.Process.Kill()
		<-exited
		s.t.Errorf("paystate did not stop within 60 s of SIGTERM")
	}
	if code := p.ProcessState.ExitCode(); code != 0 {
		s.t.Errorf("paystate exited with %d after SIGTERM:\n%s", code, tail(s.log.Bytes(), 4000))
	}
}

// url returns the base URL of the running server, waiting for a restart
// if it is down, or the error that stopped a restart.
func (s *server) url() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.httpURL == "" && s.failed == nil {
		s.up.Wait()
	}
	return s.httpURL, s.failed
}

// mustURL is url for the test goroutine.
func (s *server) mustURL() string {
	s.t.Helper()
	u, err := s.url()
	if err != nil {
		s.t.Fatal(err)
	}
	return u
}

func (s *server) dev() *config.DevCredentials {
	s.t.Helper()
	d, err := config.LoadDev(s.dataDir, false)
	if err != nil {
		s.t.Fatal(err)
	}
	return d
}

func (s *server) dbPath() string { return filepath.Join(s.dataDir, "paystate.db") }

// openStore opens the database file of a stopped server.
// idKey is the key the server masks identifiers with (its data dir's
// card-id key), so that the harness can name its events' dedupe keys as
// the journal holds them.
func (s *server) idKey() redact.IDKey {
	s.t.Helper()
	raw, err := os.ReadFile(filepath.Join(s.dataDir, config.CardIDKeyFile))
	if err != nil {
		s.t.Fatal(err)
	}
	return redact.NewIDKey([]byte(strings.TrimSpace(string(raw))))
}

func (s *server) openStore() storage.Store {
	s.t.Helper()
	st, err := sqlite.Open(context.Background(), s.dbPath())
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { st.Close() })
	return st
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// answer is what one HTTP attempt was told.
type answer struct {
	class  string // "2xx", "4xx", "5xx" or "none" (no answer, connection error)
	status int
	reply  webhookReply
	// retryAfter is the Retry-After header of a 503.
	retryAfter string
	raw        []byte
	err        error
}

type webhookReply struct {
	Results []result `json:"results"`
	Error   string   `json:"error"`
}

type result struct {
	Seq      int64    `json:"seq"`
	Kind     string   `json:"kind"`
	ID       string   `json:"id"`
	Event    string   `json:"event"`
	Verdict  string   `json:"verdict"`
	Reason   string   `json:"reason"`
	State    string   `json:"state"`
	Version  int64    `json:"version"`
	Resolved []result `json:"resolved"`
}

var client = &http.Client{Timeout: 30 * time.Second}

// post signs body as provider would with the server's development
// credentials and posts it once.
func post(base string, dev *config.DevCredentials, provider string, body []byte) answer {
	header, err := simulator.Sign(provider, body, dev, "", time.Now())
	if err != nil {
		return answer{class: "none", err: err}
	}
	return postWith(base, provider, body, header)
}

func postWith(base, provider string, body []byte, header http.Header) answer {
	req, err := http.NewRequest(http.MethodPost, base+"/webhooks/"+provider, bytes.NewReader(body))
	if err != nil {
		return answer{class: "none", err: err}
	}
	req.Header = header.Clone()
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return answer{class: "none", err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		// The status line came but the body did not: the server died
		// while answering. Only a whole answer counts.
		return answer{class: "none", status: resp.StatusCode, err: err}
	}
	a := answer{status: resp.StatusCode, raw: raw, retryAfter: resp.Header.Get("Retry-After")}
	if err := json.Unmarshal(raw, &a.reply); err != nil {
		a.err = fmt.Errorf("reply is not JSON: %w", err)
	}
	switch {
	case resp.StatusCode/100 == 2:
		a.class = "2xx"
	case resp.StatusCode/100 == 4:
		a.class = "4xx"
	default:
		a.class = "5xx"
	}
	return a
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// journal reads every journal entry.
func journal(t *testing.T, r storage.Reader) []storage.JournalEntry {
	t.Helper()
	var out []storage.JournalEntry
	for after := int64(0); ; {
		page, err := r.Journal(context.Background(), nil, after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page...)
		if len(page) < 1000 {
			return out
		}
		after = page[len(page)-1].Seq
	}
}
