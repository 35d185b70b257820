-- 0006: a checkpoint may also sign the root of the Merkle tree (RFC 6962)
-- over the hashes of entries 1..seq, so that one entry's inclusion can be
-- proved with an audit path. Hex; '' when the checkpoint signs no root.
ALTER TABLE checkpoints ADD COLUMN tree_root TEXT NOT NULL DEFAULT '';
