-- Files and the audit trail, as on PostgreSQL (the layer is the name's prefix here).

-- One row per distinct file content (`content_sha256`): the same file dropped twice lands once.
CREATE TABLE IF NOT EXISTS staging_universal_file_ingestion (
    id                   INTEGER PRIMARY KEY,
    file_id              TEXT NOT NULL,
    file_name            TEXT NOT NULL,
    file_format          TEXT NOT NULL
        CHECK (file_format IN ('json', 'csv', 'tsv', 'excel', 'xml', 'parquet', 'text')),
    detection_confidence REAL NOT NULL CHECK (detection_confidence BETWEEN 0 AND 1),
    schema_inference     TEXT NOT NULL DEFAULT '{}',
    column_mappings      TEXT NOT NULL DEFAULT '{}',
    raw_data             TEXT NOT NULL DEFAULT '[]',
    total_records        INTEGER NOT NULL DEFAULT 0,
    processing_metadata  TEXT NOT NULL DEFAULT '{}',
    status               TEXT NOT NULL
        CHECK (status IN ('ingested', 'processed', 'failed', 'needs_review', 'archived')),
    error_message        TEXT,
    created_at           TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    content_sha256       TEXT NOT NULL UNIQUE,
    size_bytes           INTEGER NOT NULL,
    header_fingerprint   TEXT,
    updated_at           TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS staging_universal_file_ingestion_created
    ON staging_universal_file_ingestion (created_at);
CREATE INDEX IF NOT EXISTS staging_universal_file_ingestion_status
    ON staging_universal_file_ingestion (status, created_at);

CREATE TABLE IF NOT EXISTS staging_confirmed_mappings (
    header_fingerprint TEXT PRIMARY KEY,
    column_mappings    TEXT NOT NULL,
    confirmed_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE IF NOT EXISTS metadata_function_audit (
    id            INTEGER PRIMARY KEY,
    function_name TEXT NOT NULL,
    duration_ms   INTEGER NOT NULL CHECK (duration_ms >= 0),
    error         TEXT,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    device_id     TEXT,
    row_count     INTEGER,
    details       TEXT
);
CREATE INDEX IF NOT EXISTS metadata_function_audit_created ON metadata_function_audit (created_at);
CREATE INDEX IF NOT EXISTS metadata_function_audit_function
    ON metadata_function_audit (function_name, created_at);

CREATE TABLE IF NOT EXISTS metadata_ai_sql_audit (
    id          INTEGER PRIMARY KEY,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    question    TEXT,
    plan        TEXT,
    sql_text    TEXT,
    duration_ms INTEGER NOT NULL DEFAULT 0 CHECK (duration_ms >= 0),
    row_count   INTEGER,
    cache_hit   INTEGER NOT NULL DEFAULT 0,
    error       TEXT
);
CREATE INDEX IF NOT EXISTS metadata_ai_sql_audit_created ON metadata_ai_sql_audit (created_at);
