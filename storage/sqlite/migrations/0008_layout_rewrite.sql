-- 0008: journal rows of layout 0 (written before 0007) are rewritten in
-- the current layout after the migrations, in batches of their own
-- transactions (rewriteOldRows), not inside one migration transaction: at
-- millions of rows that one transaction made the WAL as large as the
-- journal. layout_rewrite says how far it got: rows with seq below
-- next_seq are done, and none past upto (the chain head when 0008 ran)
-- can be of layout 0. No row: nothing left to do.
CREATE TABLE layout_rewrite (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    next_seq INTEGER NOT NULL,
    upto     INTEGER NOT NULL
);
INSERT INTO layout_rewrite (id, next_seq, upto)
SELECT 1, 1, seq FROM chain_head WHERE id = 1 AND seq > 0;
