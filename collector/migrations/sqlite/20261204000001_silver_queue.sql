-- Silver's progress without rewriting bronze (as on PostgreSQL): landing a row queues it in
-- metadata_silver_pending (a trigger); silver takes ids off the queue and writes each row's
-- quality score to bronze_transaction_quality. bronze_scout_raw_transactions becomes a view of
-- the landed rows with their quality.
CREATE TABLE IF NOT EXISTS metadata_silver_pending (
    bronze_id INTEGER PRIMARY KEY
);

CREATE TABLE IF NOT EXISTS bronze_transaction_quality (
    bronze_id     INTEGER PRIMARY KEY,
    quality_score REAL NOT NULL CHECK (quality_score BETWEEN 0 AND 1),
    quality       TEXT NOT NULL,
    scored_at     TEXT NOT NULL
);

ALTER TABLE bronze_scout_raw_transactions RENAME TO bronze_raw_transactions;

INSERT INTO metadata_silver_pending (bronze_id)
    SELECT id FROM bronze_raw_transactions WHERE silver_processed_at IS NULL;
INSERT INTO bronze_transaction_quality (bronze_id, quality_score, quality, scored_at)
    SELECT id, quality_score, '{}', silver_processed_at FROM bronze_raw_transactions
    WHERE silver_processed_at IS NOT NULL AND quality_score IS NOT NULL;

DROP INDEX IF EXISTS bronze_scout_raw_transactions_silver_pending;
ALTER TABLE bronze_raw_transactions DROP COLUMN silver_processed_at;
ALTER TABLE bronze_raw_transactions DROP COLUMN quality_score;

CREATE TRIGGER bronze_raw_transactions_queue_for_silver
    AFTER INSERT ON bronze_raw_transactions
BEGIN
    INSERT INTO metadata_silver_pending (bronze_id) VALUES (NEW.id);
END;

CREATE VIEW bronze_scout_raw_transactions AS
    SELECT b.id, b.transaction_id, b.store_id, b.device_id, b.transaction_timestamp, b.items,
           b.detected_brands, json_patch(b.processing_metadata, coalesce(q.quality, '{}'))
               AS processing_metadata,
           b.payload, q.quality_score, b.ingested_at, b.captured_at, b.device_seq,
           b.agent_version, q.scored_at
    FROM bronze_raw_transactions b
    LEFT JOIN bronze_transaction_quality q ON q.bronze_id = b.id;

CREATE TRIGGER bronze_scout_raw_transactions_delete
    INSTEAD OF DELETE ON bronze_scout_raw_transactions
BEGIN
    DELETE FROM bronze_raw_transactions WHERE id = OLD.id;
    DELETE FROM bronze_transaction_quality WHERE bronze_id = OLD.id;
    DELETE FROM metadata_silver_pending WHERE bronze_id = OLD.id;
END;
