package main

import (
	"bytes"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	pb "github.com/paystate/paystate/proto/paystate/v1"
	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/sqlite"
)

// adminEnv is the environment of an administrative command on the data
// directory dir, with stdout captured.
func adminEnv(t *testing.T, dir string) (env func(string) string, out *bytes.Buffer) {
	out = new(bytes.Buffer)
	stdout = out
	t.Cleanup(func() { stdout = os.Stdout })
	return func(k string) string { return map[string]string{"PAYSTATE_DATA_DIR": dir}[k] }, out
}

// backupOf runs paystate backup with env into a new file, and returns
// its name.
func backupOf(t *testing.T, env func(string) string, out *bytes.Buffer) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "backup.db")
	require.NoError(t, run(t.Context(), []string{"backup", "--out", file}, env), out.String())
	return file
}

// capturedOrder is the data dir of a stopped development server that took
// the sample order's authorisation and capture.
func capturedOrder(t *testing.T) string {
	dir := t.TempDir()
	s := startServer(t, dir)
	for _, ev := range []string{"AUTHORISED", "CAPTURED"} {
		s.webhook(t, sample(t, ev))
	}
	s.shutdown()
	return dir
}

// sendOrders posts an authorisation of a new order after another until
// stop is closed, counting those acknowledged (200) in acked. Not through
// s.webhook: its checks may not run off the test's goroutine.
func sendOrders(s *server, body []byte, first, step int, acked *atomic.Int64, stop <-chan struct{}) {
	for i := first; ; i += step {
		select {
		case <-stop:
			return
		default:
		}
		req, err := http.NewRequest(http.MethodPost, s.http+"/webhooks/ngenius",
			bytes.NewReader(bytes.ReplaceAll(body, []byte("abc123xyz"), fmt.Appendf(nil, "ord-%06d", i))))
		if err != nil {
			return
		}
		req.Header.Set(s.dev.NGeniusHeaderName, s.dev.NGeniusHeaderValue)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			acked.Add(1)
		}
	}
}

// waitAcked waits until acked reaches n.
func waitAcked(t *testing.T, acked *atomic.Int64, n int64) {
	for acked.Load() < n {
		require.NoError(t, t.Context().Err())
		time.Sleep(time.Millisecond)
	}
}

// journalOf reads the whole journal of r.
func journalOf(t *testing.T, r storage.Reader) []storage.JournalEntry {
	t.Helper()
	var all []storage.JournalEntry
	for {
		page, err := r.Journal(t.Context(), nil, int64(len(all)), 1000)
		require.NoError(t, err)
		if len(page) == 0 {
			return all
		}
		all = append(all, page...)
	}
}

// openCopy opens a backup read-only for the test.
func openCopy(t *testing.T, path string) *sqlite.ReadOnly {
	t.Helper()
	r, err := sqlite.OpenReadOnly(t.Context(), path)
	require.NoError(t, err)
	t.Cleanup(func() { r.Close() })
	return r
}

// A backup taken beside a server that is committing webhooks, without its
// lock (the server holds it), is one consistent snapshot: its chain
// verifies, it holds every webhook acknowledged before it began, and each
// entry it holds is the live store's entry at that sequence.
func TestBackupWhileWebhooksCommit(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	var acked atomic.Int64
	stop := make(chan struct{})
	var senders sync.WaitGroup
	body := sample(t, "AUTHORISED")
	for w := range 4 {
		senders.Add(1)
		go func() {
			defer senders.Done()
			sendOrders(s, body, w, 4, &acked, stop)
		}()
	}
	waitAcked(t, &acked, 20)
	before := acked.Load()
	env, out := adminEnv(t, dir)
	file := backupOf(t, env, out)
	waitAcked(t, &acked, acked.Load()+20) // the server goes on committing
	close(stop)
	senders.Wait()
	s.shutdown()

	require.Regexp(t, `(?m)^journal head +\d+ [0-9a-f]{64}$`, out.String())
	require.Contains(t, out.String(), "verified: the hash chain")
	copied := openCopy(t, file)
	chain, err := storage.VerifyChain(t.Context(), copied)
	require.NoError(t, err)
	require.True(t, chain.OK, chain.Problem)
	require.GreaterOrEqual(t, chain.Head.Seq, before, "every webhook acknowledged before the backup is in it")
	require.Contains(t, out.String(), fmt.Sprintf("journal head      %d %s\n", chain.Head.Seq, chain.Head.Hash))

	live, err := sqlite.Open(t.Context(), filepath.Join(dir, "paystate.db"))
	require.NoError(t, err)
	defer live.Close()
	liveJournal := journalOf(t, live)
	require.Greater(t, int64(len(liveJournal)), chain.Head.Seq, "the server committed after the backup")
	require.Equal(t, liveJournal[:chain.Head.Seq], journalOf(t, copied), "the copy holds a prefix of the journal")
	n, err := copied.AggregateCount(t.Context())
	require.NoError(t, err)
	require.Equal(t, chain.Head.Seq, n, "one order per entry, as of the same commit")
	require.Contains(t, out.String(), fmt.Sprintf("aggregates        %d\n", n))
}

// The copy changes nothing in the store it copies, and the copy is
// private, as the database is.
func TestBackupLeavesTheSourceAsItWas(t *testing.T) {
	dir := capturedOrder(t)
	db := filepath.Join(dir, "paystate.db")
	before, err := os.ReadFile(db)
	require.NoError(t, err)
	info, err := os.Stat(db)
	require.NoError(t, err)

	env, out := adminEnv(t, dir)
	file := backupOf(t, env, out)
	after, err := os.ReadFile(db)
	require.NoError(t, err)
	require.Equal(t, before, after)
	again, err := os.Stat(db)
	require.NoError(t, err)
	require.Equal(t, info.ModTime(), again.ModTime())
	fi, err := os.Stat(file)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	require.NotEqual(t, before, mustRead(t, file), "a copy of its own, not the file")
}

