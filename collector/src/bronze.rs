//! Bronze: the landing stage.
//!
//! Enters: a parsed [`Transaction`] from an authenticated device's NDJSON line.
//! Leaves: one [`BronzeRow`] per (device, transaction id): the payload as received (the agent's
//! stamp lifted into its own columns), normalised items and detected brands, and a
//! `processing_metadata` that lists every repair the parser made.
//! Guarantees: a row is written once per device and transaction id however often it is sent
//! (a unique key, `ON CONFLICT DO NOTHING`), and a line is acknowledged only after the
//! transaction holding its row has committed.

use chrono::{DateTime, Utc};
use scout_common::Transaction;
use scout_common::protocol::PROTOCOL_VERSION;
use serde_json::json;

/// Where a row's `transaction_timestamp` came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampSource {
    /// The producer's own timestamp.
    Payload,
    /// The agent's capture time (the producer sent none that was usable).
    Capture,
    /// The collector's receive time (no usable timestamp and no agent stamp).
    Received,
}

impl TimestampSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Payload => "payload",
            Self::Capture => "capture",
            Self::Received => "received",
        }
    }
}

/// One bronze row, ready to insert (JSON columns already serialised).
#[derive(Debug, Clone)]
pub struct BronzeRow {
    pub transaction_id: String,
    pub store_id: Option<String>,
    pub device_id: String,
    pub transaction_timestamp: DateTime<Utc>,
    pub items: String,
    pub detected_brands: String,
    pub processing_metadata: String,
    pub payload: String,
    pub captured_at: Option<DateTime<Utc>>,
    pub device_seq: Option<i64>,
    pub agent_version: Option<String>,
}

/// What the collector knows about the line besides its content.
#[derive(Debug, Clone, Copy)]
pub struct Landing<'a> {
    /// The authenticated device (canonical id).
    pub device_id: &'a str,
    /// The device's registered store, used when the line names none.
    pub store_id: &'a str,
    /// Which endpoint took the line in.
    pub endpoint: &'a str,
    pub received_at: DateTime<Utc>,
}

impl BronzeRow {
    pub fn new(t: Transaction, landing: Landing<'_>) -> Self {
        let (transaction_timestamp, source) = match (t.timestamp, &t.agent) {
            (Some(ts), _) => (ts, TimestampSource::Payload),
            (None, Some(stamp)) => (stamp.captured_at, TimestampSource::Capture),
            (None, None) => (landing.received_at, TimestampSource::Received),
        };
        let processing_metadata = json!({
            "endpoint": landing.endpoint,
            "protocolVersion": PROTOCOL_VERSION,
            "timestampSource": source.as_str(),
            "transactionIdDerived": t.id_derived,
            "deviceIdFromToken": t.device_id.is_none(),
            "storeIdFromRegistry": t.store_id.is_none(),
            "repairs": t.repairs,
            "repairCount": t.repairs.len(),
            "totals": t.totals,
            "paymentMethod": t.payment_method,
            "explicitMentions": t.explicit_mentions,
        });
        Self {
            transaction_id: t.transaction_id,
            store_id: Some(t.store_id.unwrap_or_else(|| landing.store_id.to_owned())),
            device_id: landing.device_id.to_owned(),
            transaction_timestamp,
            items: to_json(&t.items),
            detected_brands: to_json(&t.detected_brands),
            // `to_json` (an `io::Write` serialiser) rather than `Value`'s `Display`, which writes
            // through `fmt` and costs a few microseconds more per row; the text is the same.
            processing_metadata: to_json(&processing_metadata),
            payload: to_json(&t.payload),
            captured_at: t.agent.as_ref().map(|a| a.captured_at),
            device_seq: t
                .agent
                .as_ref()
                .map(|a| i64::try_from(a.seq).unwrap_or(i64::MAX)),
            agent_version: t.agent.map(|a| a.version),
        }
    }

    /// Bytes this row holds in memory (for batch sizing).
    pub fn weight(&self) -> usize {
        self.payload.len() + self.items.len() + self.processing_metadata.len() + 256
    }
}

/// JSON text of a value built by this crate (plain maps, structs, vectors and numbers, whose
/// serialisation cannot fail).
pub(crate) fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}
