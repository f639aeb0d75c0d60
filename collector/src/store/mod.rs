//! Database access for both backends: SQLite (the embedded default) and PostgreSQL (production
//! and scale-out). Callers see one [`Store`]; each backend module holds its own SQL, because the
//! fast paths differ (`UNNEST` batches on PostgreSQL, multi-row `INSERT … VALUES` statements in
//! one transaction on SQLite) and table names differ (`bronze.x` on PostgreSQL is `bronze_x` on SQLite).

mod medallion;
mod medallion_postgres;
mod medallion_sqlite;
mod postgres;
mod sqlite;

pub use medallion::{Backlog, BuildSilver, GoldBatch, GoldRow, SilverBatch};

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use scout_common::Heartbeat;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

use crate::bronze::BronzeRow;

/// The database URL used when none is given: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://scout-collector.db";

/// A failed database operation, sorted by what the caller should do about it.
///
/// Every `sqlx::Error` becomes a `StoreError` through one `From` impl ([`fault`] decides), so
/// each store method classifies the same way:
/// - [`StoreError::Unavailable`]: the database could not do it *now* (connection refused, lost
///   or terminated, pool exhausted, database shutting down or not accepting connections, locked,
///   out of disk or memory, a serialization conflict). Retry the same work later; nothing about
///   the data is wrong. Ingest answers 503 with `Retry-After`.
/// - [`StoreError::Refused`]: the database refused the data itself (a value out of range, too
///   long for an index, invalid text, a constraint). The same data fails again; only this may
///   become a final per-line rejection.
/// - [`StoreError::Database`]: anything else (a bug, a schema that does not match, a corrupt
///   file): neither retrying soon nor blaming the data is right. Ingest answers a bare 500.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL {0:?}: expected sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    #[error("database is busy or unreachable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("database refused the data: {0}")]
    Refused(#[source] sqlx::Error),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Whether the caller should retry the same work later (see [`StoreError`]).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    /// Whether the data itself was refused, so retrying it cannot help (see [`StoreError`]).
    pub fn is_refused(&self) -> bool {
        matches!(self, Self::Refused(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match fault(&e) {
            Fault::Transient => Self::Unavailable(e),
            Fault::Data => Self::Refused(e),
            Fault::Other => Self::Database(e),
        }
    }
}

/// Whose fault a database error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The database or the way to it, for now.
    Transient,
    /// The data sent.
    Data,
    /// Neither: a bug, a schema mismatch, corruption.
    Other,
}

/// The one place that decides whose fault a database error is.
pub fn fault(e: &sqlx::Error) -> Fault {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => Fault::Transient,
        sqlx::Error::Database(db) => match db.code() {
            Some(code) if code.len() == 5 => postgres_fault(&code),
            Some(code) => code.parse::<i32>().map_or(Fault::Other, sqlite_fault),
            None => Fault::Other,
        },
        _ => Fault::Other,
    }
}

/// PostgreSQL SQLSTATE classes (Appendix A of its manual).
fn postgres_fault(code: &str) -> Fault {
    match &code[..2] {
        // Connection exception; transaction rollback (serialization failure, deadlock);
        // insufficient resources (disk full, out of memory, too many connections); object not
        // in prerequisite state (55000: the database is not accepting connections; 55P03: lock
        // not available); operator intervention (57P01 terminated by an administrator, 57P03
        // cannot connect now, 57014 cancelled); system error (I/O).
        "08" | "40" | "53" | "55" | "57" | "58" => Fault::Transient,
        // A read-only transaction: the server is a standby (a failover in progress).
        "25" if code == "25006" => Fault::Transient,
        // Data exception (out of range, invalid text, untranslatable character); integrity
        // constraint; program limit exceeded (an index row too large).
        "22" | "23" | "54" => Fault::Data,
        _ => Fault::Other,
    }
}

/// SQLite result codes (primary code in the low byte of an extended one).
fn sqlite_fault(code: i32) -> Fault {
    match code & 0xff {
        // PERM, BUSY, LOCKED, NOMEM, READONLY (a file system remounted read-only), INTERRUPT,
        // IOERR, FULL (disk full), CANTOPEN, PROTOCOL.
        3 | 5 | 6 | 7 | 8 | 9 | 10 | 13 | 14 | 15 => Fault::Transient,
        // TOOBIG, CONSTRAINT, MISMATCH, RANGE.
        18 | 19 | 20 | 25 => Fault::Data,
        _ => Fault::Other,
    }
}

