-- Medallion stages: silver (one row per purchased item, plus a quarantine for rejects), gold
-- (daily KPIs per date × store × brand × category) and the behavioural analytics.
-- Same tables and columns as PostgreSQL; the layer is the table name's prefix
-- (silver.x is silver_x, scout.x is scout_x). Dates are 'YYYY-MM-DD' text, money is REAL pesos
-- beside exact INTEGER centavos, JSON columns are text. SQLite has one writer at a time: the
-- stages take the write lock first (BEGIN IMMEDIATE), so several processes never overlap.
ALTER TABLE bronze_scout_raw_transactions ADD COLUMN silver_processed_at TEXT;
CREATE INDEX IF NOT EXISTS bronze_scout_raw_transactions_silver_pending
    ON bronze_scout_raw_transactions (id) WHERE silver_processed_at IS NULL;

CREATE TABLE IF NOT EXISTS silver_transactions_cleaned (
    id                  TEXT PRIMARY KEY,
    transaction_id      TEXT NOT NULL,
    "timestamp"         TEXT NOT NULL,
    transaction_date    TEXT NOT NULL,
    amount              REAL NOT NULL,
    payment_method      TEXT NOT NULL,
    product_category    TEXT NOT NULL,
    brand_name          TEXT NOT NULL,
    sku                 TEXT,
    customer_id         TEXT,
    store_id            TEXT NOT NULL,
    device_id           TEXT NOT NULL,
    age_bracket         TEXT,
    gender              TEXT,
    location_data       TEXT,
    data_source         TEXT NOT NULL,
    quality_score       REAL NOT NULL CHECK (quality_score BETWEEN 0 AND 1),
    loaded_at           TEXT NOT NULL,
    bronze_id           INTEGER NOT NULL,
    item_index          INTEGER NOT NULL,
    amount_centavos     INTEGER NOT NULL,
    quantity            REAL NOT NULL,
    unit_price          REAL,
    product_name        TEXT,
    device_brand        TEXT,
    brand_method        TEXT NOT NULL,
    brand_source        TEXT,
    brand_score         REAL,
    quality_issues      TEXT NOT NULL,
    daypart             TEXT NOT NULL,
    day_type            TEXT NOT NULL,
    basket_units        REAL NOT NULL,
    basket_band         TEXT NOT NULL,
    first_in_group      INTEGER NOT NULL,
    first_in_basket     INTEGER NOT NULL
);

CREATE INDEX IF NOT EXISTS silver_transactions_cleaned_date_store
    ON silver_transactions_cleaned (transaction_date, store_id);
CREATE INDEX IF NOT EXISTS silver_transactions_cleaned_bronze_id
    ON silver_transactions_cleaned (bronze_id);
CREATE INDEX IF NOT EXISTS silver_transactions_cleaned_known_customers
    ON silver_transactions_cleaned (transaction_date, store_id) WHERE customer_id IS NOT NULL;

CREATE TABLE IF NOT EXISTS silver_transactions_quarantine (
    id              INTEGER PRIMARY KEY,
    bronze_id       INTEGER NOT NULL,
    transaction_id  TEXT NOT NULL,
    device_id       TEXT NOT NULL,
    store_id        TEXT,
    item_index      INTEGER,
    reasons         TEXT NOT NULL,
    record          TEXT,
    quality_score   REAL NOT NULL CHECK (quality_score BETWEEN 0 AND 1),
    quality_issues  TEXT NOT NULL,
    quarantined_at  TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS silver_transactions_quarantine_bronze_id
    ON silver_transactions_quarantine (bronze_id);

CREATE TABLE IF NOT EXISTS metadata_gold_pending (
    transaction_date TEXT NOT NULL,
    store_id         TEXT NOT NULL,
    marked_at        TEXT NOT NULL,
    PRIMARY KEY (transaction_date, store_id)
);

CREATE TABLE IF NOT EXISTS scout_scout_gold_transactions (
    id                INTEGER PRIMARY KEY,
    transaction_date  TEXT NOT NULL,
    brand_name        TEXT NOT NULL,
    product_category  TEXT NOT NULL,
    store_id          TEXT NOT NULL,
    revenue_peso      REAL NOT NULL,
    transaction_count INTEGER NOT NULL,
    unique_customers  INTEGER NOT NULL,
    avg_basket_size   REAL NOT NULL,
    created_at        TEXT NOT NULL,
    revenue_centavos  INTEGER NOT NULL,
    units_sold        REAL NOT NULL,
    item_rows         INTEGER NOT NULL,
    avg_quality_score REAL NOT NULL,
    UNIQUE (transaction_date, store_id, brand_name, product_category)
);

CREATE TABLE IF NOT EXISTS gold_product_analytics (
    id                     INTEGER PRIMARY KEY,
    transaction_date       TEXT NOT NULL,
    store_id               TEXT NOT NULL,
    product_category       TEXT NOT NULL,
    brand_name             TEXT NOT NULL,
    revenue_peso           REAL NOT NULL,
    revenue_centavos       INTEGER NOT NULL,
    units_sold             REAL NOT NULL,
    transaction_count      INTEGER NOT NULL,
    avg_unit_price         REAL,
    category_revenue_share REAL NOT NULL,
    store_revenue_share    REAL NOT NULL,
    rank_in_category       INTEGER NOT NULL,
    avg_quality_score      REAL NOT NULL,
    created_at             TEXT NOT NULL,
    UNIQUE (transaction_date, store_id, product_category, brand_name)
);

CREATE TABLE IF NOT EXISTS gold_customer_analytics (
    id                 INTEGER PRIMARY KEY,
    transaction_date   TEXT NOT NULL,
    store_id           TEXT NOT NULL,
    daypart            TEXT NOT NULL,
    day_type           TEXT NOT NULL,
    payment_method     TEXT NOT NULL,
    basket_band        TEXT NOT NULL,
    transaction_count  INTEGER NOT NULL,
    unique_customers   INTEGER NOT NULL,
    revenue_peso       REAL NOT NULL,
    revenue_centavos   INTEGER NOT NULL,
    avg_basket_value   REAL NOT NULL,
    avg_basket_units   REAL NOT NULL,
    created_at         TEXT NOT NULL,
    UNIQUE (transaction_date, store_id, daypart, day_type, payment_method, basket_band)
);
