//! The operations audit (`metadata.function_audit`): one row per call of an operation the
//! operations manual names (`ingest-stream`, `universal-processor`, `nl2sql`, `quality-gates`,
//! …), with its duration, its error if any, and what helps to read it (device, rows, details).
//! Written once for both databases through [`Record`]; a failed audit write is logged and never
//! fails the operation it describes ([`Store::audit_logged`]). Other operational records (the
//! quality gates' results) are written with [`Store::insert_rows`].

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Store;
use super::error::StoreError;
use super::sql::{Arg, Record};

/// One audited call.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry<'a> {
    /// The operation, as the operations manual names it (`ingest-stream`, …).
    pub function_name: &'a str,
    pub duration: Duration,
    /// `None` when the call succeeded.
    pub error: Option<&'a str>,
    pub device_id: Option<&'a str>,
    /// Rows the call wrote (landed, imported, checked), when it knows.
    pub row_count: Option<i64>,
    /// JSON text: whatever else explains the call.
    pub details: Option<&'a str>,
    pub created_at: DateTime<Utc>,
}

impl<'a> AuditEntry<'a> {
    /// A successful call to `function_name` that began at `started` and ends now; set the
    /// other fields with struct update syntax.
    pub fn ended(function_name: &'a str, started: std::time::Instant) -> Self {
        Self {
            function_name,
            duration: started.elapsed(),
            error: None,
            device_id: None,
            row_count: None,
            details: None,
            created_at: Utc::now(),
        }
    }
}

impl Record for AuditEntry<'_> {
    const TABLE: &'static str = "metadata.function_audit";
    const COLUMNS: &'static [&'static str] = &[
        "function_name",
        "duration_ms",
        "error",
        "created_at",
        "device_id",
        "row_count",
        "details",
    ];

    fn values<'a>(&'a self, out: &mut Vec<Arg<'a>>) {
        out.extend([
            Arg::from(self.function_name),
            Arg::from(millis(self.duration)),
            Arg::from(self.error),
            Arg::from(self.created_at),
            Arg::from(self.device_id),
            Arg::from(self.row_count.map(integer)),
            Arg::Json(self.details),
        ]);
    }
}

/// One question or plan answered, refused or failed (`metadata.ai_sql_audit`).
#[derive(Debug, Clone, PartialEq)]
pub struct SqlAuditEntry<'a> {
    pub question: Option<&'a str>,
    /// JSON text of the plan, when there was one.
    pub plan: Option<&'a str>,
    pub sql_text: Option<&'a str>,
    pub duration: Duration,
    pub row_count: Option<i64>,
    pub cache_hit: bool,
    /// The refusal or failure; `None` when answered.
    pub error: Option<&'a str>,
    pub created_at: DateTime<Utc>,
}

impl Record for SqlAuditEntry<'_> {
    const TABLE: &'static str = "metadata.ai_sql_audit";
    const COLUMNS: &'static [&'static str] = &[
        "created_at",
        "question",
        "plan",
        "sql_text",
        "duration_ms",
        "row_count",
        "cache_hit",
        "error",
    ];

    fn values<'a>(&'a self, out: &mut Vec<Arg<'a>>) {
        out.extend([
            Arg::from(self.created_at),
            Arg::from(self.question),
            Arg::Json(self.plan),
            Arg::from(self.sql_text),
            Arg::from(millis(self.duration)),
            Arg::from(self.row_count.map(integer)),
            Arg::from(self.cache_hit),
            Arg::from(self.error),
        ]);
    }
}

/// A count for an `integer` column, clamped into its range.
fn integer(n: i64) -> i64 {
    n.clamp(0, i64::from(i32::MAX))
}

/// A duration in whole milliseconds for an `integer` column: a call longer than about 24 days
/// reads as that.
fn millis(d: Duration) -> i64 {
    integer(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `INSERT INTO table (columns) VALUES ($1, …)` for one row of `R` with these `values`; a JSON
/// value is cast to `jsonb` (it binds as text; SQLite drops the cast).
fn insert_one<R: Record>(values: &[Arg<'_>]) -> String {
    let placeholders: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            Arg::Json(_) => format!("${}::jsonb", i + 1),
            _ => format!("${}", i + 1),
        })
        .collect();
    format!(
        "INSERT INTO {} ({}) VALUES ({})",
        R::TABLE,
        R::COLUMNS.join(", "),
        placeholders.join(", ")
    )
}

/// Upper bounds, in seconds, of the audit duration histogram's buckets.
pub const DURATION_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0,
];

