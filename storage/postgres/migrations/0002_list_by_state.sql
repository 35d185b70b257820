-- 0002: ListAggregates by kind and state (e.g. every payment in
-- fraud_review) without scanning every aggregate.
CREATE INDEX aggregates_by_state ON aggregates (kind, state, provider, id);