/// Which backend a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

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

/// Pool settings.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// A connection pool to one of the two backends.
#[derive(Debug, Clone)]
pub enum Store {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Store {
    /// Connects to `url` (`sqlite://PATH` creates the file; `postgres://...`).
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            let connect = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // FULL: an acknowledged line must survive a power cut, not only a crash.
                .synchronous(SqliteSynchronous::Full)
                // Bronze rows are a few KB each, about a page apiece, and the unique index is
                // touched all over: checkpointing every 10,000 WAL pages (40 MiB; the default is
                // 1,000) writes a page that changed in many commits back to the database once
                // rather than many times, which cuts the time a bronze commit holds the write
                // lock by about a third. The WAL file is cut back to 64 MiB after a checkpoint.
                .pragma("wal_autocheckpoint", "10000")
                .pragma("journal_size_limit", "67108864")
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true);
            let pool = SqlitePoolOptions::new()
                .max_connections(options.max_connections.clamp(1, 8))
                .acquire_timeout(options.acquire_timeout)
                .connect_with(connect)
                .await?;
            Ok(Self::Sqlite(pool))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let connect = PgConnectOptions::from_str(url)?.application_name("scout-collector");
            let pool = PgPoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(options.acquire_timeout)
                .connect_with(connect)
                .await?;
            Ok(Self::Postgres(pool))
        } else {
            Err(StoreError::UnsupportedUrl(url.to_owned()))
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies pending migrations (safe to run from several collectors at once).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(pool) => sqlx::migrate!("./migrations/sqlite").run(pool).await?,
            Self::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// Cheap liveness probe.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(pool) => {
                sqlx::query("SELECT 1").execute(pool).await?;
            }
            Self::Postgres(pool) => {
                sqlx::query("SELECT 1").execute(pool).await?;
            }
        }
        Ok(())
    }

    /// Inserts rows in one transaction; returns how many were new (the rest were duplicates).
    /// When this returns `Ok`, the rows are committed.
    pub async fn insert_bronze(&self, rows: &[BronzeRow]) -> Result<u64, StoreError> {
        if rows.is_empty() {
            return Ok(0);
        }
        match self {
            Self::Sqlite(pool) => sqlite::insert_bronze(pool, rows).await,
            Self::Postgres(pool) => postgres::insert_bronze(pool, rows).await,
        }
    }

    /// Number of bronze rows (all devices).
    pub async fn bronze_count(&self) -> Result<i64, StoreError> {
        Ok(match self {
            Self::Sqlite(pool) => {
                sqlx::query_scalar("SELECT count(*) FROM bronze_scout_raw_transactions")
                    .fetch_one(pool)
                    .await?
            }
            Self::Postgres(pool) => {
                sqlx::query_scalar("SELECT count(*) FROM bronze.scout_raw_transactions")
                    .fetch_one(pool)
                    .await?
            }
        })
    }

    /// Registers a device with the hash of its token. Fails if the device is registered and not
    /// revoked; a revoked device is re-registered with the new token.
    pub async fn add_device(
        &self,
        device_id: &str,
        store_id: &str,
        token_hash: &str,
    ) -> Result<bool, StoreError> {
        let now = Utc::now();
        match self {
            Self::Sqlite(pool) => {
                sqlite::add_device(pool, device_id, store_id, token_hash, now).await
            }
            Self::Postgres(pool) => {
                postgres::add_device(pool, device_id, store_id, token_hash, now).await
            }
        }
    }

    /// Marks a device revoked; returns false when no active device has that id.
    pub async fn revoke_device(&self, device_id: &str) -> Result<bool, StoreError> {
        let now = Utc::now();
        let affected = match self {
            Self::Sqlite(pool) => sqlx::query(
                "UPDATE metadata_devices SET revoked_at = ? \
                 WHERE device_id = ? AND revoked_at IS NULL",
            )
            .bind(sqlite::ts(now))
            .bind(device_id)
            .execute(pool)
            .await?
            .rows_affected(),
            Self::Postgres(pool) => sqlx::query(
                "UPDATE metadata.devices SET revoked_at = $1 \
                 WHERE device_id = $2 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(device_id)
            .execute(pool)
            .await?
            .rows_affected(),
        };
        Ok(affected == 1)
    }

    /// Moves an active device to `store_id`; returns the store it was registered to, or `None`
    /// when no active device has that id.
    pub async fn move_device(
        &self,
        device_id: &str,
        store_id: &str,
    ) -> Result<Option<String>, StoreError> {
        // The old value is read in the same statement's transaction: UPDATE … RETURNING gives
        // only the new row, so the previous store comes from a locked read first.
        Ok(match self {
            Self::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let previous: Option<String> = sqlx::query_scalar(
                    "SELECT store_id FROM metadata_devices \
                     WHERE device_id = ? AND revoked_at IS NULL",
                )
                .bind(device_id)
                .fetch_optional(&mut *tx)
                .await?;
                if previous.is_some() {
                    sqlx::query("UPDATE metadata_devices SET store_id = ? WHERE device_id = ?")
                        .bind(store_id)
                        .bind(device_id)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                previous
            }
            Self::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let previous: Option<String> = sqlx::query_scalar(
                    "SELECT store_id FROM metadata.devices \
                     WHERE device_id = $1 AND revoked_at IS NULL FOR UPDATE",
                )
                .bind(device_id)
                .fetch_optional(&mut *tx)
                .await?;
                if previous.is_some() {
                    sqlx::query("UPDATE metadata.devices SET store_id = $1 WHERE device_id = $2")
                        .bind(store_id)
                        .bind(device_id)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                previous
            }
        })
    }

    /// All registered devices, by id.
    pub async fn list_devices(&self) -> Result<Vec<DeviceRecord>, StoreError> {
        match self {
            Self::Sqlite(pool) => sqlite::list_devices(pool).await,
            Self::Postgres(pool) => postgres::list_devices(pool).await,
        }
    }

    /// The active (not revoked) device holding a token with this hash; records that it was seen
    /// (`last_seen_at`, kept to within [`LAST_SEEN_GRANULARITY`]).
    pub async fn authenticate(&self, token_hash: &str) -> Result<Option<DeviceRecord>, StoreError> {
        let now = Utc::now();
        match self {
            Self::Sqlite(pool) => sqlite::authenticate(pool, token_hash, now).await,
            Self::Postgres(pool) => postgres::authenticate(pool, token_hash, now).await,
        }
    }
}

