package checkpoint

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func leaves(t *testing.T, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		sum := sha256.Sum256([]byte(fmt.Sprint(i)))
		l, err := LeafHash(hex.EncodeToString(sum[:]))
		require.NoError(t, err)
		out[i] = l
	}
	return out
}

// TestMerkleTree: for every tree of 1 to 70 leaves, the incremental root
// equals RFC 6962's recursive definition, every leaf's audit path leads to
// it, and a path for another leaf, another size, a changed hash or a
// different root does not.
func TestMerkleTree(t *testing.T) {
	t.Parallel()
	all := leaves(t, 70)
	var tree Tree
	empty := sha256.Sum256(nil)
	require.Equal(t, empty[:], tree.Root())
	for n := 1; n <= len(all); n++ {
		tree.Append(all[n-1])
		ls := all[:n]
		want := root(ls)
		require.Equal(t, want, tree.Root(), "size %d", n)
		require.Equal(t, int64(n), tree.Size())
		for i := range int64(n) {
			p, err := InclusionProof(ls, i)
			require.NoError(t, err)
			require.LessOrEqual(t, len(p), 7)
			require.NoError(t, VerifyInclusion(i, int64(n), ls[i], p, want), "leaf %d of %d", i, n)
			if n > 1 {
				other := (i + 1) % int64(n)
				require.Error(t, VerifyInclusion(other, int64(n), ls[i], p, want), "leaf %d's path as %d's", i, other)
				require.Error(t, VerifyInclusion(i, int64(n), ls[other], p, want), "another leaf")
				bad := make([][]byte, len(p))
				copy(bad, p)
				bad[0] = bytes.Clone(bad[0])
				bad[0][0] ^= 1
				require.Error(t, VerifyInclusion(i, int64(n), ls[i], bad, want), "a changed path")
				require.Error(t, VerifyInclusion(i, int64(n), ls[i], p[:len(p)-1], want), "a short path")
			}
			if n < len(all) {
				require.Error(t, VerifyInclusion(i, int64(n)+1, ls[i], p, root(all[:n+1])), "another size")
			}
			require.Error(t, VerifyInclusion(i, int64(n), ls[i], append(p, ls[0]), want), "a long path")
		}
	}
	_, err := InclusionProof(all[:3], 3)
	require.Error(t, err)
	_, err = LeafHash("zz")
	require.Error(t, err)
}
