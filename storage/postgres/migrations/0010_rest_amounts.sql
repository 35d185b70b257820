-- 0010: captured_rest and refunded_rest become amounts: the part of the
-- captured (refunded) total that captures (refunds) in full took as "the
-- rest" without an amount of their own, less the parts reported since
-- (statemachine.Amounts.CapturedRest). A flag let every late part smaller
-- than the total in, however many; an amount lets in only what the rest
-- can hold. A flag is not an amount, so every row starts at 0 (no part is
-- taken inside) until `paystate rebuild --fix` derives it from the journal.
ALTER TABLE aggregates ALTER COLUMN captured_rest DROP DEFAULT;
ALTER TABLE aggregates ALTER COLUMN captured_rest TYPE BIGINT USING 0;
ALTER TABLE aggregates ALTER COLUMN captured_rest SET DEFAULT 0;
ALTER TABLE aggregates ALTER COLUMN refunded_rest DROP DEFAULT;
ALTER TABLE aggregates ALTER COLUMN refunded_rest TYPE BIGINT USING 0;
ALTER TABLE aggregates ALTER COLUMN refunded_rest SET DEFAULT 0;
