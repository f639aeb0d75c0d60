//! The ScoutPi transaction (the product contract, §1) and its tolerant parser.
//!
//! Field reality is messy: empty or epoch timestamps, `brand` for `brandName`, numbers as strings,
//! `""` or `null`, confidences as objects, brands at the top level, mixed-case device ids, items as
//! bare `{product, price}`, no `transactionId`. [`Transaction::parse`] accepts all of it, records
//! every interpretation as a [`Repair`], and rejects only what cannot be a transaction at all.
//! The payload is kept whole (minus the agent's stamp), unknown fields included.
//!
//! This file holds the types and [`Transaction::parse`], which walks the payload once;
//! `fields.rs` reads each field tolerantly (the [`Repair`]s come from there), `content_id.rs`
//! derives the id of a transaction sent without one, and `nul.rs` finds the one character no
//! database here can store.

mod content_id;
mod fields;
mod nul;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::device::DeviceId;
use crate::protocol::{AGENT_STAMP_KEY, AgentStamp};
// Re-exported: the repair vocabulary is part of a parsed transaction's public face.
pub use crate::repair::{Repair, RepairKind};

pub use content_id::content_id;
use fields::{Parser, Path, kind_name, mention_names};
use nul::{find_nul, holds_nul};

/// Namespace of the deterministic ids given to transactions that arrive without one.
pub const CONTENT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x5c0f_7a11_0d3e_4b8e_9a51_51c0_a7d1_0001);

/// A line that cannot be taken as a transaction (a permanent rejection).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransactionError {
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    #[error("a transaction must be a JSON object, found {0}")]
    NotAnObject(&'static str),
    #[error("field `{field}`: {reason}")]
    BadField { field: String, reason: String },
}

/// One purchased line, normalised (stored as camelCase JSON in bronze `items`).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_id: Option<String>,
    pub brand_name: Option<String>,
    pub product_name: Option<String>,
    pub sku: Option<String>,
    pub quantity: f64,
    pub unit_price: Option<f64>,
    pub total_price: Option<f64>,
    pub category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subcategory: Option<String>,
    pub confidence: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_unbranded: Option<bool>,
}

/// Transaction totals; producers often send only some.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub total_amount: Option<f64>,
    pub total_items: Option<f64>,
    pub branded_amount: Option<f64>,
    pub unbranded_amount: Option<f64>,
    pub currency: Option<String>,
}

/// A parsed, normalised transaction plus the payload it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Transaction {
    pub transaction_id: String,
    /// The id was derived from content (the producer sent none).
    pub id_derived: bool,
    pub store_id: Option<String>,
    pub device_id: Option<DeviceId>,
    /// The producer's timestamp, when usable.
    pub timestamp: Option<DateTime<Utc>>,
    pub items: Vec<Item>,
    /// Brand → confidence as the device reported it (evidence, not truth).
    pub detected_brands: BTreeMap<String, Option<f64>>,
    pub explicit_mentions: Vec<String>,
    pub totals: Totals,
    pub payment_method: Option<String>,
    pub duration_secs: Option<f64>,
    pub audio_transcript: Option<String>,
    pub consent_timestamp: Option<DateTime<Utc>>,
    pub edge_version: Option<String>,
    /// The agent's stamp, when the line came through a Scout agent.
    pub agent: Option<AgentStamp>,
    pub repairs: Vec<Repair>,
    /// The transaction as the capture app produced it (agent stamp removed).
    pub payload: Map<String, Value>,
}

impl Transaction {
    /// Parses one NDJSON line.
    pub fn parse_line(line: &str) -> Result<Self, TransactionError> {
        let value: Value =
            serde_json::from_str(line).map_err(|e| TransactionError::InvalidJson(e.to_string()))?;
        // JSON text can hold a NUL only as the escape `\u0000` (a raw control character inside
        // a string is invalid JSON): a line without that sequence needs no walk of its values.
        Self::parse_checked(value, line.contains("\\u0000"))
    }

    /// Parses a JSON value; see the module docs for what is tolerated.
    pub fn parse(value: Value) -> Result<Self, TransactionError> {
        Self::parse_checked(value, true)
    }

    /// [`parse`](Self::parse), looking for a NUL character only when `may_hold_nul`.
    fn parse_checked(value: Value, may_hold_nul: bool) -> Result<Self, TransactionError> {
        let mut payload = match value {
            Value::Object(map) => map,
            other => return Err(TransactionError::NotAnObject(kind_name(&other))),
        };
        // The cheap walk first: the path is worked out (allocating) only for a payload with a NUL.
        if may_hold_nul
            && holds_nul(&payload)
            && let Some(field) = find_nul(&payload, "")
        {
            return Err(TransactionError::BadField {
                field,
                reason: "contains a NUL character (\\u0000), which cannot be stored".into(),
            });
        }
        let agent = match payload.remove(AGENT_STAMP_KEY) {
            None => None,
            Some(stamp) => Some(serde_json::from_value::<AgentStamp>(stamp).map_err(|e| {
                TransactionError::BadField {
                    field: AGENT_STAMP_KEY.into(),
                    reason: e.to_string(),
                }
            })?),
        };
        let mut p = Parser {
            repairs: Vec::new(),
        };
        let (transaction_id, id_derived) = p.transaction_id(&payload)?;
        let device_id = p.device_id(&payload)?;
        let store_id = p.store_id(&payload);
        let timestamp = p.timestamp(&payload);
        let items = p.items(&payload);
        let brand_detection = payload.get("brandDetection").and_then(Value::as_object);
        let detected_brands = p.detected_brands(&payload, brand_detection);
        let explicit_mentions = brand_detection
            .and_then(|b| b.get("explicitMentions"))
            .map(mention_names)
            .unwrap_or_default();
        let totals = p.totals(payload.get("totals").and_then(Value::as_object));
        let context = payload.get("transactionContext").and_then(Value::as_object);
        let payment_method = p.text(context, "paymentMethod", Path::object("transactionContext"));
        let duration_secs = p.number(
            context.and_then(|c| c.get("duration")),
            Path::object("transactionContext").field("duration"),
        );
        let audio_transcript = p.text(
            context,
            "audioTranscript",
            Path::object("transactionContext"),
        );
        let consent_timestamp = p.consent_timestamp(&payload);
        let edge_version = p.text(Some(&payload), "edgeVersion", Path::object(""));
        Ok(Self {
            transaction_id,
            id_derived,
            store_id,
            device_id,
            timestamp,
            items,
            detected_brands,
            explicit_mentions,
            totals,
            payment_method,
            duration_secs,
            audio_transcript,
            consent_timestamp,
            edge_version,
            agent,
            repairs: p.repairs,
            payload,
        })
    }

    /// Sum of item totals, when any item has one.
    pub fn items_amount(&self) -> Option<f64> {
        let mut sum = None;
        for item in &self.items {
            if let Some(total) = item.total_price {
                *sum.get_or_insert(0.0) += total;
            }
        }
        sum
    }
}

#[cfg(test)]
mod tests;
