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
use tokio::sync::Notify;

use crate::brands::BrandMatcher;
use crate::silver;
use crate::store::{Backend, BuildSilver, GoldBatch, SilverBatch, Store, StoreError};

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

    /// One silver batch; zeros when nothing was pending. A batch that fails for a reason that is
    /// not transient has its rows retried in smaller batches (see the module docs).
    pub async fn silver_step(&self) -> Result<SilverBatch, StoreError> {
        let started = Instant::now();
        let (claimed, result) = self
            .store
            .silver_batch(self.options.silver_batch, self.build_silver())
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

    /// The silver build for a batch: [`silver::build`] for each claimed row.
    fn build_silver(&self) -> BuildSilver {
        let matcher = Arc::clone(&self.matcher);
        let now = Utc::now();
        Box::new(move |records| {
            records
                .iter()
                .map(|r| silver::build(r, &matcher, now))
                .collect()
        })
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
            let (claimed, result) = self.store.silver_batch_of(&ids, self.build_silver()).await;
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
    /// that marks it processed. Nothing happens when another worker has taken it meanwhile.
    async fn set_aside_bronze(
        &self,
        bronze_id: i64,
        error: &StoreError,
    ) -> Result<SilverBatch, StoreError> {
        let started = Instant::now();
        let message = error.to_string();
        let (seen, read) = std::sync::mpsc::channel();
        let build: BuildSilver = Box::new({
            let message = message.clone();
            move |records| {
                records
                    .iter()
                    .map(|r| {
                        let _ = seen.send((r.transaction_id.clone(), r.device_id.clone()));
                        silver::storage_failed(r, &message)
                    })
                    .collect()
            }
        });
        let (claimed, result) = self.store.silver_batch_of(&[bronze_id], build).await;
        let batch = result?;
        if claimed.is_empty() {
            return Ok(batch);
        }
        self.count_silver(&batch, started);
        let m = &self.metrics;
        m.errors.fetch_add(1, Ordering::Relaxed);
        m.silver_set_aside.fetch_add(1, Ordering::Relaxed);
        let (transaction_id, device_id) = read.try_recv().unwrap_or_default();
        tracing::error!(
            bronze_id,
            transaction_id,
            device_id,
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
        let mut total = SilverBatch::default();
        loop {
            let steps = futures_util::future::join_all((0..workers).map(|_| self.silver_step()));
            let mut done = 0;
            for b in steps.await {
                let b = b?;
                done += b.bronze_rows;
                total += b;
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

/// Isolating a failed batch: its claimed keys (bronze ids, gold partitions) are retried in
/// halves, by exactly those keys, until every part has committed or is one key failing alone.
/// The caller runs each part ([`Halving::next_part`]) as a batch and reports what it claimed and
/// how it ended ([`Halving::record`]); a transient error ends the isolation (the pass fails and is
/// retried with backoff).
///
/// [`Halving::finish`] names the keys to set aside: each that failed alone because the database
/// refused its data, and each that failed alone with another error when some of the claimed keys
/// committed (so the database works for the others). When nothing committed, such an error is the
/// system's, not a key's: it is returned instead, and those keys stay pending.
#[derive(Debug)]
struct Halving<K> {
    todo: Vec<Vec<K>>,
    committed: bool,
    refused: Vec<(K, StoreError)>,
    other: Vec<(K, StoreError)>,
}

impl<K> Halving<K> {
    fn new(claimed: Vec<K>) -> Self {
        Self {
            todo: vec![claimed],
            committed: false,
            refused: Vec::new(),
            other: Vec::new(),
        }
    }

    /// The next part to run as a batch of its own.
    fn next_part(&mut self) -> Option<Vec<K>> {
        self.todo.pop()
    }

    /// Records how a part ended: `claimed` is what its batch claimed. Returns the batch when it
    /// committed.
    fn record<T>(
        &mut self,
        mut claimed: Vec<K>,
        result: Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        match result {
            Ok(batch) => {
                self.committed |= !claimed.is_empty();
                Ok(Some(batch))
            }
            Err(e) if e.is_transient() => Err(e),
            // It failed before claiming anything: no key to blame.
            Err(e) if claimed.is_empty() => Err(e),
            Err(e) if claimed.len() == 1 => {
                let key = claimed.swap_remove(0);
                if e.is_refused() {
                    self.refused.push((key, e));
                } else {
                    self.other.push((key, e));
                }
                Ok(None)
            }
            Err(e) => {
                tracing::debug!(
                    error = %e,
                    keys = claimed.len(),
                    "isolating: part failed, halving it"
                );
                let second = claimed.split_off(claimed.len() / 2);
                // The first half runs next.
                self.todo.push(second);
                self.todo.push(claimed);
                Ok(None)
            }
        }
    }

    /// The keys to set aside, and the system's error when nothing committed and a key failed
    /// alone for a reason the database does not put on the data.
    fn finish(self) -> (Vec<(K, StoreError)>, Option<StoreError>) {
        let mut failed = self.refused;
        if self.committed {
            failed.extend(self.other);
            (failed, None)
        } else {
            (failed, self.other.into_iter().next().map(|(_, e)| e))
        }
    }
}

fn micros(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> StoreError {
        StoreError::Refused(sqlx::Error::Protocol("value out of range".into()))
    }

    fn broken() -> StoreError {
        StoreError::Database(sqlx::Error::Protocol("no such column".into()))
    }

    /// Runs a halving over `keys` against a fake database in which a batch fails with
    /// `fault(batch)`. Returns the keys committed (in order), the keys set aside, the systemic
    /// error's text and the number of batches run.
    fn halve(
        keys: Vec<u32>,
        fault: impl Fn(&[u32]) -> Option<StoreError>,
    ) -> (Vec<u32>, Vec<u32>, Option<String>, usize) {
        let mut halves = Halving::new(keys);
        let mut committed = Vec::new();
        let mut batches = 0;
        while let Some(part) = halves.next_part() {
            batches += 1;
            let result = match fault(&part) {
                Some(e) => Err(e),
                None => Ok(part.clone()),
            };
            if let Some(done) = halves.record(part, result).unwrap() {
                committed.extend(done);
            }
        }
        let (failed, systemic) = halves.finish();
        let failed = failed.into_iter().map(|(k, _)| k).collect();
        (committed, failed, systemic.map(|e| e.to_string()), batches)
    }

    #[test]
    fn a_refused_key_is_found_and_the_rest_commit_once() {
        let (committed, failed, systemic, batches) =
            halve((0..500).collect(), |b| b.contains(&137).then(refused));
        assert_eq!(failed, [137]);
        assert_eq!(systemic, None);
        let expected: Vec<u32> = (0..500).filter(|k| *k != 137).collect();
        assert_eq!(committed, expected, "every other key once, in order");
        // About two batches per halving level: 500 keys take 9 levels.
        assert!(batches <= 2 * 10, "{batches} batches");
    }

    #[test]
    fn several_bad_keys_are_each_set_aside() {
        let bad = [0, 1, 250, 499];
        let (committed, failed, systemic, _) = halve((0..500).collect(), |b| {
            b.iter().any(|k| bad.contains(k)).then(refused)
        });
        assert_eq!(failed, bad);
        assert_eq!(systemic, None);
        assert_eq!(committed.len(), 496);
    }

    #[test]
    fn another_error_on_one_key_is_set_aside_when_the_others_commit() {
        let (committed, failed, systemic, _) =
            halve((0..8).collect(), |b| b.contains(&3).then(broken));
        assert_eq!(failed, [3]);
        assert_eq!(systemic, None);
        assert_eq!(committed, [0, 1, 2, 4, 5, 6, 7]);
    }

    #[test]
    fn an_error_every_key_meets_is_the_systems_and_sets_nothing_aside() {
        let (committed, failed, systemic, _) = halve((0..8).collect(), |_| Some(broken()));
        assert!(committed.is_empty());
        assert!(failed.is_empty(), "{failed:?}");
        assert_eq!(
            systemic.as_deref(),
            Some("database error: encountered unexpected or invalid data: no such column")
        );
        // A single key alone cannot show it is the key's fault either.
        let (_, failed, systemic, _) = halve(vec![9], |_| Some(broken()));
        assert!(failed.is_empty());
        assert!(systemic.is_some());
        // But the database refusing the data is the data's fault, alone or not.
        let (_, failed, systemic, _) = halve(vec![9], |_| Some(refused()));
        assert_eq!((failed, systemic), (vec![9], None));
    }

    #[test]
    fn a_transient_error_ends_the_isolation() {
        let mut halves = Halving::new(vec![1, 2, 3]);
        let part = halves.next_part().unwrap();
        let unavailable = StoreError::Unavailable(sqlx::Error::PoolTimedOut);
        let result: Result<(), _> = Err(unavailable);
        assert!(halves.record(part, result).unwrap_err().is_transient());
    }

    #[test]
    fn keys_another_worker_took_are_left_to_it() {
        // The batch for [0, 1, 2, 3] claims only [2, 3] (another worker holds 0 and 1) and
        // fails: only what it claimed is halved.
        let mut halves = Halving::new(vec![0, 1, 2, 3]);
        let part = halves.next_part().unwrap();
        assert_eq!(part, [0, 1, 2, 3]);
        assert_eq!(
            halves.record::<()>(vec![2, 3], Err(refused())).unwrap(),
            None
        );
        assert_eq!(halves.next_part(), Some(vec![2]));
        assert_eq!(halves.record::<()>(vec![], Ok(())).unwrap(), Some(()));
        assert_eq!(halves.next_part(), Some(vec![3]));
        assert_eq!(halves.record::<()>(vec![3], Err(refused())).unwrap(), None);
        assert_eq!(halves.next_part(), None);
        let (failed, systemic) = halves.finish();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].0, 3);
        assert!(systemic.is_none());
    }
}
