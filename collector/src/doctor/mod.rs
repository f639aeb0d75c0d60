//! The morning check (`scout-collector doctor`): is the database answering, what each layer
//! received in the last day, the quality gates, how the audited operations performed, which
//! devices are stale or backlogged, and what the pipeline still has to do, summed up in one
//! [`Verdict`]. [`check`] returns a serialisable [`DoctorReport`] (the command prints it as text
//! or JSON; other views may call it); [`incident`] answers the operations manual's incident
//! runbook. Both only read, and a check is audited as `doctor`.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::gates::{self, GateResult, GatesConfig, Status};
use crate::routes::fleet::{self, Health, Thresholds};
use crate::store::{Arg, AuditEntry, Backend, READER_ROLE, Store, StoreError};

mod incident;
mod text;

pub use incident::{Incident, IncidentReport, incident};
pub use text::{incident_text, report_text};

/// How far back the morning check looks at layers and performance.
pub const DAY: Duration = Duration::from_secs(24 * 3600);

/// What the check concludes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Healthy,
    Attention,
    Failing,
}

impl Verdict {
    /// The command's exit code: 0 healthy, 1 attention, 2 failing.
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Healthy => 0,
            Self::Attention => 1,
            Self::Failing => 2,
        }
    }
}

/// The database: which, and how long `SELECT 1` took.
#[derive(Debug, Clone, Serialize)]
pub struct DatabaseCheck {
    pub backend: &'static str,
    pub reachable: bool,
    pub answer_ms: f64,
    /// How platinum's generated queries are kept from writing: `role scout_reader in read-only
    /// transactions`, `read-only transactions` (the role could not be taken), or `read-only
    /// connection` (SQLite).
    pub platinum_reader: String,
}

/// One layer's last day.
#[derive(Debug, Clone, Serialize)]
pub struct LayerSummary {
    pub layer: &'static str,
    pub table: &'static str,
    pub rows_24h: i64,
    pub newest: Option<DateTime<Utc>>,
}

/// One audited operation's last day.
#[derive(Debug, Clone, Serialize)]
pub struct FunctionPerformance {
    pub function_name: String,
    pub calls: i64,
    pub errors: i64,
    pub avg_ms: f64,
    pub p95_ms: i64,
    pub max_ms: i64,
}

/// A device that needs a look.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceIssue {
    pub device_id: String,
    pub store_id: String,
    pub health: Health,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub backlog: Option<u64>,
    pub oldest_pending_age_secs: Option<u64>,
    pub dead_letters: Option<u64>,
    pub last_error: Option<String>,
}

/// The fleet in short.
#[derive(Debug, Clone, Serialize)]
pub struct FleetSummary {
    pub devices: usize,
    pub active: usize,
    /// Stale or backlogged devices, and devices reporting dead letters.
    pub needs_attention: Vec<DeviceIssue>,
}

/// Work the pipeline has not done yet.
#[derive(Debug, Clone, Serialize)]
pub struct PendingWork {
    /// Bronze rows queued for silver.
    pub silver_pending: i64,
    /// Day × store partitions queued for gold.
    pub gold_dirty_partitions: i64,
    /// Partitions whose last gold build failed.
    pub gold_failures: i64,
    /// Records quarantined in the last day.
    pub quarantined_24h: i64,
    /// Imported files that failed or wait for review in the last day.
    pub files_failed_24h: i64,
    /// Dead letters reported by the devices' last heartbeats.
    pub device_dead_letters: u64,
}

/// The morning check's answer.
#[derive(Debug, Clone, Serialize)]
pub struct DoctorReport {
    pub generated_at: DateTime<Utc>,
    pub verdict: Verdict,
    /// Why the verdict is not `healthy`, one line each.
    pub reasons: Vec<String>,
    pub database: DatabaseCheck,
    pub layers: Vec<LayerSummary>,
    pub gates: Vec<GateResult>,
    pub performance: Vec<FunctionPerformance>,
    pub fleet: FleetSummary,
    pub pending: PendingWork,
}

