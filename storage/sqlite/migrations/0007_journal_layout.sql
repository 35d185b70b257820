-- 0007: smaller journal rows. layout says how a row keeps its hashes and
-- its body (see body.go): 0, as before; 1, hashes as their 32 bytes and
-- the body tagged and, when that is shorter, compressed with a fixed
-- dictionary. Rows written before are rewritten to layout 1 in the same
-- migration, by Go code that runs after this file (rewriteLayout0). The
-- entries, and so their hashes, stay the same; only their encoding
-- changes. receipts.body_sha256 is written as 32 bytes from now on too;
-- readers of both tables go by each value's type, so old receipts need no
-- rewrite to read.
ALTER TABLE journal ADD COLUMN layout INTEGER NOT NULL DEFAULT 0;

-- Receipts' body hashes as 32 bytes, where they are lowercase hex.
UPDATE receipts SET body_sha256 = unhex(body_sha256)
WHERE typeof(body_sha256) = 'text' AND length(body_sha256) = 64
  AND body_sha256 NOT GLOB '*[^0-9a-f]*';
