//! The tolerant reading of each field: [`Parser`] takes a payload apart key by key, accepting
//! the shapes field devices send (numbers as strings, `""` and `null`, alternative key names,
//! confidences as objects, items as bare strings) and recording each interpretation as a
//! [`Repair`].

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::{Item, Totals, TransactionError, content_id};
use crate::device::DeviceId;
use crate::repair::{Repair, RepairKind};
use crate::timestamp;

pub(super) fn kind_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(super) fn mention_names(value: &Value) -> Vec<String> {
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

pub(super) fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

/// Where a field sits in the payload (`items[2].quantity`), spelled out only when a repair
/// names it: most fields need no repair, and formatting every path up front was most of the
/// parser's allocations.
#[derive(Debug, Clone, Copy)]
pub(super) struct Path<'a> {
    parent: &'a str,
    index: Option<usize>,
    key: &'a str,
}

impl<'a> Path<'a> {
    /// The object at `parent`, a dotted path written out (`""` for the payload itself,
    /// `totals`, `brandDetection.detectedBrands`).
    pub(super) const fn object(parent: &'a str) -> Self {
        Self {
            parent,
            index: None,
            key: "",
        }
    }

    /// The `index`th element of the array at `parent`.
    const fn element(parent: &'a str, index: usize) -> Self {
        Self {
            parent,
            index: Some(index),
            key: "",
        }
    }

    /// The field `key` of this object (a path names one field at most).
    pub(super) const fn field(self, key: &'a str) -> Self {
        Self { key, ..self }
    }
}

impl std::fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.parent)?;
        if let Some(i) = self.index {
            write!(f, "[{i}]")?;
        }
        let before = !self.parent.is_empty() || self.index.is_some();
        if before && !self.key.is_empty() {
            f.write_str(".")?;
        }
        f.write_str(self.key)
    }
}

pub(super) struct Parser {
    pub(super) repairs: Vec<Repair>,
}

impl Parser {
    fn repair(&mut self, field: impl std::fmt::Display, kind: RepairKind) {
        self.repairs.push(Repair {
            field: field.to_string(),
            kind,
        });
    }

    pub(super) fn transaction_id(
        &mut self,
        payload: &Map<String, Value>,
    ) -> Result<(String, bool), TransactionError> {
        match payload.get("transactionId") {
            Some(Value::String(s)) if !s.trim().is_empty() => {
                let id = s.trim();
                if is_uuid(id) && id.bytes().any(|b| b.is_ascii_uppercase()) {
                    self.repair("transactionId", RepairKind::TransactionIdCase);
                    return Ok((id.to_ascii_lowercase(), false));
                }
                Ok((id.to_owned(), false))
            }
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

    pub(super) fn device_id(
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

    pub(super) fn store_id(&mut self, payload: &Map<String, Value>) -> Option<String> {
        match payload.get("storeId") {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            Some(Value::Number(n)) => {
                self.repair("storeId", RepairKind::StoreIdNumber);
                Some(n.to_string())
            }
            _ => None,
        }
    }

    pub(super) fn timestamp(&mut self, payload: &Map<String, Value>) -> Option<DateTime<Utc>> {
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

    pub(super) fn consent_timestamp(
        &mut self,
        payload: &Map<String, Value>,
    ) -> Option<DateTime<Utc>> {
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
    pub(super) fn number(&mut self, value: Option<&Value>, field: Path<'_>) -> Option<f64> {
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
    pub(super) fn text(
        &mut self,
        object: Option<&Map<String, Value>>,
        key: &str,
        prefix: Path<'_>,
    ) -> Option<String> {
        match object?.get(key)? {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            v @ (Value::Number(_) | Value::Bool(_)) => {
                self.repair(prefix.field(key), RepairKind::TextFromScalar);
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
        prefix: Path<'_>,
    ) -> Option<String> {
        for (i, key) in keys.iter().enumerate() {
            if let Some(text) = self.text(Some(item), key, prefix) {
                if i > 0 {
                    self.repair(prefix.field(keys[0]), kind);
                }
                return Some(text);
            }
        }
        None
    }

    pub(super) fn items(&mut self, payload: &Map<String, Value>) -> Vec<Item> {
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
            let prefix = Path::element("items", i);
            match raw {
                Value::Object(item) => items.push(self.item(item, prefix)),
                Value::String(name) if !name.trim().is_empty() => {
                    self.repair(prefix, RepairKind::ItemFromString);
                    items.push(Item {
                        product_name: Some(name.trim().to_owned()),
                        quantity: 1.0,
                        ..Item::default()
                    });
                }
                _ => self.repair(prefix, RepairKind::SkippedItem),
            }
        }
        items
    }

    fn item(&mut self, item: &Map<String, Value>, prefix: Path<'_>) -> Item {
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
        let quantity_field = prefix.field("quantity");
        let quantity = match self.number(item.get("quantity"), quantity_field) {
            Some(q) => q,
            None => {
                self.repair(quantity_field, RepairKind::DefaultQuantity);
                1.0
            }
        };
        let unit_price = match item.get("unitPrice") {
            Some(v) => self.number(Some(v), prefix.field("unitPrice")),
            None => {
                let price = self.number(item.get("price"), prefix.field("price"));
                if price.is_some() {
                    self.repair(prefix.field("unitPrice"), RepairKind::PriceKey);
                }
                price
            }
        };
        let mut total_price = self.number(item.get("totalPrice"), prefix.field("totalPrice"));
        if total_price.is_none()
            && let Some(unit) = unit_price
        {
            self.repair(prefix.field("totalPrice"), RepairKind::ComputedTotalPrice);
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
            confidence: self.number(item.get("confidence"), prefix.field("confidence")),
            is_unbranded,
        }
    }

    pub(super) fn detected_brands(
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
            let field = Path::object(prefix).field(brand);
            let confidence = match value {
                Value::Object(o) => {
                    self.repair(field, RepairKind::ConfidenceObject);
                    self.number(o.get("confidence").or_else(|| o.get("score")), field)
                }
                other => self.number(Some(other), field),
            };
            if confidence.is_none() {
                self.repair(field, RepairKind::UnreadableConfidence);
            }
            out.insert(brand.trim().to_owned(), confidence);
        }
        out
    }

    pub(super) fn totals(&mut self, totals: Option<&Map<String, Value>>) -> Totals {
        let Some(t) = totals else {
            return Totals::default();
        };
        Totals {
            total_amount: self.number(
                t.get("totalAmount"),
                Path::object("totals").field("totalAmount"),
            ),
            total_items: self.number(
                t.get("totalItems"),
                Path::object("totals").field("totalItems"),
            ),
            branded_amount: self.number(
                t.get("brandedAmount"),
                Path::object("totals").field("brandedAmount"),
            ),
            unbranded_amount: self.number(
                t.get("unbrandedAmount"),
                Path::object("totals").field("unbrandedAmount"),
            ),
            currency: self.text(Some(t), "currency", Path::object("totals")),
        }
    }
}

/// Reads `"12.50"`, `"₱12.50"`, `"PHP 1,250"`, `" 3 "` as numbers.
pub(super) fn parse_loose_number(s: &str) -> Option<f64> {
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

/// Whether `id` is a UUID in its hyphenated form (8-4-4-4-12 hexadecimal digits, any case).
fn is_uuid(id: &str) -> bool {
    id.len() == 36
        && id.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}
