-- Two analytics tables gold's rebuild keeps beside customer and product analytics, so that
-- platinum answers questions about shoppers and about brands by time of day from a few rows
-- per (day, store) instead of scanning silver's items (see the PostgreSQL migration).
CREATE TABLE IF NOT EXISTS gold_basket_analytics (
    id                INTEGER PRIMARY KEY,
    transaction_date  TEXT NOT NULL,
    store_id          TEXT NOT NULL,
    daypart           TEXT NOT NULL,
    day_type          TEXT NOT NULL,
    payment_method    TEXT NOT NULL,
    basket_band       TEXT NOT NULL,
    age_bracket       TEXT,
    gender            TEXT,
    transaction_count INTEGER NOT NULL,
    revenue_centavos  INTEGER NOT NULL,
    units_sold        REAL NOT NULL,
    created_at        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS gold_basket_analytics_date_store
    ON gold_basket_analytics (transaction_date, store_id);

CREATE TABLE IF NOT EXISTS gold_brand_daypart_analytics (
    id                INTEGER PRIMARY KEY,
    transaction_date  TEXT NOT NULL,
    store_id          TEXT NOT NULL,
    daypart           TEXT NOT NULL,
    day_type          TEXT NOT NULL,
    brand_name        TEXT NOT NULL,
    product_category  TEXT NOT NULL,
    revenue_centavos  INTEGER NOT NULL,
    units_sold        REAL NOT NULL,
    item_rows         INTEGER NOT NULL,
    transaction_count INTEGER NOT NULL,
    brand_transactions INTEGER NOT NULL,
    category_transactions INTEGER NOT NULL,
    created_at        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS gold_brand_daypart_analytics_date_store
    ON gold_brand_daypart_analytics (transaction_date, store_id);

-- Silver marks a transaction's first row of each brand and of each category; rows written
-- before this migration are marked here.
ALTER TABLE silver_transactions_cleaned
    ADD COLUMN first_in_brand INTEGER NOT NULL DEFAULT 0;
ALTER TABLE silver_transactions_cleaned
    ADD COLUMN first_in_category INTEGER NOT NULL DEFAULT 0;
ALTER TABLE archive_transactions_cleaned
    ADD COLUMN first_in_brand INTEGER NOT NULL DEFAULT 0;
ALTER TABLE archive_transactions_cleaned
    ADD COLUMN first_in_category INTEGER NOT NULL DEFAULT 0;
UPDATE silver_transactions_cleaned SET first_in_brand = 1
WHERE (bronze_id, item_index) IN (SELECT bronze_id, min(item_index)
    FROM silver_transactions_cleaned GROUP BY bronze_id, brand_name);
UPDATE silver_transactions_cleaned SET first_in_category = 1
WHERE (bronze_id, item_index) IN (SELECT bronze_id, min(item_index)
    FROM silver_transactions_cleaned GROUP BY bronze_id, product_category);
UPDATE archive_transactions_cleaned SET first_in_brand = 1
WHERE (bronze_id, item_index) IN (SELECT bronze_id, min(item_index)
    FROM archive_transactions_cleaned GROUP BY bronze_id, brand_name);
UPDATE archive_transactions_cleaned SET first_in_category = 1
WHERE (bronze_id, item_index) IN (SELECT bronze_id, min(item_index)
    FROM archive_transactions_cleaned GROUP BY bronze_id, product_category);

-- A database that already holds silver gets them filled by its next gold passes: every
-- partition with silver rows (live or archived) is queued for a rebuild.
INSERT INTO metadata_gold_pending (transaction_date, store_id, marked_at)
SELECT transaction_date, store_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
  FROM silver_transactions_cleaned
UNION
SELECT transaction_date, store_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
  FROM archive_transactions_cleaned
WHERE true
ON CONFLICT (transaction_date, store_id) DO NOTHING;
