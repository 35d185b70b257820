-- 0003: every journal entry records the version of the machine table that
-- decided it, and an entry appended by a re-evaluation names the entry it
-- revises. Entries written before keep '' and 0, which storage.EntryHash
-- hashes as it did before these columns existed. A constant default adds
-- the columns without rewriting the table.
ALTER TABLE journal
    ADD COLUMN machine_version TEXT   NOT NULL DEFAULT '',
    ADD COLUMN revises_seq     BIGINT NOT NULL DEFAULT 0;
