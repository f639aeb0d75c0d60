-- A UUID transaction id names one transaction whatever the case of its hex digits; the parser
-- now stores it in lower case. Ids stored before in upper (or mixed) case are folded here, so a
-- transaction sent again after the upgrade, now read in lower case, is still found as landed.
-- Where the lower-case id is already stored for the same device (the transaction landed twice
-- under two spellings), or two spellings would fold to one, only the first row is folded and the
-- others keep theirs: this migration removes no row. Silver, the quarantine and the archive
-- follow their bronze row.
CREATE TEMP TABLE transaction_id_fold ON COMMIT DROP AS
WITH spelled AS (
    SELECT id, device_id, transaction_id FROM bronze.raw_transactions
    UNION ALL
    SELECT id, device_id, transaction_id FROM archive.raw_transactions
), upper_case AS (
    SELECT id, device_id, lower(transaction_id) AS folded
    FROM spelled
    WHERE transaction_id ~ '^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$'
      AND transaction_id <> lower(transaction_id)
)
SELECT DISTINCT ON (u.device_id, u.folded) u.id, u.folded
FROM upper_case u
WHERE NOT EXISTS (SELECT 1 FROM spelled s
                  WHERE s.device_id = u.device_id AND s.transaction_id = u.folded)
ORDER BY u.device_id, u.folded, u.id;

UPDATE bronze.raw_transactions b SET transaction_id = f.folded
FROM transaction_id_fold f WHERE b.id = f.id;
UPDATE archive.raw_transactions b SET transaction_id = f.folded
FROM transaction_id_fold f WHERE b.id = f.id;

UPDATE silver.transactions_cleaned s
SET id = replace(s.id, ':' || s.transaction_id || ':', ':' || f.folded || ':'),
    transaction_id = f.folded
FROM transaction_id_fold f WHERE s.bronze_id = f.id;
UPDATE archive.transactions_cleaned s
SET id = replace(s.id, ':' || s.transaction_id || ':', ':' || f.folded || ':'),
    transaction_id = f.folded
FROM transaction_id_fold f WHERE s.bronze_id = f.id;

UPDATE silver.transactions_quarantine q SET transaction_id = f.folded
FROM transaction_id_fold f WHERE q.bronze_id = f.id;
UPDATE archive.transactions_quarantine q SET transaction_id = f.folded
FROM transaction_id_fold f WHERE q.bronze_id = f.id;
