//! PostgreSQL statements, written against the contract's table names (`bronze.…`,
//! `metadata.…`) so existing operations SQL keeps working.

use chrono::{DateTime, Utc};
use scout_common::Heartbeat;
use sqlx::{PgPool, Row};

use super::{
    DeviceRecord, FleetRow, HEARTBEAT_HISTORY_PER_DEVICE, HeartbeatRecord, StoreError, from_db,
    to_db,
};
use crate::bronze::BronzeRow;

/// One statement per batch: columns travel as arrays and `UNNEST` turns them back into rows,
/// so a 1,000-row batch costs one round trip and one plan.
pub(super) async fn insert_bronze(pool: &PgPool, rows: &[BronzeRow]) -> Result<u64, StoreError> {
    let n = rows.len();
    let mut transaction_id = Vec::with_capacity(n);
    let mut store_id = Vec::with_capacity(n);
    let mut device_id = Vec::with_capacity(n);
    let mut timestamp = Vec::with_capacity(n);
    let mut items = Vec::with_capacity(n);
    let mut brands = Vec::with_capacity(n);
    let mut metadata = Vec::with_capacity(n);
    let mut payload = Vec::with_capacity(n);
    let mut captured_at = Vec::with_capacity(n);
    let mut seq = Vec::with_capacity(n);
    let mut version = Vec::with_capacity(n);
    for row in rows {
        transaction_id.push(row.transaction_id.as_str());
        store_id.push(row.store_id.as_deref());
        device_id.push(row.device_id.as_str());
        timestamp.push(row.transaction_timestamp);
        items.push(row.items.as_str());
        brands.push(row.detected_brands.as_str());
        metadata.push(row.processing_metadata.as_str());
        payload.push(row.payload.as_str());
        captured_at.push(row.captured_at);
        seq.push(row.device_seq);
        version.push(row.agent_version.as_deref());
    }
    let result = sqlx::query(
        "INSERT INTO bronze.scout_raw_transactions (transaction_id, store_id, device_id, \
         transaction_timestamp, items, detected_brands, processing_metadata, payload, \
         ingested_at, captured_at, device_seq, agent_version) \
         SELECT t.transaction_id, t.store_id, t.device_id, t.ts, t.items::jsonb, \
         t.brands::jsonb, t.meta::jsonb, t.payload::jsonb, now(), t.captured_at, t.seq, t.version \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], \
         $6::text[], $7::text[], $8::text[], $9::timestamptz[], $10::int8[], $11::text[]) \
         AS t(transaction_id, store_id, device_id, ts, items, brands, meta, payload, \
         captured_at, seq, version) \
         ON CONFLICT (device_id, transaction_id) DO NOTHING",
    )
    .bind(&transaction_id)
    .bind(&store_id)
    .bind(&device_id)
    .bind(&timestamp)
    .bind(&items)
    .bind(&brands)
    .bind(&metadata)
    .bind(&payload)
    .bind(&captured_at)
    .bind(&seq)
    .bind(&version)
    .execute(pool)
    .await?;
    Ok(result.rows_affected())
}

pub(super) async fn add_device(
    pool: &PgPool,
    device_id: &str,
    store_id: &str,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let affected = sqlx::query(
        "INSERT INTO metadata.devices (device_id, store_id, token_hash, created_at) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (device_id) DO UPDATE SET store_id = $2, token_hash = $3, \
         created_at = $4, revoked_at = NULL WHERE metadata.devices.revoked_at IS NOT NULL",
    )
    .bind(device_id)
    .bind(store_id)
    .bind(token_hash)
    .bind(now)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(affected == 1)
}

pub(super) async fn list_devices(pool: &PgPool) -> Result<Vec<DeviceRecord>, StoreError> {
    let rows = sqlx::query(
        "SELECT device_id, store_id, created_at, revoked_at, last_seen_at \
         FROM metadata.devices ORDER BY device_id",
    )
    .fetch_all(pool)
    .await?;
    rows.iter().map(device_from_row).collect()
}

