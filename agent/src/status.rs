//! What a field technician sees: one [`StatusReport`] built from the outbox (which survives the
//! service) and, while the service runs, the uplink's live state. `scout-agent status`, the
//! local `/status` page, `/status.json`, `/healthz` and `/metrics` all render this one report,
//! so they never disagree.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{AgentConfig, CheckedConfig};
use crate::outbox::{OutboxStats, QuarantineInfo, state_keys};
use crate::uplink::{UplinkState, UplinkStatus};

/// Outbox state key holding the address the running service listens on.
pub const LISTEN_STATE_KEY: &str = "listen";

/// Headroom under the cap below which the outbox counts as full (a few transactions' worth).
const FULL_HEADROOM_BYTES: u64 = 16 * 1024;

/// The device's condition in one word, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceState {
    /// The outbox reached its cap: intake is refusing new transactions.
    OutboxFull,
    /// The collector refused the device token.
    AuthFailed,
    /// The collector's certificate is not trusted.
    TlsFailed,
    /// Transactions are waiting and nothing was delivered for `stall_after_secs`.
    Stalled,
    /// The collector cannot be reached; transactions are kept until it can.
    Offline,
    /// Transactions are waiting and being delivered.
    Sending,
    /// Nothing waiting.
    Ok,
    /// The service is not running (figures are read from the outbox file).
    Stopped,
}

impl DeviceState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OutboxFull => "outbox_full",
            Self::AuthFailed => "auth_failed",
            Self::TlsFailed => "tls_failed",
            Self::Stalled => "stalled",
            Self::Offline => "offline",
            Self::Sending => "sending",
            Self::Ok => "ok",
            Self::Stopped => "stopped",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backlog {
    pub count: u64,
    pub bytes: u64,
    pub oldest_captured_at: Option<DateTime<Utc>>,
    pub oldest_age_secs: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quarantine {
    pub at: DateTime<Utc>,
    /// Where the damaged file was kept.
    pub path: PathBuf,
    pub reason: String,
    pub salvaged_pending: u64,
    pub damaged_pending: u64,
    pub lost_pending: Option<u64>,
}

impl From<&QuarantineInfo> for Quarantine {
    fn from(q: &QuarantineInfo) -> Self {
        Self {
            at: q.at,
            path: q.path.clone(),
            reason: q.reason.clone(),
            salvaged_pending: q.salvaged_pending,
            damaged_pending: q.damaged_pending,
            lost_pending: q.lost_pending,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxView {
    pub path: PathBuf,
    pub file_bytes: u64,
    /// Bytes counted against the cap (pending plus dead letters).
    pub used_bytes: u64,
    pub max_bytes: Option<u64>,
    pub quarantined: Option<Quarantine>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UplinkView {
    /// idle, sending, backing_off, auth_failed, tls_failed; `unknown` when the service is
    /// stopped.
    pub state: String,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub next_retry_at: Option<DateTime<Utc>>,
    pub consecutive_failures: u32,
    /// Whether the collector answered the last request (`None`: not known).
    pub collector_reachable: Option<bool>,
    pub last_heartbeat_at: Option<DateTime<Utc>>,
    /// Delivered since the service started.
    pub delivered: u64,
}

/// Everything `status` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    pub version: String,
    pub device_id: String,
    pub store_id: String,
    pub collector_url: String,
    pub state: DeviceState,
    /// One sentence saying why.
    pub summary: String,
    pub service_running: bool,
    pub started_at: Option<DateTime<Utc>>,
    pub backlog: Backlog,
    pub dead_letters: u64,
    /// Intake refusals because the outbox was full (all time).
    pub refused_total: u64,
    pub outbox: OutboxView,
    pub uplink: UplinkView,
    pub disk_free_bytes: Option<u64>,
    pub generated_at: DateTime<Utc>,
}

/// Uplink state the service keeps in the outbox, read when it is not running.
#[derive(Debug, Clone, Default)]
pub struct Persisted {
    pub last_upload_at: Option<String>,
    pub last_error: Option<String>,
    pub next_retry_at: Option<String>,
}

impl Persisted {
    /// Reads it through `get` (a key → value lookup in the outbox's agent state).
    pub fn read(get: impl Fn(&str) -> Option<String>) -> Self {
        Self {
            last_upload_at: get(state_keys::LAST_UPLOAD_AT),
            last_error: get(state_keys::LAST_ERROR),
            next_retry_at: get(state_keys::NEXT_RETRY_AT),
        }
    }
}

/// What the report is about, from the configuration.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    /// As shown: upper case.
    pub device_id: Cow<'a, str>,
    pub store_id: &'a str,
    pub collector_url: &'a str,
    pub outbox_path: &'a Path,
    /// `stall_after_secs`: a backlog with no delivery for longer is `stalled`.
    pub stall_after: Duration,
}

/// The running service's configuration, checked.
impl<'a> From<&'a CheckedConfig> for Subject<'a> {
    fn from(config: &'a CheckedConfig) -> Self {
        Self {
            device_id: Cow::Borrowed(config.device_id().as_str()),
            store_id: config.store_id(),
            collector_url: config.collector_url(),
            outbox_path: config.outbox_path(),
            stall_after: config.stall_after(),
        }
    }
}

/// The configuration as written, for `scout-agent status` with the service stopped: it reads
/// the outbox whether or not the configuration would pass `validate`, so it is not checked.
impl<'a> From<&'a AgentConfig> for Subject<'a> {
    fn from(config: &'a AgentConfig) -> Self {
        Self {
            device_id: Cow::Owned(config.device_id.trim().to_ascii_uppercase()),
            store_id: &config.store_id,
            collector_url: &config.collector_url,
            outbox_path: &config.outbox_path,
            stall_after: Duration::from_secs(config.stall_after_secs),
        }
    }
}

/// What the builder needs besides the outbox.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    pub subject: &'a Subject<'a>,
    pub stats: &'a OutboxStats,
    /// Agent state persisted in the outbox (what the service last knew).
    pub persisted: &'a Persisted,
    /// The live uplink, when the service runs.
    pub live: Option<&'a UplinkStatus>,
    pub started_at: Option<DateTime<Utc>>,
    pub disk_free_bytes: Option<u64>,
    pub now: DateTime<Utc>,
}