const LAYERS: [(&str, &str, &str); 5] = [
    ("staging", "staging.universal_file_ingestion", "created_at"),
    ("bronze", "bronze.raw_transactions", "ingested_at"),
    ("silver", "silver.transactions_cleaned", "loaded_at"),
    (
        "quarantine",
        "silver.transactions_quarantine",
        "quarantined_at",
    ),
    ("gold", "scout.scout_gold_transactions", "created_at"),
];

/// Runs the morning check at `now` (the gates are run, kept and audited as usual) and writes a
/// `doctor` audit row.
pub async fn check(
    store: &Store,
    gates_config: &GatesConfig,
    fleet_thresholds: Thresholds,
    now: DateTime<Utc>,
) -> Result<DoctorReport, StoreError> {
    let started = Instant::now();
    store.ping().await?;
    let database = DatabaseCheck {
        backend: match store.backend() {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        },
        reachable: true,
        answer_ms: (started.elapsed().as_secs_f64() * 1e5).round() / 100.0,
        platinum_reader: match (store.backend(), store.reader_role().await?) {
            (Backend::Sqlite, _) => "read-only connection".to_owned(),
            (Backend::Postgres, Some(role)) => format!("role {role} in read-only transactions"),
            (Backend::Postgres, None) => {
                format!("read-only transactions (the role {READER_ROLE} could not be taken)")
            }
        },
    };
    let since = now - chrono::Duration::from_std(DAY).unwrap_or_default();
    // Independent reads, each on a connection of its own.
    let (layers, gates, performance, view) = tokio::try_join!(
        layers(store, since),
        gates::run_all(store, gates_config, now),
        performance(store, since, now),
        fleet::fleet_view(store, now, fleet_thresholds),
    )?;
    let needs_attention: Vec<DeviceIssue> = view
        .devices
        .iter()
        .filter(|d| {
            matches!(d.health, Health::Stale | Health::Backlog) || d.dead_letters.unwrap_or(0) > 0
        })
        .map(|d| DeviceIssue {
            device_id: d.device_id.clone(),
            store_id: d.store_id.clone(),
            health: d.health,
            last_seen_at: d.last_seen_at,
            backlog: d.backlog,
            oldest_pending_age_secs: d.oldest_pending_age_secs,
            dead_letters: d.dead_letters,
            last_error: d.last_error.clone(),
        })
        .collect();
    let fleet = FleetSummary {
        devices: view.devices.len(),
        active: view.devices.iter().filter(|d| d.state == "active").count(),
        needs_attention,
    };
    let pending = pending(store, since, &view).await?;
    let (verdict, reasons) = judge(&gates, &fleet, &pending);
    let report = DoctorReport {
        generated_at: now,
        verdict,
        reasons,
        database,
        layers,
        gates,
        performance,
        fleet,
        pending,
    };
    let details = serde_json::json!({"verdict": report.verdict, "reasons": report.reasons});
    store
        .audit_logged(&AuditEntry {
            function_name: "doctor",
            duration: started.elapsed(),
            error: None,
            device_id: None,
            row_count: None,
            details: Some(&details.to_string()),
            created_at: Utc::now(),
        })
        .await;
    Ok(report)
}

/// Failing when a gate fails; attention for a warning gate, a device to look at, failed gold
/// builds or files; healthy otherwise.
fn judge(
    gates: &[GateResult],
    fleet: &FleetSummary,
    pending: &PendingWork,
) -> (Verdict, Vec<String>) {
    let mut reasons = Vec::new();
    let mut verdict = Verdict::Healthy;
    let mut raise = |to: Verdict, why: String| {
        verdict = verdict.max(to);
        reasons.push(why);
    };
    for g in gates {
        match g.status {
            Status::Fail => raise(Verdict::Failing, format!("gate {} failed", g.name)),
            Status::Warn => raise(Verdict::Attention, format!("gate {} warns", g.name)),
            Status::Pass | Status::NoData => {}
        }
    }
    for d in &fleet.needs_attention {
        let what = match d.health {
            Health::Stale => "is stale".to_owned(),
            Health::Backlog => format!("has a backlog of {}", d.backlog.unwrap_or(0)),
            _ => format!("reports {} dead letters", d.dead_letters.unwrap_or(0)),
        };
        raise(
            Verdict::Attention,
            format!("device {} (store {}) {what}", d.device_id, d.store_id),
        );
    }
    if pending.gold_failures > 0 {
        raise(
            Verdict::Attention,
            format!("{} gold partitions failed to build", pending.gold_failures),
        );
    }
    if pending.files_failed_24h > 0 {
        raise(
            Verdict::Attention,
            format!(
                "{} imported files failed or need review",
                pending.files_failed_24h
            ),
        );
    }
    (verdict, reasons)
}

