package checkpoint

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/paystate/paystate/storage"
)

// Exported is a checkpoint as an auditor keeps it: one JSON object per
// line (JSON Lines), everything needed to check it without paystate's
// database.
type Exported struct {
	// Format is what the signature covers (Format).
	Format    string    `json:"format"`
	Sequence  int64     `json:"sequence"`
	Hash      string    `json:"hash"`
	SignedAt  time.Time `json:"signed_at"`
	Algorithm string    `json:"algorithm"`
	KeyID     string    `json:"key_id"`
	// PublicKey and Signature are standard base64 (encoding/json's []byte).
	PublicKey []byte `json:"public_key"`
	Signature []byte `json:"signature"`
	// TreeRoot (FormatTree only) is the signed Merkle root, hex.
	TreeRoot string `json:"tree_root,omitempty"`
}

// Export is c as kept by an auditor.
func Export(c storage.Checkpoint) Exported {
	return Exported{Format: format(c), Sequence: c.Head.Seq, Hash: c.Head.Hash, SignedAt: c.SignedAt.UTC(),
		Algorithm: "ed25519", KeyID: c.KeyID, PublicKey: c.PublicKey, Signature: c.Signature, TreeRoot: c.TreeRoot}
}

// Checkpoint is the exported checkpoint back in the store's form.
func (x Exported) Checkpoint() storage.Checkpoint {
	return storage.Checkpoint{Head: storage.ChainHead{Seq: x.Sequence, Hash: x.Hash}, SignedAt: x.SignedAt,
		KeyID: x.KeyID, PublicKey: x.PublicKey, Signature: x.Signature, TreeRoot: x.TreeRoot}
}

// WriteLine writes c as one JSON line.
func WriteLine(w io.Writer, c storage.Checkpoint) error {
	b, err := json.Marshal(Export(c))
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// ReadLines reads checkpoints written by WriteLine (blank lines are
// skipped), checking each one's format, algorithm and signature.
func ReadLines(r io.Reader) ([]storage.Checkpoint, error) {
	var out []storage.Checkpoint
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var x Exported
		if err := json.Unmarshal(line, &x); err != nil {
			return nil, fmt.Errorf("checkpoint line %d: %w", n, err)
		}
		c := x.Checkpoint()
		if x.Format != format(c) || x.Algorithm != "ed25519" {
			return nil, fmt.Errorf("checkpoint line %d: format %q, algorithm %q: want %q, ed25519", n, x.Format, x.Algorithm, format(c))
		}
		if err := Verify(c); err != nil {
			return nil, fmt.Errorf("checkpoint line %d: %w", n, err)
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("checkpoint: no checkpoint in the file")
	}
	return out, nil
}
