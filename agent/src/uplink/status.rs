//! `UplinkStatus`: the uplink's live state for the field technician, published through a
//! `tokio::sync::watch` channel that the status page, `/status.json` and `/metrics` read. It is
//! in memory only; what must survive a restart (last upload, last error, next retry) is also
//! written to the outbox's agent state, on change only.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// What the uplink is doing now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UplinkState {
    /// Nothing to send; waiting for intake (or a setup problem keeps it from starting: see
    /// `last_error`).
    #[default]
    Idle,
    /// A batch is on its way.
    Sending,
    /// The last attempt failed for a transient reason; waiting until `next_retry_at`.
    BackingOff,
    /// The collector refused the token (401) or the device (403); retrying with backoff.
    AuthFailed,
    /// The collector's certificate is not trusted (or `ca_file` is unusable); retrying with
    /// backoff.
    TlsFailed,
}

impl UplinkState {
    /// The name used in JSON and on the status page.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Sending => "sending",
            Self::BackingOff => "backing_off",
            Self::AuthFailed => "auth_failed",
            Self::TlsFailed => "tls_failed",
        }
    }
}

/// The last batch the collector answered with 200.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchSummary {
    pub finished_at: DateTime<Utc>,
    /// Lines sent.
    pub lines: u64,
    pub inserted: u64,
    pub duplicates: u64,
    /// Lines the collector rejected (now dead letters).
    pub rejected: u64,
    /// Body size on the wire (gzip) and before compression.
    pub wire_bytes: u64,
    pub raw_bytes: u64,
    /// From sending the request to the settled outbox commit.
    pub duration_ms: u64,
}

/// Counts since the agent started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct UplinkTotals {
    /// Upload requests made (successful or not).
    pub attempts: u64,
    /// Attempts that failed (and were retried).
    pub failed_attempts: u64,
    /// Batches the collector answered with 200.
    pub batches: u64,
    pub inserted: u64,
    pub duplicates: u64,
    /// Records moved to dead letters: rejected by the collector, refused as too large on their
    /// own (413), or unsendable (payload not a JSON object).
    pub dead_lettered: u64,
    /// Request bodies sent, gzip bytes.
    pub wire_bytes: u64,
    /// Heartbeats delivered and failed.
    pub heartbeats: u64,
    pub heartbeat_failures: u64,
}

/// The uplink at a glance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UplinkStatus {
    pub state: UplinkState,
    /// When the uplink started.
    pub started_at: DateTime<Utc>,
    /// When the last upload request was sent.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// When the collector last answered a batch with 200.
    pub last_success_at: Option<DateTime<Utc>>,
    /// The last upload error, as a technician reads it ("TLS: certificate not trusted …",
    /// "connection refused by …", "timeout: …"); cleared by a success.
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    /// When the next attempt is due while backing off.
    pub next_retry_at: Option<DateTime<Utc>>,
    /// Failed attempts since the last success.
    pub consecutive_failures: u32,
    /// Whether the last request (upload or heartbeat) got an HTTP answer from the collector
    /// (`false`: refused, timed out, unreachable, or TLS failed; `None`: none sent yet).
    pub collector_reachable: Option<bool>,
    /// Records per batch now: `batch_max_records`, or less after the collector answered 413.
    pub batch_limit: u64,
    pub last_batch: Option<BatchSummary>,
    pub totals: UplinkTotals,
    /// When the collector last accepted a heartbeat.
    pub last_heartbeat_at: Option<DateTime<Utc>>,
    /// Why the last heartbeat failed (cleared when one succeeds). Uploads do not depend on it.
    pub heartbeat_error: Option<String>,
}

impl Default for UplinkStatus {
    fn default() -> Self {
        Self {
            state: UplinkState::Idle,
            started_at: Utc::now(),
            last_attempt_at: None,
            last_success_at: None,
            last_error: None,
            last_error_at: None,
            next_retry_at: None,
            consecutive_failures: 0,
            collector_reachable: None,
            batch_limit: 0,
            last_batch: None,
            totals: UplinkTotals::default(),
            last_heartbeat_at: None,
            heartbeat_error: None,
        }
    }
}
