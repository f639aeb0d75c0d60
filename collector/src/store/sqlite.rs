//! SQLite statements. Layer prefixes are part of the table name (`bronze_…`, `metadata_…`);
//! timestamps are stored as ISO-8601 UTC text so they sort and compare as text.

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::{Row, SqlitePool};

use super::{DeviceRecord, StoreError};
use crate::bronze::BronzeRow;

/// The one text form of a timestamp on SQLite.
pub(super) fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_ts(text: Option<String>) -> Option<DateTime<Utc>> {
    text.and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&Utc))
}

pub(super) async fn insert_bronze(
    pool: &SqlitePool,
    rows: &[BronzeRow],
) -> Result<u64, StoreError> {
    let ingested_at = ts(Utc::now());
    let mut tx = pool.begin().await?;
    let mut inserted = 0;
    for row in rows {
        inserted += sqlx::query(
            "INSERT INTO bronze_scout_raw_transactions (transaction_id, store_id, device_id, \
             transaction_timestamp, items, detected_brands, processing_metadata, payload, \
             ingested_at, captured_at, device_seq, agent_version) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (device_id, transaction_id) DO NOTHING",
        )
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
        .bind(&row.agent_version)
        .execute(&mut *tx)
        .await?
        .rows_affected();
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
    rows.into_iter().map(device_from_row).collect()
}

pub(super) async fn authenticate(
    pool: &SqlitePool,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<DeviceRecord>, StoreError> {
    let row = sqlx::query(
        "UPDATE metadata_devices SET last_seen_at = ? \
         WHERE token_hash = ? AND revoked_at IS NULL \
         RETURNING device_id, store_id, created_at, revoked_at, last_seen_at",
    )
    .bind(ts(now))
    .bind(token_hash)
    .fetch_optional(pool)
    .await?;
    row.map(device_from_row).transpose()
}

fn device_from_row(row: sqlx::sqlite::SqliteRow) -> Result<DeviceRecord, StoreError> {
    Ok(DeviceRecord {
        device_id: row.try_get("device_id")?,
        store_id: row.try_get("store_id")?,
        created_at: parse_ts(row.try_get("created_at")?).unwrap_or_default(),
        revoked_at: parse_ts(row.try_get("revoked_at")?),
        last_seen_at: parse_ts(row.try_get("last_seen_at")?),
    })
}
