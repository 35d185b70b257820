package sqlite

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/storage"
)

// A backup is one file in rollback-journal mode: OpenReadOnly reads it
// and writes nothing beside it (no -wal, no -shm), so a copy can be
// checked where it lies, even on a medium it may not write.
func TestBackupOpensReadOnlyAsOneFile(t *testing.T) {
	t.Parallel()
	s, path := openTestStore(t)
	require.NoError(t, s.Update(t.Context(), func(tx storage.Tx) error {
		e := storage.JournalEntry{Key: storage.AggregateKey{Provider: "ngenius", Kind: "payment", ID: "o-1"},
			Event: "AUTHORISED", Verdict: "recorded", Actor: "webhook"}
		return tx.Append(t.Context(), &e)
	}))
	dir := t.TempDir()
	copied := filepath.Join(dir, "backup.db")
	require.NoError(t, Backup(t.Context(), path, copied))

	r, err := OpenReadOnly(t.Context(), copied)
	require.NoError(t, err)
	head, err := r.Head(t.Context())
	require.NoError(t, err)
	want, err := s.Head(t.Context())
	require.NoError(t, err)
	require.Equal(t, want, head)
	chain, err := storage.VerifyChain(t.Context(), r)
	require.NoError(t, err)
	require.True(t, chain.OK, chain.Problem)
	require.NoError(t, r.Close())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "the copy alone: %v", entries)

	require.ErrorContains(t, Backup(t.Context(), path, copied), "backup", "VACUUM INTO never writes over a database")
}

// A copy of another schema version is refused rather than misread.
func TestOpenReadOnlyRefusesAnotherSchema(t *testing.T) {
	t.Parallel()
	_, path := openTestStore(t)
	copied := filepath.Join(t.TempDir(), "backup.db")
	require.NoError(t, Backup(t.Context(), path, copied))
	raw := rawDB(t, copied, "")
	_, err := raw.ExecContext(t.Context(),
		`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'from_the_future.sql', 0)`, LatestSchemaVersion()+1)
	require.NoError(t, err)
	require.NoError(t, raw.Close())
	_, err = OpenReadOnly(t.Context(), copied)
	require.ErrorIs(t, err, storage.ErrSchemaTooNew)
}
