package main

import (
	"bytes"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	pb "github.com/paystate/paystate/proto/paystate/v1"
	"github.com/paystate/paystate/storage/sqlite"
	"github.com/paystate/paystate/storage/storagetest"
)

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
	require.NoError(t, run(t.Context(), []string{"verify", "--checkpoint", file}, env))
	require.Regexp(t, `"checkpointsChecked":\s*"2"`, out.String(), "the file's and the stored one")
	s.shutdown()
	return dir, file, env
}

// restart starts a server on dir again and points env at it.
func restart(t *testing.T, dir string) func(string) string {
	s := startServer(t, dir)
	cli, _ := s.cli(t)
	return cli
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
		`UPDATE aggregates SET state = 'authorized', provider_status = 'AUTHORISED', captured = 0, version = 1,
			updated_at = (SELECT received_at FROM journal WHERE seq = 1)`,
		`DELETE FROM checkpoints`,
	} {
		_, err := db.Exec(q)
		require.NoError(t, err, q)
	}
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
