-- 0009: aggregates_by_parent holds only the aggregates that have a parent
-- (refunds, chargebacks, a subscription's payments), not every payment
-- under the empty parent: one B-tree entry, and a leaf dirtied, fewer for
-- each new aggregate without one. Readers that ask for the children of a
-- parent say parent_id <> '' so that SQLite may use the partial index.
DROP INDEX aggregates_by_parent;
CREATE INDEX aggregates_by_parent
    ON aggregates (parent_provider, parent_kind, parent_id, kind, id)
    WHERE parent_id <> '';
