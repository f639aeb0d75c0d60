//! The ScoutPi transaction (CONTRACT.md §1) and its tolerant parser.
//!
//! Field reality is messy: empty or epoch timestamps, `brand` for `brandName`, numbers as strings,
//! `""` or `null`, confidences as objects, brands at the top level, mixed-case device ids, items as
//! bare `{product, price}`, no `transactionId`. [`Transaction::parse`] accepts all of it, records
//! every interpretation as a [`Repair`], and rejects only what cannot be a transaction at all.
//! The payload is kept whole (minus the agent's stamp), unknown fields included.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::device::DeviceId;
use crate::protocol::{AGENT_STAMP_KEY, AgentStamp};
// Re-exported: the repair vocabulary is part of a parsed transaction's public face.
pub use crate::repair::{Repair, RepairKind};
use crate::timestamp;

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
        Self::parse(value)
    }

    /// Parses a JSON value; see the module docs for what is tolerated.
    pub fn parse(value: Value) -> Result<Self, TransactionError> {
        let mut payload = match value {
            Value::Object(map) => map,
            other => return Err(TransactionError::NotAnObject(kind_name(&other))),
        };
        // The cheap walk first: the path is worked out (allocating) only for a payload with a NUL.
        if holds_nul(&payload)
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
        let payment_method = p.text(context, "paymentMethod", "transactionContext");
        let duration_secs = p.number(
            context.and_then(|c| c.get("duration")),
            "transactionContext.duration",
        );
        let audio_transcript = p.text(context, "audioTranscript", "transactionContext");
        let consent_timestamp = p.consent_timestamp(&payload);
        let edge_version = p.text(Some(&payload), "edgeVersion", "");
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

/// The deterministic id of a payload: a UUID v5 over its canonical JSON (keys sorted at every
/// level), so the same content always gets the same id, whichever side computes it.
pub fn content_id(payload: &Map<String, Value>) -> String {
    let mut canonical = String::with_capacity(1024);
    write_canonical_object(payload, &mut canonical);
    Uuid::new_v5(&CONTENT_ID_NAMESPACE, canonical.as_bytes()).to_string()
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => write_canonical_object(map, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => {
            let _ = write!(out, "{scalar}");
        }
    }
}

fn write_canonical_object(map: &Map<String, Value>, out: &mut String) {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort_unstable();
    out.push('{');
    for (i, key) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{}:", Value::String(key.clone()));
        write_canonical(&map[key], out);
    }
    out.push('}');
}

/// Whether any key or string of `map`, at any depth, holds a NUL character.
fn holds_nul(map: &Map<String, Value>) -> bool {
    map.iter()
        .any(|(key, value)| key.contains('\0') || value_holds_nul(value))
}

fn value_holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(value_holds_nul),
        Value::Object(map) => holds_nul(map),
        _ => false,
    }
}

/// The path of the first key or string holding a NUL character (databases cannot store it).
fn find_nul(map: &Map<String, Value>, prefix: &str) -> Option<String> {
    map.iter().find_map(|(key, value)| {
        let path = join(prefix, key);
        if key.contains('\0') {
            return Some(path);
        }
        find_nul_value(value, path)
    })
}

fn find_nul_value(value: &Value, path: String) -> Option<String> {
    match value {
        Value::String(s) => s.contains('\0').then_some(path),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| find_nul_value(v, format!("{path}[{i}]"))),
        Value::Object(map) => find_nul(map, &path),
        _ => None,
    }
}

fn kind_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn mention_names(value: &Value) -> Vec<String> {
    let Some(list) = value.as_array() else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|m| match m {
            Value::String(s) => Some(s.clone()),
            Value::Object(o) => ["brand", "brandName", "name"]
                .iter()
                .find_map(|k| o.get(*k).and_then(Value::as_str).map(str::to_owned)),
            _ => None,
        })
        .filter(|s| !s.trim().is_empty())
        .collect()
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

struct Parser {
    repairs: Vec<Repair>,
}

impl Parser {
    fn repair(&mut self, field: impl Into<String>, kind: RepairKind) {
        self.repairs.push(Repair {
            field: field.into(),
            kind,
        });
    }

    fn transaction_id(
        &mut self,
        payload: &Map<String, Value>,
    ) -> Result<(String, bool), TransactionError> {
        match payload.get("transactionId") {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok((s.trim().to_owned(), false)),
            Some(Value::Number(n)) => {
                self.repair("transactionId", RepairKind::IdAsString);
                Ok((n.to_string(), false))
            }
            None | Some(Value::Null) | Some(Value::String(_)) => {
                self.repair("transactionId", RepairKind::DerivedTransactionId);
                Ok((content_id(payload), true))
            }
            Some(other) => Err(TransactionError::BadField {
                field: "transactionId".into(),
                reason: format!("expected a string, found {}", kind_name(other)),
            }),
        }
    }

