//! The medallion pipeline: bronze → silver → gold, incremental and idempotent.
//!
//! **Enters:** bronze rows not yet processed (any collector may have landed them).
//! **Leaves:** silver rows and quarantined rejects ([`crate::silver`]), bronze's quality score,
//! and rebuilt gold partitions (`scout.scout_gold_transactions`, `gold.product_analytics`,
//! `gold.customer_analytics`), each a (business day, store) pair.
//! **Guarantees:** every step is one database transaction, coordinated through the database
//! (see `store/mod.rs`), so a crash loses nothing, a re-run changes nothing, and several
//! collectors sharing a database never count a row twice. A late transaction for an old day
//! re-queues that day's partition, and its gold is rebuilt whole.
//!
//! Every `serve` process runs [`Pipeline::run`] in the background: it wakes when ingest commits
//! new rows (or every poll interval), works until nothing is pending, then sleeps.
//!
//! **One bad row never stalls a stage.** Silver's range checks quarantine what would overflow a
//! column or an index; whatever the database still refuses is isolated here. A batch that fails
//! with an error that is not transient is retried in halves, by explicit ids (or partition
//! keys), until every part has committed or is one bronze row (one partition) failing alone.
//! Such a row is quarantined whole as `storage_failed` with the database's message
//! ([`silver::storage_failed`]), in a batch of its own that marks it processed; such a partition
//! is taken off the gold queue into `metadata.gold_failures`. Each is counted in
//! [`EtlMetrics::errors`] and logged, and the rest goes on. A row is set aside when the database
//! refused its data ([`StoreError::is_refused`]), or when it failed alone with another
//! non-transient error while rows claimed with it committed; when every row fails alone with
//! such an error, the fault is the system's (a schema or a bug), not a row's: nothing is set
//! aside, and the pass fails. Transient errors fail the pass too, and [`Pipeline::run`] retries
//! it with backoff.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

mod dictionary;
mod halving;

use dictionary::LiveMatcher;
use halving::Halving;

use crate::brands::BrandMatcher;
use crate::silver::{self, BronzeRecord, SilverBatch, SilverOutcome};
use crate::store::{Backend, Claim, GoldBatch, Store, StoreError};

/// Bronze rows built at a time within a SQLite batch: each part is written while the next
/// builds. On PostgreSQL two batches run at once (one builds while the other writes), and each
/// is built whole: parts there only added statements (measured, 200,000 items).
const BUILD_PART: usize = 256;

/// Batch sizes and pacing.
#[derive(Debug, Clone, Copy)]
pub struct PipelineOptions {
    /// Bronze rows per silver transaction.
    pub silver_batch: i64,
    /// (day, store) partitions per gold transaction.
    pub gold_batch: i64,
    /// Longest sleep between checks when no ingest wakes the pipeline.
    pub poll: Duration,
    /// Silver batches run at once on PostgreSQL (each claims its own rows; one builds while
    /// another writes). SQLite has one writer, so it always runs one.
    pub silver_workers: usize,
    /// Silver rows a pass writes at least before it refreshes the planner's statistics of
    /// silver (PostgreSQL's `ANALYZE`; nothing on SQLite).
    pub analyze_after_rows: u64,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        Self {
            silver_batch: 2000,
            gold_batch: 2000,
            poll: Duration::from_secs(2),
            silver_workers: 2,
            analyze_after_rows: 50_000,
        }
    }
}

