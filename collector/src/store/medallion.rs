//! The medallion stages' database side: claiming pending bronze rows, writing silver and the
//! quarantine, queueing and rebuilding gold partitions, and reading KPIs back.
//!
//! Coordination lives in the database, never in memory, so any number of collectors can run the
//! stages against one PostgreSQL database:
//! - **silver:** a bronze row is pending while `silver_processed_at` is NULL. A batch claims
//!   pending rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite's single writer under
//!   `BEGIN IMMEDIATE`), replaces their silver and quarantine rows, queues the (day, store)
//!   partitions they touch, and marks them processed, all in one transaction.
//! - **gold:** `metadata.gold_pending` holds the partitions to rebuild. A silver writer upserts
//!   its partitions with `DO UPDATE` (a row lock, taken in key order); a refresher claims
//!   partitions with `SKIP LOCKED`, deletes them from the queue, and rebuilds their gold,
//!   product and customer rows from silver in the same transaction. A silver batch that commits
//!   after a refresh read its partition has re-queued it (its upsert waited for the refresh's
//!   lock), so gold never misses a committed silver row.
//! - **isolation:** every batch reports what it claimed, also when it fails (the rollback
//!   released the claim), so the pipeline can retry exactly those rows or partitions in smaller
//!   batches ([`Store::silver_batch_of`], [`Store::gold_batch_of`]: claimed by explicit id or
//!   key, still with `SKIP LOCKED`, so a row another worker took meanwhile is its business). A
//!   bronze row that fails alone is quarantined whole by a batch of its own; a gold partition
//!   that fails alone is taken off the queue into `metadata.gold_failures`
//!   ([`Store::set_aside_gold`]), and a later successful rebuild of it clears that row.

use std::ops::AddAssign;

use chrono::NaiveDate;
use serde::Serialize;

use super::{Store, StoreError, medallion_postgres as pg, medallion_sqlite as lite};
use crate::silver::{BronzeRecord, SilverOutcome};

/// What one silver batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SilverBatch {
    /// Bronze rows claimed and processed.
    pub bronze_rows: u64,
    pub silver_rows: u64,
    pub quarantined: u64,
    /// (day, store) partitions queued for gold.
    pub partitions_queued: u64,
    /// Sum of the silver rows' quality scores (for the mean).
    pub quality_sum: f64,
}

impl AddAssign for SilverBatch {
    fn add_assign(&mut self, b: Self) {
        self.bronze_rows += b.bronze_rows;
        self.silver_rows += b.silver_rows;
        self.quarantined += b.quarantined;
        self.partitions_queued += b.partitions_queued;
        self.quality_sum += b.quality_sum;
    }
}

/// What one gold batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GoldBatch {
    pub partitions: u64,
    pub gold_rows: u64,
}

impl AddAssign for GoldBatch {
    fn add_assign(&mut self, b: Self) {
        self.partitions += b.partitions;
        self.gold_rows += b.gold_rows;
    }
}

/// Which pending bronze rows or queued partitions a stage batch claims.
#[derive(Debug, Clone, Copy)]
pub(super) enum Claim<'a, K> {
    /// The first in key order, up to this many.
    Next(i64),
    /// These, as far as they are still pending (and, on PostgreSQL, not held by another worker).
    Only(&'a [K]),
}

/// A (business day, store) partition.
pub type Partition = (NaiveDate, String);

/// Work waiting for the stages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Backlog {
    /// Bronze rows not yet in silver.
    pub bronze_pending: i64,
    /// Ingest time of the oldest of them (seconds since the epoch), if any.
    pub oldest_pending_epoch: Option<i64>,
    /// (day, store) partitions waiting for a gold rebuild.
    pub gold_pending: i64,
    /// Partitions whose last rebuild the database refused (`metadata.gold_failures`).
    pub gold_failed: i64,
}

/// One gold row, as `kpis` and `demo` print it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GoldRow {
    pub transaction_date: NaiveDate,
    pub store_id: String,
    pub brand_name: String,
    pub product_category: String,
    pub revenue_centavos: i64,
    pub transaction_count: i64,
    pub unique_customers: i64,
    pub avg_basket_size: f64,
    pub units_sold: f64,
}

/// The silver stage's work, handed the claimed rows off the async runtime.
pub type BuildSilver = Box<dyn FnOnce(Vec<BronzeRecord>) -> Vec<SilverOutcome> + Send>;

impl Store {
    /// Claims up to `limit` pending bronze rows, turns them into silver with `build` (run on a
    /// blocking thread) and commits everything in one transaction. Returns the ids claimed (also
    /// when the batch failed: its rollback released them) and what the batch did, zeros when
    /// nothing was pending.
    pub async fn silver_batch(
        &self,
        limit: i64,
        build: BuildSilver,
    ) -> (Vec<i64>, Result<SilverBatch, StoreError>) {
        self.silver_claiming(Claim::Next(limit), build).await
    }

