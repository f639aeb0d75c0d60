//! The quality gates of the operations manual. What enters: the database (silver and gold so
//! far), a window and thresholds ([`GatesConfig`]). What leaves: one [`GateResult`] per gate,
//! `pass`, `warn` (passing, but within [`GatesConfig::margin`] of its threshold), `fail` or
//! `no_data` (nothing in the window to judge), with the offending groups listed (at most
//! [`MAX_LISTED`]) and the action an operator takes. Gates only read.
//!
//! The eight: format detection, schema quality, mapping confidence (`files.rs`),
//! completeness, freshness, performance (`timing.rs`) and revenue consistency (gold
//! against silver per day × store; the manual compares one gold row per brand with a whole
//! day's silver total, which differs whenever a store sells more than one brand, so the gate
//! compares sums at the grain both share) and integration (bronze → silver → gold,
//! `integration.rs`). Windows and thresholds: [`GatesConfig`] (`config.rs`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use crate::store::{Arg, AuditEntry, Record, Store, StoreError};

mod config;
mod files;
mod integration;
mod timing;

pub use config::{GATE_NAMES, GatesConfig};
pub use files::file_gates;
pub use integration::integration;
pub use timing::{freshness, layer_newest, performance};

/// Offending groups listed per gate, at most.
pub const MAX_LISTED: usize = 20;

/// A gate's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Warn,
    Fail,
    NoData,
}

impl Status {
    /// The name the JSON output and the results table use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Warn => "warn",
            Self::Fail => "fail",
            Self::NoData => "no_data",
        }
    }

    /// The value of `scout_gate_status`: 0 pass, 1 warn, 2 fail, -1 no data.
    pub fn metric(self) -> i64 {
        match self {
            Self::Pass => 0,
            Self::Warn => 1,
            Self::Fail => 2,
            Self::NoData => -1,
        }
    }
}

/// Which side of its threshold a gate's value must stay.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    AtLeast(f64),
    AtMost(f64),
}

impl Bound {
    pub fn threshold(self) -> f64 {
        match self {
            Self::AtLeast(t) | Self::AtMost(t) => t,
        }
    }

    /// Judges `value`: failing past the threshold, a warning within `margin` (a fraction of the
    /// threshold) on the passing side, no data without a value.
    pub fn judge(self, value: Option<f64>, margin: f64) -> Status {
        let Some(v) = value else {
            return Status::NoData;
        };
        match self {
            Self::AtLeast(t) if v < t => Status::Fail,
            Self::AtLeast(t) if v < t + t.abs() * margin => Status::Warn,
            Self::AtMost(t) if v > t => Status::Fail,
            Self::AtMost(t) if v > t - t.abs() * margin => Status::Warn,
            _ => Status::Pass,
        }
    }
}

/// One gate's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateResult {
    pub name: &'static str,
    pub status: Status,
    pub value: Option<f64>,
    pub threshold: f64,
    pub details: Value,
    pub action: &'static str,
}

/// One gate's result as `metadata.quality_gate_results` keeps it.
struct Kept<'a> {
    run_id: &'a str,
    result: &'a GateResult,
    details: String,
    created_at: DateTime<Utc>,
}

impl Record for Kept<'_> {
    const TABLE: &'static str = "metadata.quality_gate_results";
    const COLUMNS: &'static [&'static str] = &[
        "run_id",
        "gate",
        "status",
        "value",
        "threshold",
        "details",
        "created_at",
    ];

    fn values<'a>(&'a self, out: &mut Vec<Arg<'a>>) {
        out.extend([
            Arg::from(self.run_id),
            Arg::from(self.result.name),
            Arg::from(self.result.status.as_str()),
            Arg::from(self.result.value),
            Arg::from(self.result.threshold),
            Arg::json(&self.details),
            Arg::from(self.created_at),
        ]);
    }
}

