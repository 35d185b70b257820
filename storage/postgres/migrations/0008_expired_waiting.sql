-- 0008: an expired event stays in deferred, marked with the entry that
-- expired it (expired_seq: its handle, as seq is for rows written since
-- the sealer), so that its predecessor landing later revives it; 0 is an
-- event still held. Lookup's existing per-key probe of
-- deferred_by_aggregate finds it, so the writer needs no probe of its own.
-- The sweep and the held counts read only held events: the expiry index
-- holds only those, so marked rows never slow the sweep down. A constant
-- default does not rewrite the table.
ALTER TABLE deferred ADD COLUMN expired_seq BIGINT NOT NULL DEFAULT 0;
DROP INDEX deferred_by_expiry;
CREATE INDEX deferred_by_expiry
    ON deferred (expires_at, seq) WHERE expired_seq = 0;
-- The held counts read expired_seq beside the key: the index by aggregate
-- carries it, so a count is still answered from the index alone.
DROP INDEX deferred_by_aggregate;
CREATE INDEX deferred_by_aggregate
    ON deferred (provider, kind, aggregate_id, seq, expired_seq);
