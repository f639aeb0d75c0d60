-- A UUID transaction id names one transaction whatever the case of its hex digits; the parser
-- now stores it in lower case. Ids stored before in upper (or mixed) case are folded here, so a
-- transaction sent again after the upgrade, now read in lower case, is still found as landed.
-- Where the lower-case id is already stored for the same device (the transaction landed twice
-- under two spellings), or two spellings would fold to one, only the first row is folded and the
-- others keep theirs: this migration removes no row. Silver, the quarantine and the archive
-- follow their bronze row. (The GLOB pattern is a hyphenated UUID, any case.)
CREATE TEMP TABLE transaction_id_fold AS
WITH spelled AS (
    SELECT id, device_id, transaction_id FROM bronze_raw_transactions
    UNION ALL
    SELECT id, device_id, transaction_id FROM archive_raw_transactions
), upper_case AS (
    SELECT id, device_id, lower(transaction_id) AS folded
    FROM spelled
    WHERE transaction_id GLOB '[0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f]-[0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f]-[0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f]-[0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f]-[0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f]'
      AND transaction_id <> lower(transaction_id)
)
SELECT min(u.id) AS id, u.folded
FROM upper_case u
WHERE NOT EXISTS (SELECT 1 FROM spelled s
                  WHERE s.device_id = u.device_id AND s.transaction_id = u.folded)
GROUP BY u.device_id, u.folded;

UPDATE bronze_raw_transactions
SET transaction_id = (SELECT f.folded FROM transaction_id_fold f WHERE f.id = bronze_raw_transactions.id)
WHERE id IN (SELECT id FROM transaction_id_fold);
UPDATE archive_raw_transactions
SET transaction_id = (SELECT f.folded FROM transaction_id_fold f WHERE f.id = archive_raw_transactions.id)
WHERE id IN (SELECT id FROM transaction_id_fold);

UPDATE silver_transactions_cleaned
SET id = replace(id, ':' || transaction_id || ':',
                 ':' || (SELECT f.folded FROM transaction_id_fold f WHERE f.id = bronze_id) || ':'),
    transaction_id = (SELECT f.folded FROM transaction_id_fold f WHERE f.id = bronze_id)
WHERE bronze_id IN (SELECT id FROM transaction_id_fold);
UPDATE archive_transactions_cleaned
SET id = replace(id, ':' || transaction_id || ':',
                 ':' || (SELECT f.folded FROM transaction_id_fold f WHERE f.id = bronze_id) || ':'),
    transaction_id = (SELECT f.folded FROM transaction_id_fold f WHERE f.id = bronze_id)
WHERE bronze_id IN (SELECT id FROM transaction_id_fold);

UPDATE silver_transactions_quarantine
SET transaction_id = (SELECT f.folded FROM transaction_id_fold f WHERE f.id = bronze_id)
WHERE bronze_id IN (SELECT id FROM transaction_id_fold);
UPDATE archive_transactions_quarantine
SET transaction_id = (SELECT f.folded FROM transaction_id_fold f WHERE f.id = bronze_id)
WHERE bronze_id IN (SELECT id FROM transaction_id_fold);

DROP TABLE transaction_id_fold;
