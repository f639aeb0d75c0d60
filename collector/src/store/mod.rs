//! Database access for both backends: SQLite (the embedded default) and PostgreSQL (production
//! and scale-out).
//!
//! Every flow is written once, in SQL spelled for PostgreSQL: the registry and heartbeats
//! (`devices.rs`), silver's claim and write (`silver.rs`), gold's claim and rebuild (`gold.rs`),
//! and the backend-neutral views tests and tools read through (`views.rs`). What differs
//! between the backends lives in one place each: `sql.rs` (how a statement runs and how values
//! are encoded, and SQLite's spelling of the same SQL), `postgres.rs` and `sqlite.rs` (bulk
//! writes, claims, gold's rebuild statements). Whose fault an error is, is decided in
//! `error.rs`.
//!
//! Coordination lives in the database, never in memory, so any number of collectors can run
//! the stages against one PostgreSQL database:
//! - **silver:** landing a bronze row queues its id in `metadata.silver_pending` (a trigger, in
//!   the same statement). A batch takes ids off the queue (`FOR UPDATE SKIP LOCKED` on
//!   PostgreSQL; under SQLite's one write lock), replaces their silver, quarantine and quality
//!   rows, and queues the (day, store) partitions they touch, all in one transaction. Bronze
//!   rows are never rewritten; `bronze.scout_raw_transactions` is a view that shows each row
//!   with its quality score from `bronze.transaction_quality`.
//! - **gold:** `metadata.gold_pending` holds the partitions to rebuild. A silver writer upserts
//!   its partitions (a row lock, taken in key order); a refresher claims partitions with
//!   `SKIP LOCKED`, deletes them from the queue, and rebuilds their gold, product and customer
//!   rows from silver in the same transaction. A silver batch that commits after a refresh read
//!   its partition has re-queued it (its upsert waited for the refresh's lock), so gold never
//!   misses a committed silver row.
//! - **isolation:** a batch's claim is released by its rollback, so the pipeline can retry
//!   exactly those rows or partitions in smaller batches ([`Claim::Only`]: claimed by explicit
//!   id or key, still with `SKIP LOCKED`, so a row another worker took meanwhile is its
//!   business). A partition that fails alone is taken off the queue into
//!   `metadata.gold_failures` ([`Store::set_aside_gold`]); a later successful rebuild of it
//!   clears that row.

mod archive;
mod audit;
mod backend;
mod brands;
mod devices;
mod error;
mod gold;
mod postgres;
mod readonly;
mod silver;
mod sql;
mod sqlite;
mod staging;
mod views;

pub use archive::Moved;
pub use audit::{AuditDurations, AuditEntry, DURATION_BUCKETS, DurationSeries, SqlAuditEntry};
pub use brands::{UnresolvedName, WeakName};
pub use devices::{
    DeviceRecord, FleetRow, HEARTBEAT_HISTORY_PER_DEVICE, HeartbeatRecord, LAST_SEEN_GRANULARITY,
};
pub use error::{Fault, StoreError, fault, retry_transient};
pub use gold::{Backlog, GoldBatch, GoldRow};
pub use readonly::{READER_ROLE, ReadLimits};
pub use silver::{BronzeRecord, SilverClaim, SilverWrite};
pub use sql::{Arg, Claim, Partition, Record, Row, sqlite_text};
pub use staging::{StagedFile, StagedStatus};

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::bronze::BronzeRow;
use sql::Db;

/// The database URL used when none is given: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://scout-collector.db";

/// Which backend a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

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
pub struct Store {
    db: Db,
    /// Where read-only queries run (`readonly.rs`): on SQLite a second pool of read-only
    /// connections to the same file, on PostgreSQL the same pool (each transaction is set read
    /// only).
    reader: Db,
    /// Durations of the calls this process audited (shared by the pool's clones).
    durations: std::sync::Arc<AuditDurations>,
    /// Whether read-only queries may take the reader role (PostgreSQL; asked once).
    reader_role: std::sync::Arc<tokio::sync::OnceCell<bool>>,
}

impl Store {
    /// Connects to `url` (`sqlite://PATH` creates the file; `postgres://...`).
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let (db, reader) = if url.starts_with("sqlite:") {
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
            let reader = SqlitePoolOptions::new()
                .max_connections(options.max_connections.clamp(1, 4))
                .acquire_timeout(options.acquire_timeout)
                .connect_lazy_with(readonly::sqlite_options(&connect));
            let pool = SqlitePoolOptions::new()
                .max_connections(options.max_connections.clamp(1, 8))
                .acquire_timeout(options.acquire_timeout)
                .connect_with(connect)
                .await?;
            (Db::Sqlite(pool), Db::Sqlite(reader))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            // No JIT: the collector's statements run for milliseconds to a few hundred; compiling
            // one (PostgreSQL does above a cost of 100,000) took ~175 ms of an 840 ms gate query.
            let connect = PgConnectOptions::from_str(url)?
                .application_name("scout-collector")
                .options([("jit", "off")]);
            let pool = PgPoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(options.acquire_timeout)
                .connect_with(connect)
                .await?;
            (Db::Postgres(pool.clone()), Db::Postgres(pool))
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        };
        Ok(Self {
            db,
            reader,
            durations: std::sync::Arc::default(),
            reader_role: std::sync::Arc::default(),
        })
    }

    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies pending migrations (safe to run from several collectors at once).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.db {
            Db::Sqlite(pool) => sqlx::migrate!("./migrations/sqlite").run(pool).await?,
            Db::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// Cheap liveness probe.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.execute("SELECT 1", &[]).await.map(drop)
    }

    /// Closes the pool: waits for connections in use to come back, then closes them all.
    pub async fn close(&self) {
        if let Db::Sqlite(reader) = &self.reader {
            reader.close().await;
        }
        match &self.db {
            Db::Sqlite(pool) => pool.close().await,
            Db::Postgres(pool) => pool.close().await,
        }
    }

    /// Lands rows in one transaction (queueing each new one for silver); returns how many were
    /// new (the rest were duplicates). When this returns `Ok`, the rows are committed.
    pub async fn insert_bronze(&self, rows: &[BronzeRow]) -> Result<u64, StoreError> {
        if rows.is_empty() {
            return Ok(0);
        }
        self.db.insert_bronze(rows).await
    }

    /// Number of bronze rows (all devices).
    pub async fn bronze_count(&self) -> Result<i64, StoreError> {
        self.db
            .fetch_one("SELECT count(*) FROM bronze.raw_transactions", &[])
            .await?
            .int(0)
    }
}

/// A database URL with any password replaced, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://scout:s3cret@db:5432/scout"),
            "postgres://scout:***@db:5432/scout"
        );
        assert_eq!(
            redact("postgres://root@127.0.0.1/test"),
            "postgres://root@127.0.0.1/test"
        );
        assert_eq!(redact("sqlite://scout.db"), "sqlite://scout.db");
    }
}