impl Store {
    /// Stores `heartbeat` as the device's latest (replacing the previous one) and appends it to
    /// the device's bounded history, in one transaction. `payload` is the report as received.
    pub async fn record_heartbeat(
        &self,
        device_id: &str,
        heartbeat: &Heartbeat,
        payload: &str,
        received_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(pool) => {
                sqlite::record_heartbeat(pool, device_id, heartbeat, payload, received_at).await
            }
            Self::Postgres(pool) => {
                postgres::record_heartbeat(pool, device_id, heartbeat, payload, received_at).await
            }
        }
    }

    /// Every registered device with its last heartbeat and the number of its bronze rows whose
    /// `ingested_at` lies in `[from, until)`; one query, ordered by device id.
    pub async fn fleet(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<FleetRow>, StoreError> {
        match self {
            Self::Sqlite(pool) => sqlite::fleet(pool, from, until).await,
            Self::Postgres(pool) => postgres::fleet(pool, from, until).await,
        }
    }
}

/// A counter as the database stores it (`bigint`): values past `i64::MAX` are clamped.
fn to_db(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A stored counter back as the wire type (negative values, which the collector never writes,
/// read as 0).
fn from_db(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// How fresh `last_seen_at` is kept: authenticating a device writes it only when it is older
/// than this, so a busy device costs a read per request, not a write (and, on SQLite, a sync).
pub const LAST_SEEN_GRANULARITY: chrono::TimeDelta = chrono::TimeDelta::seconds(30);

fn last_seen_is_stale(last_seen: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last_seen.is_none_or(|t| now - t >= LAST_SEEN_GRANULARITY)
}
