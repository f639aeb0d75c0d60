//! SQLite statements. Layer prefixes are part of the table name (`bronze_…`, `metadata_…`);
//! timestamps are stored as ISO-8601 UTC text so they sort and compare as text.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, PoisonError};

use chrono::{DateTime, SecondsFormat, Utc};
use scout_common::Heartbeat;
use sqlx::{AssertSqlSafe, Row, SqlitePool};

use super::{
    DeviceRecord, FleetRow, HEARTBEAT_HISTORY_PER_DEVICE, HeartbeatRecord, StoreError, from_db,
    to_db,
};
use crate::bronze::BronzeRow;

/// The one text form of a timestamp on SQLite.
pub(super) fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub(super) fn parse_ts(text: Option<String>) -> Option<DateTime<Utc>> {
    text.and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&Utc))
}

pub(super) async fn insert_bronze(
    pool: &SqlitePool,
    rows: &[BronzeRow],
) -> Result<u64, StoreError> {
    // Bronze writers of one database file take turns here rather than in SQLite: SQLite lets
    // one transaction write at a time, and a writer that finds the file locked waits in SQLite's
    // busy handler, which sleeps in steps of up to 100 ms instead of starting as soon as the
    // other commits (two requests of one agent in flight would spend most of their time asleep).
    type Writers = HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>;
    static WRITERS: LazyLock<std::sync::Mutex<Writers>> = LazyLock::new(Default::default);
    let writer = {
        let mut writers = WRITERS.lock().unwrap_or_else(PoisonError::into_inner);
        let file = pool.connect_options().get_filename().to_owned();
        Arc::clone(writers.entry(file).or_default())
    };
    let _turn = writer.lock().await;

    // Up to `ROWS` rows per statement: one trip to the connection's worker thread and one
    // statement run for many rows, rather than one per row (12 parameters a row stays well
    // under SQLite's 32,766).
    const ROWS: usize = 64;
    fn statement(rows: usize) -> String {
        let mut sql = String::from(
            "INSERT INTO bronze_scout_raw_transactions (transaction_id, store_id, device_id, \
             transaction_timestamp, items, detected_brands, processing_metadata, payload, \
             ingested_at, captured_at, device_seq, agent_version) VALUES ",
        );
        for i in 0..rows {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
        }
        sql.push_str(" ON CONFLICT (device_id, transaction_id) DO NOTHING");
        sql
    }
    static FULL: LazyLock<Arc<str>> = LazyLock::new(|| statement(ROWS).into());

    let ingested_at = ts(Utc::now());
    let mut tx = pool.begin().await?;
    let mut inserted = 0;
    for chunk in rows.chunks(ROWS) {
        let sql: Arc<str> = if chunk.len() == ROWS {
            Arc::clone(&FULL)
        } else {
            statement(chunk.len()).into()
        };
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for row in chunk {
            query = query
                .bind(&row.transaction_id)
                .bind(&row.store_id)
                .bind(&row.device_id)
                .bind(ts(row.transaction_timestamp))
                .bind(&row.items)
                .bind(&row.detected_brands)
                .bind(&row.processing_metadata)
                .bind(&row.payload)
                .bind(&ingested_at)
                .bind(row.captured_at.map(ts))
                .bind(row.device_seq)
                .bind(&row.agent_version);
        }
        inserted += query.execute(&mut *tx).await?.rows_affected();
    }
    tx.commit().await?;
    Ok(inserted)
}

pub(super) async fn add_device(
    pool: &SqlitePool,
    device_id: &str,
    store_id: &str,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let affected = sqlx::query(
        "INSERT INTO metadata_devices (device_id, store_id, token_hash, created_at) \
         VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (device_id) DO UPDATE SET store_id = ?2, token_hash = ?3, \
         created_at = ?4, revoked_at = NULL WHERE metadata_devices.revoked_at IS NOT NULL",
    )
    .bind(device_id)
    .bind(store_id)
    .bind(token_hash)
    .bind(ts(now))
    .execute(pool)
    .await?
    .rows_affected();
    Ok(affected == 1)
}

pub(super) async fn list_devices(pool: &SqlitePool) -> Result<Vec<DeviceRecord>, StoreError> {
    let rows = sqlx::query(
        "SELECT device_id, store_id, created_at, revoked_at, last_seen_at \
         FROM metadata_devices ORDER BY device_id",
    )
    .fetch_all(pool)
    .await?;
    rows.iter().map(device_from_row).collect()
}

