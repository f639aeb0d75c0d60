-- Gold and customer analytics are rolled up from the analytics tables a rebuild writes first,
-- so a rebuild reads the partitions' silver items three times instead of six:
-- - brand_daypart_analytics carries what gold's rows need besides its sums: the baskets without
--   a customer id, the units of its baskets and the items' quality scores, summed;
-- - basket_analytics carries its baskets without a customer id;
-- - brand_payment_analytics (day × store × day type × payment × brand × category) answers
--   questions about brands and categories by payment method from a few rows per (day, store).
-- They are derived tables: every partition is queued for a rebuild, which fills the new
-- columns and the new table (until then the new columns read 0; nothing reads them but the
-- rebuild, which writes them first).
ALTER TABLE gold.brand_daypart_analytics
    -- Of transaction_count, the baskets without a customer id (each is one shopper).
    ADD COLUMN IF NOT EXISTS anonymous_transactions bigint NOT NULL DEFAULT 0,
    -- The units of the transaction_count baskets (whole baskets, all their items), summed.
    ADD COLUMN IF NOT EXISTS basket_units double precision NOT NULL DEFAULT 0,
    -- The item rows' quality scores, summed (over item_rows: their average).
    ADD COLUMN IF NOT EXISTS quality_score_total numeric(14, 4) NOT NULL DEFAULT 0;

ALTER TABLE gold.basket_analytics
    ADD COLUMN IF NOT EXISTS anonymous_transactions bigint NOT NULL DEFAULT 0;

CREATE TABLE IF NOT EXISTS gold.brand_payment_analytics (
    id                    bigserial PRIMARY KEY,
    transaction_date      date NOT NULL,
    store_id              text NOT NULL,
    day_type              text NOT NULL,
    payment_method        text NOT NULL,
    brand_name            text NOT NULL,
    product_category      text NOT NULL,
    revenue_centavos      bigint NOT NULL,
    units_sold            double precision NOT NULL,
    item_rows             bigint NOT NULL,
    -- Baskets counted as in brand_daypart_analytics: per brand × category, per brand (under
    -- the category of the brand's first item) and per category (under the brand of its first
    -- item). A basket has one payment method, so each count adds up over payment methods.
    transaction_count     bigint NOT NULL,
    brand_transactions    bigint NOT NULL,
    category_transactions bigint NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS brand_payment_analytics_date_store
    ON gold.brand_payment_analytics (transaction_date, store_id);

INSERT INTO metadata.gold_pending (transaction_date, store_id, marked_at)
SELECT transaction_date, store_id, now() FROM silver.transactions_cleaned
UNION
SELECT transaction_date, store_id, now() FROM archive.transactions_cleaned
ON CONFLICT (transaction_date, store_id) DO NOTHING;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'scout_reader') THEN
        GRANT SELECT ON gold.brand_payment_analytics TO scout_reader;
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'scout_reader not granted gold.brand_payment_analytics (%); platinum relies on read-only transactions alone', SQLERRM;
END
$$;
