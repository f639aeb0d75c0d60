-- Brands and aliases operators teach the matcher (`scout-collector brands alias|add`); see the
-- PostgreSQL migration of the same number.
CREATE TABLE IF NOT EXISTS metadata_brand_dictionary (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('alias', 'brand')),
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
    -- `name` folded for uniqueness (lower case, single spaces)
    form        TEXT NOT NULL,
    brand       TEXT NOT NULL CHECK (length(brand) BETWEEN 1 AND 128),
    category    TEXT,
    company     TEXT,
    created_at  TEXT NOT NULL,
    CHECK (kind = 'alias' OR (category IS NOT NULL AND company IS NOT NULL))
);
CREATE UNIQUE INDEX IF NOT EXISTS metadata_brand_dictionary_form
    ON metadata_brand_dictionary (kind, form);

CREATE INDEX IF NOT EXISTS silver_transactions_cleaned_unresolved
    ON silver_transactions_cleaned ("timestamp") WHERE brand_name IS NULL;