pub(super) async fn authenticate(
    pool: &PgPool,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<DeviceRecord>, StoreError> {
    let row = sqlx::query(
        "SELECT device_id, store_id, created_at, revoked_at, last_seen_at \
         FROM metadata.devices WHERE token_hash = $1 AND revoked_at IS NULL",
    )
    .bind(token_hash)
    .fetch_optional(pool)
    .await?;
    let Some(mut device) = row.as_ref().map(device_from_row).transpose()? else {
        return Ok(None);
    };
    if super::last_seen_is_stale(device.last_seen_at, now) {
        sqlx::query(
            "UPDATE metadata.devices SET last_seen_at = $1 \
             WHERE device_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(&device.device_id)
        .execute(pool)
        .await?;
        device.last_seen_at = Some(now);
    }
    Ok(Some(device))
}

fn device_from_row(row: &sqlx::postgres::PgRow) -> Result<DeviceRecord, StoreError> {
    Ok(DeviceRecord {
        device_id: row.try_get("device_id")?,
        store_id: row.try_get("store_id")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
        last_seen_at: row.try_get("last_seen_at")?,
    })
}

pub(super) async fn record_heartbeat(
    pool: &PgPool,
    device_id: &str,
    hb: &Heartbeat,
    payload: &str,
    received_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO metadata.device_heartbeats (device_id, received_at, sent_at, agent_version, \
         uptime_secs, queue_depth, queue_bytes, oldest_pending_age_secs, dead_letters, \
         refused_total, disk_free_bytes, last_upload_at, last_error, payload) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::jsonb) \
         ON CONFLICT (device_id) DO UPDATE SET received_at = EXCLUDED.received_at, \
         sent_at = EXCLUDED.sent_at, agent_version = EXCLUDED.agent_version, \
         uptime_secs = EXCLUDED.uptime_secs, queue_depth = EXCLUDED.queue_depth, \
         queue_bytes = EXCLUDED.queue_bytes, \
         oldest_pending_age_secs = EXCLUDED.oldest_pending_age_secs, \
         dead_letters = EXCLUDED.dead_letters, refused_total = EXCLUDED.refused_total, \
         disk_free_bytes = EXCLUDED.disk_free_bytes, last_upload_at = EXCLUDED.last_upload_at, \
         last_error = EXCLUDED.last_error, payload = EXCLUDED.payload",
    )
    .bind(device_id)
    .bind(received_at)
    .bind(hb.sent_at)
    .bind(&hb.agent_version)
    .bind(to_db(hb.uptime_secs))
    .bind(to_db(hb.queue_depth))
    .bind(to_db(hb.queue_bytes))
    .bind(hb.oldest_pending_age_secs.map(to_db))
    .bind(to_db(hb.dead_letters))
    .bind(to_db(hb.refused_total))
    .bind(hb.disk_free_bytes.map(to_db))
    .bind(hb.last_upload_at)
    .bind(&hb.last_error)
    .bind(payload)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO metadata.device_heartbeat_history (device_id, received_at, payload) \
         VALUES ($1, $2, $3::jsonb)",
    )
    .bind(device_id)
    .bind(received_at)
    .bind(payload)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "DELETE FROM metadata.device_heartbeat_history WHERE device_id = $1 AND id <= \
         (SELECT id FROM metadata.device_heartbeat_history WHERE device_id = $1 \
          ORDER BY id DESC LIMIT 1 OFFSET $2)",
    )
    .bind(device_id)
    .bind(HEARTBEAT_HISTORY_PER_DEVICE)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Devices, their heartbeat row and their bronze count in the window: bronze is read through
/// its `ingested_at` index, only for the window, and grouped once.
pub(super) async fn fleet(
    pool: &PgPool,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<FleetRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT d.device_id, d.store_id, d.created_at, d.revoked_at, d.last_seen_at, \
         h.received_at, h.sent_at, h.agent_version, h.uptime_secs, h.queue_depth, \
         h.queue_bytes, h.oldest_pending_age_secs, h.dead_letters, h.refused_total, \
         h.disk_free_bytes, h.last_upload_at, h.last_error, \
         COALESCE(t.n, 0) AS transactions_today \
         FROM metadata.devices d \
         LEFT JOIN metadata.device_heartbeats h ON h.device_id = d.device_id \
         LEFT JOIN (SELECT device_id, count(*) AS n FROM bronze.scout_raw_transactions \
                    WHERE ingested_at >= $1 AND ingested_at < $2 GROUP BY device_id) t \
                ON t.device_id = d.device_id \
         ORDER BY d.device_id",
    )
    .bind(from)
    .bind(until)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let received_at: Option<DateTime<Utc>> = row.try_get("received_at")?;
            let last_heartbeat = match received_at {
                None => None,
                Some(received_at) => Some(HeartbeatRecord {
                    received_at,
                    heartbeat: Heartbeat {
                        sent_at: row.try_get("sent_at")?,
                        agent_version: row.try_get("agent_version")?,
                        uptime_secs: from_db(row.try_get("uptime_secs")?),
                        queue_depth: from_db(row.try_get("queue_depth")?),
                        queue_bytes: from_db(row.try_get("queue_bytes")?),
                        oldest_pending_age_secs: row
                            .try_get::<Option<i64>, _>("oldest_pending_age_secs")?
                            .map(from_db),
                        dead_letters: from_db(row.try_get("dead_letters")?),
                        refused_total: from_db(row.try_get("refused_total")?),
                        disk_free_bytes: row
                            .try_get::<Option<i64>, _>("disk_free_bytes")?
                            .map(from_db),
                        last_upload_at: row.try_get("last_upload_at")?,
                        last_error: row.try_get("last_error")?,
                    },
                }),
            };
            Ok(FleetRow {
                device: device_from_row(row)?,
                last_heartbeat,
                transactions_today: from_db(row.try_get("transactions_today")?),
            })
        })
        .collect()
}
