-- 0001: the initial paystate schema, the PostgreSQL twin of the SQLite one.
--
-- Tables are created in the first schema of the connection's search_path
-- (the store sets it to the WithSchema schema on every connection).
--
-- Times are BIGINT unix microseconds, UTC; 0 stands for the zero time.
-- Microseconds are what storage.EntryHash hashes, so a time read back
-- hashes exactly as it did when it was written (timestamptz would also keep
-- microseconds, but not the zero time, and would invite time-zone games).
--
-- Text columns that are sorted or looked up use COLLATE "C": byte order,
-- the same order SQLite's BINARY collation gives, whatever the database's
-- locale, and cheaper comparisons. PostgreSQL text cannot hold NUL bytes or
-- invalid UTF-8; the store refuses such strings before they reach SQL.
-- Bodies and payloads are BYTEA and hold any bytes.

-- The current, authoritative state of every aggregate.
CREATE TABLE aggregates (
    provider           TEXT COLLATE "C" NOT NULL,
    kind               TEXT COLLATE "C" NOT NULL,
    id                 TEXT COLLATE "C" NOT NULL,
    merchant_reference TEXT COLLATE "C" NOT NULL,
    parent_provider    TEXT COLLATE "C" NOT NULL,
    parent_kind        TEXT COLLATE "C" NOT NULL,
    parent_id          TEXT COLLATE "C" NOT NULL,
    state              TEXT   NOT NULL,
    provider_status    TEXT   NOT NULL,
    currency           TEXT   NOT NULL,
    amount             BIGINT NOT NULL,
    authorized         BIGINT NOT NULL,
    captured           BIGINT NOT NULL,
    refunded           BIGINT NOT NULL,
    version            BIGINT NOT NULL,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    PRIMARY KEY (provider, kind, id)
);

-- AggregatesByReference: equality on the reference, then the key order.
CREATE INDEX aggregates_by_reference
    ON aggregates (merchant_reference, provider, kind, id);

-- Children: a payment's refunds and chargebacks, a subscription's payments.
CREATE INDEX aggregates_by_parent
    ON aggregates (parent_provider, parent_kind, parent_id, kind, id);

-- The append-only, hash-chained journal. seq is assigned by Append (head
-- seq + 1, under the chain_head row lock), never by a sequence, which
-- would leave gaps on rollback.
CREATE TABLE journal (
    seq           BIGINT PRIMARY KEY,
    provider      TEXT COLLATE "C" NOT NULL,
    kind          TEXT COLLATE "C" NOT NULL,
    aggregate_id  TEXT COLLATE "C" NOT NULL,
    event         TEXT   NOT NULL,
    verdict       TEXT   NOT NULL,
    reason        TEXT   NOT NULL,
    state_before  TEXT   NOT NULL,
    state_after   TEXT   NOT NULL,
    version_after BIGINT NOT NULL,
    dedupe_key    TEXT   NOT NULL,
    body_sha256   TEXT   NOT NULL,
    redacted_body BYTEA,
    payload       BYTEA,           -- the engine's encoding of the event, for replay
    received_at   BIGINT NOT NULL,
    occurred_at   BIGINT NOT NULL,
    resolves_seq  BIGINT NOT NULL,
    skipped       TEXT[] NOT NULL, -- state names, in order; '{}' when none
    actor         TEXT   NOT NULL,
    prev_hash     TEXT   NOT NULL,
    hash          TEXT   NOT NULL
);

-- Journal(key, after, limit).
CREATE INDEX journal_by_aggregate
    ON journal (provider, kind, aggregate_id, seq);

-- One row per dedupe key ever accepted. The primary key is the last line of
-- defence against a double apply: two transactions that both found no
-- receipt cannot both insert one.
CREATE TABLE receipts (
    provider    TEXT COLLATE "C" NOT NULL,
    dedupe_key  TEXT COLLATE "C" NOT NULL,
    seq         BIGINT NOT NULL,
    body_sha256 TEXT   NOT NULL,
    PRIMARY KEY (provider, dedupe_key)
);

-- Events held until they become legal or expire; seq is the journal entry
-- that recorded the deferral.
CREATE TABLE deferred (
    seq          BIGINT PRIMARY KEY,
    provider     TEXT COLLATE "C" NOT NULL,
    kind         TEXT COLLATE "C" NOT NULL,
    aggregate_id TEXT COLLATE "C" NOT NULL,
    dedupe_key   TEXT   NOT NULL,
    payload      BYTEA,
    body_sha256  TEXT   NOT NULL,
    received_at  BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);

-- DeferredFor and PendingDeferred.
CREATE INDEX deferred_by_aggregate
    ON deferred (provider, kind, aggregate_id, seq);

-- ExpiredDeferred.
CREATE INDEX deferred_by_expiry
    ON deferred (expires_at, seq);

-- The last journal entry's seq and hash. Every write transaction locks this
-- one row first (SELECT ... FOR UPDATE), which serializes writers across
-- every process sharing the database, and moves it in the same transaction
-- as its Appends. Head reads it rather than the journal's last row, so rows
-- deleted from the end of the journal are detectable by VerifyChain.
CREATE TABLE chain_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT   NOT NULL
);

-- The hash is storage.GenesisHash.
INSERT INTO chain_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
