package checkpoint_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/checkpoint"
	"github.com/paystate/paystate/storage"
	"github.com/paystate/paystate/storage/sqlite"
	"github.com/paystate/paystate/storage/storagetest"
)

var t0 = time.Date(2026, 12, 6, 5, 0, 0, 123456000, time.UTC)

func newKey(t *testing.T) *checkpoint.Key {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key.pem")
	require.NoError(t, checkpoint.CreateKeyFile(path))
	info, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	k, err := checkpoint.LoadKey(path)
	require.NoError(t, err)
	return k
}

// TestSignVerify: a checkpoint verifies, and changing anything it covers
// (sequence, hash, time, key id, public key, signature) makes it fail.
func TestSignVerify(t *testing.T) {
	t.Parallel()
	k := newKey(t)
	head := storage.ChainHead{Seq: 42, Hash: strings.Repeat("ab", 32)}
	c := k.Sign(head, t0)
	require.NoError(t, checkpoint.Verify(c))
	require.Equal(t, k.ID, c.KeyID)
	require.Len(t, c.KeyID, 16)

	other := newKey(t)
	for name, change := range map[string]func(*storage.Checkpoint){
		"sequence":   func(c *storage.Checkpoint) { c.Head.Seq++ },
		"hash":       func(c *storage.Checkpoint) { c.Head.Hash = strings.Repeat("ab", 31) + "ac" },
		"time":       func(c *storage.Checkpoint) { c.SignedAt = c.SignedAt.Add(time.Microsecond) },
		"key id":     func(c *storage.Checkpoint) { c.KeyID = other.ID },
		"public key": func(c *storage.Checkpoint) { c.PublicKey, c.KeyID = other.Public(), other.ID },
		"signature":  func(c *storage.Checkpoint) { c.Signature = bytes.Clone(c.Signature); c.Signature[3] ^= 1 },
		"short key":  func(c *storage.Checkpoint) { c.PublicKey = c.PublicKey[:31] },
	} {
		bad := c
		change(&bad)
		require.Error(t, checkpoint.Verify(bad), name)
	}
}

func TestLoadKeyRefusesOtherKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, content := range map[string]string{
		"empty":  "",
		"public": "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n",
		"junk":   "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
	} {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
		_, err := checkpoint.LoadKey(path)
		require.Error(t, err, name)
	}
	// An existing file is kept, not overwritten.
	path := filepath.Join(dir, "kept.pem")
	require.NoError(t, checkpoint.CreateKeyFile(path))
	first, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, checkpoint.CreateKeyFile(path))
	again, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, first, again)
}