    fn device_id(
        &mut self,
        payload: &Map<String, Value>,
    ) -> Result<Option<DeviceId>, TransactionError> {
        let raw = match payload.get("deviceId") {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => return Ok(None),
            Some(Value::String(s)) => s,
            Some(other) => {
                return Err(TransactionError::BadField {
                    field: "deviceId".into(),
                    reason: format!("expected a string, found {}", kind_name(other)),
                });
            }
        };
        let id = DeviceId::parse(raw).map_err(|e| TransactionError::BadField {
            field: "deviceId".into(),
            reason: e.to_string(),
        })?;
        if id.as_str() != raw {
            self.repair("deviceId", RepairKind::DeviceIdCase);
        }
        Ok(Some(id))
    }

    fn store_id(&mut self, payload: &Map<String, Value>) -> Option<String> {
        match payload.get("storeId") {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            Some(Value::Number(n)) => {
                self.repair("storeId", RepairKind::StoreIdNumber);
                Some(n.to_string())
            }
            _ => None,
        }
    }

    fn timestamp(&mut self, payload: &Map<String, Value>) -> Option<DateTime<Utc>> {
        match timestamp::parse_value(payload.get("timestamp")) {
            timestamp::Parsed::Ok { at, repair } => {
                if let Some(kind) = repair {
                    self.repair("timestamp", kind);
                }
                Some(at)
            }
            timestamp::Parsed::Missing => {
                self.repair("timestamp", RepairKind::MissingTimestamp);
                None
            }
            timestamp::Parsed::Invalid => {
                self.repair("timestamp", RepairKind::InvalidTimestamp);
                None
            }
        }
    }

    fn consent_timestamp(&mut self, payload: &Map<String, Value>) -> Option<DateTime<Utc>> {
        let value = payload
            .get("privacy")
            .and_then(Value::as_object)
            .and_then(|p| p.get("consentTimestamp"));
        match timestamp::parse_value(value) {
            timestamp::Parsed::Ok { at, repair } => {
                if repair.is_some() {
                    self.repair("privacy.consentTimestamp", RepairKind::ConsentTimestamp);
                }
                Some(at)
            }
            timestamp::Parsed::Missing => None,
            timestamp::Parsed::Invalid => {
                self.repair("privacy.consentTimestamp", RepairKind::ConsentTimestamp);
                None
            }
        }
    }

    /// A number that may arrive as a string, `""` or `null`.
    fn number(&mut self, value: Option<&Value>, field: &str) -> Option<f64> {
        match value? {
            Value::Number(n) => n.as_f64().filter(|f| f.is_finite()),
            Value::Null => {
                self.repair(field, RepairKind::NullNumber);
                None
            }
            Value::String(s) if s.trim().is_empty() => {
                self.repair(field, RepairKind::EmptyNumber);
                None
            }
            Value::String(s) => match parse_loose_number(s) {
                Some(n) => {
                    self.repair(field, RepairKind::NumberFromString);
                    Some(n)
                }
                None => {
                    self.repair(field, RepairKind::UnreadableNumber);
                    None
                }
            },
            _ => {
                self.repair(field, RepairKind::UnreadableNumber);
                None
            }
        }
    }

    /// A text field; numbers and booleans are taken as their text.
    fn text(
        &mut self,
        object: Option<&Map<String, Value>>,
        key: &str,
        prefix: &str,
    ) -> Option<String> {
        match object?.get(key)? {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            v @ (Value::Number(_) | Value::Bool(_)) => {
                self.repair(join(prefix, key), RepairKind::TextFromScalar);
                Some(v.to_string())
            }
            _ => None,
        }
    }

    /// The first present key of `keys`; using any but the first is a repair of `kind`.
    fn first_text(
        &mut self,
        item: &Map<String, Value>,
        keys: &[&str],
        kind: RepairKind,
        prefix: &str,
    ) -> Option<String> {
        for (i, key) in keys.iter().enumerate() {
            if let Some(text) = self.text(Some(item), key, prefix) {
                if i > 0 {
                    self.repair(join(prefix, keys[0]), kind);
                }
                return Some(text);
            }
        }
        None
    }

    fn items(&mut self, payload: &Map<String, Value>) -> Vec<Item> {
        let list = match payload.get("items") {
            None | Some(Value::Null) => return Vec::new(),
            Some(Value::Array(list)) => list.as_slice(),
            Some(single @ Value::Object(_)) => {
                self.repair("items", RepairKind::ItemsNotArray);
                std::slice::from_ref(single)
            }
            Some(_) => {
                self.repair("items", RepairKind::ItemsNotArray);
                return Vec::new();
            }
        };
        let mut items = Vec::with_capacity(list.len());
        for (i, raw) in list.iter().enumerate() {
            let prefix = format!("items[{i}]");
            match raw {
                Value::Object(item) => items.push(self.item(item, &prefix)),
                Value::String(name) if !name.trim().is_empty() => {
                    self.repair(&prefix, RepairKind::ItemFromString);
                    items.push(Item {
                        product_name: Some(name.trim().to_owned()),
                        quantity: 1.0,
                        ..Item::default()
                    });
                }
                _ => self.repair(&prefix, RepairKind::SkippedItem),
            }
        }
        items
    }

