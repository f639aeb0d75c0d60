-- An unresolved brand is NULL in silver, so that the operations manual's "branded" means
-- `brand_name IS NOT NULL` ('Unbranded', an item sold without a brand, stays: that is a known
-- fact). Gold keeps labelling it 'Unknown'. SQLite cannot drop a NOT NULL in place: the table is
-- rebuilt with the same columns, its unresolved brands converted. (Scores stay REAL: SQLite's
-- round() takes any number.)
CREATE TABLE silver_transactions_cleaned_rebuilt (
    id                  TEXT NOT NULL,
    transaction_id      TEXT NOT NULL,
    "timestamp"         TEXT NOT NULL,
    transaction_date    TEXT NOT NULL,
    amount              REAL NOT NULL,
    payment_method      TEXT NOT NULL,
    product_category    TEXT NOT NULL,
    brand_name          TEXT,
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

INSERT INTO silver_transactions_cleaned_rebuilt (id, transaction_id, "timestamp", transaction_date, amount, payment_method, product_category, brand_name, sku, customer_id, store_id, device_id, age_bracket, gender, location_data, data_source, quality_score, loaded_at, bronze_id, item_index, amount_centavos, quantity, unit_price, product_name, device_brand, brand_method, brand_source, brand_score, quality_issues, daypart, day_type, basket_units, basket_band, first_in_group, first_in_basket)
    SELECT id, transaction_id, "timestamp", transaction_date, amount, payment_method, product_category, nullif(brand_name, 'Unknown'), sku, customer_id, store_id, device_id, age_bracket, gender, location_data, data_source, quality_score, loaded_at, bronze_id, item_index, amount_centavos, quantity, unit_price, product_name, device_brand, brand_method, brand_source, brand_score, quality_issues, daypart, day_type, basket_units, basket_band, first_in_group, first_in_basket FROM silver_transactions_cleaned;
DROP TABLE silver_transactions_cleaned;
ALTER TABLE silver_transactions_cleaned_rebuilt RENAME TO silver_transactions_cleaned;

CREATE UNIQUE INDEX silver_transactions_cleaned_bronze_item
    ON silver_transactions_cleaned (bronze_id, item_index);
CREATE INDEX silver_transactions_cleaned_date_store
    ON silver_transactions_cleaned (transaction_date, store_id);
CREATE INDEX silver_transactions_cleaned_known_customers
    ON silver_transactions_cleaned (transaction_date, store_id) WHERE customer_id IS NOT NULL;
