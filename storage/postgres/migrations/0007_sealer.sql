-- 0007: the sealer. Writers no longer chain their entries at commit:
-- Append inserts an entry unsealed, with seq = handle, a unique negative
-- number (so that every reader asking seq > after, after >= 0, skips
-- it), and prev_hash = hash = ''; one sealer transaction at a time,
-- holding chain_head's row lock, later gives the committed unsealed rows
-- their seq, prev_hash and hash in commit_order (docs/postgres-sealer.md).
--
-- Rows written before keep their seq and hash and verify unchanged; their
-- handle and commit_order stay NULL. Each column is added without a
-- default first, so that the table is not rewritten, and given its
-- default afterwards, for new rows only.

-- Handles are handed out in blocks of 1024 per store (one nextval per
-- block), and negated.
CREATE SEQUENCE journal_handles INCREMENT BY 1024;

-- commit_order is evaluated when a row is INSERTed. A transaction that
-- read what another committed inserts after that commit, so its rows get
-- larger values: the sealer's order respects every such causality.
CREATE SEQUENCE journal_commit_order;

ALTER TABLE journal ADD COLUMN handle BIGINT, ADD COLUMN commit_order BIGINT;
ALTER TABLE journal ALTER COLUMN commit_order SET DEFAULT nextval('journal_commit_order');

-- Receipts and held events keep the handle they were written with;
-- readers translate it to the entry's seq through this index.
CREATE UNIQUE INDEX journal_by_handle ON journal (handle) WHERE handle IS NOT NULL;

-- What the sealer reads: only the unsealed rows, in commit_order.
CREATE INDEX journal_unsealed ON journal (commit_order) WHERE seq < 0;