    /// As [`Store::silver_batch`], for the bronze rows `bronze_ids` that are still pending (on
    /// PostgreSQL, skipping any another worker holds): how the pipeline retries a failed batch's
    /// rows in smaller batches.
    pub async fn silver_batch_of(
        &self,
        bronze_ids: &[i64],
        build: BuildSilver,
    ) -> (Vec<i64>, Result<SilverBatch, StoreError>) {
        self.silver_claiming(Claim::Only(bronze_ids), build).await
    }

    async fn silver_claiming(
        &self,
        claim: Claim<'_, i64>,
        build: BuildSilver,
    ) -> (Vec<i64>, Result<SilverBatch, StoreError>) {
        let mut claimed = Vec::new();
        let result = match self {
            Self::Sqlite(pool) => lite::silver_batch(pool, claim, build, &mut claimed).await,
            Self::Postgres(pool) => pg::silver_batch(pool, claim, build, &mut claimed).await,
        };
        (claimed, result)
    }

    /// Claims up to `limit` queued (day, store) partitions and rebuilds their gold and analytics
    /// rows from silver, in one transaction. Returns the partitions claimed (also when the batch
    /// failed) and what the batch did.
    pub async fn gold_batch(&self, limit: i64) -> (Vec<Partition>, Result<GoldBatch, StoreError>) {
        self.gold_claiming(Claim::Next(limit)).await
    }

    /// As [`Store::gold_batch`], for those of `partitions` still queued (on PostgreSQL, skipping
    /// any another worker holds).
    pub async fn gold_batch_of(
        &self,
        partitions: &[Partition],
    ) -> (Vec<Partition>, Result<GoldBatch, StoreError>) {
        self.gold_claiming(Claim::Only(partitions)).await
    }

    async fn gold_claiming(
        &self,
        claim: Claim<'_, Partition>,
    ) -> (Vec<Partition>, Result<GoldBatch, StoreError>) {
        let mut claimed = Vec::new();
        let result = match self {
            Self::Sqlite(pool) => lite::gold_batch(pool, claim, &mut claimed).await,
            Self::Postgres(pool) => pg::gold_batch(pool, claim, &mut claimed).await,
        };
        (claimed, result)
    }

    /// Takes a partition whose rebuild failed on its own off the gold queue and records it, with
    /// the database's message, in `metadata.gold_failures` (its gold rows stay as last built).
    /// Returns false when the partition was no longer queued, or another worker holds it.
    pub async fn set_aside_gold(
        &self,
        day: NaiveDate,
        store_id: &str,
        error: &str,
    ) -> Result<bool, StoreError> {
        match self {
            Self::Sqlite(pool) => lite::set_aside_gold(pool, day, store_id, error).await,
            Self::Postgres(pool) => pg::set_aside_gold(pool, day, store_id, error).await,
        }
    }

    /// Marks every bronze row pending again and queues every silver partition, so the stages
    /// rebuild silver and gold from scratch (after a dictionary change, say). Returns the number
    /// of bronze rows marked.
    pub async fn reset_medallion(&self) -> Result<u64, StoreError> {
        match self {
            Self::Sqlite(pool) => lite::reset(pool).await,
            Self::Postgres(pool) => pg::reset(pool).await,
        }
    }

    /// Queues every (day, store) partition that has silver rows, so gold is rebuilt from silver
    /// as it stands. Returns the number queued.
    pub async fn queue_gold_rebuild(&self) -> Result<u64, StoreError> {
        match self {
            Self::Sqlite(pool) => lite::queue_gold_rebuild(pool).await,
            Self::Postgres(pool) => pg::queue_gold_rebuild(pool).await,
        }
    }

    /// Work waiting for the stages.
    pub async fn backlog(&self) -> Result<Backlog, StoreError> {
        match self {
            Self::Sqlite(pool) => lite::backlog(pool).await,
            Self::Postgres(pool) => pg::backlog(pool).await,
        }
    }

    /// The newest business day in gold.
    pub async fn latest_gold_date(&self) -> Result<Option<NaiveDate>, StoreError> {
        match self {
            Self::Sqlite(pool) => lite::latest_gold_date(pool).await,
            Self::Postgres(pool) => pg::latest_gold_date(pool).await,
        }
    }

    /// Gold rows of one day (optionally one store), by store then revenue, largest first.
    pub async fn gold_day(
        &self,
        date: NaiveDate,
        store_id: Option<&str>,
    ) -> Result<Vec<GoldRow>, StoreError> {
        match self {
            Self::Sqlite(pool) => lite::gold_day(pool, date, store_id).await,
            Self::Postgres(pool) => pg::gold_day(pool, date, store_id).await,
        }
    }
}