/// Counters for the collector's `/metrics`, shared with the HTTP side.
#[derive(Debug, Default)]
pub struct EtlMetrics {
    pub silver_batches: AtomicU64,
    pub bronze_processed: AtomicU64,
    pub silver_rows: AtomicU64,
    pub quarantined: AtomicU64,
    pub gold_batches: AtomicU64,
    pub gold_partitions: AtomicU64,
    /// Failed passes (retried) plus bronze rows and gold partitions set aside after failing on
    /// their own (`etl_processing_errors`).
    pub errors: AtomicU64,
    /// Bronze rows quarantined whole as `storage_failed`.
    pub silver_set_aside: AtomicU64,
    /// Gold partitions taken off the queue into `metadata.gold_failures`.
    pub gold_set_aside: AtomicU64,
    /// Microseconds spent in each stage, summed.
    pub silver_micros: AtomicU64,
    pub gold_micros: AtomicU64,
    /// Unix time of the last pass that found nothing left to do (0: never).
    pub last_caught_up: AtomicI64,
    /// Mean quality score of recent silver rows (an exponentially weighted mean over batches,
    /// about the last 1,000 rows), as f64 bits; NaN before the first row.
    pub recent_quality_bits: AtomicU64,
}

impl EtlMetrics {
    /// Folds a batch's rows into the recent quality mean.
    fn observe_quality(&self, rows: u64, quality_sum: f64) {
        if rows == 0 {
            return;
        }
        let batch_mean = quality_sum / rows as f64;
        let previous = f64::from_bits(self.recent_quality_bits.load(Ordering::Relaxed));
        let next = if previous.is_nan() || self.silver_rows.load(Ordering::Relaxed) == rows {
            batch_mean
        } else {
            let weight = rows as f64 / (rows as f64 + 1000.0);
            previous + weight * (batch_mean - previous)
        };
        self.recent_quality_bits
            .store(next.to_bits(), Ordering::Relaxed);
    }

    /// The recent mean quality score, when any row was processed.
    pub fn recent_quality(&self) -> Option<f64> {
        Some(f64::from_bits(
            self.recent_quality_bits.load(Ordering::Relaxed),
        ))
        .filter(|q| !q.is_nan())
    }
}

/// What a pass did, stage by stage.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PassReport {
    pub silver: SilverBatch,
    pub gold: GoldBatch,
    pub silver_secs: f64,
    pub gold_secs: f64,
}

/// The pipeline over one store.
#[derive(Debug, Clone)]
pub struct Pipeline {
    store: Store,
    matcher: Arc<LiveMatcher>,
    options: PipelineOptions,
    metrics: Arc<EtlMetrics>,
}

impl Pipeline {
    /// A pipeline that builds silver with `matcher`, as it is.
    pub fn new(store: Store, matcher: Arc<BrandMatcher>, options: PipelineOptions) -> Self {
        Self::with_matcher(store, LiveMatcher::fixed(matcher), options)
    }

    /// A pipeline over the shipped dictionary, the operator file `brands_file` and the entries
    /// operators taught through the database, reloaded as they change (see `dictionary.rs`):
    /// what `serve`, `import` and `process` run.
    pub async fn with_dictionary(
        store: Store,
        brands_file: Option<std::path::PathBuf>,
        options: PipelineOptions,
    ) -> anyhow::Result<Self> {
        let matcher = LiveMatcher::load(&store, brands_file).await?;
        Ok(Self::with_matcher(store, matcher, options))
    }

    fn with_matcher(store: Store, matcher: LiveMatcher, options: PipelineOptions) -> Self {
        Self {
            store,
            matcher: Arc::new(matcher),
            options,
            metrics: Arc::new(EtlMetrics {
                recent_quality_bits: AtomicU64::new(f64::NAN.to_bits()),
                ..EtlMetrics::default()
            }),
        }
    }

    /// The matcher silver builds with now.
    pub fn matcher(&self) -> Arc<BrandMatcher> {
        self.matcher.snapshot().1
    }

    pub fn metrics(&self) -> Arc<EtlMetrics> {
        Arc::clone(&self.metrics)
    }

