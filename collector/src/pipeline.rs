//! The medallion pipeline: bronze → silver → gold, incremental and idempotent.
//!
//! **Enters:** bronze rows not yet processed (any collector may have landed them).
//! **Leaves:** silver rows and quarantined rejects ([`crate::silver`]), bronze's quality score,
//! and rebuilt gold partitions (`scout.scout_gold_transactions`, `gold.product_analytics`,
//! `gold.customer_analytics`), each a (business day, store) pair.
//! **Guarantees:** every step is one database transaction, coordinated through the database
//! (see `store/medallion.rs`), so a crash loses nothing, a re-run changes nothing, and several
//! collectors sharing a database never count a row twice. A late transaction for an old day
//! re-queues that day's partition, and its gold is rebuilt whole.
//!
//! Every `serve` process runs [`Pipeline::run`] in the background: it wakes when ingest commits
//! new rows (or every poll interval), works until nothing is pending, then sleeps.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::Notify;

use crate::brands::BrandMatcher;
use crate::silver;
use crate::store::{Backend, GoldBatch, SilverBatch, Store, StoreError};

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
}

impl Default for PipelineOptions {
    fn default() -> Self {
        Self {
            silver_batch: 500,
            gold_batch: 2000,
            poll: Duration::from_secs(2),
            silver_workers: 2,
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
    pub errors: AtomicU64,
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
    matcher: Arc<BrandMatcher>,
    options: PipelineOptions,
    metrics: Arc<EtlMetrics>,
}

impl Pipeline {
    pub fn new(store: Store, matcher: Arc<BrandMatcher>, options: PipelineOptions) -> Self {
        Self {
            store,
            matcher,
            options,
            metrics: Arc::new(EtlMetrics {
                recent_quality_bits: AtomicU64::new(f64::NAN.to_bits()),
                ..EtlMetrics::default()
            }),
        }
    }

    pub fn metrics(&self) -> Arc<EtlMetrics> {
        Arc::clone(&self.metrics)
    }

    /// One silver batch; zeros when nothing was pending.
    pub async fn silver_step(&self) -> Result<SilverBatch, StoreError> {
        let started = Instant::now();
        let matcher = Arc::clone(&self.matcher);
        let now = Utc::now();
        let batch = self
            .store
            .silver_batch(
                self.options.silver_batch,
                Box::new(move |records| {
                    records
                        .iter()
                        .map(|r| silver::build(r, &matcher, now))
                        .collect()
                }),
            )
            .await?;
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
        Ok(batch)
    }

    /// One gold batch; zeros when no partition was queued.
    pub async fn gold_step(&self) -> Result<GoldBatch, StoreError> {
        let started = Instant::now();
        let batch = self.store.gold_batch(self.options.gold_batch).await?;
        if batch.partitions > 0 {
            let m = &self.metrics;
            m.gold_batches.fetch_add(1, Ordering::Relaxed);
            m.gold_partitions
                .fetch_add(batch.partitions, Ordering::Relaxed);
            m.gold_micros.fetch_add(micros(started), Ordering::Relaxed);
        }
        Ok(batch)
    }

    /// Runs silver batches until no bronze row is pending (several at once on PostgreSQL).
    pub async fn silver_pass(&self) -> Result<SilverBatch, StoreError> {
        let workers = match self.store.backend() {
            Backend::Sqlite => 1,
            Backend::Postgres => self.options.silver_workers.max(1),
        };
        let mut total = SilverBatch::default();
        loop {
            let steps = futures_util::future::join_all((0..workers).map(|_| self.silver_step()));
            let mut done = 0;
            for b in steps.await {
                let b = b?;
                done += b.bronze_rows;
                total.bronze_rows += b.bronze_rows;
                total.silver_rows += b.silver_rows;
                total.quarantined += b.quarantined;
                total.partitions_queued += b.partitions_queued;
                total.quality_sum += b.quality_sum;
            }
            if done == 0 {
                return Ok(total);
            }
        }
    }

    /// Runs gold batches until no partition is queued.
    pub async fn gold_pass(&self) -> Result<GoldBatch, StoreError> {
        let mut total = GoldBatch::default();
        loop {
            let b = self.gold_step().await?;
            if b.partitions == 0 {
                return Ok(total);
            }
            total.partitions += b.partitions;
            total.gold_rows += b.gold_rows;
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