pub(super) async fn authenticate(
    pool: &SqlitePool,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<DeviceRecord>, StoreError> {
    let row = sqlx::query(
        "SELECT device_id, store_id, created_at, revoked_at, last_seen_at \
         FROM metadata_devices WHERE token_hash = ? AND revoked_at IS NULL",
    )
    .bind(token_hash)
    .fetch_optional(pool)
    .await?;
    let Some(mut device) = row.as_ref().map(device_from_row).transpose()? else {
        return Ok(None);
    };
    if super::last_seen_is_stale(device.last_seen_at, now) {
        sqlx::query(
            "UPDATE metadata_devices SET last_seen_at = ? \
             WHERE device_id = ? AND revoked_at IS NULL",
        )
        .bind(ts(now))
        .bind(&device.device_id)
        .execute(pool)
        .await?;
        device.last_seen_at = Some(now);
    }
    Ok(Some(device))
}

fn device_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<DeviceRecord, StoreError> {
    Ok(DeviceRecord {
        device_id: row.try_get("device_id")?,
        store_id: row.try_get("store_id")?,
        created_at: parse_ts(row.try_get("created_at")?).unwrap_or_default(),
        revoked_at: parse_ts(row.try_get("revoked_at")?),
        last_seen_at: parse_ts(row.try_get("last_seen_at")?),
    })
}

pub(super) async fn record_heartbeat(
    pool: &SqlitePool,
    device_id: &str,
    hb: &Heartbeat,
    payload: &str,
    received_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let received_at = ts(received_at);
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO metadata_device_heartbeats (device_id, received_at, sent_at, agent_version, \
         uptime_secs, queue_depth, queue_bytes, oldest_pending_age_secs, dead_letters, \
         refused_total, disk_free_bytes, last_upload_at, last_error, payload) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT (device_id) DO UPDATE SET received_at = excluded.received_at, \
         sent_at = excluded.sent_at, agent_version = excluded.agent_version, \
         uptime_secs = excluded.uptime_secs, queue_depth = excluded.queue_depth, \
         queue_bytes = excluded.queue_bytes, \
         oldest_pending_age_secs = excluded.oldest_pending_age_secs, \
         dead_letters = excluded.dead_letters, refused_total = excluded.refused_total, \
         disk_free_bytes = excluded.disk_free_bytes, last_upload_at = excluded.last_upload_at, \
         last_error = excluded.last_error, payload = excluded.payload",
    )
    .bind(device_id)
    .bind(&received_at)
    .bind(ts(hb.sent_at))
    .bind(&hb.agent_version)
    .bind(to_db(hb.uptime_secs))
    .bind(to_db(hb.queue_depth))
    .bind(to_db(hb.queue_bytes))
    .bind(hb.oldest_pending_age_secs.map(to_db))
    .bind(to_db(hb.dead_letters))
    .bind(to_db(hb.refused_total))
    .bind(hb.disk_free_bytes.map(to_db))
    .bind(hb.last_upload_at.map(ts))
    .bind(&hb.last_error)
    .bind(payload)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO metadata_device_heartbeat_history (device_id, received_at, payload) \
         VALUES (?, ?, ?)",
    )
    .bind(device_id)
    .bind(&received_at)
    .bind(payload)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "DELETE FROM metadata_device_heartbeat_history WHERE device_id = ?1 AND id <= \
         (SELECT id FROM metadata_device_heartbeat_history WHERE device_id = ?1 \
          ORDER BY id DESC LIMIT 1 OFFSET ?2)",
    )
    .bind(device_id)
    .bind(HEARTBEAT_HISTORY_PER_DEVICE)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Devices, their heartbeat row and their bronze count in the window: bronze is read through
/// its `ingested_at` index (text timestamps in one format compare in time order), grouped once.
pub(super) async fn fleet(
    pool: &SqlitePool,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<FleetRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT d.device_id, d.store_id, d.created_at, d.revoked_at, d.last_seen_at, \
         h.received_at, h.sent_at, h.agent_version, h.uptime_secs, h.queue_depth, \
         h.queue_bytes, h.oldest_pending_age_secs, h.dead_letters, h.refused_total, \
         h.disk_free_bytes, h.last_upload_at, h.last_error, \
         COALESCE(t.n, 0) AS transactions_today \
         FROM metadata_devices d \
         LEFT JOIN metadata_device_heartbeats h ON h.device_id = d.device_id \
         LEFT JOIN (SELECT device_id, count(*) AS n FROM bronze_scout_raw_transactions \
                    WHERE ingested_at >= ? AND ingested_at < ? GROUP BY device_id) t \
                ON t.device_id = d.device_id \
         ORDER BY d.device_id",
    )
    .bind(ts(from))
    .bind(ts(until))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let received_at = parse_ts(row.try_get("received_at")?);
            let last_heartbeat = match received_at {
                None => None,
                Some(received_at) => Some(HeartbeatRecord {
                    received_at,
                    heartbeat: Heartbeat {
                        sent_at: parse_ts(row.try_get("sent_at")?).unwrap_or(received_at),
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
                        last_upload_at: parse_ts(row.try_get("last_upload_at")?),
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
