-- 0003: every journal entry records the version of the machine table that
-- decided it, and an entry appended by a re-evaluation names the entry it
-- revises. Entries written before keep '' and 0, which storage.EntryHash
-- hashes as it did before these columns existed.
ALTER TABLE journal ADD COLUMN machine_version TEXT NOT NULL DEFAULT '';
ALTER TABLE journal ADD COLUMN revises_seq INTEGER NOT NULL DEFAULT 0;
