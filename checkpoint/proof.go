package checkpoint

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/paystate/paystate/storage"
)

// leavesUpTo reads the leaf hashes of entries 1..seq, in order.
func leavesUpTo(ctx context.Context, r storage.Reader, seq int64) ([][]byte, error) {
	out := make([][]byte, 0, seq)
	for after := int64(0); after < seq; {
		es, err := r.Journal(ctx, nil, after, 1000)
		if err != nil {
			return nil, err
		}
		if len(es) == 0 {
			break
		}
		for i := range es {
			if es[i].Seq > seq {
				break
			}
			if es[i].Seq != int64(len(out))+1 {
				return nil, fmt.Errorf("checkpoint: entry %d follows %d: the journal has a gap", es[i].Seq, len(out))
			}
			l, err := LeafHash(es[i].Hash)
			if err != nil {
				return nil, err
			}
			out = append(out, l)
		}
		after = es[len(es)-1].Seq
	}
	if int64(len(out)) != seq {
		return nil, fmt.Errorf("checkpoint: the journal holds %d entries, not %d", len(out), seq)
	}
	return out, nil
}

func treeOf(leaves [][]byte) *Tree {
	var t Tree
	for _, l := range leaves {
		t.Append(l)
	}
	return &t
}

// SignTreeHead is SignHead also signing the root of the Merkle tree over
// every entry up to the head (it reads the whole journal): the checkpoint
// proofs are made under. A checkpoint already stored for the head without
// a root gets one.
func SignTreeHead(ctx context.Context, s storage.Store, k *Key, now time.Time) (storage.Checkpoint, error) {
	head, err := s.Head(ctx)
	if err != nil {
		return storage.Checkpoint{}, err
	}
	if head.Seq == 0 {
		return storage.Checkpoint{}, fmt.Errorf("checkpoint: the journal is empty: %w", storage.ErrNotFound)
	}
	leaves, err := leavesUpTo(ctx, s, head.Seq)
	if err != nil {
		return storage.Checkpoint{}, err
	}
	c := k.SignTree(head, hex.EncodeToString(treeOf(leaves).Root()), now)
	if err := s.Update(ctx, func(tx storage.Tx) error { return tx.PutCheckpoint(ctx, c) }); err != nil {
		return storage.Checkpoint{}, err
	}
	return c, nil
}

// Proof shows that one journal entry is included under a checkpoint
// that signs a tree root, without the rest of the journal: the entry
// (whose hash an auditor recomputes), its place, and its audit path.
type Proof struct {
	Checkpoint Exported             `json:"checkpoint"`
	Entry      storage.JournalEntry `json:"entry"`
	// LeafIndex is Entry.Seq - 1; TreeSize the checkpoint's sequence.
	LeafIndex int64 `json:"leaf_index"`
	TreeSize  int64 `json:"tree_size"`
	// AuditPath is hex, from the leaf's sibling up.
	AuditPath []string `json:"audit_path"`
}

// Prove builds the proof that entry seq is included under cp, which must
// sign a tree root over the journal r holds.
func Prove(ctx context.Context, r storage.Reader, cp storage.Checkpoint, seq int64) (Proof, error) {
	if cp.TreeRoot == "" {
		return Proof{}, errors.New("checkpoint: this checkpoint signs no tree root (sign one with --tree)")
	}
	if seq < 1 || seq > cp.Head.Seq {
		return Proof{}, fmt.Errorf("checkpoint: entry %d is not under checkpoint %d", seq, cp.Head.Seq)
	}
	leaves, err := leavesUpTo(ctx, r, cp.Head.Seq)
	if err != nil {
		return Proof{}, err
	}
	if hex.EncodeToString(treeOf(leaves).Root()) != cp.TreeRoot {
		return Proof{}, fmt.Errorf("checkpoint %d: the journal's tree root is not the one signed: the journal was changed up to there", cp.Head.Seq)
	}
	es, err := r.Journal(ctx, nil, seq-1, 1)
	if err != nil {
		return Proof{}, err
	}
	if len(es) == 0 || es[0].Seq != seq {
		return Proof{}, fmt.Errorf("checkpoint: entry %d is missing", seq)
	}
	path, err := InclusionProof(leaves, seq-1)
	if err != nil {
		return Proof{}, err
	}
	p := Proof{Checkpoint: Export(cp), Entry: es[0], LeafIndex: seq - 1, TreeSize: cp.Head.Seq}
	for _, h := range path {
		p.AuditPath = append(p.AuditPath, hex.EncodeToString(h))
	}
	return p, nil
}

// Check verifies a proof with nothing but itself: the checkpoint's
// signature, the entry's hash recomputed from its contents, and the audit
// path from that hash to the signed root. Whether the checkpoint is one
// the auditor holds is the caller's comparison.
func (p Proof) Check() error {
	cp := p.Checkpoint.Checkpoint()
	if err := Verify(cp); err != nil {
		return err
	}
	if cp.TreeRoot == "" {
		return errors.New("checkpoint: the proof's checkpoint signs no tree root")
	}
	e := p.Entry
	if storage.EntryHash(&e, e.PrevHash) != e.Hash {
		return fmt.Errorf("checkpoint: entry %d's contents do not hash to %s", e.Seq, e.Hash)
	}
	if p.LeafIndex != e.Seq-1 || p.TreeSize != cp.Head.Seq {
		return fmt.Errorf("checkpoint: the proof places entry %d at leaf %d of %d, under checkpoint %d", e.Seq, p.LeafIndex, p.TreeSize, cp.Head.Seq)
	}
	leaf, err := LeafHash(e.Hash)
	if err != nil {
		return err
	}
	path := make([][]byte, len(p.AuditPath))
	for i, h := range p.AuditPath {
		if path[i], err = hex.DecodeString(h); err != nil {
			return fmt.Errorf("checkpoint: audit path: %w", err)
		}
	}
	root, err := hex.DecodeString(cp.TreeRoot)
	if err != nil {
		return fmt.Errorf("checkpoint: tree root: %w", err)
	}
	return VerifyInclusion(p.LeafIndex, p.TreeSize, leaf, path, root)
}
