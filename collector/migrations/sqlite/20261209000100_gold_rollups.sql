-- Gold and customer analytics are rolled up from the analytics tables a rebuild writes first
-- (see the PostgreSQL migration): the brand × daypart rows carry the sums gold needs, basket
-- analytics count their baskets without a customer id, brand × payment analytics answer
-- questions about brands by payment method; every partition is queued for a rebuild.
ALTER TABLE gold_brand_daypart_analytics
    ADD COLUMN anonymous_transactions INTEGER NOT NULL DEFAULT 0;
ALTER TABLE gold_brand_daypart_analytics
    ADD COLUMN basket_units REAL NOT NULL DEFAULT 0;
ALTER TABLE gold_brand_daypart_analytics
    ADD COLUMN quality_score_total REAL NOT NULL DEFAULT 0;

ALTER TABLE gold_basket_analytics
    ADD COLUMN anonymous_transactions INTEGER NOT NULL DEFAULT 0;

CREATE TABLE IF NOT EXISTS gold_brand_payment_analytics (
    id                    INTEGER PRIMARY KEY,
    transaction_date      TEXT NOT NULL,
    store_id              TEXT NOT NULL,
    day_type              TEXT NOT NULL,
    payment_method        TEXT NOT NULL,
    brand_name            TEXT NOT NULL,
    product_category      TEXT NOT NULL,
    revenue_centavos      INTEGER NOT NULL,
    units_sold            REAL NOT NULL,
    item_rows             INTEGER NOT NULL,
    transaction_count     INTEGER NOT NULL,
    brand_transactions    INTEGER NOT NULL,
    category_transactions INTEGER NOT NULL,
    created_at            TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS gold_brand_payment_analytics_date_store
    ON gold_brand_payment_analytics (transaction_date, store_id);

INSERT INTO metadata_gold_pending (transaction_date, store_id, marked_at)
SELECT transaction_date, store_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
  FROM silver_transactions_cleaned
UNION
SELECT transaction_date, store_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
  FROM archive_transactions_cleaned
WHERE true
ON CONFLICT (transaction_date, store_id) DO NOTHING;
