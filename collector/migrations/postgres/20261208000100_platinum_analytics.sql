-- Two analytics tables gold's rebuild keeps beside customer and product analytics, so that
-- platinum answers questions about shoppers and about brands by time of day from a few rows
-- per (day, store) instead of scanning silver's items:
-- - basket_analytics: whole baskets by day × store × daypart × day type × payment × basket
--   band × age bracket × gender (silver's NULL age bracket or gender stays NULL);
-- - brand_daypart_analytics: items by day × store × daypart × day type × brand × category
--   (an unresolved brand labelled 'Unknown', as in gold).
-- Rebuilt with their partition like the rest of gold: the (day, store) index serves the
-- rebuild's delete and the questions' date ranges.
CREATE TABLE IF NOT EXISTS gold.basket_analytics (
    id                bigserial PRIMARY KEY,
    transaction_date  date NOT NULL,
    store_id          text NOT NULL,
    daypart           text NOT NULL,
    day_type          text NOT NULL,
    payment_method    text NOT NULL,
    basket_band       text NOT NULL,
    age_bracket       text,
    gender            text,
    transaction_count bigint NOT NULL,
    revenue_centavos  bigint NOT NULL,
    units_sold        double precision NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS basket_analytics_date_store
    ON gold.basket_analytics (transaction_date, store_id);

CREATE TABLE IF NOT EXISTS gold.brand_daypart_analytics (
    id                bigserial PRIMARY KEY,
    transaction_date  date NOT NULL,
    store_id          text NOT NULL,
    daypart           text NOT NULL,
    day_type          text NOT NULL,
    brand_name        text NOT NULL,
    product_category  text NOT NULL,
    revenue_centavos  bigint NOT NULL,
    units_sold        double precision NOT NULL,
    item_rows         bigint NOT NULL,
    -- Baskets with this brand and category (silver's first_in_group rows).
    transaction_count bigint NOT NULL,
    -- Baskets with this brand, counted under the category of the brand's first item in each:
    -- summed over categories, the baskets with the brand, each once.
    brand_transactions bigint NOT NULL,
    -- Baskets with this category, counted under the brand of the category's first item.
    category_transactions bigint NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS brand_daypart_analytics_date_store
    ON gold.brand_daypart_analytics (transaction_date, store_id);

-- Silver marks a transaction's first row of each brand and of each category (as it marks the
-- first of each brand × category), so the brand × daypart rows count baskets per brand and per
-- category in one pass. Rows written before this migration are marked here.
ALTER TABLE silver.transactions_cleaned
    ADD COLUMN IF NOT EXISTS first_in_brand boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS first_in_category boolean NOT NULL DEFAULT false;
ALTER TABLE archive.transactions_cleaned
    ADD COLUMN IF NOT EXISTS first_in_brand boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS first_in_category boolean NOT NULL DEFAULT false;
UPDATE silver.transactions_cleaned t SET first_in_brand = true
FROM (SELECT bronze_id, min(item_index) AS item_index FROM silver.transactions_cleaned
      GROUP BY bronze_id, brand_name) f
WHERE t.bronze_id = f.bronze_id AND t.item_index = f.item_index AND NOT t.first_in_brand;
UPDATE silver.transactions_cleaned t SET first_in_category = true
FROM (SELECT bronze_id, min(item_index) AS item_index FROM silver.transactions_cleaned
      GROUP BY bronze_id, product_category) f
WHERE t.bronze_id = f.bronze_id AND t.item_index = f.item_index AND NOT t.first_in_category;
UPDATE archive.transactions_cleaned t SET first_in_brand = true
FROM (SELECT bronze_id, min(item_index) AS item_index FROM archive.transactions_cleaned
      GROUP BY bronze_id, brand_name) f
WHERE t.bronze_id = f.bronze_id AND t.item_index = f.item_index AND NOT t.first_in_brand;
UPDATE archive.transactions_cleaned t SET first_in_category = true
FROM (SELECT bronze_id, min(item_index) AS item_index FROM archive.transactions_cleaned
      GROUP BY bronze_id, product_category) f
WHERE t.bronze_id = f.bronze_id AND t.item_index = f.item_index AND NOT t.first_in_category;

-- A database that already holds silver gets them filled by its next gold passes: every
-- partition with silver rows (live or archived) is queued for a rebuild.
INSERT INTO metadata.gold_pending (transaction_date, store_id, marked_at)
SELECT transaction_date, store_id, now() FROM silver.transactions_cleaned
UNION
SELECT transaction_date, store_id, now() FROM archive.transactions_cleaned
ON CONFLICT (transaction_date, store_id) DO NOTHING;

-- Platinum's reader may read them, where the role exists and this user may grant.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'scout_reader') THEN
        GRANT SELECT ON gold.basket_analytics, gold.brand_daypart_analytics TO scout_reader;
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'scout_reader not granted the analytics tables (%); platinum relies on read-only transactions alone', SQLERRM;
END
$$;
