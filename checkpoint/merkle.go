package checkpoint

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
)

// The Merkle tree over the journal's entry hashes is RFC 6962's (section
// 2.1): leaves are the entries' hashes in sequence order, a leaf hashes as
// SHA-256(0x00 || entry hash), an inner node as SHA-256(0x01 || left ||
// right), and a tree of n leaves splits at the largest power of two below
// n. A checkpoint that signs the root of the first n entries lets an
// auditor check that one entry is among them with log2(n) hashes (its
// audit path), without the rest of the journal.

// LeafHash is the tree's leaf for an entry hash (hex).
func LeafHash(entryHash string) ([]byte, error) {
	raw, err := hex.DecodeString(entryHash)
	if err != nil || len(raw) != sha256.Size {
		return nil, fmt.Errorf("checkpoint: entry hash %q is not 64 hex digits", entryHash)
	}
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(raw)
	return h.Sum(nil), nil
}

func nodeHash(left, right []byte) []byte {
	h := sha256.New()
	h.Write([]byte{1})
	h.Write(left)
	h.Write(right)
	return h.Sum(nil)
}

// Tree is the root of a growing list of leaves, kept as the roots of its
// perfect subtrees (at most log2(n) hashes), so that appending is cheap.
type Tree struct {
	size  int64
	peaks [][]byte // perfect subtrees, largest first
}

// Append adds a leaf hash.
func (t *Tree) Append(leaf []byte) {
	t.peaks = append(t.peaks, leaf)
	// Merge equal-height peaks: the trailing ones of the new size.
	for n := bits.TrailingZeros64(uint64(t.size + 1)); n > 0; n-- {
		k := len(t.peaks)
		t.peaks = append(t.peaks[:k-2], nodeHash(t.peaks[k-2], t.peaks[k-1]))
	}
	t.size++
}

// Size is the number of leaves.
func (t *Tree) Size() int64 { return t.size }

// Root is the tree's hash: folding the peaks from the smallest gives
// RFC 6962's split at the largest power of two. An empty tree hashes as
// SHA-256 of nothing.
func (t *Tree) Root() []byte {
	if len(t.peaks) == 0 {
		sum := sha256.Sum256(nil)
		return sum[:]
	}
	root := t.peaks[len(t.peaks)-1]
	for i := len(t.peaks) - 2; i >= 0; i-- {
		root = nodeHash(t.peaks[i], root)
	}
	return root
}

// InclusionProof is the audit path of leaf index (0-based) in the tree of
// leaves (RFC 6962 section 2.1.1), from the leaf's sibling up.
func InclusionProof(leaves [][]byte, index int64) ([][]byte, error) {
	if index < 0 || index >= int64(len(leaves)) {
		return nil, fmt.Errorf("checkpoint: leaf %d is not in a tree of %d", index, len(leaves))
	}
	return path(leaves, index), nil
}

func path(leaves [][]byte, m int64) [][]byte {
	n := int64(len(leaves))
	if n == 1 {
		return nil
	}
	k := split(n)
	if m < k {
		return append(path(leaves[:k], m), root(leaves[k:]))
	}
	return append(path(leaves[k:], m-k), root(leaves[:k]))
}

// root is RFC 6962's MTH, straight from its definition.
func root(leaves [][]byte) []byte {
	if len(leaves) == 1 {
		return leaves[0]
	}
	k := split(int64(len(leaves)))
	return nodeHash(root(leaves[:k]), root(leaves[k:]))
}

// split is the largest power of two smaller than n (n > 1).
func split(n int64) int64 {
	return 1 << (63 - bits.LeadingZeros64(uint64(n-1)))
}

// ErrNotIncluded: an audit path that does not lead to the root.
var ErrNotIncluded = errors.New("checkpoint: the audit path does not lead to the signed root")

// VerifyInclusion checks that leaf is leaf index (0-based) of the tree of
// size leaves whose root is root, by its audit path (RFC 9162 section
// 2.1.3.2).
func VerifyInclusion(index, size int64, leaf []byte, proof [][]byte, root []byte) error {
	if index < 0 || index >= size {
		return fmt.Errorf("checkpoint: leaf %d is not in a tree of %d", index, size)
	}
	fn, sn := uint64(index), uint64(size-1)
	r := leaf
	for _, p := range proof {
		if sn == 0 {
			return ErrNotIncluded // a longer path than the tree is high
		}
		if fn&1 == 1 || fn == sn {
			r = nodeHash(p, r)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = nodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 || !bytes.Equal(r, root) {
		return ErrNotIncluded
	}
	return nil
}
