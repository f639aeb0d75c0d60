//! The integration gate (bronze → silver → gold): every bronze row landed in the window has been
//! scored (`bronze.transaction_quality`) and has silver items or a recorded reason it has none
//! (a quarantine row), and every day × store of silver loaded in the window has gold rows. Rows
//! and partitions younger than [`GatesConfig::integration_grace`] are not judged yet (the
//! pipeline takes seconds to reach them). Work still queued (`metadata.silver_pending`,
//! `metadata.gold_pending`) is a warning; anything else missing is counted against
//! [`GatesConfig::integration_max_missing`] and fails past it.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{GateResult, GatesConfig, MAX_LISTED, Status};
use crate::store::{Arg, Store, StoreError};

/// Each bronze row of the window with what became of it (1/0 flags on both backends).
const BRONZE_FATE: &str = "SELECT b.id, b.transaction_id, b.store_id, b.device_id, \
       CASE WHEN EXISTS (SELECT 1 FROM metadata.silver_pending p WHERE p.bronze_id = b.id) \
            THEN 1 ELSE 0 END::int8 AS queued, \
       CASE WHEN EXISTS (SELECT 1 FROM bronze.transaction_quality q WHERE q.bronze_id = b.id) \
            THEN 1 ELSE 0 END::int8 AS scored, \
       CASE WHEN EXISTS (SELECT 1 FROM silver.transactions_cleaned s WHERE s.bronze_id = b.id) \
              OR EXISTS (SELECT 1 FROM silver.transactions_quarantine q \
                         WHERE q.bronze_id = b.id) \
            THEN 1 ELSE 0 END::int8 AS landed \
     FROM bronze.raw_transactions b WHERE b.ingested_at > $1 AND b.ingested_at <= $2";

/// Each day × store of silver loaded in the window, whether gold has rows for it, whether it
/// is queued for gold and the error of its last failed build.
const PARTITION_FATE: &str = "SELECT s.transaction_date::text, s.store_id, \
       CASE WHEN EXISTS (SELECT 1 FROM scout.scout_gold_transactions g \
                         WHERE g.transaction_date = s.transaction_date \
                           AND g.store_id = s.store_id) THEN 1 ELSE 0 END::int8 AS built, \
       CASE WHEN EXISTS (SELECT 1 FROM metadata.gold_pending p \
                         WHERE p.transaction_date = s.transaction_date \
                           AND p.store_id = s.store_id) THEN 1 ELSE 0 END::int8 AS queued, \
       (SELECT f.error FROM metadata.gold_failures f \
        WHERE f.transaction_date = s.transaction_date AND f.store_id = s.store_id) AS failure \
     FROM (SELECT DISTINCT transaction_date, store_id FROM silver.transactions_cleaned \
           WHERE loaded_at > $1 AND loaded_at <= $2) s \
     ORDER BY s.transaction_date, s.store_id";

/// Integration: see the module's documentation. The value is the number of bronze rows and
/// partitions missing their next layer without being queued for it.
pub async fn integration(
    store: &Store,
    config: &GatesConfig,
    now: DateTime<Utc>,
) -> Result<GateResult, StoreError> {
    let since = config.since("integration", now);
    let until = now - chrono::Duration::from_std(config.integration_grace).unwrap_or_default();
    let window = [Arg::from(since), Arg::from(until)];
    let totals = store
        .query(
            &format!(
                "SELECT count(*), coalesce(sum(queued), 0)::int8, \
                   coalesce(sum(CASE WHEN queued = 0 AND (scored = 0 OR landed = 0) \
                                THEN 1 ELSE 0 END), 0)::int8 FROM ({BRONZE_FATE}) f"
            ),
            &window,
        )
        .await?;
    let (bronze, bronze_queued, bronze_missing) =
        (totals[0].int(0)?, totals[0].int(1)?, totals[0].int(2)?);
    let mut rows_missing = Vec::new();
    if bronze_missing > 0 {
        let listed = store
            .query(
                &format!(
                    "SELECT id, transaction_id, store_id, device_id, scored, landed \
                     FROM ({BRONZE_FATE}) f WHERE queued = 0 AND (scored = 0 OR landed = 0) \
                     ORDER BY id LIMIT {MAX_LISTED}"
                ),
                &window,
            )
            .await?;
        for r in &listed {
            let problem = match (r.int(4)? == 1, r.int(5)? == 1) {
                (false, false) => "neither scored nor in silver or quarantine",
                (false, true) => "not scored",
                _ => "no silver items and no quarantine record",
            };
            rows_missing.push(json!({"bronze_id": r.int(0)?, "transaction_id": r.text(1)?,
                "store_id": r.text(2)?, "device_id": r.text(3)?, "problem": problem}));
        }
    }
    let partitions = store.query(PARTITION_FATE, &window).await?;
    let (mut gold_queued, mut gold_missing, mut partitions_missing) = (0_i64, 0_i64, Vec::new());
    for r in &partitions {
        if r.int(2)? == 1 {
            continue;
        }
        if r.int(3)? == 1 {
            gold_queued += 1;
            continue;
        }
        gold_missing += 1;
        if partitions_missing.len() < MAX_LISTED {
            partitions_missing.push(json!({"date": r.text(0)?, "store_id": r.text(1)?,
                "gold_failure": r.opt_text(4)?}));
        }
    }
    let missing = bronze_missing + gold_missing;
    let queued = bronze_queued + gold_queued;
    let judged = bronze + partitions.len() as i64;
    let status = if judged == 0 {
        Status::NoData
    } else if missing as f64 > config.integration_max_missing {
        Status::Fail
    } else if queued > 0 || missing > 0 {
        Status::Warn
    } else {
        Status::Pass
    };
    Ok(GateResult {
        name: "integration",
        status,
        value: (judged > 0).then_some(missing as f64),
        threshold: config.integration_max_missing,
        details: json!({
            "bronze_rows": bronze, "bronze_queued_for_silver": bronze_queued,
            "bronze_missing": bronze_missing, "rows_missing": rows_missing,
            "partitions": partitions.len(), "partitions_queued_for_gold": gold_queued,
            "partitions_missing": partitions_missing,
        }),
        action: "Run scout-collector process and check that a collector runs the pipeline (the \
                 backlog gauges on /metrics); for bronze rows still missing silver, rebuild \
                 (scout-collector process --rebuild); for days and stores without gold, read \
                 metadata.gold_failures and rebuild gold (scout-collector process \
                 --rebuild-gold).",
    })
}
