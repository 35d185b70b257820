// Package checkpoints is how both backends read the checkpoints table:
// the same columns, the same microsecond times.
package checkpoints

import (
	"time"

	"github.com/paystate/paystate/storage"
)

// Columns of the checkpoints table, in Scan's order.
const Columns = `seq, hash, signed_at, key_id, public_key, signature, tree_root`

// Upsert follows the VALUES of an INSERT of Columns: the first checkpoint
// of a sequence stays, unless the new one adds a tree root it lacks.
const Upsert = `
		ON CONFLICT (seq) DO UPDATE SET signed_at = excluded.signed_at, key_id = excluded.key_id,
			public_key = excluded.public_key, signature = excluded.signature, tree_root = excluded.tree_root
		WHERE checkpoints.tree_root = '' AND excluded.tree_root <> ''`

// Scan reads one row of Columns.
func Scan(row interface{ Scan(dest ...any) error }) (storage.Checkpoint, error) {
	var c storage.Checkpoint
	var at int64
	err := row.Scan(&c.Head.Seq, &c.Head.Hash, &at, &c.KeyID, &c.PublicKey, &c.Signature, &c.TreeRoot)
	c.SignedAt = time.UnixMicro(at).UTC()
	return c, err
}