    fn item(&mut self, item: &Map<String, Value>, prefix: &str) -> Item {
        let brand_name = self.first_text(
            item,
            &["brandName", "brand", "brand_name"],
            RepairKind::BrandKey,
            prefix,
        );
        let product_name = self.first_text(
            item,
            &["productName", "product", "name", "product_name"],
            RepairKind::ProductKey,
            prefix,
        );
        let quantity_field = join(prefix, "quantity");
        let quantity = match self.number(item.get("quantity"), &quantity_field) {
            Some(q) => q,
            None => {
                self.repair(&quantity_field, RepairKind::DefaultQuantity);
                1.0
            }
        };
        let unit_price = match item.get("unitPrice") {
            Some(v) => self.number(Some(v), &join(prefix, "unitPrice")),
            None => {
                let price = self.number(item.get("price"), &join(prefix, "price"));
                if price.is_some() {
                    self.repair(join(prefix, "unitPrice"), RepairKind::PriceKey);
                }
                price
            }
        };
        let mut total_price = self.number(item.get("totalPrice"), &join(prefix, "totalPrice"));
        if total_price.is_none()
            && let Some(unit) = unit_price
        {
            self.repair(join(prefix, "totalPrice"), RepairKind::ComputedTotalPrice);
            total_price = Some(round_centavos(unit * quantity));
        }
        let is_unbranded = match item.get("isUnbranded") {
            Some(Value::Bool(b)) => Some(*b),
            Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => Some(true),
                "false" | "no" | "0" => Some(false),
                _ => None,
            },
            _ => None,
        };
        Item {
            item_id: self.text(Some(item), "itemId", prefix),
            brand_name,
            product_name,
            sku: self.text(Some(item), "sku", prefix),
            quantity,
            unit_price,
            total_price,
            category: self.text(Some(item), "category", prefix),
            subcategory: self.text(Some(item), "subcategory", prefix),
            confidence: self.number(item.get("confidence"), &join(prefix, "confidence")),
            is_unbranded,
        }
    }

    fn detected_brands(
        &mut self,
        payload: &Map<String, Value>,
        brand_detection: Option<&Map<String, Value>>,
    ) -> BTreeMap<String, Option<f64>> {
        let (map, prefix) = match brand_detection
            .and_then(|b| b.get("detectedBrands"))
            .and_then(Value::as_object)
        {
            Some(map) => (map, "brandDetection.detectedBrands"),
            None => match payload.get("detectedBrands").and_then(Value::as_object) {
                Some(map) => {
                    self.repair("detectedBrands", RepairKind::DetectedBrandsTopLevel);
                    (map, "detectedBrands")
                }
                None => return BTreeMap::new(),
            },
        };
        let mut out = BTreeMap::new();
        for (brand, value) in map {
            let field = format!("{prefix}.{brand}");
            let confidence = match value {
                Value::Object(o) => {
                    self.repair(&field, RepairKind::ConfidenceObject);
                    self.number(o.get("confidence").or_else(|| o.get("score")), &field)
                }
                other => self.number(Some(other), &field),
            };
            if confidence.is_none() {
                self.repair(&field, RepairKind::UnreadableConfidence);
            }
            out.insert(brand.trim().to_owned(), confidence);
        }
        out
    }

    fn totals(&mut self, totals: Option<&Map<String, Value>>) -> Totals {
        let Some(t) = totals else {
            return Totals::default();
        };
        Totals {
            total_amount: self.number(t.get("totalAmount"), "totals.totalAmount"),
            total_items: self.number(t.get("totalItems"), "totals.totalItems"),
            branded_amount: self.number(t.get("brandedAmount"), "totals.brandedAmount"),
            unbranded_amount: self.number(t.get("unbrandedAmount"), "totals.unbrandedAmount"),
            currency: self.text(Some(t), "currency", "totals"),
        }
    }
}

/// Reads `"12.50"`, `"₱12.50"`, `"PHP 1,250"`, `" 3 "` as numbers.
fn parse_loose_number(s: &str) -> Option<f64> {
    let t = s.trim();
    let t = t
        .strip_prefix('₱')
        .or_else(|| t.strip_prefix("PHP"))
        .or_else(|| t.strip_prefix("Php"))
        .unwrap_or(t)
        .trim();
    let cleaned: String = t.chars().filter(|c| *c != ',' && *c != '_').collect();
    cleaned.parse::<f64>().ok().filter(|f| f.is_finite())
}

fn round_centavos(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests;