// TestExportRoundTrip: what export writes, ReadLines reads back and
// checks; a line whose signature fails is refused with its line number.
func TestExportRoundTrip(t *testing.T) {
	t.Parallel()
	k := newKey(t)
	var buf bytes.Buffer
	a, b := k.Sign(storage.ChainHead{Seq: 1, Hash: "aa"}, t0), k.Sign(storage.ChainHead{Seq: 9, Hash: "bb"}, t0.Add(time.Hour))
	require.NoError(t, checkpoint.WriteLine(&buf, a))
	require.NoError(t, checkpoint.WriteLine(&buf, b))
	got, err := checkpoint.ReadLines(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	require.Equal(t, []storage.Checkpoint{a, b}, got)
	forged := strings.Replace(buf.String(), `"sequence":9`, `"sequence":10`, 1)
	_, err = checkpoint.ReadLines(strings.NewReader(forged))
	require.ErrorContains(t, err, "line 2")
	_, err = checkpoint.ReadLines(strings.NewReader("\n"))
	require.Error(t, err)
}

// journal is a store on a SQLite file with n entries appended, one per
// transaction, and a raw connection to the file.
func journal(t *testing.T, path string, n int) (storage.Store, *sql.DB) {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	appendN(t, s, n)
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return s, db
}

func appendN(t *testing.T, s storage.Store, n int) {
	t.Helper()
	for range n {
		require.NoError(t, s.Update(t.Context(), func(tx storage.Tx) error {
			return tx.Append(t.Context(), &storage.JournalEntry{Key: storage.AggregateKey{Provider: "acme"}, Event: "E",
				Verdict: "recorded", DedupeKey: "k", BodySHA256: "b", ReceivedAt: t0, Actor: "webhook"})
		}))
	}
}

func against(t *testing.T, r storage.Reader, cps ...storage.Checkpoint) []checkpoint.Finding {
	t.Helper()
	found, err := checkpoint.Against(context.Background(), r, cps, "")
	require.NoError(t, err)
	return found
}

// TestSignHead: the head is signed once per position; an unchanged head
// is not signed again.
func TestSignHead(t *testing.T) {
	t.Parallel()
	s, _ := journal(t, filepath.Join(t.TempDir(), "p.db"), 0)
	k := newKey(t)
	_, err := checkpoint.SignHead(t.Context(), s, k, t0)
	require.ErrorIs(t, err, storage.ErrNotFound, "an empty journal has nothing to sign")
	appendN(t, s, 3)
	c, err := checkpoint.SignHead(t.Context(), s, k, t0)
	require.NoError(t, err)
	require.Equal(t, int64(3), c.Head.Seq)
	again, err := checkpoint.SignHead(t.Context(), s, k, t0.Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, c, again, "the head did not move: the same checkpoint")
	stored, err := checkpoint.Stored(t.Context(), s)
	require.NoError(t, err)
	require.Equal(t, []storage.Checkpoint{c}, stored)
	require.Empty(t, against(t, s, c))
}

// TestAgainstDetects is the audit's T6, T12 and T13 on a real SQLite file:
// with the stored head moved to match, the chain alone verifies every
// time; the checkpoint does not.
func TestAgainstDetects(t *testing.T) {
	t.Parallel()
	k := newKey(t)

	t.Run("T6 tail cut, head moved to match", func(t *testing.T) {
		t.Parallel()
		s, db := journal(t, filepath.Join(t.TempDir(), "p.db"), 10)
		c, err := checkpoint.SignHead(t.Context(), s, k, t0)
		require.NoError(t, err)
		_, err = db.Exec(`DELETE FROM journal WHERE seq > 7`)
		require.NoError(t, err)
		_, err = db.Exec(`UPDATE chain_head SET seq = 7, hash = (SELECT hash FROM journal WHERE seq = 7)`)
		require.NoError(t, err)
		chainOK(t, s)
		found := against(t, s, c)
		require.Len(t, found, 1)
		require.Contains(t, found[0].Detail, "beyond the journal's head 7")
	})

	t.Run("T12 an entry and every later hash rewritten", func(t *testing.T) {
		t.Parallel()
		s, db := journal(t, filepath.Join(t.TempDir(), "p.db"), 10)
		early := k.Sign(storage.ChainHead{Seq: 3, Hash: entryHash(t, s, 3)}, t0)
		c, err := checkpoint.SignHead(t.Context(), s, k, t0)
		require.NoError(t, err)
		storagetest.RewriteChain(t, s, func(q string, args ...any) error { _, err := db.Exec(q, args...); return err }, 5)
		chainOK(t, s)
		require.Empty(t, against(t, s, early), "the prefix before the rewrite is unchanged")
		found := against(t, s, c)
		require.Len(t, found, 1)
		require.Contains(t, found[0].Detail, "rewritten")
	})

	t.Run("T13 the write-ahead log lost", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		path := filepath.Join(dir, "p.db")
		s, _ := journal(t, path, 4)
		// Close and reopen: the entries so far are in the main file.
		require.NoError(t, s.Close())
		s, err := sqlite.Open(t.Context(), path)
		require.NoError(t, err)
		defer s.Close()
		appendN(t, s, 6) // committed: in the -wal file only
		c, err := checkpoint.SignHead(t.Context(), s, k, t0)
		require.NoError(t, err)
		require.Equal(t, int64(10), c.Head.Seq)
		// The main file alone is the database once its -wal is deleted.
		lost := filepath.Join(t.TempDir(), "lost.db")
		raw, err := os.ReadFile(path)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(lost, raw, 0o600))
		ls, err := sqlite.Open(t.Context(), lost)
		require.NoError(t, err)
		defer ls.Close()
		rep := chainOK(t, ls)
		require.Less(t, rep.Head.Seq, int64(10), "the later commits are gone with the log")
		found := against(t, ls, c)
		require.Len(t, found, 1)
		require.Contains(t, found[0].Detail, "beyond the journal's head")
	})

	t.Run("untrusted key", func(t *testing.T) {
		t.Parallel()
		s, _ := journal(t, filepath.Join(t.TempDir(), "p.db"), 2)
		c, err := checkpoint.SignHead(t.Context(), s, newKey(t), t0)
		require.NoError(t, err)
		found, err := checkpoint.Against(t.Context(), s, []storage.Checkpoint{c}, k.ID)
		require.NoError(t, err)
		require.Len(t, found, 1)
		require.Contains(t, found[0].Detail, "not the configured key")
		c.PublicKey = ed25519.PublicKey(bytes.Repeat([]byte{1}, 32))
		require.Len(t, against(t, s, c), 1, "a signature that does not verify")
	})
}

