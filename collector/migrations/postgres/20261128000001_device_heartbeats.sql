-- Device heartbeats (POST /v1/heartbeat): the latest report per device, one row each, overwritten
-- by the next; and a short history (the newest 1,000 per device, trimmed on every insert).
-- Counters are bigint (the agent's u64 values are clamped at i64::MAX); `payload` is the report
-- as received, unknown fields included, so a newer agent's extra fields are not lost.
CREATE TABLE IF NOT EXISTS metadata.device_heartbeats (
    device_id               text PRIMARY KEY REFERENCES metadata.devices (device_id) ON DELETE CASCADE,
    received_at             timestamptz NOT NULL,
    sent_at                 timestamptz NOT NULL,
    agent_version           text NOT NULL,
    uptime_secs             bigint NOT NULL,
    queue_depth             bigint NOT NULL,
    queue_bytes             bigint NOT NULL,
    oldest_pending_age_secs bigint,
    dead_letters            bigint NOT NULL,
    refused_total           bigint NOT NULL,
    disk_free_bytes         bigint,
    last_upload_at          timestamptz,
    last_error              text,
    payload                 jsonb NOT NULL
);

CREATE TABLE IF NOT EXISTS metadata.device_heartbeat_history (
    id          bigserial PRIMARY KEY,
    device_id   text NOT NULL REFERENCES metadata.devices (device_id) ON DELETE CASCADE,
    received_at timestamptz NOT NULL,
    payload     jsonb NOT NULL
);

CREATE INDEX IF NOT EXISTS device_heartbeat_history_device_id
    ON metadata.device_heartbeat_history (device_id, id);
