-- 0005: signed checkpoints. Each row is a chain head (seq, hash) signed
-- with paystate's Ed25519 checkpoint key, which is kept outside the
-- database: a row cannot be forged by whoever can write the database, and
-- a journal rewritten or cut below a checkpoint no longer matches it.
-- Auditors keep copies elsewhere (paystate checkpoint export).
CREATE TABLE checkpoints (
    seq        INTEGER PRIMARY KEY,
    hash       TEXT    NOT NULL,
    signed_at  INTEGER NOT NULL, -- unix microseconds, UTC
    key_id     TEXT    NOT NULL,
    public_key BLOB    NOT NULL,
    signature  BLOB    NOT NULL
);
