//! The integration gate (bronze → silver → gold): every bronze row landed in the window has been
//! scored (`bronze.transaction_quality`) and has silver items or a recorded reason it has none
//! (a quarantine row), and every day × store of silver loaded in the window has gold rows. Rows
//! and partitions younger than [`GatesConfig::integration_grace`] are not judged yet (the
//! pipeline takes seconds to reach them). Work still queued (`metadata.silver_pending`,
//! `metadata.gold_pending`) is a warning; anything else missing is counted against
//! [`GatesConfig::integration_max_missing`] and fails past it.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::partitions::GoldFate;
use super::{GateResult, GatesConfig, MAX_LISTED, Status};
use crate::store::{Arg, Store, StoreError};

/// The bronze rows of the window (`$1` < ingested_at ≤ `$2`) not queued for silver that are
/// missing their next layer, with what is missing: not scored, or scored without silver items
/// or a quarantine record. Two disjoint branches of top-level `NOT EXISTS`, so the database
/// runs them as anti-joins over the window's ids (an index-only scan) rather than probing
/// every row once per table.
const BRONZE_MISSING: &str = "SELECT b.id, b.transaction_id, b.store_id, b.device_id, \
       'not scored' AS problem \
     FROM bronze.raw_transactions b WHERE b.ingested_at > $1 AND b.ingested_at <= $2 \
       AND NOT EXISTS (SELECT 1 FROM metadata.silver_pending p WHERE p.bronze_id = b.id) \
       AND NOT EXISTS (SELECT 1 FROM bronze.transaction_quality q WHERE q.bronze_id = b.id) \
     UNION ALL \
     SELECT b.id, b.transaction_id, b.store_id, b.device_id, \
       'no silver items and no quarantine record' AS problem \
     FROM bronze.raw_transactions b WHERE b.ingested_at > $1 AND b.ingested_at <= $2 \
       AND NOT EXISTS (SELECT 1 FROM metadata.silver_pending p WHERE p.bronze_id = b.id) \
       AND EXISTS (SELECT 1 FROM bronze.transaction_quality q WHERE q.bronze_id = b.id) \
       AND NOT EXISTS (SELECT 1 FROM silver.transactions_cleaned s WHERE s.bronze_id = b.id) \
       AND NOT EXISTS (SELECT 1 FROM silver.transactions_quarantine z \
                       WHERE z.bronze_id = b.id)";

/// The window's bronze rows, and how many of them are queued for silver.
const BRONZE_WINDOW: &str = "SELECT (SELECT count(*) FROM bronze.raw_transactions b \
       WHERE b.ingested_at > $1 AND b.ingested_at <= $2), \
     (SELECT count(*) FROM metadata.silver_pending p \
       JOIN bronze.raw_transactions b ON b.id = p.bronze_id \
       WHERE b.ingested_at > $1 AND b.ingested_at <= $2)";

/// Integration's bronze half: the window's bronze rows, how many are queued for silver, how
/// many are missing their next layer, and the first of those (at most [`MAX_LISTED`]).
#[derive(Debug, Clone, Default)]
pub struct BronzeFate {
    rows: i64,
    queued: i64,
    missing: i64,
    listed: Vec<serde_json::Value>,
}

/// Reads the bronze half for the window `config` gives integration at `now`.
pub async fn bronze_fate(
    store: &Store,
    config: &GatesConfig,
    now: DateTime<Utc>,
) -> Result<BronzeFate, StoreError> {
    let since = config.since("integration", now);
    let until = config.integration_until(now);
    let window = [Arg::from(since), Arg::from(until)];
    let count_missing = format!("SELECT count(*) FROM ({BRONZE_MISSING}) m");
    let (counts, missing) = tokio::try_join!(
        store.query(BRONZE_WINDOW, &window),
        store.query(&count_missing, &window)
    )?;
    let (rows, queued, missing) = (counts[0].int(0)?, counts[0].int(1)?, missing[0].int(0)?);
    let mut listed = Vec::new();
    if missing > 0 {
        let found = store
            .query(
                &format!(
                    "SELECT m.id, m.transaction_id, m.store_id, m.device_id, \
                       CASE WHEN m.problem = 'not scored' \
                         AND NOT EXISTS (SELECT 1 FROM silver.transactions_cleaned s \
                                         WHERE s.bronze_id = m.id) \
                         AND NOT EXISTS (SELECT 1 FROM silver.transactions_quarantine z \
                                         WHERE z.bronze_id = m.id) \
                       THEN 'neither scored nor in silver or quarantine' ELSE m.problem END \
                     FROM (SELECT * FROM ({BRONZE_MISSING}) u ORDER BY id LIMIT {MAX_LISTED}) m \
                     ORDER BY m.id"
                ),
                &window,
            )
            .await?;
        for r in &found {
            listed.push(json!({"bronze_id": r.int(0)?, "transaction_id": r.text(1)?,
                "store_id": r.text(2)?, "device_id": r.text(3)?, "problem": r.text(4)?}));
        }
    }
    Ok(BronzeFate {
        rows,
        queued,
        missing,
        listed,
    })
}

/// Integration: see the module's documentation. The value is the number of bronze rows and
/// partitions missing their next layer without being queued for it.
pub fn judge(bronze: &BronzeFate, gold: &GoldFate, config: &GatesConfig) -> GateResult {
    let (bronze_queued, bronze_missing) = (bronze.queued, bronze.missing);
    let (gold_queued, gold_missing) = (gold.queued, gold.missing);
    let missing = bronze_missing + gold_missing;
    let queued = bronze_queued + gold_queued;
    let judged = bronze.rows + gold.partitions as i64;
    let status = if judged == 0 {
        Status::NoData
    } else if missing as f64 > config.integration_max_missing {
        Status::Fail
    } else if queued > 0 || missing > 0 {
        Status::Warn
    } else {
        Status::Pass
    };
    GateResult {
        name: "integration",
        status,
        value: (judged > 0).then_some(missing as f64),
        threshold: config.integration_max_missing,
        details: json!({
            "bronze_rows": bronze.rows, "bronze_queued_for_silver": bronze_queued,
            "bronze_missing": bronze_missing, "rows_missing": bronze.listed,
            "partitions": gold.partitions, "partitions_queued_for_gold": gold_queued,
            "partitions_missing": gold.listed,
        }),
        action: "Run scout-collector process and check that a collector runs the pipeline (the \
                 backlog gauges on /metrics); for bronze rows still missing silver, rebuild \
                 (scout-collector process --rebuild); for days and stores without gold, read \
                 metadata.gold_failures and rebuild gold (scout-collector process \
                 --rebuild-gold).",
    }
}
