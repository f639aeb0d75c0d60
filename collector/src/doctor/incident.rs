//! The incident runbook: for each case the operations manual names, the rows that explain it.
//! `format_detection_failure`: the imported files of the window that failed, wait for review or
//! were detected with low confidence, with their error messages. `quality_drop`: silver's mean
//! quality in the window against the window before, the stores, devices and items with the
//! lowest quality, and the most common quality issues in both windows. `performance_degradation`:
//! each audited operation's figures in both windows, and the slowest calls of the window.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use crate::store::{Arg, Store, StoreError};

/// Rows listed per table.
const LISTED: i64 = 10;

/// A case of the runbook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Incident {
    FormatDetectionFailure,
    QualityDrop,
    PerformanceDegradation,
}

/// The diagnostics of one case: named tables of rows.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentReport {
    pub incident: Incident,
    pub generated_at: DateTime<Utc>,
    pub window_hours: f64,
    /// Figures of the case (means, counts) in the window and the window before.
    pub summary: Value,
    /// Each diagnostic's name and its rows.
    pub sections: Vec<(String, Vec<Value>)>,
}

/// The diagnostics of `incident` over the `window` ending at `now` (and the one before it).
pub async fn incident(
    store: &Store,
    incident: Incident,
    window: Duration,
    min_detection: f64,
    now: DateTime<Utc>,
) -> Result<IncidentReport, StoreError> {
    let span = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::days(1));
    let (since, before) = (now - span, now - span - span);
    let (summary, sections) = match incident {
        Incident::FormatDetectionFailure => files(store, since, min_detection).await?,
        Incident::QualityDrop => quality(store, before, since, now).await?,
        Incident::PerformanceDegradation => performance(store, before, since, now).await?,
    };
    Ok(IncidentReport {
        incident,
        generated_at: now,
        window_hours: window.as_secs_f64() / 3600.0,
        summary,
        sections,
    })
}

type Sections = (Value, Vec<(String, Vec<Value>)>);

async fn files(store: &Store, since: DateTime<Utc>, min: f64) -> Result<Sections, StoreError> {
    let rows = store
        .query(
            &format!(
                "SELECT file_name, file_format, detection_confidence::float8, status, \
                   error_message, created_at FROM staging.universal_file_ingestion \
                 WHERE created_at > $1 AND (status IN ('failed', 'needs_review') \
                   OR detection_confidence < $2) \
                 ORDER BY detection_confidence, id DESC LIMIT {}",
                LISTED * 5
            ),
            &[Arg::from(since), Arg::from(min)],
        )
        .await?;
    let mut listed = Vec::with_capacity(rows.len());
    for r in &rows {
        listed.push(json!({"file_name": r.text(0)?, "file_format": r.text(1)?,
            "detection_confidence": r.float(2)?, "status": r.text(3)?,
            "error_message": r.opt_text(4)?, "created_at": r.opt_time(5)?}));
    }
    let totals = &store
        .query(
            "SELECT count(*), coalesce(avg(detection_confidence::float8), 0)::float8, \
               count(CASE WHEN status = 'failed' THEN 1 END) \
             FROM staging.universal_file_ingestion WHERE created_at > $1",
            &[Arg::from(since)],
        )
        .await?[0];
    let by_format = store
        .query(
            "SELECT file_format, count(*), avg(detection_confidence::float8)::float8 \
             FROM staging.universal_file_ingestion WHERE created_at > $1 \
             GROUP BY file_format ORDER BY 3, 1",
            &[Arg::from(since)],
        )
        .await?;
    let mut formats = Vec::new();
    for r in &by_format {
        formats.push(json!({"file_format": r.text(0)?, "files": r.int(1)?,
            "avg_detection_confidence": round4(r.float(2)?)}));
    }
    let summary = json!({"files": totals.int(0)?, "failed": totals.int(2)?,
        "avg_detection_confidence": round4(totals.float(1)?), "min_detection_confidence": min});
    Ok((
        summary,
        vec![
            (
                "files failed, for review or below the threshold".to_owned(),
                listed,
            ),
            ("detection by format".to_owned(), formats),
        ],
    ))
}

