-- Bronze keeps its JSON documents as the text that landed (`json`), not as `jsonb`. A landed row
-- is written once and read whole by silver, again and again after a dictionary change, and never
-- searched inside by the collector. `jsonb` made every landing parse each document into its binary
-- form and every silver read turn it back into text (numbers through `numeric`'s output, strings
-- escaped again); `json` checks the text on the way in and gives it back as it is. Measured on
-- 60,010 bench payloads of about 2.4 KB: a `COPY` in took 1.92 and 2.01 s as `jsonb` against 1.15
-- and 1.09 s as `json`; reading them out as text 1.05 to 1.18 s against 0.39 to 0.43 s; the table
-- is 13% smaller.
--
-- bronze.scout_raw_transactions, the contract's name, shows the same columns with the same types
-- as before (`items`, `detected_brands`, `processing_metadata` and `payload` as `jsonb`): the view
-- converts a document when a query reads it. It is replaced in place, so grants on it and its
-- DELETE trigger stay.
--
-- The collector never lands a document `jsonb` would refuse: its parser refuses a NUL character
-- (`\u0000`) and an unpaired surrogate with the line's number and reason, and bronze's documents
-- are written by the collector from what it parsed.
--
-- Changing a column's type rewrites the table: expect about a minute per million landed rows,
-- holding bronze locked, the first time a collector of this version starts.

-- The view first stops reading the four columns, so that their type may change under it.
CREATE OR REPLACE VIEW bronze.scout_raw_transactions AS
    SELECT b.id, b.transaction_id, b.store_id, b.device_id, b.transaction_timestamp,
           NULL::jsonb AS items, NULL::jsonb AS detected_brands,
           NULL::jsonb AS processing_metadata, NULL::jsonb AS payload,
           q.quality_score, b.ingested_at, b.captured_at, b.device_seq, b.agent_version,
           q.scored_at
    FROM bronze.raw_transactions b
    LEFT JOIN bronze.transaction_quality q ON q.bronze_id = b.id;

-- The archive has bronze's columns in the same order and of the same types (a batch moves with
-- SELECT *). A column of a new type takes the default compression again, so LZ4 is set in the
-- same statement (the rewrite then compresses with it), as in migration 20261210000100; a server
-- built without LZ4 changes the types alone and keeps pglz.
DO $$
DECLARE
    t text;
    types constant text := 'ALTER COLUMN items TYPE json USING items::json, '
        'ALTER COLUMN detected_brands TYPE json USING detected_brands::json, '
        'ALTER COLUMN processing_metadata TYPE json USING processing_metadata::json, '
        'ALTER COLUMN payload TYPE json USING payload::json';
BEGIN
    FOREACH t IN ARRAY ARRAY['bronze.raw_transactions', 'archive.raw_transactions'] LOOP
        BEGIN
            EXECUTE format('ALTER TABLE %s %s, '
                'ALTER COLUMN payload SET COMPRESSION lz4, '
                'ALTER COLUMN items SET COMPRESSION lz4, '
                'ALTER COLUMN detected_brands SET COMPRESSION lz4, '
                'ALTER COLUMN processing_metadata SET COMPRESSION lz4', t, types);
        EXCEPTION WHEN feature_not_supported OR syntax_error THEN
            RAISE NOTICE '% keeps pglz compression: %', t, SQLERRM;
            EXECUTE format('ALTER TABLE %s %s', t, types);
        END;
    END LOOP;
END
$$;

CREATE OR REPLACE VIEW bronze.scout_raw_transactions AS
    SELECT b.id, b.transaction_id, b.store_id, b.device_id, b.transaction_timestamp,
           b.items::jsonb AS items, b.detected_brands::jsonb AS detected_brands,
           b.processing_metadata::jsonb || coalesce(q.quality::jsonb, '{}') AS processing_metadata,
           b.payload::jsonb AS payload, q.quality_score, b.ingested_at, b.captured_at,
           b.device_seq, b.agent_version, q.scored_at
    FROM bronze.raw_transactions b
    LEFT JOIN bronze.transaction_quality q ON q.bronze_id = b.id;
