//! The weekly maintenance (`scout-collector maintain`): rows older than the cut move from
//! staging, bronze and silver to the archive in batches ([`Store::archive_bronze_batch`] says
//! which and how), then the database's statistics and indexes are refreshed
//! ([`Store::tidy`]). Gold stays. A run is audited as `maintenance`. The collector keeps no
//! temporary files of its own; on SQLite the write-ahead log is cut back.

use std::time::Instant;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::store::{AuditEntry, Moved, Store, StoreError};

/// Environment variable that makes a run abort (as a crash would) after this many committed
/// batches: for testing that an interrupted run loses and doubles nothing.
pub const FAIL_AFTER_BATCHES_ENV: &str = "SCOUT_MAINTAIN_FAIL_AFTER_BATCHES";

/// What to do.
#[derive(Debug, Clone)]
pub struct MaintainOptions {
    /// Rows older than this many days move.
    pub older_than_days: u32,
    /// Rows per batch (one transaction each).
    pub batch_rows: usize,
    /// Count what would move; move nothing, tidy nothing.
    pub dry_run: bool,
    /// Abort the process after this many committed batches (see [`FAIL_AFTER_BATCHES_ENV`]).
    pub fail_after_batches: Option<u64>,
}

/// What a run did (or, dry, would do).
#[derive(Debug, Clone, Serialize)]
pub struct MaintainReport {
    pub dry_run: bool,
    /// Rows landed or created before this moved.
    pub cut: DateTime<Utc>,
    /// Silver rows of business days (Asia/Manila) before this moved.
    pub cut_day: NaiveDate,
    pub moved: Moved,
    pub batches: u64,
    /// The statements run after the moves.
    pub tidy: Vec<String>,
    pub seconds: f64,
}

/// Runs the maintenance at `now`.
pub async fn maintain(
    store: &Store,
    options: &MaintainOptions,
    now: DateTime<Utc>,
) -> Result<MaintainReport, StoreError> {
    let started = Instant::now();
    let cut = now - chrono::Duration::days(i64::from(options.older_than_days));
    let manila = chrono::Duration::seconds(i64::from(scout_common::timestamp::MANILA_OFFSET_SECS));
    let cut_day = (cut + manila).date_naive();
    let result = run(store, options, cut, cut_day).await;
    let report = result.map(|(moved, batches, tidy)| MaintainReport {
        dry_run: options.dry_run,
        cut,
        cut_day,
        moved,
        batches,
        tidy,
        seconds: started.elapsed().as_secs_f64(),
    });
    if !options.dry_run {
        let details = report
            .as_ref()
            .ok()
            .and_then(|r| serde_json::to_string(&r.moved).ok());
        let error = report.as_ref().err().map(ToString::to_string);
        store
            .audit_logged(&AuditEntry {
                function_name: "maintenance",
                duration: started.elapsed(),
                error: error.as_deref(),
                device_id: None,
                row_count: report.as_ref().ok().map(|r| {
                    let m = r.moved;
                    (m.staging_files + m.bronze_rows + m.silver_rows + m.quarantine_rows) as i64
                }),
                details: details.as_deref(),
                created_at: Utc::now(),
            })
            .await;
    }
    report
}

async fn run(
    store: &Store,
    options: &MaintainOptions,
    cut: DateTime<Utc>,
    cut_day: NaiveDate,
) -> Result<(Moved, u64, Vec<String>), StoreError> {
    if options.dry_run {
        return Ok((store.archive_preview(cut, cut_day).await?, 0, Vec::new()));
    }
    let limit = options.batch_rows.max(1);
    let (mut moved, mut batches) = (Moved::default(), 0_u64);
    for staging in [true, false] {
        loop {
            let batch = if staging {
                store.archive_staging_batch(cut, limit).await?
            } else {
                store.archive_bronze_batch(cut, cut_day, limit).await?
            };
            if batch.is_empty() {
                break;
            }
            moved.add(batch);
            batches += 1;
            tracing::info!(batches, ?batch, "maintenance: batch archived");
            if options.fail_after_batches == Some(batches) {
                tracing::error!("maintenance: aborting on purpose ({FAIL_AFTER_BATCHES_ENV})");
                std::process::abort();
            }
        }
    }
    let tidy = store.tidy().await?;
    Ok((moved, batches, tidy))
}
