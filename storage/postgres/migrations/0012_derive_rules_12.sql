-- 0012: statemachine.Rules 12 derives some columns differently from the
-- same verdicts (the provider status a child's event leaves on its parent,
-- an order's amount first stated by a status snapshot, a refund's amount a
-- later snapshot states). Rows written before keep what the older rules
-- derived, so the mark of 0011 is set again: the first Open through
-- paystate (engine.DeriveFacts) derives those columns from the journal
-- where they differ, before any verdict is decided on the store.
INSERT INTO amount_facts_pending (id) SELECT 1 WHERE EXISTS (SELECT 1 FROM aggregates) ON CONFLICT DO NOTHING;
