-- The integration gate reads the ids of the bronze rows landed in its window. With the id carried
-- in the ingested_at index they come from the index alone (an index-only scan) instead of from
-- the wide rows. The new index replaces the plain one; building it holds bronze's writers back
-- while it runs (seconds per million rows).
CREATE INDEX IF NOT EXISTS raw_transactions_ingested_at_id
    ON bronze.raw_transactions (ingested_at) INCLUDE (id);
DROP INDEX IF EXISTS bronze.scout_raw_transactions_ingested_at;
