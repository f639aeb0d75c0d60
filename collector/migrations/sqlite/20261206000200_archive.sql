-- The weekly maintenance's archive (scout-collector maintain): rows older than the cut move
-- here from staging, bronze and silver, each batch's copy and delete in one transaction. Each
-- archive table has its live table's columns in the same order (CREATE TABLE AS with no rows),
-- so a batch copies with SELECT *; a later migration that adds a column to a live table adds
-- it here too. The unique keys make a copy that would double a row fail instead.
CREATE TABLE IF NOT EXISTS archive_universal_file_ingestion AS
    SELECT * FROM staging_universal_file_ingestion WHERE 0;
CREATE UNIQUE INDEX IF NOT EXISTS archive_universal_file_ingestion_id
    ON archive_universal_file_ingestion (id);

CREATE TABLE IF NOT EXISTS archive_raw_transactions AS
    SELECT * FROM bronze_raw_transactions WHERE 0;
CREATE UNIQUE INDEX IF NOT EXISTS archive_raw_transactions_id ON archive_raw_transactions (id);
CREATE UNIQUE INDEX IF NOT EXISTS archive_raw_transactions_device_txn
    ON archive_raw_transactions (device_id, transaction_id);

CREATE TABLE IF NOT EXISTS archive_transaction_quality AS
    SELECT * FROM bronze_transaction_quality WHERE 0;
CREATE UNIQUE INDEX IF NOT EXISTS archive_transaction_quality_bronze_id
    ON archive_transaction_quality (bronze_id);

CREATE TABLE IF NOT EXISTS archive_transactions_cleaned AS
    SELECT * FROM silver_transactions_cleaned WHERE 0;
CREATE UNIQUE INDEX IF NOT EXISTS archive_transactions_cleaned_bronze_item
    ON archive_transactions_cleaned (bronze_id, item_index);
-- Gold rebuilds a day × store from silver and its archived rows (a late transaction for an
-- archived day keeps that day's gold whole).
CREATE INDEX IF NOT EXISTS archive_transactions_cleaned_date_store
    ON archive_transactions_cleaned (transaction_date, store_id);

CREATE TABLE IF NOT EXISTS archive_transactions_quarantine AS
    SELECT * FROM silver_transactions_quarantine WHERE 0;
CREATE UNIQUE INDEX IF NOT EXISTS archive_transactions_quarantine_id
    ON archive_transactions_quarantine (id);

-- A re-sent transaction whose row was archived is a duplicate, as it was before: skipped.
CREATE TRIGGER IF NOT EXISTS bronze_raw_transactions_skip_archived
    BEFORE INSERT ON bronze_raw_transactions
    WHEN EXISTS (SELECT 1 FROM archive_raw_transactions a
                 WHERE a.device_id = NEW.device_id AND a.transaction_id = NEW.transaction_id)
BEGIN
    SELECT RAISE(IGNORE);
END;
