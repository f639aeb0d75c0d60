//! The device registry, heartbeats and the fleet view, written once for both backends.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use scout_common::Heartbeat;

use super::Store;
use super::error::StoreError;
use super::sql::{Arg, Row, Upsert};

/// A registered device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    pub device_id: String,
    pub store_id: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_seen_at: Option<DateTime<Utc>>,
}

/// The last heartbeat a device sent, and when the collector received it.
#[derive(Debug, Clone, PartialEq)]
pub struct HeartbeatRecord {
    pub received_at: DateTime<Utc>,
    pub heartbeat: Heartbeat,
}

/// One line of the fleet view: a registered device, its last heartbeat, and its bronze rows
/// ingested in the requested window (today, for `GET /v1/devices`).
#[derive(Debug, Clone, PartialEq)]
pub struct FleetRow {
    pub device: DeviceRecord,
    pub last_heartbeat: Option<HeartbeatRecord>,
    pub transactions_today: u64,
}

/// Heartbeats kept per device in the history table; older ones are deleted as new ones arrive.
pub const HEARTBEAT_HISTORY_PER_DEVICE: i64 = 1000;

/// How fresh `last_seen_at` is kept: authenticating a device writes it only when it is older
/// than this, so a busy device costs a read per request, not a write (and, on SQLite, a sync).
pub const LAST_SEEN_GRANULARITY: chrono::TimeDelta = chrono::TimeDelta::seconds(30);

const DEVICE_COLUMNS: &str = "d.device_id, d.store_id, d.created_at, d.revoked_at, d.last_seen_at";