/// One operation's durations: counts per bucket (not cumulative), sum and count.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DurationSeries {
    pub buckets: [u64; DURATION_BUCKETS.len()],
    pub sum_seconds: f64,
    pub count: u64,
}

impl DurationSeries {
    /// Cumulative counts per upper bound, as Prometheus wants them.
    pub fn cumulative(&self) -> Vec<(f64, u64)> {
        let mut total = 0;
        DURATION_BUCKETS
            .iter()
            .zip(self.buckets)
            .map(|(bound, n)| {
                total += n;
                (*bound, total)
            })
            .collect()
    }
}

/// The durations of the calls this process audited, per `function_name` (for `/metrics`).
#[derive(Debug, Default)]
pub struct AuditDurations(Mutex<BTreeMap<String, DurationSeries>>);

impl AuditDurations {
    fn observe(&self, function_name: &str, duration: Duration) {
        let seconds = duration.as_secs_f64();
        let mut all = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let series = all.entry(function_name.to_owned()).or_default();
        if let Some(i) = DURATION_BUCKETS.iter().position(|b| seconds <= *b) {
            series.buckets[i] += 1;
        }
        series.sum_seconds += seconds;
        series.count += 1;
    }

    /// Every operation's series so far.
    pub fn snapshot(&self) -> Vec<(String, DurationSeries)> {
        let all = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        all.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

impl Store {
    /// The durations of the calls this process audited.
    pub fn audit_durations(&self) -> &AuditDurations {
        &self.durations
    }

    /// Writes one audit row (and counts its duration for `/metrics`).
    pub async fn audit(&self, entry: &AuditEntry<'_>) -> Result<(), StoreError> {
        self.durations.observe(entry.function_name, entry.duration);
        let mut values = Vec::with_capacity(AuditEntry::COLUMNS.len());
        entry.values(&mut values);
        self.db
            .execute(&insert_one::<AuditEntry>(&values), &values)
            .await?;
        Ok(())
    }

    /// Writes one `ai_sql_audit` row; a failure is logged, not returned.
    pub async fn audit_sql_logged(&self, entry: &SqlAuditEntry<'_>) {
        let mut values = Vec::with_capacity(SqlAuditEntry::COLUMNS.len());
        entry.values(&mut values);
        let written = self
            .db
            .execute(&insert_one::<SqlAuditEntry>(&values), &values)
            .await;
        if let Err(e) = written {
            tracing::warn!(error = %e, "Failed to write the ai_sql_audit row");
        }
    }

    /// Writes `rows` in one transaction (the bulk path of each backend).
    pub async fn insert_rows<R: Record>(&self, rows: &[&R]) -> Result<(), StoreError> {
        let mut tx = self.db.begin().await?;
        let written = tx.write(rows).await;
        tx.finish(written).await
    }

    /// Writes one audit row; a failure is logged, not returned: the audit never fails the call
    /// it describes.
    pub async fn audit_logged(&self, entry: &AuditEntry<'_>) {
        if let Err(e) = self.audit(entry).await {
            tracing::warn!(
                function = entry.function_name,
                error = %e,
                "Failed to write the audit row"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_placeholder_per_column() {
        let entry = AuditEntry {
            function_name: "ingest-stream",
            duration: Duration::from_millis(12),
            error: None,
            device_id: None,
            row_count: Some(3),
            details: None,
            created_at: Utc::now(),
        };
        let mut values = Vec::new();
        entry.values(&mut values);
        assert_eq!(values.len(), AuditEntry::COLUMNS.len());
        assert_eq!(values[1], Arg::Int(Some(12)));
        assert_eq!(
            insert_one::<AuditEntry>(&values),
            "INSERT INTO metadata.function_audit (function_name, duration_ms, error, created_at, \
             device_id, row_count, details) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)"
        );
    }

    #[test]
    fn a_question_row_binds_its_plan_as_jsonb() {
        let entry = SqlAuditEntry {
            question: Some("kita kahapon"),
            plan: Some("{}"),
            sql_text: None,
            duration: Duration::from_millis(3),
            row_count: Some(1),
            cache_hit: true,
            error: None,
            created_at: Utc::now(),
        };
        let mut values = Vec::new();
        entry.values(&mut values);
        assert_eq!(values.len(), SqlAuditEntry::COLUMNS.len());
        assert_eq!(
            insert_one::<SqlAuditEntry>(&values),
            "INSERT INTO metadata.ai_sql_audit (created_at, question, plan, sql_text, \
             duration_ms, row_count, cache_hit, error) VALUES ($1, $2, $3::jsonb, $4, $5, $6, \
             $7, $8)"
        );
    }
}
