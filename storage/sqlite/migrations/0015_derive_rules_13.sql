-- 0015: statemachine.Rules 13 derives some columns differently from the
-- same verdicts (a PayEngine void after a partial capture keeps the
-- capture, a dispute's later amount, a generic refund completed without
-- an amount, an Inyo payment's own REFUNDED after its children, refunds
-- proving more than a reported authorization). Rows written before keep
-- what the older rules derived, so the mark of 0013 is set again: the
-- first Open through paystate (engine.DeriveFacts) derives those columns
-- from the journal where they differ, before any verdict is decided.
INSERT OR IGNORE INTO amount_facts_pending (id) SELECT 1 WHERE EXISTS (SELECT 1 FROM aggregates);
