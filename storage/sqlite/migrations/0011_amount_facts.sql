-- 0011: what the totals cannot say by themselves (statemachine.Amounts):
-- amount_known, whether an event reported the face amount, so that 0 is a
-- real zero-amount order and not "not reported yet"; captured_rest and
-- refunded_rest, whether a total holds a capture or refund in full that
-- reported no amount of its own. Rows written before: a non-zero amount was
-- reported; a zero one and the rest flags cannot be told from the row, so
-- they stay 0 until `paystate rebuild --fix` derives them from the journal.
ALTER TABLE aggregates ADD COLUMN amount_known INTEGER NOT NULL DEFAULT 0;
ALTER TABLE aggregates ADD COLUMN captured_rest INTEGER NOT NULL DEFAULT 0;
ALTER TABLE aggregates ADD COLUMN refunded_rest INTEGER NOT NULL DEFAULT 0;
UPDATE aggregates SET amount_known = 1 WHERE amount <> 0;
