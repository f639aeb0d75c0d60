-- Silver's progress without rewriting bronze. A landed row is queued for silver in
-- metadata.silver_pending by a trigger in the statement that lands it; the silver stage takes ids
-- off the queue (FOR UPDATE SKIP LOCKED) and writes each row's quality score to
-- bronze.transaction_quality. The landed rows themselves are never updated again: updating every
-- wide bronze row once more cost more than writing its silver rows.
--
-- bronze.scout_raw_transactions stays what operators query: a view of the landed rows with their
-- quality score and the quality facts merged into processing_metadata.
CREATE TABLE IF NOT EXISTS metadata.silver_pending (
    bronze_id bigint PRIMARY KEY
);

CREATE TABLE IF NOT EXISTS bronze.transaction_quality (
    bronze_id     bigint PRIMARY KEY,
    quality_score numeric(5, 4) NOT NULL CHECK (quality_score BETWEEN 0 AND 1),
    -- The transaction's quality score with its issues, and the brands found: written once per
    -- row and read rarely, so kept as json text (checked, not converted) rather than jsonb.
    quality       json NOT NULL,
    scored_at     timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE bronze.scout_raw_transactions RENAME TO raw_transactions;

INSERT INTO metadata.silver_pending (bronze_id)
    SELECT id FROM bronze.raw_transactions WHERE silver_processed_at IS NULL;
INSERT INTO bronze.transaction_quality (bronze_id, quality_score, quality, scored_at)
    SELECT id, quality_score, '{}'::json, silver_processed_at FROM bronze.raw_transactions
    WHERE silver_processed_at IS NOT NULL AND quality_score IS NOT NULL;

DROP INDEX IF EXISTS bronze.scout_raw_transactions_silver_pending;
ALTER TABLE bronze.raw_transactions DROP COLUMN silver_processed_at;
ALTER TABLE bronze.raw_transactions DROP COLUMN quality_score;

CREATE FUNCTION bronze.queue_for_silver() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO metadata.silver_pending (bronze_id) SELECT id FROM landed;
    RETURN NULL;
END
$$;

CREATE TRIGGER raw_transactions_queue_for_silver
    AFTER INSERT ON bronze.raw_transactions
    REFERENCING NEW TABLE AS landed
    FOR EACH STATEMENT EXECUTE FUNCTION bronze.queue_for_silver();

CREATE VIEW bronze.scout_raw_transactions AS
    SELECT b.id, b.transaction_id, b.store_id, b.device_id, b.transaction_timestamp, b.items,
           b.detected_brands, b.processing_metadata || coalesce(q.quality::jsonb, '{}') AS processing_metadata,
           b.payload, q.quality_score, b.ingested_at, b.captured_at, b.device_seq,
           b.agent_version, q.scored_at
    FROM bronze.raw_transactions b
    LEFT JOIN bronze.transaction_quality q ON q.bronze_id = b.id;

-- Operations SQL that deletes through the view (archiving, say) deletes the landed rows.
CREATE FUNCTION bronze.delete_through_view() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM bronze.raw_transactions WHERE id = OLD.id;
    DELETE FROM bronze.transaction_quality WHERE bronze_id = OLD.id;
    DELETE FROM metadata.silver_pending WHERE bronze_id = OLD.id;
    RETURN OLD;
END
$$;

CREATE TRIGGER scout_raw_transactions_delete
    INSTEAD OF DELETE ON bronze.scout_raw_transactions
    FOR EACH ROW EXECUTE FUNCTION bronze.delete_through_view();
