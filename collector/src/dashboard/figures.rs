//! The control room's figures, read through the store's backend-neutral queries (SQL spelled
//! for PostgreSQL, respelled for SQLite by the store): pipeline status per layer (the manual's
//! live dashboard numbers), the latest gates run, error tracking, the fleet and daily trends.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::gates::{self, GatesConfig};
use crate::routes::fleet::{self, DeviceView, Thresholds};
use crate::store::{Arg, Store, StoreError, UnresolvedName};

/// A gates run older than this is run again when the control room is read.
pub const GATES_MAX_AGE: Duration = Duration::from_secs(5 * 60);
/// Days the trend charts cover.
pub const TREND_DAYS: i64 = 30;
/// Recent failures, rejected files and unresolved names listed, at most.
pub const LISTED: i64 = 10;
/// Days the unresolved-brand queue covers.
pub const QUEUE_DAYS: i64 = 7;

/// The layers and the timestamp each one's freshness is read from.
const LAYERS: [(&str, &str, &str); 4] = [
    ("bronze", "bronze.raw_transactions", "ingested_at"),
    ("silver", "silver.transactions_cleaned", "loaded_at"),
    ("gold", "scout.scout_gold_transactions", "created_at"),
    ("staging", "staging.universal_file_ingestion", "created_at"),
];

/// Everything the control room shows.
#[derive(Debug, Clone, Serialize)]
pub struct Dashboard {
    pub generated_at: DateTime<Utc>,
    pub layers: Vec<Layer>,
    pub gates: GatesRun,
    pub errors: Errors,
    pub fleet: Vec<DeviceView>,
    pub trends: Vec<DayTrend>,
    pub brand_queue: BrandQueue,
    /// The gates' window (hours) and the completeness threshold, as configured.
    pub gates_window_hours: f64,
    pub completeness_threshold: f64,
}

/// Names without a brand in the last [`QUEUE_DAYS`] days (`scout-collector brands unresolved`
/// lists them with suggestions).
#[derive(Debug, Clone, Serialize)]
pub struct BrandQueue {
    pub since: DateTime<Utc>,
    pub revenue_centavos: i64,
    pub unresolved_revenue_centavos: i64,
    pub names: Vec<UnresolvedName>,
}

/// One layer's live numbers.
#[derive(Debug, Clone, Serialize)]
pub struct Layer {
    pub name: &'static str,
    pub table: &'static str,
    pub last_hour: i64,
    pub last_24h: i64,
    pub total: i64,
    pub newest: Option<DateTime<Utc>>,
}

/// The latest kept gates run.
#[derive(Debug, Clone, Serialize)]
pub struct GatesRun {
    pub run_at: Option<DateTime<Utc>>,
    pub gates: Vec<KeptGate>,
}

/// One gate of a kept run, as `metadata.quality_gate_results` holds it.
#[derive(Debug, Clone, Serialize)]
pub struct KeptGate {
    pub name: String,
    pub status: String,
    pub value: Option<f64>,
    pub threshold: f64,
    pub details: Value,
}

/// Error tracking.
#[derive(Debug, Clone, Serialize)]
pub struct Errors {
    /// Audited calls that failed in the last 24 hours.
    pub failed_calls_24h: i64,
    pub recent_failures: Vec<Failure>,
    pub quarantined_24h: i64,
    pub quarantined_total: i64,
    /// Dead letters the devices reported in their last heartbeats, summed.
    pub dead_letters: i64,
    /// Files whose import failed (`staging.universal_file_ingestion`, status `failed`).
    pub rejected_files_total: i64,
    pub rejected_files: Vec<RejectedFile>,
    /// Gold partitions set aside (`metadata.gold_failures`).
    pub gold_failures: i64,
}

/// A failed audited call.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub function_name: String,
    pub error: String,
    pub device_id: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
}

/// A file whose import failed.
#[derive(Debug, Clone, Serialize)]
pub struct RejectedFile {
    pub file_name: String,
    pub error: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
}

/// One business day (Asia/Manila) of silver.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayTrend {
    pub date: NaiveDate,
    pub revenue_centavos: i64,
    pub items: i64,
    pub avg_quality: Option<f64>,
    pub branded_share: Option<f64>,
}