/// Completeness: the share of silver rows loaded in the window with a resolved brand
/// (`brand_name IS NOT NULL`); store × day groups below the threshold are listed.
pub async fn completeness(
    store: &Store,
    config: &GatesConfig,
    now: DateTime<Utc>,
) -> Result<GateResult, StoreError> {
    let rows = store
        .query(
            "SELECT transaction_date::text, store_id, count(*), count(brand_name), \
             sum(amount_centavos)::int8, \
             sum(CASE WHEN brand_name IS NULL THEN amount_centavos ELSE 0 END)::int8 \
             FROM silver.transactions_cleaned WHERE loaded_at > $1 \
             GROUP BY transaction_date, store_id ORDER BY transaction_date, store_id",
            &[Arg::from(config.since("completeness", now))],
        )
        .await?;
    let (mut total, mut branded, mut low) = (0_i64, 0_i64, Vec::new());
    let (mut revenue, mut unbranded_revenue) = (0_i64, 0_i64);
    for r in &rows {
        let (n, b) = (r.int(2)?, r.int(3)?);
        total += n;
        branded += b;
        revenue += r.opt_int(4)?.unwrap_or(0);
        unbranded_revenue += r.opt_int(5)?.unwrap_or(0);
        let share = b as f64 / n as f64;
        if share < config.completeness && low.len() < MAX_LISTED {
            low.push(
                json!({"date": r.text(0)?, "store_id": r.text(1)?, "rows": n,
                            "branded": b, "share": round4(share)}),
            );
        }
    }
    let value = (total > 0).then(|| round4(branded as f64 / total as f64));
    let bound = Bound::AtLeast(config.completeness);
    Ok(GateResult {
        name: "completeness",
        status: bound.judge(value, config.margin),
        value,
        threshold: bound.threshold(),
        details: json!({"rows": total, "branded": branded, "groups_below": low,
            "revenue_centavos": revenue, "unbranded_revenue_centavos": unbranded_revenue,
            "unbranded_revenue_share": (revenue > 0)
                .then(|| round4(unbranded_revenue as f64 / revenue as f64))}),
        action: "Look at the unbranded items of the listed stores and days \
                 (scout-collector brands unresolved lists them by revenue, with suggestions); \
                 teach the missing brands or aliases (scout-collector brands add / brands \
                 alias), which re-processes exactly the rows they change.",
    })
}

/// Revenue consistency: for every day × store whose silver rows were loaded in the window, gold's
/// revenue summed over all its brand and category rows against silver's sum; the value is the
/// largest relative difference.
pub async fn revenue_consistency(
    store: &Store,
    config: &GatesConfig,
    now: DateTime<Utc>,
) -> Result<GateResult, StoreError> {
    let rows = store
        .query(
            "SELECT s.transaction_date::text, s.store_id, s.centavos, \
               coalesce(g.centavos, 0) AS gold \
             FROM (SELECT transaction_date, store_id, sum(amount_centavos)::int8 AS centavos \
                   FROM silver.transactions_cleaned GROUP BY transaction_date, store_id \
                   HAVING max(loaded_at) > $1) s \
             LEFT JOIN (SELECT transaction_date, store_id, sum(revenue_centavos)::int8 AS centavos \
                   FROM scout.scout_gold_transactions GROUP BY transaction_date, store_id) g \
               ON g.transaction_date = s.transaction_date AND g.store_id = s.store_id \
             ORDER BY s.transaction_date, s.store_id",
            &[Arg::from(config.since("revenue_consistency", now))],
        )
        .await?;
    let (mut worst, mut off) = (None::<f64>, Vec::new());
    for r in &rows {
        let (silver, gold) = (r.int(2)?, r.int(3)?);
        let diff = if silver == 0 {
            if gold == 0 { 0.0 } else { 1.0 }
        } else {
            (gold - silver).unsigned_abs() as f64 / silver.unsigned_abs() as f64
        };
        worst = Some(worst.map_or(diff, |w| w.max(diff)));
        if diff > config.revenue_tolerance && off.len() < MAX_LISTED {
            off.push(json!({"date": r.text(0)?, "store_id": r.text(1)?,
                            "silver_peso": silver as f64 / 100.0, "gold_peso": gold as f64 / 100.0,
                            "difference": round4(diff)}));
        }
    }
    let value = worst.map(round4);
    let bound = Bound::AtMost(config.revenue_tolerance);
    Ok(GateResult {
        name: "revenue_consistency",
        status: bound.judge(value, config.margin),
        value,
        threshold: bound.threshold(),
        details: json!({"partitions": rows.len(), "partitions_off": off}),
        action: "Rebuild gold for the listed days and stores (scout-collector process \
                 --rebuild-gold); if they stay off, look for partitions in \
                 metadata.gold_failures and for silver rows loaded after the last rebuild.",
    })
}

