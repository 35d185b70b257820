// Package checkpoint signs the journal's chain head with an Ed25519 key
// kept outside the database, and checks such signed checkpoints against a
// journal.
//
// The hash chain alone is unkeyed: whoever can write the database can cut
// its tail and move the stored head to match, or rewrite an entry and
// every hash after it. A checkpoint is the head (sequence, hash) and the
// time, signed; an auditor who keeps a copy elsewhere (paystate checkpoint
// export) can later prove that the journal still holds that prefix
// unchanged (paystate verify --checkpoint): a rewritten entry changes the
// hash at the checkpoint's sequence, and a cut tail, or a database rolled
// back to an older state (a lost SQLite write-ahead log), leaves the head
// below it. The idea is Certificate Transparency's signed tree head,
// applied to a hash chain.
package checkpoint

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/paystate/paystate/internal/keyfile"
	"github.com/paystate/paystate/storage"
)

// Format names what a signature covers; it is the first thing signed.
// FormatTree is a checkpoint that also signs the root of the Merkle tree
// over the entries up to its sequence (see Tree).
const (
	Format     = "paystate.checkpoint.v1"
	FormatTree = "paystate.checkpoint.v2"
)

// format is what c's signature covers.
func format(c storage.Checkpoint) string {
	if c.TreeRoot != "" {
		return FormatTree
	}
	return Format
}

// Key is the checkpoint signing key.
type Key struct {
	private ed25519.PrivateKey
	// ID names the key: KeyID of its public half.
	ID string
}

// Public returns the public half.
func (k *Key) Public() ed25519.PublicKey { return k.private.Public().(ed25519.PublicKey) }

// KeyID is the first 16 hex digits of the SHA-256 of an Ed25519 public key.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// NewKey wraps an Ed25519 private key.
func NewKey(private ed25519.PrivateKey) *Key {
	k := &Key{private: private}
	k.ID = KeyID(k.Public())
	return k
}

// LoadKey reads a PEM "PRIVATE KEY" (PKCS #8) holding an Ed25519 key, as
// `openssl genpkey -algorithm ed25519` writes it.
func LoadKey(path string) (*Key, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint key: %w", err)
	}
	block, _ := pem.Decode(raw)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("checkpoint key %s: want a PEM PRIVATE KEY block (openssl genpkey -algorithm ed25519)", path)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("checkpoint key %s: %w", path, err)
	}
	private, ok := parsed.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("checkpoint key %s: a %T, want an Ed25519 key", path, parsed)
	}
	return NewKey(private), nil
}

// CreateKeyFile writes a new Ed25519 key to path (mode 0600) unless the
// file exists; development mode keeps one beside its credentials.
func CreateKeyFile(path string) error {
	err := keyfile.CreateOnce(path, func() ([]byte, error) {
		_, private, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(private)
		if err != nil {
			return nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
	})
	if err != nil {
		return fmt.Errorf("checkpoint key: %w", err)
	}
	return nil
}

// message is what is signed: the format, the sequence, the hash, the
// time in microseconds and (FormatTree) the tree root, each
// length-prefixed or fixed-size so that no two checkpoints encode alike.
func message(c storage.Checkpoint) []byte {
	b := make([]byte, 0, 192)
	str := func(s string) {
		b = binary.BigEndian.AppendUint64(b, uint64(len(s)))
		b = append(b, s...)
	}
	str(format(c))
	b = binary.BigEndian.AppendUint64(b, uint64(c.Head.Seq))
	str(c.Head.Hash)
	b = binary.BigEndian.AppendUint64(b, uint64(c.SignedAt.UnixMicro()))
	if c.TreeRoot != "" {
		str(c.TreeRoot)
	}
	return b
}

// Sign signs head as of at (kept to the microsecond, the stores'
// precision).
func (k *Key) Sign(head storage.ChainHead, at time.Time) storage.Checkpoint {
	return k.SignTree(head, "", at)
}

// SignTree signs head and the root (hex) of the Merkle tree over entries
// 1..head.Seq; an empty root signs head alone.
func (k *Key) SignTree(head storage.ChainHead, root string, at time.Time) storage.Checkpoint {
	c := storage.Checkpoint{Head: head, SignedAt: at.UTC().Truncate(time.Microsecond), KeyID: k.ID,
		PublicKey: k.Public(), TreeRoot: root}
	c.Signature = ed25519.Sign(k.private, message(c))
	return c
}

// ErrBadSignature: a checkpoint whose signature does not verify.
var ErrBadSignature = errors.New("checkpoint: signature does not verify")

// Verify checks c's signature with the public key it carries, and that its
// key id names that key. Whether the key is one to trust is the caller's
// question: compare c.KeyID with the key id the auditor holds.
func Verify(c storage.Checkpoint) error {
	if len(c.PublicKey) != ed25519.PublicKeySize {
		return fmt.Errorf("checkpoint %d: public key of %d bytes, want %d", c.Head.Seq, len(c.PublicKey), ed25519.PublicKeySize)
	}
	pub := ed25519.PublicKey(c.PublicKey)
	if KeyID(pub) != c.KeyID {
		return fmt.Errorf("checkpoint %d: key id %q does not name its public key (%s)", c.Head.Seq, c.KeyID, KeyID(pub))
	}
	if !ed25519.Verify(pub, message(c), c.Signature) {
		return fmt.Errorf("checkpoint %d: %w", c.Head.Seq, ErrBadSignature)
	}
	return nil
}

// SignHead signs the store's current head and stores the checkpoint,
// unless the latest stored checkpoint already covers that head. It returns
// the latest checkpoint either way (ErrNotFound with an empty journal).
func SignHead(ctx context.Context, s storage.Store, k *Key, now time.Time) (storage.Checkpoint, error) {
	head, err := s.Head(ctx)
	if err != nil {
		return storage.Checkpoint{}, err
	}
	latest, err := s.LatestCheckpoint(ctx)
	switch {
	case err == nil && latest.Head.Seq >= head.Seq:
		return latest, nil
	case err != nil && !errors.Is(err, storage.ErrNotFound):
		return storage.Checkpoint{}, err
	case head.Seq == 0:
		return storage.Checkpoint{}, fmt.Errorf("checkpoint: the journal is empty: %w", storage.ErrNotFound)
	}
	c := k.Sign(head, now)
	if err := s.Update(ctx, func(tx storage.Tx) error { return tx.PutCheckpoint(ctx, c) }); err != nil {
		return storage.Checkpoint{}, err
	}
	return c, nil
}
