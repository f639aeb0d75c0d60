//! The agent ↔ collector protocol (the product contract, §2): the stamp the agent adds to each
//! line, the per-request ingest response, and the accepted content types.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Version of the ingest protocol spoken by this build.
pub const PROTOCOL_VERSION: u32 = 1;

/// Key of the object the agent adds to every line it sends. The collector takes it out before
/// storing the payload, so bronze keeps the transaction as the capture app produced it.
pub const AGENT_STAMP_KEY: &str = "_agent";

/// Content types accepted for NDJSON bodies (parameters such as `charset` are ignored).
pub const NDJSON_CONTENT_TYPES: &[&str] = &[
    "application/x-ndjson",
    "application/jsonl",
    "text/plain",
    "application/octet-stream",
];

/// Whether a `Content-Type` header value names one of [`NDJSON_CONTENT_TYPES`].
pub fn is_ndjson_content_type(value: &str) -> bool {
    let essence = value.split(';').next().unwrap_or("").trim();
    NDJSON_CONTENT_TYPES
        .iter()
        .any(|t| t.eq_ignore_ascii_case(essence))
}

/// What only the agent knows about a transaction, stamped at intake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentStamp {
    /// When the agent took the transaction in (UTC).
    pub captured_at: DateTime<Utc>,
    /// Per-device sequence number, increasing, never reused.
    pub seq: u64,
    /// The agent's version.
    pub version: String,
}

/// One line the collector refused for good (the agent dead-letters it, never resends it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedLine {
    pub line: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    pub error: String,
}

/// Most rejected lines an answer lists one by one; any more are only counted
/// ([`IngestResponse::rejected_omitted`]), so a body of millions of bad lines cannot make an
/// answer (or the memory behind it) grow without bound. The agent's batches are never larger
/// than this, so every line of theirs is always answered by number.
pub const MAX_REJECTED_LISTED: usize = 10_000;

/// The 200 (and 403) response to `POST /v1/ingest`:
/// `inserted + duplicates + rejected.len() + rejected_omitted == lines_seen`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestResponse {
    pub success: bool,
    pub device_id: String,
    pub lines_seen: u64,
    pub inserted: u64,
    pub duplicates: u64,
    pub rejected: Vec<RejectedLine>,
    /// Rejected lines past the first [`MAX_REJECTED_LISTED`], counted but not listed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rejected_omitted: u64,
    /// Lines acknowledged (inserted or duplicate): committed in bronze.
    pub records_processed: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl IngestResponse {
    /// Rejected lines, listed or not.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.len() as u64 + self.rejected_omitted
    }

    /// Whether every line is accounted for exactly once.
    pub fn is_balanced(&self) -> bool {
        self.inserted + self.duplicates + self.rejected_total() == self.lines_seen
    }
}

/// Device health, sent by the agent to `POST /v1/heartbeat` (the token names the device).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// When the agent built this report.
    pub sent_at: DateTime<Utc>,
    pub agent_version: String,
    pub uptime_secs: u64,
    /// Transactions waiting in the outbox, and their bytes.
    pub queue_depth: u64,
    pub queue_bytes: u64,
    /// Age of the oldest waiting transaction, if any.
    #[serde(default)]
    pub oldest_pending_age_secs: Option<u64>,
    /// Lines the collector rejected for good, kept on the device.
    pub dead_letters: u64,
    /// Intake refusals because the outbox was full, since the outbox was created.
    #[serde(default)]
    pub refused_total: u64,
    /// Free bytes on the outbox's file system.
    #[serde(default)]
    pub disk_free_bytes: Option<u64>,
    #[serde(default)]
    pub last_upload_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_ignore_parameters_and_case() {
        assert!(is_ndjson_content_type("application/x-ndjson"));
        assert!(is_ndjson_content_type("Application/JSONL; charset=utf-8"));
        assert!(is_ndjson_content_type("text/plain;charset=UTF-8"));
        assert!(!is_ndjson_content_type("application/json"));
        assert!(!is_ndjson_content_type("multipart/form-data; boundary=x"));
    }

    #[test]
    fn stamp_round_trips_in_camel_case() {
        let stamp: AgentStamp = serde_json::from_str(
            r#"{"capturedAt":"2026-11-27T01:02:03Z","seq":7,"version":"0.1.0"}"#,
        )
        .unwrap();
        assert_eq!(stamp.seq, 7);
        let back = serde_json::to_value(&stamp).unwrap();
        assert_eq!(back["capturedAt"], "2026-11-27T01:02:03Z");
    }
}