/// Runs the eight gates, keeps their results in `metadata.quality_gate_results` (one
/// run id), and writes one `quality-gates` audit row (a failed audit write is logged, not
/// returned).
pub async fn run_all(
    store: &Store,
    config: &GatesConfig,
    now: DateTime<Utc>,
) -> Result<Vec<GateResult>, StoreError> {
    let started = std::time::Instant::now();
    // The gates only read: they run at once, each on a connection of its own.
    let results = tokio::try_join!(
        file_gates(store, config, now),
        completeness(store, config, now),
        revenue_consistency(store, config, now),
        performance(store, config, now),
        freshness(store, config, now),
        integration(store, config, now),
    )
    .map(|(mut all, c, r, p, f, i)| {
        all.extend([c, r, p, f, i]);
        all
    });
    let mut results = results;
    if let Ok(r) = &results {
        let run_id = uuid::Uuid::new_v4().to_string();
        let kept: Vec<Kept> = r
            .iter()
            .map(|result| Kept {
                run_id: &run_id,
                result,
                details: result.details.to_string(),
                created_at: now,
            })
            .collect();
        if let Err(e) = store.insert_rows(&kept.iter().collect::<Vec<_>>()).await {
            results = Err(e);
        }
    }
    let error = results.as_ref().err().map(ToString::to_string);
    let details = results.as_ref().ok().map(|r| {
        let statuses: serde_json::Map<String, Value> = r
            .iter()
            .map(|g| (g.name.to_owned(), json!(g.status)))
            .collect();
        Value::from(statuses).to_string()
    });
    store
        .audit_logged(&AuditEntry {
            function_name: "quality-gates",
            duration: started.elapsed(),
            error: error.as_deref(),
            device_id: None,
            row_count: results.as_ref().ok().map(|r| r.len() as i64),
            details: details.as_deref(),
            created_at: Utc::now(),
        })
        .await;
    results
}

/// The latest run's status per gate (from `metadata.quality_gate_results`), for `/metrics`.
pub async fn latest(store: &Store) -> Result<Vec<(String, Status)>, StoreError> {
    let rows = store
        .query(
            "SELECT gate, status FROM metadata.quality_gate_results WHERE run_id = \
               (SELECT run_id FROM metadata.quality_gate_results ORDER BY id DESC LIMIT 1) \
             ORDER BY id",
            &[],
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let status = match r.text(1)?.as_str() {
            "pass" => Status::Pass,
            "warn" => Status::Warn,
            "fail" => Status::Fail,
            _ => Status::NoData,
        };
        out.push((r.text(0)?, status));
    }
    Ok(out)
}

/// The share of silver revenue without a brand in the latest completeness gate run (kept in
/// its details), for `/metrics`; `None` before any run or without revenue in its window.
pub async fn latest_unbranded_share(store: &Store) -> Result<Option<f64>, StoreError> {
    let rows = store
        .query(
            "SELECT details::text FROM metadata.quality_gate_results \
             WHERE gate = 'completeness' ORDER BY id DESC LIMIT 1",
            &[],
        )
        .await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let details: serde_json::Value = serde_json::from_str(&row.text(0)?).unwrap_or_default();
    Ok(details["unbranded_revenue_share"].as_f64())
}

/// The `gates` command's exit code: 0 when every gate passed or had no data, 1 when any warned,
/// 2 when any failed.
pub fn exit_code(results: &[GateResult]) -> u8 {
    results
        .iter()
        .map(|g| match g.status {
            Status::Pass | Status::NoData => 0,
            Status::Warn => 1,
            Status::Fail => 2,
        })
        .max()
        .unwrap_or(0)
}

/// The results as a table for people: one line per gate, then each non-passing gate's action.
pub fn table(results: &[GateResult]) -> String {
    let mut out = format!(
        "{:<22} {:<8} {:>12} {:>10}\n",
        "gate", "status", "value", "threshold"
    );
    for g in results {
        let value = g
            .value
            .map_or_else(|| "-".to_owned(), |v| format!("{v:.4}"));
        out.push_str(&format!(
            "{:<22} {:<8} {:>12} {:>10}\n",
            g.name,
            g.status.as_str(),
            value,
            g.threshold
        ));
    }
    for g in results
        .iter()
        .filter(|g| matches!(g.status, Status::Warn | Status::Fail))
    {
        out.push_str(&format!("\n{}: {}\n  {}\n", g.name, g.details, g.action));
    }
    out
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_judge_with_a_margin() {
        let at_least = Bound::AtLeast(0.8);
        assert_eq!(at_least.judge(None, 0.05), Status::NoData);
        assert_eq!(at_least.judge(Some(0.79), 0.05), Status::Fail);
        assert_eq!(at_least.judge(Some(0.81), 0.05), Status::Warn, "below 0.84");
        assert_eq!(at_least.judge(Some(0.85), 0.05), Status::Pass);
        let at_most = Bound::AtMost(240.0);
        assert_eq!(at_most.judge(Some(241.0), 0.05), Status::Fail);
        assert_eq!(at_most.judge(Some(230.0), 0.05), Status::Warn, "above 228");
        assert_eq!(at_most.judge(Some(100.0), 0.05), Status::Pass);
        assert_eq!(
            [Status::Pass, Status::Warn, Status::Fail, Status::NoData].map(Status::metric),
            [0, 1, 2, -1]
        );
        for status in [Status::Pass, Status::Warn, Status::Fail, Status::NoData] {
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
    }
}
