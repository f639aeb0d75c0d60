-- Bronze's JSON documents are compressed with LZ4 rather than PostgreSQL's default (pglz). A
-- ScoutPi payload is about 3 KB, past the size at which PostgreSQL compresses a value, so every
-- landed row paid for a pglz compression, the most expensive step of its insert (200,000
-- payloads: 14.3 s to insert with pglz against 9.2 s with LZ4, 11% more space), and every silver
-- read of a payload for its decompression. Only values written from now on change; rows already
-- stored keep their compression and read as before.
--
-- A server built without LZ4 keeps pglz: the statement is run through EXECUTE so that its
-- failure (or a server too old for SET COMPRESSION) can be caught here.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['bronze.raw_transactions', 'archive.raw_transactions'] LOOP
        EXECUTE format(
            'ALTER TABLE %s ALTER COLUMN payload SET COMPRESSION lz4, '
            'ALTER COLUMN items SET COMPRESSION lz4, '
            'ALTER COLUMN detected_brands SET COMPRESSION lz4, '
            'ALTER COLUMN processing_metadata SET COMPRESSION lz4', t);
    END LOOP;
EXCEPTION WHEN feature_not_supported OR syntax_error THEN
    RAISE NOTICE 'bronze keeps pglz compression: %', SQLERRM;
END
$$;
