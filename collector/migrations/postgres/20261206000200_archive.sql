-- The weekly maintenance's archive (scout-collector maintain): rows older than the cut move
-- here from staging, bronze and silver, each batch's copy and delete in one transaction. Each
-- archive table has its live table's columns in the same order (LIKE), so a batch copies with
-- SELECT *; a later migration that adds a column to a live table adds it here too. The unique
-- keys make a copy that would double a row fail instead.
CREATE SCHEMA IF NOT EXISTS archive;

CREATE TABLE IF NOT EXISTS archive.universal_file_ingestion
    (LIKE staging.universal_file_ingestion);
CREATE UNIQUE INDEX IF NOT EXISTS universal_file_ingestion_id
    ON archive.universal_file_ingestion (id);

CREATE TABLE IF NOT EXISTS archive.raw_transactions (LIKE bronze.raw_transactions);
CREATE UNIQUE INDEX IF NOT EXISTS raw_transactions_id ON archive.raw_transactions (id);
-- Ingest looks re-sent transactions up here: an archived row still counts as landed.
CREATE UNIQUE INDEX IF NOT EXISTS raw_transactions_device_txn
    ON archive.raw_transactions (device_id, transaction_id);

CREATE TABLE IF NOT EXISTS archive.transaction_quality (LIKE bronze.transaction_quality);
CREATE UNIQUE INDEX IF NOT EXISTS transaction_quality_bronze_id
    ON archive.transaction_quality (bronze_id);

CREATE TABLE IF NOT EXISTS archive.transactions_cleaned (LIKE silver.transactions_cleaned);
CREATE UNIQUE INDEX IF NOT EXISTS transactions_cleaned_bronze_item
    ON archive.transactions_cleaned (bronze_id, item_index);
-- Gold rebuilds a day × store from silver and its archived rows (a late transaction for an
-- archived day keeps that day's gold whole).
CREATE INDEX IF NOT EXISTS transactions_cleaned_date_store
    ON archive.transactions_cleaned (transaction_date, store_id);

CREATE TABLE IF NOT EXISTS archive.transactions_quarantine
    (LIKE silver.transactions_quarantine);
CREATE UNIQUE INDEX IF NOT EXISTS transactions_quarantine_id
    ON archive.transactions_quarantine (id);
