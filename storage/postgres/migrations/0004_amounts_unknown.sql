-- 0004: an aggregate's totals can be "not fully known": an event moved money
-- without saying how much and its word did not imply it. Aggregates written
-- before keep FALSE (known), which is what they were decided with.
ALTER TABLE aggregates ADD COLUMN amounts_unknown BOOLEAN NOT NULL DEFAULT FALSE;