    /// One silver batch; zeros when nothing was pending. A batch that fails for a reason that is
    /// not transient has its rows retried in smaller batches (see the module docs).
    pub async fn silver_step(&self) -> Result<SilverBatch, StoreError> {
        let started = Instant::now();
        let (claimed, result) = self
            .silver_batch(Claim::Next(self.options.silver_batch))
            .await;
        match result {
            Ok(batch) => {
                self.count_silver(&batch, started);
                Ok(batch)
            }
            Err(e) if e.is_transient() || claimed.is_empty() => Err(e),
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    rows = claimed.len(),
                    first_bronze_id = claimed.first().copied(),
                    last_bronze_id = claimed.last().copied(),
                    "silver batch failed; retrying its rows in smaller batches"
                );
                self.isolate_silver(claimed).await
            }
        }
    }

    /// Claims bronze rows, builds their silver rows off the async runtime and has the store
    /// write and commit them. The rows are built in parts, and each part is written while the
    /// next builds, so the build and the database work overlap. Returns the ids claimed (also
    /// when the batch failed: its rollback put them back on the queue) and what the batch did.
    async fn silver_batch(
        &self,
        claim: Claim<'_, i64>,
    ) -> (Vec<i64>, Result<SilverBatch, StoreError>) {
        let mut claimed = match self.store.claim_silver(claim).await {
            Ok(claimed) => claimed,
            Err(e) => return (Vec::new(), Err(e)),
        };
        let ids = claimed.ids().to_vec();
        if ids.is_empty() {
            claimed.release().await;
            return (ids, Ok(SilverBatch::default()));
        }
        let (mut parts, builder) = match self.build(claimed.take_records()).await {
            Ok(building) => building,
            Err(e) => {
                claimed.release().await;
                return (ids, Err(e));
            }
        };
        let mut batch = SilverBatch::default();
        while let Some(part) = parts.recv().await {
            if let Err(e) = claimed.write(silver::writes(&part)).await {
                claimed.release().await;
                return (ids, Err(e));
            }
            batch += SilverBatch::of(&part, 0);
        }
        // The parts stop early only when the build failed: nothing of the batch commits.
        if let Err(e) = builder.await {
            claimed.release().await;
            let e = sqlx::Error::Protocol(format!("silver build failed: {e}"));
            return (ids, Err(StoreError::Database(e)));
        }
        let result = claimed.commit(silver::writes(&[])).await.map(|queued| {
            batch.partitions_queued = queued as u64;
            batch
        });
        (ids, result)
    }

    /// Builds the records' outcomes on a blocking thread ([`silver::build_all`]), on SQLite
    /// [`BUILD_PART`] records at a time, and sends each part as it is done.
    async fn build(
        &self,
        records: Vec<BronzeRecord>,
    ) -> Result<(mpsc::Receiver<Vec<SilverOutcome>>, JoinHandle<()>), StoreError> {
        let matcher = self.matcher.get(&self.store).await?;
        let now = Utc::now();
        let part_size = match self.store.backend() {
            Backend::Sqlite => BUILD_PART,
            Backend::Postgres => records.len().max(1),
        };
        let (sender, parts) = mpsc::channel(2);
        let builder = tokio::task::spawn_blocking(move || {
            for part in records.chunks(part_size) {
                if sender
                    .blocking_send(silver::build_all(part, &matcher, now))
                    .is_err()
                {
                    return; // the batch failed and stopped reading
                }
            }
        });
        Ok((parts, builder))
    }

    fn count_silver(&self, batch: &SilverBatch, started: Instant) {
        let m = &self.metrics;
        if batch.bronze_rows > 0 {
            m.silver_batches.fetch_add(1, Ordering::Relaxed);
            m.bronze_processed
                .fetch_add(batch.bronze_rows, Ordering::Relaxed);
            m.silver_rows
                .fetch_add(batch.silver_rows, Ordering::Relaxed);
            m.quarantined
                .fetch_add(batch.quarantined, Ordering::Relaxed);
            m.observe_quality(batch.silver_rows, batch.quality_sum);
            m.silver_micros
                .fetch_add(micros(started), Ordering::Relaxed);
        }
    }

    /// Processes a failed batch's rows in halves; sets aside the rows that fail alone.
    async fn isolate_silver(&self, claimed: Vec<i64>) -> Result<SilverBatch, StoreError> {
        let mut halves = Halving::new(claimed);
        let mut done = SilverBatch::default();
        while let Some(ids) = halves.next_part() {
            let started = Instant::now();
            let (claimed, result) = self.silver_batch(Claim::Only(&ids)).await;
            if let Some(batch) = halves.record(claimed, result)? {
                self.count_silver(&batch, started);
                done += batch;
            }
        }
        let (failed, systemic) = halves.finish();
        for (bronze_id, error) in failed {
            done += self.set_aside_bronze(bronze_id, &error).await?;
        }
        match systemic {
            Some(e) => Err(e),
            None => Ok(done),
        }
    }

    /// Quarantines a bronze row that failed alone as `storage_failed`, in a batch of its own
    /// that takes it off the queue. Nothing happens when another worker has taken it meanwhile.
    async fn set_aside_bronze(
        &self,
        bronze_id: i64,
        error: &StoreError,
    ) -> Result<SilverBatch, StoreError> {
        let started = Instant::now();
        let message = error.to_string();
        let mut claimed = self.store.claim_silver(Claim::Only(&[bronze_id])).await?;
        let records = claimed.take_records();
        let Some(record) = records.first() else {
            claimed.release().await;
            return Ok(SilverBatch::default());
        };
        let outcomes = [silver::storage_failed(record, &message, Utc::now())];
        let queued = claimed.commit(silver::writes(&outcomes)).await?;
        let batch = SilverBatch::of(&outcomes, queued);
        self.count_silver(&batch, started);
        let m = &self.metrics;
        m.errors.fetch_add(1, Ordering::Relaxed);
        m.silver_set_aside.fetch_add(1, Ordering::Relaxed);
        tracing::error!(
            bronze_id,
            transaction_id = record.transaction_id,
            device_id = record.device_id,
            error = %message,
            "bronze row set aside: the database refused it on its own; \
             quarantined as storage_failed"
        );
        Ok(batch)
    }

    /// One gold batch; zeros when no partition was queued. A batch that fails for a reason that
    /// is not transient has its partitions retried in smaller batches (see the module docs).
    pub async fn gold_step(&self) -> Result<GoldBatch, StoreError> {
        let started = Instant::now();
        let (claimed, result) = self.store.gold_batch(self.options.gold_batch).await;
        match result {
            Ok(batch) => {
                self.count_gold(&batch, started);
                Ok(batch)
            }
            Err(e) if e.is_transient() || claimed.is_empty() => Err(e),
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    partitions = claimed.len(),
                    "gold batch failed; retrying its partitions in smaller batches"
                );
                self.isolate_gold(claimed).await
            }
        }
    }

    fn count_gold(&self, batch: &GoldBatch, started: Instant) {
        if batch.partitions > 0 {
            let m = &self.metrics;
            m.gold_batches.fetch_add(1, Ordering::Relaxed);
            m.gold_partitions
                .fetch_add(batch.partitions, Ordering::Relaxed);
            m.gold_micros.fetch_add(micros(started), Ordering::Relaxed);
        }
    }

    /// Rebuilds a failed batch's partitions in halves; sets aside the partitions that fail alone.
    async fn isolate_gold(
        &self,
        claimed: Vec<(NaiveDate, String)>,
    ) -> Result<GoldBatch, StoreError> {
        let mut halves = Halving::new(claimed);
        let mut done = GoldBatch::default();
        while let Some(partitions) = halves.next_part() {
            let started = Instant::now();
            let (claimed, result) = self.store.gold_batch_of(&partitions).await;
            if let Some(batch) = halves.record(claimed, result)? {
                self.count_gold(&batch, started);
                done += batch;
            }
        }
        let (failed, systemic) = halves.finish();
        for ((day, store_id), error) in failed {
            let message = error.to_string();
            if self.store.set_aside_gold(day, &store_id, &message).await? {
                let m = &self.metrics;
                m.errors.fetch_add(1, Ordering::Relaxed);
                m.gold_set_aside.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    date = %day,
                    store_id,
                    error = %message,
                    "gold partition set aside: the database refused its rebuild on its own; \
                     recorded in metadata.gold_failures"
                );
            }
        }
        match systemic {
            Some(e) => Err(e),
            None => Ok(done),
        }
    }

    /// Runs silver batches until no bronze row is pending (several at once on PostgreSQL).
    pub async fn silver_pass(&self) -> Result<SilverBatch, StoreError> {
        let workers = match self.store.backend() {
            Backend::Sqlite => 1,
            Backend::Postgres => self.options.silver_workers.max(1),
        };
        // Each worker takes batch after batch until it finds nothing to claim, without waiting
        // for the others between batches (on PostgreSQL one builds while another writes).
        let worker = || async {
            let mut total = SilverBatch::default();
            loop {
                let b = self.silver_step().await?;
                if b.bronze_rows == 0 {
                    return Ok::<_, StoreError>(total);
                }
                total += b;
            }
        };
        // The first error ends the pass; a worker dropped mid-batch gives its claim back (the
        // transaction rolls back).
        let mut total = SilverBatch::default();
        for done in futures_util::future::try_join_all((0..workers).map(|_| worker())).await? {
            total += done;
        }
        // A pass that wrote many rows (a first load, a rebuild, a backlog) leaves the planner's
        // statistics of silver behind until the database's own upkeep catches up; gold's rebuild,
        // which comes next, would plan with them (scanning silver for the customer ids an index
        // holds). Failing to refresh them is not the pass's failure.
        if total.silver_rows >= self.options.analyze_after_rows
            && let Err(e) = self.store.analyze_silver().await
        {
            tracing::warn!(error = %e, "could not refresh silver's statistics");
        }
        Ok(total)
    }

    /// Runs gold batches until no partition is queued.
    pub async fn gold_pass(&self) -> Result<GoldBatch, StoreError> {
        let mut total = GoldBatch::default();
        loop {
            let b = self.gold_step().await?;
            if b.partitions == 0 {
                return Ok(total);
            }
            total += b;
        }
    }

    /// Runs silver until nothing is pending, then gold until nothing is queued.
    pub async fn catch_up(&self) -> Result<PassReport, StoreError> {
        let started = Instant::now();
        let silver = self.silver_pass().await?;
        let silver_secs = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let gold = self.gold_pass().await?;
        let gold_secs = started.elapsed().as_secs_f64();
        self.metrics
            .last_caught_up
            .store(Utc::now().timestamp(), Ordering::Relaxed);
        Ok(PassReport {
            silver,
            gold,
            silver_secs,
            gold_secs,
        })
    }

    /// Keeps the stages caught up until `shutdown` completes. Wakes on `wake` (ingest committed
    /// rows) or every poll interval; a failed pass is logged and retried after a pause.
    pub async fn run(self, wake: Arc<Notify>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut failures = 0u32;
        loop {
            let pass = tokio::select! {
                () = &mut shutdown => return,
                pass = self.catch_up() => pass,
            };
            let pause = match pass {
                Ok(report) => {
                    failures = 0;
                    if report.silver.bronze_rows > 0 || report.gold.partitions > 0 {
                        tracing::debug!(
                            bronze = report.silver.bronze_rows,
                            silver = report.silver.silver_rows,
                            quarantined = report.silver.quarantined,
                            partitions = report.gold.partitions,
                            "medallion pass"
                        );
                    }
                    self.options.poll
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    self.metrics.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, failures, "medallion pass failed; retrying");
                    Duration::from_millis(500u64.saturating_mul(1 << failures.min(6)))
                }
            };
            tokio::select! {
                () = &mut shutdown => return,
                () = wake.notified() => {}
                () = tokio::time::sleep(pause) => {}
            }
        }
    }
}

fn micros(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX)
}