async fn layers(store: &Store, since: DateTime<Utc>) -> Result<Vec<LayerSummary>, StoreError> {
    let mut out = Vec::with_capacity(LAYERS.len());
    for (layer, table, column) in LAYERS {
        let row = &store
            .query(
                &format!(
                    "SELECT (SELECT count(*) FROM {table} WHERE {column} > $1), \
                       (SELECT max({column}) FROM {table})"
                ),
                &[Arg::from(since)],
            )
            .await?[0];
        out.push(LayerSummary {
            layer,
            table,
            rows_24h: row.int(0)?,
            newest: row.opt_time(1)?,
        });
    }
    Ok(out)
}

/// Calls, errors, mean, 95th percentile and longest duration per audited operation in
/// `[since, until]`, slowest mean first.
pub async fn performance(
    store: &Store,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<FunctionPerformance>, StoreError> {
    let window = [Arg::from(since), Arg::from(until)];
    let rows = store
        .query(
            "SELECT function_name, count(*), count(error), avg(duration_ms)::float8, \
               max(duration_ms)::int8 FROM metadata.function_audit \
             WHERE created_at > $1 AND created_at <= $2 \
             GROUP BY function_name ORDER BY 4 DESC, 1",
            &window,
        )
        .await?;
    // The 95th percentile (nearest rank) on both backends: the shortest duration whose rank
    // reaches 95% of the calls.
    let p95 = store
        .query(
            "SELECT function_name, min(duration_ms)::int8 FROM \
               (SELECT function_name, duration_ms, \
                  row_number() OVER (PARTITION BY function_name ORDER BY duration_ms) AS rn, \
                  count(*) OVER (PARTITION BY function_name) AS n \
                FROM metadata.function_audit WHERE created_at > $1 AND created_at <= $2) d \
             WHERE rn * 100 >= n * 95 GROUP BY function_name",
            &window,
        )
        .await?;
    let mut p95s = std::collections::HashMap::new();
    for r in &p95 {
        p95s.insert(r.text(0)?, r.int(1)?);
    }
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let name = r.text(0)?;
        out.push(FunctionPerformance {
            p95_ms: p95s.get(&name).copied().unwrap_or(0),
            function_name: name,
            calls: r.int(1)?,
            errors: r.int(2)?,
            avg_ms: (r.float(3)? * 10.0).round() / 10.0,
            max_ms: r.int(4)?,
        });
    }
    Ok(out)
}

async fn pending(
    store: &Store,
    since: DateTime<Utc>,
    view: &fleet::FleetView,
) -> Result<PendingWork, StoreError> {
    let row = &store
        .query(
            "SELECT (SELECT count(*) FROM metadata.silver_pending), \
               (SELECT count(*) FROM metadata.gold_pending), \
               (SELECT count(*) FROM metadata.gold_failures), \
               (SELECT count(*) FROM silver.transactions_quarantine WHERE quarantined_at > $1), \
               (SELECT count(*) FROM staging.universal_file_ingestion \
                WHERE created_at > $1 AND status IN ('failed', 'needs_review'))",
            &[Arg::from(since)],
        )
        .await?[0];
    Ok(PendingWork {
        silver_pending: row.int(0)?,
        gold_dirty_partitions: row.int(1)?,
        gold_failures: row.int(2)?,
        quarantined_24h: row.int(3)?,
        files_failed_24h: row.int(4)?,
        device_dead_letters: view.devices.iter().filter_map(|d| d.dead_letters).sum(),
    })
}
