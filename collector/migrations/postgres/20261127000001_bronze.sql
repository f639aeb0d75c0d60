-- Bronze: every transaction exactly once per device, as received, plus what the agent stamped.
CREATE SCHEMA IF NOT EXISTS bronze;
CREATE SCHEMA IF NOT EXISTS metadata;

CREATE TABLE IF NOT EXISTS metadata.devices (
    device_id      text PRIMARY KEY,
    store_id       text NOT NULL,
    token_hash     text NOT NULL UNIQUE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz,
    last_seen_at   timestamptz
);

CREATE TABLE IF NOT EXISTS bronze.scout_raw_transactions (
    id                    bigserial PRIMARY KEY,
    transaction_id        text NOT NULL,
    store_id              text,
    device_id             text NOT NULL,
    transaction_timestamp timestamptz NOT NULL,
    items                 jsonb NOT NULL,
    detected_brands       jsonb NOT NULL,
    processing_metadata   jsonb NOT NULL,
    payload               jsonb NOT NULL,
    quality_score         double precision CHECK (quality_score BETWEEN 0 AND 1),
    ingested_at           timestamptz NOT NULL DEFAULT now(),
    captured_at           timestamptz,
    device_seq            bigint,
    agent_version         text,
    CONSTRAINT scout_raw_transactions_device_txn UNIQUE (device_id, transaction_id)
);

CREATE INDEX IF NOT EXISTS scout_raw_transactions_ingested_at
    ON bronze.scout_raw_transactions (ingested_at);
CREATE INDEX IF NOT EXISTS scout_raw_transactions_store_ts
    ON bronze.scout_raw_transactions (store_id, transaction_timestamp);