async fn quality(
    store: &Store,
    before: DateTime<Utc>,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Sections, StoreError> {
    let mean = |from: DateTime<Utc>, to: DateTime<Utc>| async move {
        let r = &store
            .query(
                "SELECT count(*), avg(quality_score::float8)::float8 \
                 FROM silver.transactions_cleaned WHERE loaded_at > $1 AND loaded_at <= $2",
                &[Arg::from(from), Arg::from(to)],
            )
            .await?[0];
        Ok::<_, StoreError>(json!({"rows": r.int(0)?, "avg_quality": r.opt_float(1)?.map(round4)}))
    };
    let summary =
        json!({"window": mean(since, now).await?, "previous_window": mean(before, since).await?});
    let mut sections = Vec::new();
    for (title, group) in [
        ("lowest quality stores", "store_id"),
        ("lowest quality devices", "device_id"),
        ("lowest quality items", "coalesce(product_name, sku, '?')"),
    ] {
        let rows = store
            .query(
                &format!(
                    "SELECT {group}, count(*), avg(quality_score::float8)::float8 \
                     FROM silver.transactions_cleaned WHERE loaded_at > $1 AND loaded_at <= $2 \
                     GROUP BY {group} ORDER BY 3, 2 DESC, 1 LIMIT {LISTED}"
                ),
                &[Arg::from(since), Arg::from(now)],
            )
            .await?;
        let mut listed = Vec::with_capacity(rows.len());
        for r in &rows {
            listed.push(json!({"name": r.text(0)?, "rows": r.int(1)?,
                "avg_quality": round4(r.float(2)?)}));
        }
        sections.push((title.to_owned(), listed));
    }
    let (now_issues, before_issues) = (
        issues(store, since, now).await?,
        issues(store, before, since).await?,
    );
    let mut common: Vec<(&String, &i64)> = now_issues.iter().collect();
    common.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let rows = common
        .into_iter()
        .take(LISTED as usize)
        .map(|(code, n)| {
            json!({"code": code, "window": n,
                   "previous_window": before_issues.get(code).copied().unwrap_or(0)})
        })
        .collect();
    sections.push(("most common quality issues".to_owned(), rows));
    Ok((summary, sections))
}

/// How many silver rows of `(from, to]` carry each quality issue code (the newest 50,000 rows
/// with issues at most).
async fn issues(
    store: &Store,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<BTreeMap<String, i64>, StoreError> {
    let rows = store
        .query_texts(
            "SELECT quality_issues::text FROM silver.transactions_cleaned \
             WHERE loaded_at > $1 AND loaded_at <= $2 AND quality_score < 1 \
             ORDER BY loaded_at DESC LIMIT 50000",
            &[Arg::from(from), Arg::from(to)],
        )
        .await?;
    let mut counts = BTreeMap::new();
    for text in rows.iter().flatten() {
        let Ok(Value::Array(list)) = serde_json::from_str::<Value>(text) else {
            continue;
        };
        for issue in &list {
            if let Some(code) = issue.get("code").and_then(Value::as_str) {
                *counts.entry(code.to_owned()).or_insert(0) += 1;
            }
        }
    }
    Ok(counts)
}

async fn performance(
    store: &Store,
    before: DateTime<Utc>,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Sections, StoreError> {
    let current = super::performance(store, since, now).await?;
    let previous = super::performance(store, before, since).await?;
    let functions = current
        .iter()
        .map(|f| {
            let prev = previous.iter().find(|p| p.function_name == f.function_name);
            json!({"function_name": f.function_name, "calls": f.calls, "errors": f.errors,
                   "avg_ms": f.avg_ms, "p95_ms": f.p95_ms, "max_ms": f.max_ms,
                   "previous_avg_ms": prev.map(|p| p.avg_ms),
                   "previous_p95_ms": prev.map(|p| p.p95_ms)})
        })
        .collect();
    let rows = store
        .query(
            &format!(
                "SELECT function_name, duration_ms::int8, created_at, device_id, \
                   row_count::int8, error FROM metadata.function_audit \
                 WHERE created_at > $1 AND created_at <= $2 \
                 ORDER BY duration_ms DESC, id DESC LIMIT {LISTED}"
            ),
            &[Arg::from(since), Arg::from(now)],
        )
        .await?;
    let mut slowest = Vec::with_capacity(rows.len());
    for r in &rows {
        slowest.push(
            json!({"function_name": r.text(0)?, "duration_ms": r.int(1)?,
            "created_at": r.opt_time(2)?, "device_id": r.opt_text(3)?,
            "row_count": r.opt_int(4)?, "error": r.opt_text(5)?}),
        );
    }
    let calls = |list: &[super::FunctionPerformance]| list.iter().map(|f| f.calls).sum::<i64>();
    let summary = json!({"calls": calls(&current), "previous_calls": calls(&previous)});
    Ok((
        summary,
        vec![
            ("operations, slowest mean first".to_owned(), functions),
            ("slowest calls".to_owned(), slowest),
        ],
    ))
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}