/// Reads every figure of the control room at `now`; reruns the gates first when the latest
/// run is older than [`GATES_MAX_AGE`] (or there is none).
pub async fn dashboard(
    store: &Store,
    config: &GatesConfig,
    now: DateTime<Utc>,
) -> Result<Dashboard, StoreError> {
    let mut gates = latest_gates(store).await?;
    let max_age = TimeDelta::from_std(GATES_MAX_AGE).unwrap_or(TimeDelta::MAX);
    if gates.run_at.is_none_or(|at| now - at > max_age) {
        gates::run_all(store, config, now).await?;
        gates = latest_gates(store).await?;
    }
    let today = super::manila_date(now);
    let since = today - TimeDelta::days(TREND_DAYS - 1);
    Ok(Dashboard {
        generated_at: now,
        layers: layers(store, now).await?,
        gates,
        errors: errors(store, now).await?,
        fleet: fleet::fleet_view(store, now, Thresholds::default())
            .await?
            .devices,
        trends: trends(store, since, today + TimeDelta::days(1)).await?,
        brand_queue: brand_queue(store, now).await?,
        gates_window_hours: config.window.as_secs_f64() / 3600.0,
        completeness_threshold: config.completeness,
    })
}

async fn brand_queue(store: &Store, now: DateTime<Utc>) -> Result<BrandQueue, StoreError> {
    let since = now - TimeDelta::days(QUEUE_DAYS);
    let (revenue, unresolved) = store.unresolved_revenue(since).await?;
    Ok(BrandQueue {
        since,
        revenue_centavos: revenue,
        unresolved_revenue_centavos: unresolved,
        names: store.unresolved_names(since, LISTED).await?,
    })
}

/// Rows per layer in the last hour and 24 hours, in all, and the newest row's time.
pub async fn layers(store: &Store, now: DateTime<Utc>) -> Result<Vec<Layer>, StoreError> {
    let (hour, day) = (now - TimeDelta::hours(1), now - TimeDelta::hours(24));
    let mut out = Vec::with_capacity(LAYERS.len());
    for (name, table, column) in LAYERS {
        let sql = format!(
            "SELECT (SELECT count(*) FROM {table} WHERE {column} > $1), \
                    (SELECT count(*) FROM {table} WHERE {column} > $2), \
                    (SELECT count(*) FROM {table}), \
                    (SELECT max({column}) FROM {table})"
        );
        let rows = store.query(&sql, &[hour.into(), day.into()]).await?;
        let r = &rows[0];
        out.push(Layer {
            name,
            table,
            last_hour: r.int(0)?,
            last_24h: r.int(1)?,
            total: r.int(2)?,
            newest: r.opt_time(3)?,
        });
    }
    Ok(out)
}

/// The latest kept gates run, gate by gate.
pub async fn latest_gates(store: &Store) -> Result<GatesRun, StoreError> {
    let rows = store
        .query(
            "SELECT gate, status, value, threshold, details::text, created_at \
             FROM metadata.quality_gate_results WHERE run_id = \
               (SELECT run_id FROM metadata.quality_gate_results ORDER BY id DESC LIMIT 1) \
             ORDER BY id",
            &[],
        )
        .await?;
    let mut run = GatesRun {
        run_at: None,
        gates: Vec::with_capacity(rows.len()),
    };
    for r in &rows {
        run.run_at = r.opt_time(5)?;
        run.gates.push(KeptGate {
            name: r.text(0)?,
            status: r.text(1)?,
            value: r.opt_float(2)?,
            threshold: r.float(3)?,
            details: serde_json::from_str(&r.text(4)?).unwrap_or(Value::Null),
        });
    }
    Ok(run)
}

