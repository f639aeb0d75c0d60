//! PostgreSQL statements, written against the contract's table names (`bronze.…`,
//! `metadata.…`) so existing operations SQL keeps working.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};

use super::{DeviceRecord, StoreError};
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
    rows.into_iter().map(device_from_row).collect()
}

pub(super) async fn authenticate(
    pool: &PgPool,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<DeviceRecord>, StoreError> {
    let row = sqlx::query(
        "UPDATE metadata.devices SET last_seen_at = $1 \
         WHERE token_hash = $2 AND revoked_at IS NULL \
         RETURNING device_id, store_id, created_at, revoked_at, last_seen_at",
    )
    .bind(now)
    .bind(token_hash)
    .fetch_optional(pool)
    .await?;
    row.map(device_from_row).transpose()
}

fn device_from_row(row: sqlx::postgres::PgRow) -> Result<DeviceRecord, StoreError> {
    Ok(DeviceRecord {
        device_id: row.try_get("device_id")?,
        store_id: row.try_get("store_id")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
        last_seen_at: row.try_get("last_seen_at")?,
    })
}
