-- Brands and aliases operators teach the matcher (`scout-collector brands alias|add`): merged
-- over the shipped dictionary and the operator file by every collector sharing this database,
-- which reloads them when this table changes. One row per alias (kind 'alias': `name` is the
-- form, `brand` the brand it means) or per brand added (kind 'brand': `name` = `brand`, with its
-- category and company). A form taught again replaces the earlier row.
CREATE TABLE IF NOT EXISTS metadata.brand_dictionary (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('alias', 'brand')),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
    -- `name` folded for uniqueness (lower case, single spaces)
    form        text NOT NULL,
    brand       text NOT NULL CHECK (length(brand) BETWEEN 1 AND 128),
    category    text,
    company     text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (kind = 'alias' OR (category IS NOT NULL AND company IS NOT NULL))
);
CREATE UNIQUE INDEX IF NOT EXISTS brand_dictionary_form
    ON metadata.brand_dictionary (kind, form);

-- The unresolved queue reads silver's rows without a brand by time.
CREATE INDEX IF NOT EXISTS transactions_cleaned_unresolved
    ON silver.transactions_cleaned ("timestamp") WHERE brand_name IS NULL;