func mustRead(t *testing.T, path string) []byte {
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	return raw
}

// An existing --out is refused and left as it was, before anything is
// copied.
func TestBackupRefusesAnExistingFile(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	s.webhook(t, sample(t, "AUTHORISED"))
	env, out := adminEnv(t, dir)
	out2 := t.TempDir()
	file := filepath.Join(out2, "backup.db")
	require.NoError(t, os.WriteFile(file, []byte("last week's backup"), 0o600))
	err := run(t.Context(), []string{"backup", "--out", file}, env)
	require.ErrorContains(t, err, file+" already exists: refusing to overwrite it")
	require.Equal(t, "last week's backup", string(mustRead(t, file)))
	entries, err := os.ReadDir(out2)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file left behind")

	// The last check, at the link: a file that appears during the copy.
	tmp := filepath.Join(out2, "copy.tmp")
	require.NoError(t, os.WriteFile(tmp, []byte("a copy"), 0o600))
	require.ErrorContains(t, publish(tmp, file), "already exists")
	require.Equal(t, "last week's backup", string(mustRead(t, file)))
	require.Empty(t, out.String())
}

// A copy whose journal was altered does not verify: the check names the
// entry, and backup of such a store fails and leaves nothing under --out.
func TestBackupReportsACorruptedCopy(t *testing.T) {
	dir := capturedOrder(t)
	env, out := adminEnv(t, dir)
	file := backupOf(t, env, out)
	sum, err := verifyCopy(t.Context(), file)
	require.NoError(t, err)
	require.True(t, sum.ok())

	alter := func(path string) {
		db, err := sql.Open("sqlite3", path)
		require.NoError(t, err)
		_, err = db.Exec(`UPDATE journal SET reason = 'edited' WHERE seq = 1`)
		require.NoError(t, err)
		require.NoError(t, db.Close())
	}
	alter(file)
	sum, err = verifyCopy(t.Context(), file)
	require.NoError(t, err)
	require.False(t, sum.ok())
	require.Equal(t, int64(1), sum.chain.FirstBad)

	alter(filepath.Join(dir, "paystate.db"))
	other := filepath.Join(t.TempDir(), "backup.db")
	out.Reset()
	err = run(t.Context(), []string{"backup", "--out", other}, env)
	require.ErrorIs(t, err, errBackupUnverified)
	require.ErrorContains(t, err, "nothing was written to "+other)
	require.Contains(t, out.String(), "NOT VERIFIED: the hash chain is broken at 1")
	entries, err := os.ReadDir(filepath.Dir(other))
	require.NoError(t, err)
	require.Empty(t, entries, "neither the copy nor its temporary file")
}

// A PostgreSQL store is not copied: the message points at pg_dump, and
// names the database without its password.
func TestBackupRefusesPostgreSQL(t *testing.T) {
	env := func(k string) string {
		return map[string]string{"PAYSTATE_STORE": "postgres://paystate:s3cret@127.0.0.1:1/paystate"}[k]
	}
	file := filepath.Join(t.TempDir(), "backup.db")
	err := run(t.Context(), []string{"backup", "--out", file}, env)
	require.ErrorContains(t, err, "the store is PostgreSQL")
	require.ErrorContains(t, err, "pg_dump")
	require.NotContains(t, err.Error(), "s3cret")
	require.NoFileExists(t, file)
}

// The documented restore: back up, commit more (a checkpoint is signed
// past the backup at the clean stop), stop, put the copy in place of the
// database. serve refuses it while the checkpoint log names the later
// head, serves it once the log is moved aside, and what it serves is the
// backup's state; verify and rebuild pass.
func TestRestoreABackup(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	s.webhook(t, sample(t, "AUTHORISED"))
	env, out := adminEnv(t, dir)
	file := backupOf(t, env, out)
	s.webhook(t, sample(t, "CAPTURED"))
	s.shutdown() // signs the head past the backup's, and logs it

	db := filepath.Join(dir, "paystate.db")
	for _, p := range []string{db, db + "-wal", db + "-shm"} {
		require.NoError(t, os.RemoveAll(p))
	}
	require.NoError(t, os.WriteFile(db, mustRead(t, file), 0o600))

	requireRefusedBehindLog(t, dir, 1)

	require.NoError(t, os.Rename(filepath.Join(dir, "checkpoints.jsonl"), filepath.Join(dir, "checkpoints.before-restore")))
	s = startServer(t, dir)
	order, err := s.orders.GetOrder(s.authed(t.Context()), &pb.GetOrderRequest{Provider: "ngenius", OrderId: "abc123xyz"})
	require.NoError(t, err)
	require.Equal(t, "authorized", order.GetStateName(), "the backup's state: the capture after it is lost")
	require.Equal(t, int64(1), order.GetVersion())
	head, err := s.audit.GetChainHead(s.authed(t.Context()), &pb.GetChainHeadRequest{})
	require.NoError(t, err)
	copied := openCopy(t, file)
	want, err := copied.Head(t.Context())
	require.NoError(t, err)
	require.Equal(t, want.Seq, head.GetSequence())
	require.Equal(t, want.Hash, head.GetHash())
	cli, _ := s.cli(t)
	require.NoError(t, run(t.Context(), []string{"verify"}, cli))
	s.shutdown()
	env, out = adminEnv(t, dir)
	require.NoError(t, run(t.Context(), []string{"rebuild"}, env), out.String())
	require.Contains(t, out.String(), "0 differ")
}
