package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/paystate/paystate/config"
	pb "github.com/paystate/paystate/proto/paystate/v1"
	"github.com/paystate/paystate/storage/sqlite"
	"github.com/paystate/paystate/storage/storagetest"
)

// A new development server has a key and an empty journal: export says
// there is nothing to sign yet; once the first webhook is journaled, the
// server signs its head without waiting for checkpoint_interval, and
// export works. Nothing is signed for the empty journal.
func TestCheckpointExportAfterTheFirstEntry(t *testing.T) {
	old := firstSignPoll
	firstSignPoll = 10 * time.Millisecond
	t.Cleanup(func() { firstSignPoll = old })
	dir := t.TempDir()
	s := startServer(t, dir)
	require.Equal(t, 10*time.Minute, s.cfg.CheckpointInterval.Duration, "the default interval: the first signature must not wait for it")
	cli, out := s.cli(t)
	file := filepath.Join(t.TempDir(), "cps.jsonl")
	err := run(t.Context(), []string{"checkpoint", "export", "--out", file}, cli)
	require.ErrorContains(t, err, "the journal is empty, so there is no checkpoint yet")

	code, _ := s.webhook(t, sample(t, "AUTHORISED"))
	require.Equal(t, http.StatusOK, code)
	require.Eventually(t, func() bool {
		return run(t.Context(), []string{"checkpoint", "export", "--out", file}, cli) == nil
	}, 10*time.Second, 10*time.Millisecond, "export works once the first entry is journaled")
	require.Contains(t, out.String(), "checkpoint at sequence 1 ")
	out.Reset()
	require.NoError(t, run(t.Context(), []string{"verify", "--checkpoint", file}, cli))
	s.shutdown()
}

// A server without a checkpoint key signs nothing: export says which
// setting it lacks.
func TestCheckpointExportWithoutAKey(t *testing.T) {
	cfg := config.Defaults()
	cfg.HTTPAddr, cfg.GRPCAddr, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", t.TempDir()
	dev, err := config.FillDev(&cfg)
	require.NoError(t, err)
	cfg.CheckpointKeyFile = ""
	s := startServerWith(t, cfg, dev)
	code, _ := s.webhook(t, sample(t, "AUTHORISED"))
	require.Equal(t, http.StatusOK, code)
	cli, _ := s.cli(t)
	err = run(t.Context(), []string{"checkpoint", "export"}, cli)
	require.ErrorContains(t, err, "only with a checkpoint_key_file")
	require.ErrorContains(t, err, "paystate checkpoint sign")
}

// signedServer is a development server with two webhooks journaled, a
// checkpoint signed on demand and exported to a file outside its data
// dir, then stopped; it returns the data dir and the file.
func signedServer(t *testing.T) (dir, file string, env func(string) string) {
	t.Helper()
	dir, file = t.TempDir(), filepath.Join(t.TempDir(), "checkpoints.jsonl")
	s := startServer(t, dir)
	for _, ev := range []string{"AUTHORISED", "CAPTURED"} {
		s.webhook(t, sample(t, ev))
	}
	cli, out := s.cli(t)
	env = func(k string) string {
		if k == "PAYSTATE_DATA_DIR" {
			return dir
		}
		return cli(k)
	}
	require.NoError(t, run(t.Context(), []string{"checkpoint", "sign"}, env))
	require.Contains(t, out.String(), "checkpoint at sequence 2")

	h, err := s.audit.GetChainHead(s.authed(t.Context()), &pb.GetChainHeadRequest{})
	require.NoError(t, err)
	require.Equal(t, int64(2), h.GetCheckpoint().GetSequence(), "GetChainHead serves the newest checkpoint")
	require.Equal(t, h.GetHash(), h.GetCheckpoint().GetHash())
	require.Len(t, h.GetCheckpoint().GetSignature(), 64)

	require.NoError(t, run(t.Context(), []string{"checkpoint", "export", "--out", file}, env))
	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	require.Equal(t, 1, strings.Count(string(raw), "\n"))
	require.Contains(t, string(raw), `"key_id":"`+h.GetCheckpoint().GetKeyId()+`"`)

	out.Reset()
	require.NoError(t, run(t.Context(), []string{"verify", "-o", "json", "--checkpoint", file}, env))
	// The file's and the stored ones: the one signed here, and the server's
	// own first, unless it signed the same head (its first signature follows
	// the first entry within a second).
	require.Regexp(t, `"checkpointsChecked":\s*"[23]"`, out.String())
	var verified pb.VerifyJournalResponse
	require.NoError(t, protojson.Unmarshal(out.Bytes(), &verified))
	require.Equal(t, int64(2), verified.GetHead().GetCheckpoint().GetSequence(), "the newest stored checkpoint verified")
	out.Reset()
	require.NoError(t, run(t.Context(), []string{"verify"}, env))
	require.Regexp(t, `(?m)^newest checkpoint verified\s+sequence 2, signed \S+ by key `+h.GetCheckpoint().GetKeyId()+`$`, out.String())
	s.shutdown()
	return dir, file, env
}

