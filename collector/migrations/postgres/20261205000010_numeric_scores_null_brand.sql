-- The operations manual's SQL, verbatim: `ROUND(AVG(quality_score), 3)` needs a numeric score
-- (PostgreSQL has no round(double precision, integer)), and "branded" is `brand_name IS NOT NULL`.
-- Scores are computed to 4 decimals, so numeric(5, 4) keeps them exactly (as bronze's already is).
ALTER TABLE silver.transactions_cleaned
    ALTER COLUMN quality_score TYPE numeric(5, 4) USING round(quality_score::numeric, 4);
ALTER TABLE silver.transactions_quarantine
    ALTER COLUMN quality_score TYPE numeric(5, 4) USING round(quality_score::numeric, 4);
ALTER TABLE scout.scout_gold_transactions
    ALTER COLUMN avg_quality_score TYPE numeric(5, 4) USING round(avg_quality_score::numeric, 4);
ALTER TABLE gold.product_analytics
    ALTER COLUMN avg_quality_score TYPE numeric(5, 4) USING round(avg_quality_score::numeric, 4);

-- An unresolved brand is NULL in silver ('Unbranded', an item sold without a brand, stays:
-- that is a known fact). Gold keeps labelling it 'Unknown', so its grain stays NOT NULL.
ALTER TABLE silver.transactions_cleaned ALTER COLUMN brand_name DROP NOT NULL;
UPDATE silver.transactions_cleaned SET brand_name = NULL WHERE brand_name = 'Unknown';
