-- Medallion stages: silver (one row per purchased item, plus a quarantine for rejects), gold
-- (daily KPIs per date × store × brand × category) and the behavioural analytics, all derived
-- from bronze and rebuilt per (business day, store) partition.
CREATE SCHEMA IF NOT EXISTS silver;
CREATE SCHEMA IF NOT EXISTS gold;
CREATE SCHEMA IF NOT EXISTS scout;

-- Work queue for the silver stage: a bronze row is pending until a collector has turned it into
-- silver rows (or quarantined it) in the same transaction that sets this column. Collectors
-- claim pending rows with FOR UPDATE SKIP LOCKED, so several of them never process one twice.
ALTER TABLE bronze.scout_raw_transactions ADD COLUMN IF NOT EXISTS silver_processed_at timestamptz;
CREATE INDEX IF NOT EXISTS scout_raw_transactions_silver_pending
    ON bronze.scout_raw_transactions (id) WHERE silver_processed_at IS NULL;

CREATE TABLE IF NOT EXISTS silver.transactions_cleaned (
    -- DEVICE:TRANSACTION:ITEM (contains the source transaction id).
    id                  text PRIMARY KEY,
    transaction_id      text NOT NULL,
    "timestamp"         timestamptz NOT NULL,
    -- The business day in Asia/Manila time.
    transaction_date    date NOT NULL,
    amount              numeric(14, 2) NOT NULL,
    payment_method      text NOT NULL,
    product_category    text NOT NULL,
    brand_name          text NOT NULL,
    sku                 text,
    customer_id         text,
    store_id            text NOT NULL,
    device_id           text NOT NULL,
    age_bracket         text,
    gender              text,
    location_data       jsonb,
    data_source         text NOT NULL,
    quality_score       double precision NOT NULL CHECK (quality_score BETWEEN 0 AND 1),
    loaded_at           timestamptz NOT NULL DEFAULT now(),
    -- Beyond the contract's columns: provenance, exact money and the facts gold groups by.
    bronze_id           bigint NOT NULL,
    item_index          integer NOT NULL,
    amount_centavos     bigint NOT NULL,
    quantity            double precision NOT NULL,
    unit_price          numeric(14, 2),
    product_name        text,
    device_brand        text,
    brand_method        text NOT NULL,
    brand_source        text,
    brand_score         double precision,
    quality_issues      jsonb NOT NULL,
    daypart             text NOT NULL,
    day_type            text NOT NULL,
    basket_units        double precision NOT NULL,
    basket_band         text NOT NULL,
    first_in_group      boolean NOT NULL,
    first_in_basket     boolean NOT NULL
);

CREATE INDEX IF NOT EXISTS transactions_cleaned_date_store
    ON silver.transactions_cleaned (transaction_date, store_id);
CREATE INDEX IF NOT EXISTS transactions_cleaned_bronze_id
    ON silver.transactions_cleaned (bronze_id);
-- Gold counts distinct known customers separately; few rows carry a customer id.
CREATE INDEX IF NOT EXISTS transactions_cleaned_known_customers
    ON silver.transactions_cleaned (transaction_date, store_id) WHERE customer_id IS NOT NULL;

-- Rejects: kept with their reasons, never silently dropped. item_index is NULL when the whole
-- transaction was rejected.
CREATE TABLE IF NOT EXISTS silver.transactions_quarantine (
    id              bigserial PRIMARY KEY,
    bronze_id       bigint NOT NULL,
    transaction_id  text NOT NULL,
    device_id       text NOT NULL,
    store_id        text,
    item_index      integer,
    reasons         jsonb NOT NULL,
    record          jsonb,
    quality_score   double precision NOT NULL CHECK (quality_score BETWEEN 0 AND 1),
    quality_issues  jsonb NOT NULL,
    quarantined_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS transactions_quarantine_bronze_id
    ON silver.transactions_quarantine (bronze_id);

-- Work queue for gold: the (day, store) partitions whose silver rows changed. A silver writer
-- upserts its partitions (DO UPDATE, which locks the row), a gold refresher claims them with
-- FOR UPDATE SKIP LOCKED and deletes them in the transaction that rebuilds them.
CREATE TABLE IF NOT EXISTS metadata.gold_pending (
    transaction_date date NOT NULL,
    store_id         text NOT NULL,
    marked_at        timestamptz NOT NULL,
    PRIMARY KEY (transaction_date, store_id)
);

CREATE TABLE IF NOT EXISTS scout.scout_gold_transactions (
    id                bigserial PRIMARY KEY,
    transaction_date  date NOT NULL,
    brand_name        text NOT NULL,
    product_category  text NOT NULL,
    store_id          text NOT NULL,
    revenue_peso      numeric(16, 2) NOT NULL,
    transaction_count bigint NOT NULL,
    unique_customers  bigint NOT NULL,
    avg_basket_size   double precision NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    revenue_centavos  bigint NOT NULL,
    units_sold        double precision NOT NULL,
    item_rows         bigint NOT NULL,
    avg_quality_score double precision NOT NULL,
    CONSTRAINT scout_gold_transactions_grain
        UNIQUE (transaction_date, store_id, brand_name, product_category)
);

CREATE TABLE IF NOT EXISTS gold.product_analytics (
    id                     bigserial PRIMARY KEY,
    transaction_date       date NOT NULL,
    store_id               text NOT NULL,
    product_category       text NOT NULL,
    brand_name             text NOT NULL,
    revenue_peso           numeric(16, 2) NOT NULL,
    revenue_centavos       bigint NOT NULL,
    units_sold             double precision NOT NULL,
    transaction_count      bigint NOT NULL,
    avg_unit_price         numeric(14, 2),
    category_revenue_share double precision NOT NULL,
    store_revenue_share    double precision NOT NULL,
    rank_in_category       integer NOT NULL,
    avg_quality_score      double precision NOT NULL,
    created_at             timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT product_analytics_grain
        UNIQUE (transaction_date, store_id, product_category, brand_name)
);

CREATE TABLE IF NOT EXISTS gold.customer_analytics (
    id                 bigserial PRIMARY KEY,
    transaction_date   date NOT NULL,
    store_id           text NOT NULL,
    daypart            text NOT NULL,
    day_type           text NOT NULL,
    payment_method     text NOT NULL,
    basket_band        text NOT NULL,
    transaction_count  bigint NOT NULL,
    unique_customers   bigint NOT NULL,
    revenue_peso       numeric(16, 2) NOT NULL,
    revenue_centavos   bigint NOT NULL,
    avg_basket_value   numeric(14, 2) NOT NULL,
    avg_basket_units   double precision NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT customer_analytics_grain
        UNIQUE (transaction_date, store_id, daypart, day_type, payment_method, basket_band)
);