func chainOK(t *testing.T, r storage.Reader) storage.ChainReport {
	t.Helper()
	rep, err := storage.VerifyChain(t.Context(), r)
	require.NoError(t, err)
	require.True(t, rep.OK, "the unkeyed chain alone cannot tell: %s", rep.Problem)
	return rep
}

func entryHash(t *testing.T, r storage.Reader, seq int64) string {
	t.Helper()
	es, err := r.Journal(t.Context(), nil, seq-1, 1)
	require.NoError(t, err)
	require.Len(t, es, 1)
	return es[0].Hash
}

// TestInclusionProof: an entry's proof under a tree checkpoint survives
// JSON and checks with nothing but itself; changing the entry, its place
// or its path makes it fail; a journal rewritten below the checkpoint no
// longer yields a proof under it.
func TestInclusionProof(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "p.db")
	s, db := journal(t, path, 37)
	k := newKey(t)
	bare, err := checkpoint.SignHead(t.Context(), s, k, t0)
	require.NoError(t, err)
	_, err = checkpoint.Prove(t.Context(), s, bare, 5)
	require.ErrorContains(t, err, "no tree root")
	cp, err := checkpoint.SignTreeHead(t.Context(), s, k, t0.Add(time.Second))
	require.NoError(t, err)
	require.Equal(t, int64(37), cp.Head.Seq)
	latest, err := s.LatestCheckpoint(t.Context())
	require.NoError(t, err)
	require.Equal(t, cp, latest, "the tree checkpoint replaced the bare one of the same head")
	var buf bytes.Buffer
	require.NoError(t, checkpoint.WriteLine(&buf, cp))
	back, err := checkpoint.ReadLines(&buf)
	require.NoError(t, err)
	require.Equal(t, []storage.Checkpoint{cp}, back)

	for _, seq := range []int64{1, 5, 32, 37} {
		p, err := checkpoint.Prove(t.Context(), s, cp, seq)
		require.NoError(t, err)
		raw, err := json.Marshal(p)
		require.NoError(t, err)
		var got checkpoint.Proof
		require.NoError(t, json.Unmarshal(raw, &got))
		require.NoError(t, got.Check(), "entry %d", seq)
		require.LessOrEqual(t, len(got.AuditPath), 6)

		changed := got
		changed.Entry.Reason = "edited"
		require.Error(t, changed.Check(), "an edited entry")
		moved := got
		moved.LeafIndex++
		require.Error(t, moved.Check(), "another place")
		if len(got.AuditPath) > 0 {
			bad := got
			bad.AuditPath = append([]string{strings.Repeat("00", 32)}, got.AuditPath[1:]...)
			require.Error(t, bad.Check(), "another path")
		}
	}
	_, err = checkpoint.Prove(t.Context(), s, cp, 38)
	require.Error(t, err)

	storagetest.RewriteChain(t, s, func(q string, args ...any) error { _, err := db.Exec(q, args...); return err }, 20)
	_, err = checkpoint.Prove(t.Context(), s, cp, 5)
	require.ErrorContains(t, err, "tree root is not the one signed")
}
