-- Files and the audit trail (CONTRACT.md §5): every imported file's staging row, the column
-- mappings operators confirmed, and the audit tables the operations manual reads.
CREATE SCHEMA IF NOT EXISTS staging;

-- One row per distinct file content (`content_sha256`): the same file dropped twice lands once.
CREATE TABLE IF NOT EXISTS staging.universal_file_ingestion (
    id                   bigserial PRIMARY KEY,
    -- The caller's fileId (a Drive id, say), else the content hash.
    file_id              text NOT NULL,
    file_name            text NOT NULL,
    file_format          text NOT NULL
        CHECK (file_format IN ('json', 'csv', 'tsv', 'excel', 'xml', 'parquet', 'text')),
    detection_confidence numeric(4, 3) NOT NULL CHECK (detection_confidence BETWEEN 0 AND 1),
    -- {"qualityScore": 0..1, "issues": [...], "columns": [...]}
    schema_inference     jsonb NOT NULL DEFAULT '{}',
    -- {"mapping_confidence": 0..1, "column_mappings": [...]}
    column_mappings      jsonb NOT NULL DEFAULT '{}',
    -- A sample of the file's first rows as read.
    raw_data             jsonb NOT NULL DEFAULT '[]',
    total_records        integer NOT NULL DEFAULT 0,
    processing_metadata  jsonb NOT NULL DEFAULT '{}',
    status               text NOT NULL
        CHECK (status IN ('ingested', 'processed', 'failed', 'needs_review', 'archived')),
    error_message        text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    content_sha256       text NOT NULL UNIQUE,
    size_bytes           bigint NOT NULL,
    header_fingerprint   text,
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS universal_file_ingestion_created
    ON staging.universal_file_ingestion (created_at);
CREATE INDEX IF NOT EXISTS universal_file_ingestion_status
    ON staging.universal_file_ingestion (status, created_at);

-- Column mappings an operator confirmed, per header fingerprint: reused for the next file with
-- the same headers.
CREATE TABLE IF NOT EXISTS staging.confirmed_mappings (
    header_fingerprint text PRIMARY KEY,
    column_mappings    jsonb NOT NULL,
    confirmed_at       timestamptz NOT NULL DEFAULT now()
);

-- One row per call of an operation (ingest-stream, universal-processor, nl2sql, quality-gates,
-- maintenance, ...).
CREATE TABLE IF NOT EXISTS metadata.function_audit (
    id            bigserial PRIMARY KEY,
    function_name text NOT NULL,
    duration_ms   integer NOT NULL CHECK (duration_ms >= 0),
    error         text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    device_id     text,
    row_count     integer,
    details       jsonb
);
CREATE INDEX IF NOT EXISTS function_audit_created ON metadata.function_audit (created_at);
CREATE INDEX IF NOT EXISTS function_audit_function
    ON metadata.function_audit (function_name, created_at);

-- One row per natural-language question or plan answered (or refused).
CREATE TABLE IF NOT EXISTS metadata.ai_sql_audit (
    id          bigserial PRIMARY KEY,
    created_at  timestamptz NOT NULL DEFAULT now(),
    question    text,
    plan        jsonb,
    sql_text    text,
    duration_ms integer NOT NULL DEFAULT 0 CHECK (duration_ms >= 0),
    row_count   integer,
    cache_hit   boolean NOT NULL DEFAULT false,
    error       text
);
CREATE INDEX IF NOT EXISTS ai_sql_audit_created ON metadata.ai_sql_audit (created_at);