fn parse_time(value: Option<String>) -> Option<DateTime<Utc>> {
    value
        .and_then(|v| DateTime::parse_from_rfc3339(&v).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// Builds the report.
pub fn build(inputs: &Inputs<'_>) -> StatusReport {
    let Inputs {
        subject,
        stats,
        persisted,
        live,
        started_at,
        disk_free_bytes,
        now,
    } = inputs;
    let now = *now;
    let uplink = match live {
        Some(live) => UplinkView {
            state: live.state.as_str().to_owned(),
            last_success_at: live
                .last_success_at
                .or_else(|| parse_time(persisted.last_upload_at.clone())),
            last_error: live.last_error.clone(),
            next_retry_at: live.next_retry_at,
            consecutive_failures: live.consecutive_failures,
            collector_reachable: live.collector_reachable,
            last_heartbeat_at: live.last_heartbeat_at,
            delivered: live.totals.inserted + live.totals.duplicates,
        },
        None => UplinkView {
            state: "unknown".to_owned(),
            last_success_at: parse_time(persisted.last_upload_at.clone()),
            last_error: persisted.last_error.clone(),
            next_retry_at: parse_time(persisted.next_retry_at.clone()),
            consecutive_failures: 0,
            collector_reachable: None,
            last_heartbeat_at: None,
            delivered: 0,
        },
    };
    let backlog = Backlog {
        count: stats.pending_count,
        bytes: stats.pending_bytes,
        oldest_captured_at: stats.oldest_pending_captured_at,
        oldest_age_secs: stats
            .oldest_pending_captured_at
            .map(|t| (now - t).num_seconds().max(0).unsigned_abs()),
    };
    let used = stats.accounted_bytes();
    let full = stats
        .max_bytes
        .is_some_and(|max| used + FULL_HEADROOM_BYTES.min(max / 50 + 1) >= max);
    let since_progress = uplink
        .last_success_at
        .or(*started_at)
        .map(|t| (now - t).to_std().unwrap_or(Duration::ZERO));
    let stalled = backlog.count > 0 && since_progress.is_some_and(|d| d > subject.stall_after);
    let (state, summary) = if live.is_none() {
        (
            DeviceState::Stopped,
            format!(
                "The service is not running; {} transaction(s) wait in the outbox.",
                backlog.count
            ),
        )
    } else if full {
        (
            DeviceState::OutboxFull,
            format!(
                "The outbox is full ({used} of {} bytes): new transactions are refused until the \
                 backlog is delivered.",
                stats.max_bytes.unwrap_or_default()
            ),
        )
    } else if live.is_some_and(|l| l.state == UplinkState::AuthFailed) {
        (
            DeviceState::AuthFailed,
            "The collector refused this device's token: check token/token_file.".to_owned(),
        )
    } else if live.is_some_and(|l| l.state == UplinkState::TlsFailed) {
        (
            DeviceState::TlsFailed,
            "The collector's certificate is not trusted: check ca_file and collector_url."
                .to_owned(),
        )
    } else if stalled {
        (
            DeviceState::Stalled,
            format!(
                "{} transaction(s) waiting and nothing delivered for over {} s.",
                backlog.count,
                subject.stall_after.as_secs()
            ),
        )
    } else if backlog.count > 0 && uplink.collector_reachable == Some(false) {
        (
            DeviceState::Offline,
            format!(
                "The collector cannot be reached; {} transaction(s) are kept until it can.",
                backlog.count
            ),
        )
    } else if backlog.count > 0 {
        (
            DeviceState::Sending,
            format!("{} transaction(s) being delivered.", backlog.count),
        )
    } else {
        (
            DeviceState::Ok,
            "Everything taken in has been delivered.".to_owned(),
        )
    };
    StatusReport {
        version: crate::VERSION.to_owned(),
        device_id: subject.device_id.clone().into_owned(),
        store_id: subject.store_id.to_owned(),
        collector_url: subject.collector_url.to_owned(),
        state,
        summary,
        service_running: live.is_some(),
        started_at: *started_at,
        backlog,
        dead_letters: stats.dead_letter_count,
        refused_total: stats.refused_total,
        outbox: OutboxView {
            path: subject.outbox_path.to_path_buf(),
            file_bytes: stats.file_bytes,
            used_bytes: used,
            max_bytes: stats.max_bytes,
            quarantined: stats.quarantined.as_ref().map(Quarantine::from),
        },
        uplink,
        disk_free_bytes: *disk_free_bytes,
        generated_at: now,
    }
}

impl StatusReport {
    /// Whether `/healthz` should say degraded: a backlog and no progress for too long, a full
    /// outbox, or a refused token or certificate.
    pub fn degraded(&self) -> bool {
        matches!(
            self.state,
            DeviceState::Stalled
                | DeviceState::OutboxFull
                | DeviceState::AuthFailed
                | DeviceState::TlsFailed
        )
    }

    /// The report as the technician's terminal table.
    pub fn to_table(&self) -> String {
        let when = |t: Option<DateTime<Utc>>| {
            t.map_or("never".to_owned(), |t| {
                format!(
                    "{} ({} ago)",
                    t.format("%Y-%m-%d %H:%M:%S UTC"),
                    human_duration(self.generated_at - t)
                )
            })
        };
        let mut rows: Vec<(&str, String)> = vec![
            (
                "Device",
                format!("{} (store {})", self.device_id, self.store_id),
            ),
            (
                "State",
                format!("{}: {}", self.state.as_str().to_uppercase(), self.summary),
            ),
            (
                "Service",
                if self.service_running {
                    format!("running since {}", when(self.started_at))
                } else {
                    "not running".to_owned()
                },
            ),
            (
                "Backlog",
                format!(
                    "{} transaction(s), {}",
                    self.backlog.count,
                    human_bytes(self.backlog.bytes)
                ),
            ),
            (
                "Oldest waiting",
                self.backlog.oldest_age_secs.map_or("-".to_owned(), |s| {
                    human_duration(chrono::Duration::seconds(s as i64))
                }),
            ),
            ("Last upload", when(self.uplink.last_success_at)),
            (
                "Last error",
                self.uplink.last_error.clone().unwrap_or_else(|| "-".into()),
            ),
            (
                "Next retry",
                self.uplink
                    .next_retry_at
                    .map_or("-".to_owned(), |t| t.format("%H:%M:%S UTC").to_string()),
            ),
            (
                "Collector",
                format!(
                    "{} ({})",
                    self.collector_url,
                    match self.uplink.collector_reachable {
                        Some(true) => "reachable",
                        Some(false) => "NOT reachable",
                        None => "not known",
                    }
                ),
            ),
            ("Dead letters", self.dead_letters.to_string()),
            ("Refused (full)", self.refused_total.to_string()),
            (
                "Outbox",
                format!(
                    "{} used of {}; file {}",
                    human_bytes(self.outbox.used_bytes),
                    self.outbox
                        .max_bytes
                        .map_or("no cap".to_owned(), human_bytes),
                    self.outbox.path.display()
                ),
            ),
            (
                "Disk free",
                self.disk_free_bytes
                    .map_or("unknown".to_owned(), human_bytes),
            ),
            ("Version", self.version.clone()),
        ];
        if let Some(q) = &self.outbox.quarantined {
            rows.insert(
                2,
                (
                    "QUARANTINED",
                    format!(
                        "damaged outbox kept at {} ({}); {} salvaged, {} damaged",
                        q.path.display(),
                        q.reason,
                        q.salvaged_pending,
                        q.damaged_pending
                    ),
                ),
            );
        }
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (key, value) in rows {
            out.push_str(&format!("{key:<width$}  {value}\n"));
        }
        out
    }
}

/// `1.5 MiB`-style sizes.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `3h 12m`-style durations.
pub fn human_duration(d: chrono::Duration) -> String {
    let secs = d.num_seconds().max(0);
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m {}s", secs / 60, secs % 60),
        3600..=86_399 => format!("{}h {}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d {}h", secs / 86_400, secs % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(pending: u64, bytes: u64, max: u64) -> OutboxStats {
        OutboxStats {
            pending_count: pending,
            pending_bytes: bytes,
            oldest_pending_seq: (pending > 0).then_some(1),
            oldest_pending_captured_at: (pending > 0)
                .then(|| Utc::now() - chrono::Duration::seconds(90)),
            dead_letter_count: 0,
            dead_letter_bytes: 0,
            refused_total: 0,
            last_seq: pending as i64,
            max_bytes: Some(max),
            file_bytes: bytes * 2,
            quarantined: None,
        }
    }

    fn report(stats: &OutboxStats, live: Option<&UplinkStatus>) -> StatusReport {
        let config = AgentConfig {
            device_id: "scoutpi-0004".into(),
            store_id: "104".into(),
            ..AgentConfig::default()
        };
        build(&Inputs {
            subject: &Subject::from(&config),
            stats,
            persisted: &Persisted::default(),
            live,
            started_at: Some(Utc::now() - chrono::Duration::seconds(30)),
            disk_free_bytes: Some(10 << 30),
            now: Utc::now(),
        })
    }

    #[test]
    fn states_from_worst_to_best() {
        let live = UplinkStatus::default();
        assert_eq!(
            report(&stats(0, 0, 1 << 20), Some(&live)).state,
            DeviceState::Ok
        );
        assert_eq!(
            report(&stats(3, 900, 1 << 20), Some(&live)).state,
            DeviceState::Sending
        );
        let full = report(&stats(700, (1 << 20) - 100, 1 << 20), Some(&live));
        assert_eq!(full.state, DeviceState::OutboxFull);
        assert!(full.degraded());
        let offline = UplinkStatus {
            collector_reachable: Some(false),
            ..UplinkStatus::default()
        };
        assert_eq!(
            report(&stats(3, 900, 1 << 20), Some(&offline)).state,
            DeviceState::Offline
        );
        let tls = UplinkStatus {
            state: UplinkState::TlsFailed,
            ..UplinkStatus::default()
        };
        assert_eq!(
            report(&stats(3, 900, 1 << 20), Some(&tls)).state,
            DeviceState::TlsFailed
        );
        let stopped = report(&stats(3, 900, 1 << 20), None);
        assert_eq!(stopped.state, DeviceState::Stopped);
        assert!(!stopped.service_running);
        assert_eq!(stopped.device_id, "SCOUTPI-0004");
    }

    #[test]
    fn the_table_names_what_matters() {
        let table = report(&stats(3, 2048, 1 << 20), None).to_table();
        for needle in [
            "SCOUTPI-0004",
            "not running",
            "3 transaction(s), 2.0 KiB",
            "1m 30s",
        ] {
            assert!(table.contains(needle), "{needle:?} missing from\n{table}");
        }
    }

    #[test]
    fn human_units() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_duration(chrono::Duration::seconds(3725)), "1h 2m");
    }
}
