-- 0012: captured_rest and refunded_rest become amounts: the part of the
-- captured (refunded) total that captures (refunds) in full took as "the
-- rest" without an amount of their own, less the parts reported since
-- (statemachine.Amounts.CapturedRest). A flag let every late part smaller
-- than the total in, however many; an amount lets in only what the rest
-- can hold. The column is an INTEGER already; a 1 written as a flag is not
-- an amount, so it becomes 0 (no part is taken inside) until
-- `paystate rebuild --fix` derives the amount from the journal.
UPDATE aggregates SET captured_rest = 0, refunded_rest = 0 WHERE captured_rest <> 0 OR refunded_rest <> 0;
