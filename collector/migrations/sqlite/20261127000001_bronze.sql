-- Bronze: every transaction exactly once per device, as received, plus what the agent stamped.
-- SQLite has no schemas: the layer is the table name's prefix (bronze.x is bronze_x here).
-- Timestamps are ISO-8601 UTC text; JSON columns are text holding JSON.
CREATE TABLE IF NOT EXISTS metadata_devices (
    device_id      TEXT PRIMARY KEY,
    store_id       TEXT NOT NULL,
    token_hash     TEXT NOT NULL UNIQUE,
    created_at     TEXT NOT NULL,
    revoked_at     TEXT,
    last_seen_at   TEXT
);

CREATE TABLE IF NOT EXISTS bronze_scout_raw_transactions (
    id                    INTEGER PRIMARY KEY,
    transaction_id        TEXT NOT NULL,
    store_id              TEXT,
    device_id             TEXT NOT NULL,
    transaction_timestamp TEXT NOT NULL,
    items                 TEXT NOT NULL,
    detected_brands       TEXT NOT NULL,
    processing_metadata   TEXT NOT NULL,
    payload               TEXT NOT NULL,
    quality_score         REAL CHECK (quality_score BETWEEN 0 AND 1),
    ingested_at           TEXT NOT NULL,
    captured_at           TEXT,
    device_seq            INTEGER,
    agent_version         TEXT,
    UNIQUE (device_id, transaction_id)
);

CREATE INDEX IF NOT EXISTS bronze_scout_raw_transactions_ingested_at
    ON bronze_scout_raw_transactions (ingested_at);
CREATE INDEX IF NOT EXISTS bronze_scout_raw_transactions_store_ts
    ON bronze_scout_raw_transactions (store_id, transaction_timestamp);
