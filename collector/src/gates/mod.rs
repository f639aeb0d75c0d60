//! The quality gates of the operations manual. What enters: the database (silver and gold so
//! far), a window and thresholds ([`GatesConfig`]). What leaves: one [`GateResult`] per gate,
//! `pass`, `warn` (passing, but within [`GatesConfig::margin`] of its threshold), `fail` or
//! `no_data` (nothing in the window to judge), with the offending groups listed (at most
//! [`MAX_LISTED`]) and the action an operator takes. Gates only read.
//!
//! The eight: format detection, schema quality, mapping confidence (`files.rs`),
//! completeness and revenue consistency (gold against silver per day × store; the manual
//! compares one gold row per brand with a whole day's silver total, which differs whenever a
//! store sells more than one brand, so the gate compares sums at the grain both share;
//! `partitions.rs`, which reads silver once for both and for integration), freshness,
//! performance (`timing.rs`) and integration (bronze → silver → gold, `integration.rs`).
//! Windows and thresholds: [`GatesConfig`] (`config.rs`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use crate::store::{Arg, AuditEntry, Record, Store, StoreError};

mod config;
mod files;
mod integration;
mod partitions;
mod timing;

pub use config::{GATE_NAMES, GatesConfig};
pub use files::file_gates;
pub use timing::{freshness, layer_newest, performance};

use partitions::{GoldPartitions, SilverPartitions};

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

/// Completeness alone (see [`partitions::completeness`]).
pub async fn completeness(
    store: &Store,
    config: &GatesConfig,
    now: DateTime<Utc>,
) -> Result<GateResult, StoreError> {
    let silver = SilverPartitions::read(store, config, now).await?;
    Ok(partitions::completeness(&silver, config))
}

/// Revenue consistency alone (see [`partitions::revenue_consistency`]).
pub async fn revenue_consistency(
    store: &Store,
    config: &GatesConfig,
    now: DateTime<Utc>,
) -> Result<GateResult, StoreError> {
    let (silver, gold) = tokio::try_join!(
        SilverPartitions::read(store, config, now),
        GoldPartitions::read(store)
    )?;
    Ok(partitions::revenue_consistency(&silver, &gold, config))
}

/// Integration alone (see [`integration`]).
pub async fn integration(
    store: &Store,
    config: &GatesConfig,
    now: DateTime<Utc>,
) -> Result<GateResult, StoreError> {
    let (bronze, silver, gold) = tokio::try_join!(
        integration::bronze_fate(store, config, now),
        SilverPartitions::read(store, config, now),
        GoldPartitions::read(store)
    )?;
    Ok(integration::judge(
        &bronze,
        &partitions::gold_fate(&silver, &gold),
        config,
    ))
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
    // The gates only read: their queries run at once, each on a connection of its own; silver
    // and gold are read once for the three gates that judge them per day × store.
    let results = tokio::try_join!(
        file_gates(store, config, now),
        SilverPartitions::read(store, config, now),
        GoldPartitions::read(store),
        integration::bronze_fate(store, config, now),
        performance(store, config, now),
        freshness(store, config, now),
    )
    .map(|(mut all, silver, gold, bronze, p, f)| {
        all.extend([
            partitions::completeness(&silver, config),
            partitions::revenue_consistency(&silver, &gold, config),
            p,
            f,
            integration::judge(&bronze, &partitions::gold_fate(&silver, &gold), config),
        ]);
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
