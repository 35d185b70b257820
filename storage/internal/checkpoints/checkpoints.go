// Package checkpoints is how both backends read the checkpoints table:
// the same columns, the same microsecond times.
package checkpoints

import (
	"time"

	"github.com/paystate/paystate/storage"
)

// Columns of the checkpoints table, in Scan's order.
const Columns = `seq, hash, signed_at, key_id, public_key, signature, tree_root`

// Scan reads one row of Columns.
func Scan(row interface{ Scan(dest ...any) error }) (storage.Checkpoint, error) {
	var c storage.Checkpoint
	var at int64
	err := row.Scan(&c.Head.Seq, &c.Head.Hash, &at, &c.KeyID, &c.PublicKey, &c.Signature, &c.TreeRoot)
	c.SignedAt = time.UnixMicro(at).UTC()
	return c, err
}
