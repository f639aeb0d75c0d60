-- Device heartbeats (POST /v1/heartbeat): the latest report per device, one row each, overwritten
-- by the next; and a short history (the newest 1,000 per device, trimmed on every insert).
-- Same columns as PostgreSQL's metadata.device_heartbeats; timestamps are ISO-8601 UTC text and
-- `payload` is the report as received (JSON text).
CREATE TABLE IF NOT EXISTS metadata_device_heartbeats (
    device_id               TEXT PRIMARY KEY REFERENCES metadata_devices (device_id) ON DELETE CASCADE,
    received_at             TEXT NOT NULL,
    sent_at                 TEXT NOT NULL,
    agent_version           TEXT NOT NULL,
    uptime_secs             INTEGER NOT NULL,
    queue_depth             INTEGER NOT NULL,
    queue_bytes             INTEGER NOT NULL,
    oldest_pending_age_secs INTEGER,
    dead_letters            INTEGER NOT NULL,
    refused_total           INTEGER NOT NULL,
    disk_free_bytes         INTEGER,
    last_upload_at          TEXT,
    last_error              TEXT,
    payload                 TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS metadata_device_heartbeat_history (
    id          INTEGER PRIMARY KEY,
    device_id   TEXT NOT NULL REFERENCES metadata_devices (device_id) ON DELETE CASCADE,
    received_at TEXT NOT NULL,
    payload     TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS metadata_device_heartbeat_history_device_id
    ON metadata_device_heartbeat_history (device_id, id);
