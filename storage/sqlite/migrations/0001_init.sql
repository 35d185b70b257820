-- 0001: the initial paystate schema.
--
-- Times are INTEGER unix microseconds, UTC; 0 stands for the zero time.
-- Microseconds are what storage.EntryHash hashes, so a time read back
-- hashes exactly as it did when it was written.

-- The current, authoritative state of every aggregate.
CREATE TABLE aggregates (
    provider           TEXT    NOT NULL,
    kind               TEXT    NOT NULL,
    id                 TEXT    NOT NULL,
    merchant_reference TEXT    NOT NULL,
    parent_provider    TEXT    NOT NULL,
    parent_kind        TEXT    NOT NULL,
    parent_id          TEXT    NOT NULL,
    state              TEXT    NOT NULL,
    provider_status    TEXT    NOT NULL,
    currency           TEXT    NOT NULL,
    amount             INTEGER NOT NULL,
    authorized         INTEGER NOT NULL,
    captured           INTEGER NOT NULL,
    refunded           INTEGER NOT NULL,
    version            INTEGER NOT NULL,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    PRIMARY KEY (provider, kind, id)
) WITHOUT ROWID;

-- AggregatesByReference: equality on the reference, then the key order.
CREATE INDEX aggregates_by_reference
    ON aggregates (merchant_reference, provider, kind, id);

-- Children: a payment's refunds and chargebacks, a subscription's payments.
CREATE INDEX aggregates_by_parent
    ON aggregates (parent_provider, parent_kind, parent_id, kind, id);

-- The append-only, hash-chained journal. seq is assigned by Append (head
-- seq + 1), never by SQLite, so it is gap-free.
CREATE TABLE journal (
    seq           INTEGER PRIMARY KEY,
    provider      TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    aggregate_id  TEXT    NOT NULL,
    event         TEXT    NOT NULL,
    verdict       TEXT    NOT NULL,
    reason        TEXT    NOT NULL,
    state_before  TEXT    NOT NULL,
    state_after   TEXT    NOT NULL,
    version_after INTEGER NOT NULL,
    dedupe_key    TEXT    NOT NULL,
    body_sha256   TEXT    NOT NULL,
    redacted_body BLOB,
    payload       BLOB,             -- the engine's encoding of the event, for replay
    received_at   INTEGER NOT NULL,
    occurred_at   INTEGER NOT NULL,
    resolves_seq  INTEGER NOT NULL,
    skipped       TEXT    NOT NULL, -- JSON array of state names
    actor         TEXT    NOT NULL,
    prev_hash     TEXT    NOT NULL,
    hash          TEXT    NOT NULL
);

-- Journal(key, after, limit).
CREATE INDEX journal_by_aggregate
    ON journal (provider, kind, aggregate_id, seq);

-- One row per dedupe key ever accepted.
CREATE TABLE receipts (
    provider    TEXT    NOT NULL,
    dedupe_key  TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    body_sha256 TEXT    NOT NULL,
    PRIMARY KEY (provider, dedupe_key)
) WITHOUT ROWID;

-- Events held until they become legal or expire; seq is the journal entry
-- that recorded the deferral.
CREATE TABLE deferred (
    seq          INTEGER PRIMARY KEY,
    provider     TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    aggregate_id TEXT    NOT NULL,
    dedupe_key   TEXT    NOT NULL,
    payload      BLOB,
    body_sha256  TEXT    NOT NULL,
    received_at  INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);

-- DeferredFor and PendingDeferred.
CREATE INDEX deferred_by_aggregate
    ON deferred (provider, kind, aggregate_id, seq);

-- ExpiredDeferred.
CREATE INDEX deferred_by_expiry
    ON deferred (expires_at, seq);

-- The last journal entry's seq and hash, written in the same transaction as
-- every Append. Head reads it rather than the journal's last row, so rows
-- deleted from the end of the journal are detectable by VerifyChain.
CREATE TABLE chain_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT    NOT NULL
);

-- The hash is storage.GenesisHash.
INSERT INTO chain_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