/// Sorted, distinct partitions (sorting keeps lock order stable between silver writers).
/// Gold's aggregates over the `silver` table's rows of the claimed partitions `k(d, s)`, the
/// same on both backends: `known` (distinct customer ids per gold grain, from the few rows that
/// carry one) and `a` (plain sums over silver's `first_in_group` flag, integer centavos).
pub(super) fn gold_aggregates(silver: &str) -> String {
    format!(
        "known AS ( \
           SELECT t.transaction_date, t.store_id, t.brand_name, t.product_category, \
             count(DISTINCT t.customer_id) AS n \
           FROM k JOIN {silver} t ON t.transaction_date = k.d AND t.store_id = k.s \
           WHERE t.customer_id IS NOT NULL GROUP BY 1, 2, 3, 4), \
         a AS ( \
           SELECT t.transaction_date, t.store_id, t.brand_name, t.product_category, \
             sum(t.amount_centavos) AS centavos, \
             count(*) FILTER (WHERE t.first_in_group) AS transactions, \
             count(*) FILTER (WHERE t.first_in_group AND t.customer_id IS NULL) AS anonymous, \
             avg(t.basket_units) FILTER (WHERE t.first_in_group) AS basket, \
             sum(t.quantity) AS units, count(*) AS item_rows, avg(t.quality_score) AS quality \
           FROM k JOIN {silver} t ON t.transaction_date = k.d AND t.store_id = k.s \
           GROUP BY 1, 2, 3, 4)"
    )
}

/// Customer analytics' aggregates, as [`gold_aggregates`]: every row of a transaction falls in
/// the same daypart × day type × payment × basket band group, so each group holds whole baskets,
/// counted on silver's `first_in_basket` rows.
pub(super) fn customer_aggregates(silver: &str) -> String {
    format!(
        "known AS ( \
           SELECT t.transaction_date, t.store_id, t.daypart, t.day_type, t.payment_method, \
             t.basket_band, count(DISTINCT t.customer_id) AS n \
           FROM k JOIN {silver} t ON t.transaction_date = k.d AND t.store_id = k.s \
           WHERE t.customer_id IS NOT NULL AND t.first_in_basket GROUP BY 1, 2, 3, 4, 5, 6), \
         a AS ( \
           SELECT t.transaction_date, t.store_id, t.daypart, t.day_type, t.payment_method, \
             t.basket_band, sum(t.amount_centavos) AS centavos, \
             count(*) FILTER (WHERE t.first_in_basket) AS transactions, \
             count(*) FILTER (WHERE t.first_in_basket AND t.customer_id IS NULL) AS anonymous, \
             avg(t.basket_units) FILTER (WHERE t.first_in_basket) AS units \
           FROM k JOIN {silver} t ON t.transaction_date = k.d AND t.store_id = k.s \
           GROUP BY 1, 2, 3, 4, 5, 6)"
    )
}

pub(super) fn partitions(mut keys: Vec<(NaiveDate, String)>) -> Vec<(NaiveDate, String)> {
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// The silver stage's counts for a set of outcomes.
pub(super) fn counts(outcomes: &[SilverOutcome], partitions_queued: usize) -> SilverBatch {
    SilverBatch {
        bronze_rows: outcomes.len() as u64,
        silver_rows: outcomes.iter().map(|o| o.rows.len() as u64).sum(),
        quarantined: outcomes.iter().map(|o| o.rejects.len() as u64).sum(),
        partitions_queued: partitions_queued as u64,
        quality_sum: outcomes
            .iter()
            .flat_map(|o| &o.rows)
            .map(|r| r.quality_score)
            .sum(),
    }
}

/// Ends a stage batch's transaction: commits its work, or rolls back at once when it failed. A
/// dropped transaction is rolled back only when its connection goes back to the pool, in a task of
/// its own; until then PostgreSQL keeps the batch's row locks, and the pipeline's retry of the
/// same rows by id (`SKIP LOCKED`) would find nothing to claim.
pub(super) async fn finish<DB: sqlx::Database, T>(
    tx: sqlx::Transaction<'_, DB>,
    result: Result<T, StoreError>,
) -> Result<T, StoreError> {
    match result {
        Ok(done) => {
            tx.commit().await?;
            Ok(done)
        }
        Err(e) => {
            if let Err(rollback) = tx.rollback().await {
                tracing::debug!(error = %rollback, "rolling back a failed batch failed");
            }
            Err(e)
        }
    }
}

/// Runs the build off the async runtime.
pub(super) async fn run_build(
    build: BuildSilver,
    records: Vec<BronzeRecord>,
) -> Result<Vec<SilverOutcome>, StoreError> {
    tokio::task::spawn_blocking(move || build(records))
        .await
        .map_err(|e| {
            StoreError::Database(sqlx::Error::Protocol(format!("silver build failed: {e}")))
        })
}