// restart starts a server on dir again and points env at it.
func restart(t *testing.T, dir string) func(string) string {
	s := startServer(t, dir)
	cli, _ := s.cli(t)
	return cli
}

// dropCheckpointLog removes the server's own checkpoint log, as an
// intruder holding the data dir can (the log would make serve refuse the
// altered database at start): only the auditor's copy is left.
func dropCheckpointLog(t *testing.T, dir string) {
	require.NoError(t, os.Remove(filepath.Join(dir, "checkpoints.jsonl")))
}

func rawDB(t *testing.T, dir string) *sql.DB {
	db, err := sql.Open("sqlite3", filepath.Join(dir, "paystate.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// TestVerifyCheckpointDetectsRewrittenChain is the audit's T12: an entry
// and every later hash rewritten, the head moved to match, the stored
// checkpoints deleted. The chain and every derived table still agree; the
// exported checkpoint does not.
func TestVerifyCheckpointDetectsRewrittenChain(t *testing.T) {
	dir, file, _ := signedServer(t)
	store, err := sqlite.Open(t.Context(), filepath.Join(dir, "paystate.db"))
	require.NoError(t, err)
	db := rawDB(t, dir)
	storagetest.RewriteChain(t, store, func(q string, args ...any) error { _, err := db.Exec(q, args...); return err }, 1)
	_, err = db.Exec(`DELETE FROM checkpoints`)
	require.NoError(t, err)
	require.NoError(t, store.Close())
	dropCheckpointLog(t, dir)

	env := restart(t, dir)
	require.NoError(t, run(t.Context(), []string{"verify"}, env), "without a checkpoint the rewrite is invisible")
	err = run(t.Context(), []string{"verify", "--checkpoint", file}, env)
	require.ErrorContains(t, err, "rewritten")
}

// TestVerifyCheckpointDetectsTruncation is the audit's T6: the tail cut,
// the head moved to match, and (to leave the derived tables no trace)
// everything the cut entries explained removed with them.
func TestVerifyCheckpointDetectsTruncation(t *testing.T) {
	dir, file, _ := signedServer(t)
	db := rawDB(t, dir)
	for _, q := range []string{
		`DELETE FROM journal WHERE seq > 1`,
		`UPDATE chain_head SET seq = 1, hash = (SELECT hash FROM journal WHERE seq = 1)`,
		`DELETE FROM receipts WHERE seq > 1`,
		`UPDATE aggregates SET state = 'authorized', provider_status = 'AUTHORISED', captured = 0, captured_rest = 0, version = 1,
			updated_at = (SELECT received_at FROM journal WHERE seq = 1)`,
		`DELETE FROM checkpoints`,
	} {
		_, err := db.Exec(q)
		require.NoError(t, err, q)
	}
	dropCheckpointLog(t, dir)
	env := restart(t, dir)
	err := run(t.Context(), []string{"verify", "--checkpoint", file}, env)
	require.ErrorContains(t, err, "beyond the journal's head 1")
}

// TestInclusionProofEndToEnd: a tree checkpoint signed on demand and
// exported by the auditor; an entry's proof made on the database is
// checked offline against the auditor's file, and fails once edited or
// against a file that does not hold its checkpoint.
func TestInclusionProofEndToEnd(t *testing.T) {
	dir, bareFile, _ := signedServer(t)
	env := restart(t, dir)
	admin := func(k string) string {
		if k == "PAYSTATE_DATA_DIR" {
			return dir
		}
		return env(k)
	}
	out := stdout.(*bytes.Buffer)
	require.NoError(t, run(t.Context(), []string{"checkpoint", "sign", "--tree"}, admin))
	require.Contains(t, out.String(), "tree root ")
	treeFile := filepath.Join(t.TempDir(), "tree.jsonl")
	require.NoError(t, run(t.Context(), []string{"checkpoint", "export", "--out", treeFile}, env))

	out.Reset()
	require.NoError(t, run(t.Context(), []string{"checkpoint", "prove", "1"}, admin))
	proof := filepath.Join(t.TempDir(), "proof.json")
	require.NoError(t, os.WriteFile(proof, out.Bytes(), 0o600))
	out.Reset()
	require.NoError(t, run(t.Context(), []string{"checkpoint", "check-proof", "--checkpoint", treeFile, proof}, env))
	require.Contains(t, out.String(), "entry 1 (AUTHORISED applied) is included under checkpoint 2")

	require.ErrorContains(t, run(t.Context(), []string{"checkpoint", "check-proof", "--checkpoint", bareFile, proof}, env),
		"is not one of")
	raw, err := os.ReadFile(proof)
	require.NoError(t, err)
	edited := filepath.Join(t.TempDir(), "edited.json")
	require.NoError(t, os.WriteFile(edited, bytes.Replace(raw, []byte(`"Verdict": "applied"`), []byte(`"Verdict": "rejected"`), 1), 0o600))
	require.ErrorContains(t, run(t.Context(), []string{"checkpoint", "check-proof", edited}, env), "do not hash")
}

// TestServeRefusesADatabaseBehindItsCheckpointLog is T13 caught at start:
// a database rolled back to an older state (what deleting the -wal after
// a kill, or restoring an old backup, does) is refused, because the
// checkpoint log outside the database names a head it no longer holds.
func TestServeRefusesADatabaseBehindItsCheckpointLog(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "paystate.db")
	s := startServer(t, dir)
	s.webhook(t, sample(t, "AUTHORISED"))
	s.shutdown() // signs the last head and closes the database cleanly
	older, err := os.ReadFile(db)
	require.NoError(t, err)

	s = startServer(t, dir)
	s.webhook(t, sample(t, "CAPTURED"))
	s.shutdown()
	logged, err := os.ReadFile(filepath.Join(dir, "checkpoints.jsonl"))
	require.NoError(t, err)
	require.Equal(t, 2, strings.Count(string(logged), "\n"), "one checkpoint per head a server signed")

	require.NoError(t, os.WriteFile(db, older, 0o600))
	requireRefusedBehindLog(t, dir, 1)

	// Moved aside, the older state is served (the operator's decision).
	require.NoError(t, os.Rename(filepath.Join(dir, "checkpoints.jsonl"), filepath.Join(dir, "checkpoints.old")))
	s = startServer(t, dir)
	s.shutdown()
}

// requireRefusedBehindLog: serve on dir, whose database's journal head is
// behind its checkpoint log, refuses to start, names the head and says to
// move the log aside.
func requireRefusedBehindLog(t *testing.T, dir string, head int64) {
	t.Helper()
	err := serveRefused(t, dir, "a database behind its checkpoint log")
	require.ErrorContains(t, err, fmt.Sprintf("beyond the journal's head %d", head))
	require.ErrorContains(t, err, "move "+filepath.Join(dir, "checkpoints.jsonl")+" aside")
}

// serveRefused runs serve on dir in development mode, which must refuse
// to start (on a store that is what), and returns why it did.
func serveRefused(t *testing.T, dir, what string) error {
	t.Helper()
	cfg := config.Defaults()
	cfg.HTTPAddr, cfg.GRPCAddr, cfg.DataDir = "127.0.0.1:0", "127.0.0.1:0", dir
	dev, err := config.FillDev(&cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	return runServer(ctx, cfg, dev, slog.New(slog.NewTextHandler(io.Discard, nil)), func(string, string) {
		t.Error("a server started on " + what)
		cancel()
	})
}

// TestServeToleratesACheckpointLogLineCutShort: a crash while a line was
// appended leaves part of it; the server starts, and logs whole lines
// after it.
func TestServeToleratesACheckpointLogLineCutShort(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	s.webhook(t, sample(t, "AUTHORISED"))
	s.shutdown()
	path := filepath.Join(dir, "checkpoints.jsonl")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	require.NoError(t, err)
	_, err = f.WriteString(`{"format":"paystate.checkpoint.v1","sequ`)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	s = startServer(t, dir)
	s.webhook(t, sample(t, "CAPTURED"))
	s.shutdown()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, 2, strings.Count(string(raw), "\n"))
	require.NotContains(t, string(raw), `"sequ{`)
	s = startServer(t, dir) // the log reads whole again
	s.shutdown()
}

// The README's auditor sequence with two signed trees: sign --tree,
// export, more entries, sign --tree, export again. prove defaults to the
// newest tree, the one the auditor exported last, and --tree-size proves
// under an older one; check-proof accepts a proof under any checkpoint of
// the auditor's file.
func TestInclusionProofAgainstTheNewestTree(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	cli, out := s.cli(t)
	admin := func(k string) string {
		if k == "PAYSTATE_DATA_DIR" {
			return dir
		}
		return cli(k)
	}
	held := filepath.Join(t.TempDir(), "held.jsonl")
	signTree := func(want string) {
		t.Helper()
		out.Reset()
		require.NoError(t, run(t.Context(), []string{"checkpoint", "sign", "--tree"}, admin))
		require.Contains(t, out.String(), "checkpoint at sequence "+want+",")
		require.NoError(t, run(t.Context(), []string{"checkpoint", "export", "--out", held}, cli))
	}
	prove := func(args ...string) string {
		t.Helper()
		out.Reset()
		require.NoError(t, run(t.Context(), append([]string{"checkpoint", "prove"}, args...), admin))
		proof := filepath.Join(t.TempDir(), "proof.json")
		require.NoError(t, os.WriteFile(proof, out.Bytes(), 0o600))
		return proof
	}
	check := func(proof, file string) error {
		out.Reset()
		return run(t.Context(), []string{"checkpoint", "check-proof", "--checkpoint", file, proof}, cli)
	}

	for _, ev := range []string{"AUTHORISED", "CAPTURED"} {
		s.webhook(t, sample(t, ev))
	}
	signTree("2")
	s.webhook(t, sample(t, "AUTHORISED")) // a retry: journaled too
	signTree("3")
	newest := filepath.Join(t.TempDir(), "newest.jsonl")
	require.NoError(t, run(t.Context(), []string{"checkpoint", "export", "--out", newest}, cli))

	proof := prove("1")
	require.NoError(t, check(proof, newest), "the auditor holding only the newest export")
	require.Contains(t, out.String(), "entry 1 (AUTHORISED applied) is included under checkpoint 3")
	require.NoError(t, check(proof, held))

	old := prove("1", "--tree-size", "2")
	require.NoError(t, check(old, held))
	require.Contains(t, out.String(), "is included under checkpoint 2")
	require.ErrorContains(t, check(old, newest), "is not one of")

	err := run(t.Context(), []string{"checkpoint", "prove", "3", "--tree-size", "2"}, admin)
	require.ErrorContains(t, err, "entry 3 is after the tree checkpoint of size 2")
	err = run(t.Context(), []string{"checkpoint", "prove", "1", "--tree-size", "1"}, admin)
	require.ErrorContains(t, err, "no stored tree checkpoint has size 1; the stored ones, newest first: [3 2]")
}

// TestServeRefusesAHeadMovedBack is the acceptance pass's T61: the chain
// head moved back to an earlier entry, the later ones left in the journal.
// Every append would take a sequence already used, so serve refuses to
// start and says so, checkpoint log or not, and rebuild names the head
// rather than the receipts of the entries past it.
func TestServeRefusesAHeadMovedBack(t *testing.T) {
	dir := capturedOrder(t)
	_, err := rawDB(t, dir).Exec(`UPDATE chain_head SET seq = 1, hash = (SELECT hash FROM journal WHERE seq = 1)`)
	require.NoError(t, err)
	dropCheckpointLog(t, dir)

	err = serveRefused(t, dir, "a journal whose head was moved back")
	require.ErrorContains(t, err, "the journal's chain head (1) is behind its entries: entry 2 lies past it")
	require.ErrorContains(t, err, "paystate rebuild, which needs no server,")

	env, out := adminEnv(t, dir)
	err = run(t.Context(), []string{"rebuild"}, env)
	require.ErrorContains(t, err, "the stored head (1) is behind the journal: entry 2 lies past it")
	require.NotContains(t, out.String(), "no journal entry has this dedupe key")
}
