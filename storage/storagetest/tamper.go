package storagetest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paystate/paystate/storage"
)

// RewriteChain is the attack an unkeyed chain cannot see: it changes the
// reason of entry from, recomputes the hash of every entry after it and
// moves the stored head to match, through exec, a connection to the
// database behind the store's back (SQL with ? placeholders). The chain
// still verifies afterwards; only a signed checkpoint at or after from
// tells.
func RewriteChain(t *testing.T, r storage.Reader, exec func(query string, args ...any) error, from int64) {
	t.Helper()
	prev := storage.GenesisHash
	for after := int64(0); ; {
		es, err := r.Journal(t.Context(), nil, after, 1000)
		require.NoError(t, err)
		for i := range es {
			e := &es[i]
			if e.Seq == from {
				e.Reason = "nothing to see here"
			}
			if e.Seq >= from {
				e.PrevHash, e.Hash = prev, storage.EntryHash(e, prev)
				require.NoError(t, exec(`UPDATE journal SET reason = ?, prev_hash = ?, hash = ? WHERE seq = ?`,
					e.Reason, e.PrevHash, e.Hash, e.Seq))
			}
			prev = e.Hash
		}
		if len(es) < 1000 {
			break
		}
		after = es[len(es)-1].Seq
	}
	require.NoError(t, exec(`UPDATE chain_head SET hash = ?`, prev))
}
