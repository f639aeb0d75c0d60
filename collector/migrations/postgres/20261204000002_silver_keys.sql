-- Silver's key for the bulk write path: a silver row is identified by its bronze row and item
-- index, two integers; new rows arrive in bronze id order, so that index grows at one end. The
-- text id (DEVICE:TRANSACTION:ITEM) stays a column and stays unique through that key, but is no
-- longer indexed on its own: inserting into a B-tree of random text keys cost more than writing
-- the rest of the row.
ALTER TABLE silver.transactions_cleaned DROP CONSTRAINT IF EXISTS transactions_cleaned_pkey;
DROP INDEX IF EXISTS silver.transactions_cleaned_bronze_id;
CREATE UNIQUE INDEX IF NOT EXISTS transactions_cleaned_bronze_item
    ON silver.transactions_cleaned (bronze_id, item_index);
