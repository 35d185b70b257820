-- 0011: 0009 and 0010 left facts a row cannot tell (amount_known of a zero
-- amount, the rest a capture or refund in full took) at their defaults on
-- the rows written before. amount_facts_pending marks them: the first
-- Open through paystate (engine.DeriveFacts) derives them from the journal,
-- before any verdict is decided on the store, and deletes the mark. A store
-- without aggregates has nothing to derive.
CREATE TABLE amount_facts_pending (id INTEGER PRIMARY KEY CHECK (id = 1));
INSERT INTO amount_facts_pending (id) SELECT 1 WHERE EXISTS (SELECT 1 FROM aggregates);