/// A counter as the database stores it (`bigint`): values past `i64::MAX` are clamped.
fn to_db(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A stored counter back as the wire type (negative values, which the collector never writes,
/// read as 0).
fn from_db(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn device(row: &Row) -> Result<DeviceRecord, StoreError> {
    Ok(DeviceRecord {
        device_id: row.text("device_id")?,
        store_id: row.text("store_id")?,
        created_at: row.time("created_at")?,
        revoked_at: row.opt_time("revoked_at")?,
        last_seen_at: row.opt_time("last_seen_at")?,
    })
}

/// A device's latest heartbeat, replacing the one before.
static HEARTBEAT_UPSERT: LazyLock<String> = LazyLock::new(|| {
    Upsert {
        table: "metadata.device_heartbeats",
        key: "device_id",
        columns: &[
            "device_id",
            "received_at",
            "sent_at",
            "agent_version",
            "uptime_secs",
            "queue_depth",
            "queue_bytes",
            "oldest_pending_age_secs",
            "dead_letters",
            "refused_total",
            "disk_free_bytes",
            "last_upload_at",
            "last_error",
            "payload",
        ],
        json: &["payload"],
        keep: &[],
    }
    .sql()
});

impl Store {
    /// Registers a device with the hash of its token. Returns false if the device is registered
    /// and not revoked; a revoked device is re-registered with the new token.
    pub async fn add_device(
        &self,
        device_id: &str,
        store_id: &str,
        token_hash: &str,
    ) -> Result<bool, StoreError> {
        let affected = self
            .db
            .execute(
                "INSERT INTO metadata.devices (device_id, store_id, token_hash, created_at) \
                 VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (device_id) DO UPDATE SET store_id = $2, token_hash = $3, \
                 created_at = $4, revoked_at = NULL \
                 WHERE metadata.devices.revoked_at IS NOT NULL",
                &[
                    device_id.into(),
                    store_id.into(),
                    token_hash.into(),
                    Utc::now().into(),
                ],
            )
            .await?;
        Ok(affected == 1)
    }

    /// Marks a device revoked; returns false when no active device has that id.
    pub async fn revoke_device(&self, device_id: &str) -> Result<bool, StoreError> {
        let affected = self
            .db
            .execute(
                "UPDATE metadata.devices SET revoked_at = $1 \
                 WHERE device_id = $2 AND revoked_at IS NULL",
                &[Utc::now().into(), device_id.into()],
            )
            .await?;
        Ok(affected == 1)
    }

    /// Moves an active device to `store_id`; returns the store it was registered to, or `None`
    /// when no active device has that id.
    pub async fn move_device(
        &self,
        device_id: &str,
        store_id: &str,
    ) -> Result<Option<String>, StoreError> {
        // The old value comes from a no-op update, which also locks the row (on PostgreSQL) for
        // the real one in the same transaction: UPDATE … RETURNING gives only the new row.
        let mut tx = self.db.begin().await?;
        let result = async {
            let previous = tx
                .fetch(
                    "UPDATE metadata.devices SET store_id = store_id \
                     WHERE device_id = $1 AND revoked_at IS NULL RETURNING store_id",
                    &[device_id.into()],
                )
                .await?;
            let Some(previous) = previous.first() else {
                return Ok(None);
            };
            tx.execute(
                "UPDATE metadata.devices SET store_id = $1 WHERE device_id = $2",
                &[store_id.into(), device_id.into()],
            )
            .await?;
            previous.text(0).map(Some)
        }
        .await;
        tx.finish(result).await
    }

    /// All registered devices, by id.
    pub async fn list_devices(&self) -> Result<Vec<DeviceRecord>, StoreError> {
        let sql = format!("SELECT {DEVICE_COLUMNS} FROM metadata.devices d ORDER BY device_id");
        let rows = self.db.fetch(&sql, &[]).await?;
        rows.iter().map(device).collect()
    }

    /// The active (not revoked) device holding a token with this hash; records that it was seen
    /// (`last_seen_at`, kept to within [`LAST_SEEN_GRANULARITY`]).
    pub async fn authenticate(&self, token_hash: &str) -> Result<Option<DeviceRecord>, StoreError> {
        let now = Utc::now();
        let sql = format!(
            "SELECT {DEVICE_COLUMNS} FROM metadata.devices d \
             WHERE token_hash = $1 AND revoked_at IS NULL"
        );
        let rows = self.db.fetch(&sql, &[token_hash.into()]).await?;
        let Some(mut device) = rows.first().map(device).transpose()? else {
            return Ok(None);
        };
        if device
            .last_seen_at
            .is_none_or(|t| now - t >= LAST_SEEN_GRANULARITY)
        {
            self.db
                .execute(
                    "UPDATE metadata.devices SET last_seen_at = $1 \
                     WHERE device_id = $2 AND revoked_at IS NULL",
                    &[now.into(), device.device_id.as_str().into()],
                )
                .await?;
            device.last_seen_at = Some(now);
        }
        Ok(Some(device))
    }

    /// Stores `heartbeat` as the device's latest (replacing the previous one) and appends it to
    /// the device's bounded history, in one transaction. `payload` is the report as received.
    pub async fn record_heartbeat(
        &self,
        device_id: &str,
        hb: &Heartbeat,
        payload: &str,
        received_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let latest = [
            device_id.into(),
            received_at.into(),
            hb.sent_at.into(),
            hb.agent_version.as_str().into(),
            to_db(hb.uptime_secs).into(),
            to_db(hb.queue_depth).into(),
            to_db(hb.queue_bytes).into(),
            hb.oldest_pending_age_secs.map(to_db).into(),
            to_db(hb.dead_letters).into(),
            to_db(hb.refused_total).into(),
            hb.disk_free_bytes.map(to_db).into(),
            hb.last_upload_at.into(),
            hb.last_error.as_deref().into(),
            Arg::json(payload),
        ];
        let mut tx = self.db.begin().await?;
        let result = async {
            tx.execute(&HEARTBEAT_UPSERT, &latest).await?;
            tx.execute(
                "INSERT INTO metadata.device_heartbeat_history (device_id, received_at, payload) \
                 VALUES ($1, $2, $3::jsonb)",
                &[device_id.into(), received_at.into(), Arg::json(payload)],
            )
            .await?;
            tx.execute(
                "DELETE FROM metadata.device_heartbeat_history WHERE device_id = $1 AND id <= \
                 (SELECT id FROM metadata.device_heartbeat_history WHERE device_id = $1 \
                  ORDER BY id DESC LIMIT 1 OFFSET $2)",
                &[device_id.into(), HEARTBEAT_HISTORY_PER_DEVICE.into()],
            )
            .await?;
            Ok(())
        }
        .await;
        tx.finish(result).await
    }

    /// Every registered device with its last heartbeat and the number of its bronze rows whose
    /// `ingested_at` lies in `[from, until)`; one query (bronze read through its `ingested_at`
    /// index, only for the window, grouped once), ordered by device id.
    pub async fn fleet(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<FleetRow>, StoreError> {
        let sql = format!(
            "SELECT {DEVICE_COLUMNS}, h.received_at, h.sent_at, h.agent_version, \
             h.uptime_secs, h.queue_depth, h.queue_bytes, h.oldest_pending_age_secs, \
             h.dead_letters, h.refused_total, h.disk_free_bytes, h.last_upload_at, \
             h.last_error, COALESCE(t.n, 0) AS transactions_today \
             FROM metadata.devices d \
             LEFT JOIN metadata.device_heartbeats h ON h.device_id = d.device_id \
             LEFT JOIN (SELECT device_id, count(*) AS n FROM bronze.raw_transactions \
                        WHERE ingested_at >= $1 AND ingested_at < $2 GROUP BY device_id) t \
                    ON t.device_id = d.device_id \
             ORDER BY d.device_id"
        );
        let rows = self.db.fetch(&sql, &[from.into(), until.into()]).await?;
        rows.iter().map(fleet_row).collect()
    }
}

fn fleet_row(row: &Row) -> Result<FleetRow, StoreError> {
    let last_heartbeat = match row.opt_time("received_at")? {
        None => None,
        Some(received_at) => Some(HeartbeatRecord {
            received_at,
            heartbeat: Heartbeat {
                sent_at: row.opt_time("sent_at")?.unwrap_or(received_at),
                agent_version: row.text("agent_version")?,
                uptime_secs: from_db(row.int("uptime_secs")?),
                queue_depth: from_db(row.int("queue_depth")?),
                queue_bytes: from_db(row.int("queue_bytes")?),
                oldest_pending_age_secs: row.opt_int("oldest_pending_age_secs")?.map(from_db),
                dead_letters: from_db(row.int("dead_letters")?),
                refused_total: from_db(row.int("refused_total")?),
                disk_free_bytes: row.opt_int("disk_free_bytes")?.map(from_db),
                last_upload_at: row.opt_time("last_upload_at")?,
                last_error: row.opt_text("last_error")?,
            },
        }),
    };
    Ok(FleetRow {
        device: device(row)?,
        last_heartbeat,
        transactions_today: from_db(row.int("transactions_today")?),
    })
}