/// Gate runs in `[from, until)`: per gate, how many runs ended in each status.
pub async fn gate_trend(
    store: &Store,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<(String, String, i64)>, StoreError> {
    let rows = store
        .query(
            "SELECT gate, status, count(*) FROM metadata.quality_gate_results \
             WHERE created_at >= $1 AND created_at < $2 GROUP BY gate, status ORDER BY gate, status",
            &[from.into(), until.into()],
        )
        .await?;
    rows.iter()
        .map(|r| Ok((r.text(0)?, r.text(1)?, r.int(2)?)))
        .collect()
}

async fn errors(store: &Store, now: DateTime<Utc>) -> Result<Errors, StoreError> {
    let day = Arg::from(now - TimeDelta::hours(24));
    let failures = store
        .query(
            "SELECT function_name, error, device_id, created_at FROM metadata.function_audit \
             WHERE error IS NOT NULL ORDER BY created_at DESC, id DESC LIMIT $1",
            &[LISTED.into()],
        )
        .await?;
    let files = store
        .query(
            "SELECT file_name, error_message, created_at FROM staging.universal_file_ingestion \
             WHERE status = 'failed' ORDER BY created_at DESC, id DESC LIMIT $1",
            &[LISTED.into()],
        )
        .await?;
    Ok(Errors {
        failed_calls_24h: store
            .query_int(
                "SELECT count(*) FROM metadata.function_audit \
                 WHERE error IS NOT NULL AND created_at > $1",
                &[day],
            )
            .await?,
        recent_failures: failures
            .iter()
            .map(|r| {
                Ok(Failure {
                    function_name: r.text(0)?,
                    error: r.text(1)?,
                    device_id: r.opt_text(2)?,
                    created_at: r.opt_time(3)?,
                })
            })
            .collect::<Result<_, StoreError>>()?,
        quarantined_24h: store
            .query_int(
                "SELECT count(*) FROM silver.transactions_quarantine WHERE quarantined_at > $1",
                &[day],
            )
            .await?,
        quarantined_total: store
            .query_int("SELECT count(*) FROM silver.transactions_quarantine", &[])
            .await?,
        dead_letters: store
            .query_int(
                "SELECT sum(dead_letters)::int8 FROM metadata.device_heartbeats",
                &[],
            )
            .await?,
        rejected_files_total: store
            .query_int(
                "SELECT count(*) FROM staging.universal_file_ingestion WHERE status = 'failed'",
                &[],
            )
            .await?,
        rejected_files: files
            .iter()
            .map(|r| {
                Ok(RejectedFile {
                    file_name: r.text(0)?,
                    error: r.opt_text(1)?,
                    created_at: r.opt_time(2)?,
                })
            })
            .collect::<Result<_, StoreError>>()?,
        gold_failures: store
            .query_int("SELECT count(*) FROM metadata.gold_failures", &[])
            .await?,
    })
}

/// Silver per business day in `[from, until)`: revenue, items, mean quality score and the
/// share of items with a resolved brand.
pub async fn trends(
    store: &Store,
    from: NaiveDate,
    until: NaiveDate,
) -> Result<Vec<DayTrend>, StoreError> {
    let rows = store
        .query(
            "SELECT transaction_date, sum(amount_centavos)::int8, count(*), \
               avg(quality_score)::float8, count(brand_name) \
             FROM silver.transactions_cleaned \
             WHERE transaction_date >= $1 AND transaction_date < $2 \
             GROUP BY transaction_date ORDER BY transaction_date",
            &[from.into(), until.into()],
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let Some(date) = r.opt_date(0)? else { continue };
        let items = r.int(2)?;
        out.push(DayTrend {
            date,
            revenue_centavos: r.int(1)?,
            items,
            avg_quality: r.opt_float(3)?,
            branded_share: (items > 0)
                .then(|| r.int(4).map(|b| b as f64 / items as f64))
                .transpose()?,
        });
    }
    Ok(out)
}

/// `days` consecutive days from `from`, each with its trend or an empty day.
pub fn every_day(trends: &[DayTrend], from: NaiveDate, days: i64) -> Vec<DayTrend> {
    (0..days)
        .map(|i| from + TimeDelta::days(i))
        .map(|date| {
            trends
                .iter()
                .find(|t| t.date == date)
                .cloned()
                .unwrap_or(DayTrend {
                    date,
                    revenue_centavos: 0,
                    items: 0,
                    avg_quality: None,
                    branded_share: None,
                })
        })
        .collect()
}
