//! Silver: one cleaned row per purchased item.
//!
//! **Enters:** a bronze row ([`BronzeRecord`]): the payload as received, the resolved timestamp,
//! the agent's stamp and the authenticated device.
//!
//! **Leaves:** a [`SilverOutcome`]: one [`SilverRow`] per item that can be sold (brand and
//! category resolved by the [`BrandMatcher`], amount in exact centavos, the business day and
//! daypart in Asia/Manila time, an item quality score with its issues), one [`Reject`] per item or
//! transaction that cannot (a quarantine row with its reasons, never a silent drop), and the
//! transaction's own quality score for bronze.
//!
//! **Guarantees:** a pure function of the bronze row and the dictionary (`now` only feeds the
//! future-timestamp check), so re-processing a row gives the same rows; row ids are
//! `DEVICE:TRANSACTION:ITEM`, stable across runs.
//!
//! # Rules
//! - The timestamp is bronze's `transaction_timestamp`: the device's own, else the agent's capture
//!   time, else the collector's receive time (which one is recorded in bronze).
//! - `transaction_date`, `daypart` and `day_type` are read in Asia/Manila time (UTC+8 all year;
//!   the Philippines keeps no daylight saving). Dayparts: morning 06–11, afternoon 12–17,
//!   evening 18–21, night otherwise. Weekend: Saturday and Sunday.
//! - `amount` is the item's `totalPrice`; the parser already derived it from `unitPrice ×
//!   quantity` where only those were sent. It is rounded to centavos once, here; silver and gold
//!   sum centavos, so gold revenue equals the silver sum exactly.
//! - Brand: the matcher's detection from the item's brand field, then its product name (the
//!   device's `detectedBrands` are evidence, never the answer). Not found: `Unbranded` for an
//!   item marked unbranded, else `Unknown`; the device's text is kept in `device_brand`.
//!   Category: the detected brand's, else the item's own category when it names one of the
//!   dictionary's categories, else `Unknown`.
//! - Quarantined: a transaction without items (`no_items`); an item without an amount
//!   (`missing_amount`), with a negative amount (`negative_amount`: returns and voids are not
//!   sales) or a quantity of 0 or less (`non_positive_quantity`).
//! - `basket_units` is the sum of the quantities of the transaction's sold items; `basket_band`
//!   groups it: `1`, `2-3`, `4-6`, `7+` units. `first_in_basket` marks the transaction's first
//!   row and `first_in_group` the first row of each brand × category in it, so gold counts
//!   transactions and baskets with plain sums, without regrouping rows per transaction.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Timelike, Utc, Weekday};
use scout_common::protocol::AgentStamp;
use scout_common::{Item, Transaction};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::brands::{BrandMatcher, Category, Detection};
use crate::bronze::to_json;
use crate::quality::{self, Context, ItemFacts, QualityScore};

/// `data_source` of rows that came from ScoutPi devices.
pub const DATA_SOURCE_EDGE: &str = "edge";
/// Brand or category that could not be resolved.
pub const UNKNOWN: &str = "Unknown";
/// Brand of an item sold without one.
pub const UNBRANDED: &str = "Unbranded";

/// Asia/Manila: UTC+08:00 all year.
pub const MANILA: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(offset) => offset,
    None => panic!("UTC+8 is a valid offset"),
};

/// The business day of an instant (Asia/Manila).
pub fn business_day(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&MANILA).date_naive()
}

/// Daypart of an instant in Asia/Manila time.
pub fn daypart(at: DateTime<Utc>) -> &'static str {
    match at.with_timezone(&MANILA).hour() {
        6..=11 => "morning",
        12..=17 => "afternoon",
        18..=21 => "evening",
        _ => "night",
    }
}

/// `weekend` on Saturday and Sunday in Asia/Manila, else `weekday`.
pub fn day_type(at: DateTime<Utc>) -> &'static str {
    match at.with_timezone(&MANILA).weekday() {
        Weekday::Sat | Weekday::Sun => "weekend",
        _ => "weekday",
    }
}

/// Basket-size band of a number of units.
pub fn basket_band(units: f64) -> &'static str {
    if units <= 1.0 {
        "1"
    } else if units <= 3.0 {
        "2-3"
    } else if units <= 6.0 {
        "4-6"
    } else {
        "7+"
    }
}

/// A bronze row as the silver stage reads it.
#[derive(Debug, Clone)]
pub struct BronzeRecord {
    pub bronze_id: i64,
    pub transaction_id: String,
    pub store_id: Option<String>,
    pub device_id: String,
    pub transaction_timestamp: DateTime<Utc>,
    /// The payload as received (JSON text, the agent's stamp already lifted out).
    pub payload: String,
    pub captured_at: Option<DateTime<Utc>>,
    pub device_seq: Option<i64>,
    pub agent_version: Option<String>,
}

/// One silver row (`silver.transactions_cleaned`).
#[derive(Debug, Clone, PartialEq)]
pub struct SilverRow {
    pub id: String,
    pub transaction_id: String,
    pub timestamp: DateTime<Utc>,
    pub transaction_date: NaiveDate,
    pub amount_centavos: i64,
    pub payment_method: String,
    pub product_category: String,
    pub brand_name: String,
    pub sku: Option<String>,
    pub customer_id: Option<String>,
    pub store_id: String,
    pub device_id: String,
    pub age_bracket: Option<String>,
    pub gender: Option<String>,
    /// JSON text.
    pub location_data: Option<String>,
    pub data_source: &'static str,
    pub quality_score: f64,
    pub bronze_id: i64,
    pub item_index: i32,
    pub quantity: f64,
    pub unit_price: Option<f64>,
    pub product_name: Option<String>,
    pub device_brand: Option<String>,
    /// `exact`, `alias`, `context`, `fuzzy`, or `none`.
    pub brand_method: &'static str,
    pub brand_source: Option<&'static str>,
    pub brand_score: Option<f64>,
    /// JSON text: the item score's issues.
    pub quality_issues: String,
    pub daypart: &'static str,
    pub day_type: &'static str,
    pub basket_units: f64,
    pub basket_band: &'static str,
    /// The first of the transaction's rows with this brand and category: gold counts the
    /// transaction (and its basket) once per brand × category on it.
    pub first_in_group: bool,
    /// The transaction's first row: customer analytics count the transaction on it.
    pub first_in_basket: bool,
}

/// One quarantined record (`silver.transactions_quarantine`).
#[derive(Debug, Clone, PartialEq)]
pub struct Reject {
    pub bronze_id: i64,
    pub transaction_id: String,
    pub device_id: String,
    pub store_id: Option<String>,
    /// `None` when the whole transaction is rejected.
    pub item_index: Option<i32>,
    /// JSON text: `[{code, message}]`.
    pub reasons: String,
    /// JSON text: the item as parsed, or `None` for a whole transaction.
    pub record: Option<String>,
    pub quality_score: f64,
    /// JSON text.
    pub quality_issues: String,
}

/// What one bronze row becomes.
#[derive(Debug, Clone)]
pub struct SilverOutcome {
    pub bronze_id: i64,
    pub rows: Vec<SilverRow>,
    pub rejects: Vec<Reject>,
    /// The transaction's score, for `bronze.quality_score`.
    pub quality_score: f64,
    /// JSON text: the transaction's [`QualityScore`] plus the brands found, merged into bronze's
    /// `processing_metadata` under `quality` and `brands`.
    pub bronze_metadata: String,
}

#[derive(Debug, Serialize)]
struct Reason {
    code: &'static str,
    message: String,
}

/// Builds the silver rows of one bronze row. `now` only feeds the future-timestamp check.
pub fn build(record: &BronzeRecord, matcher: &BrandMatcher, now: DateTime<Utc>) -> SilverOutcome {
    let parsed = serde_json::from_str::<Value>(&record.payload)
        .map_err(|e| e.to_string())
        .and_then(|v| Transaction::parse(v).map_err(|e| e.to_string()));
    let mut t = match parsed {
        Ok(t) => t,
        // Bronze only holds lines that parsed; a row that no longer does (edited by hand, or a
        // parser change) is quarantined whole rather than lost.
        Err(error) => return unparseable(record, &error),
    };
    if t.agent.is_none()
        && let Some(captured_at) = record.captured_at
    {
        t.agent = Some(AgentStamp {
            captured_at,
            seq: record
                .device_seq
                .and_then(|s| u64::try_from(s).ok())
                .unwrap_or(0),
            version: record.agent_version.clone().unwrap_or_default(),
        });
    }

    let brands = matcher.detect_transaction(&t);
    let matcher_score = if t.items.is_empty() {
        None
    } else {
        let sum: f64 = brands.items.iter().flatten().map(|d| d.score).sum();
        Some(sum / t.items.len() as f64)
    };
    let ctx = Context {
        now,
        device_known: true,
        matcher_score,
    };
    let tx_quality = quality::score_transaction(&t, &ctx);
    let bronze_metadata = json!({
        "quality": tx_quality,
        "brands": brands.brands(),
        "deviceOnlyBrands": brands.device_only,
    })
    .to_string();

    let store_id = record
        .store_id
        .clone()
        .or_else(|| t.store_id.clone())
        .unwrap_or_default();
    let mut out = SilverOutcome {
        bronze_id: record.bronze_id,
        rows: Vec::with_capacity(t.items.len()),
        rejects: Vec::new(),
        quality_score: tx_quality.score,
        bronze_metadata,
    };
    if t.items.is_empty() {
        out.rejects.push(Reject {
            bronze_id: record.bronze_id,
            transaction_id: record.transaction_id.clone(),
            device_id: record.device_id.clone(),
            store_id: Some(store_id),
            item_index: None,
            reasons: to_json(&[Reason {
                code: "no_items",
                message: "the transaction has no items to make silver rows from".into(),
            }]),
            record: None,
            quality_score: tx_quality.score,
            quality_issues: to_json(&tx_quality.issues),
        });
        return out;
    }

    let at = record.transaction_timestamp;
    let customer = Customer::from_payload(&t.payload);
    let payment_method = payment_method(t.payment_method.as_deref());
    let mut sold: Vec<(usize, i64, ItemBrand<'_>, QualityScore)> = Vec::new();
    for (index, item) in t.items.iter().enumerate() {
        let detection = brands.items.get(index).and_then(Option::as_ref);
        let resolved = ItemBrand::resolve(item, detection);
        let mut facts = ItemFacts::from_item(item);
        facts.brand = Some(resolved.brand);
        facts.category = Some(resolved.category);
        if let Some(d) = detection {
            facts.brand_confidence = Some(d.score);
        }
        let score = quality::score_item(&facts);
        let reasons = item_reasons(item);
        if reasons.is_empty() {
            let centavos = centavos(item.total_price.unwrap_or_default());
            sold.push((index, centavos, resolved, score));
        } else {
            out.rejects.push(Reject {
                bronze_id: record.bronze_id,
                transaction_id: record.transaction_id.clone(),
                device_id: record.device_id.clone(),
                store_id: Some(store_id.clone()),
                item_index: i32::try_from(index).ok(),
                reasons: to_json(&reasons),
                record: Some(to_json(item)),
                quality_score: score.score,
                quality_issues: to_json(&score.issues),
            });
        }
    }

    let basket_units: f64 = sold.iter().map(|(i, ..)| t.items[*i].quantity).sum();
    let transaction_date = business_day(at);
    let mut groups: Vec<(&str, &str)> = Vec::with_capacity(sold.len());
    for (position, (index, amount_centavos, resolved, score)) in sold.into_iter().enumerate() {
        let group = (resolved.brand, resolved.category);
        let first_in_group = !groups.contains(&group);
        if first_in_group {
            groups.push(group);
        }
        let item = &t.items[index];
        out.rows.push(SilverRow {
            id: format!("{}:{}:{index}", record.device_id, record.transaction_id),
            transaction_id: record.transaction_id.clone(),
            timestamp: at,
            transaction_date,
            amount_centavos,
            payment_method: payment_method.clone(),
            product_category: resolved.category.to_owned(),
            brand_name: resolved.brand.to_owned(),
            sku: item.sku.clone(),
            customer_id: customer.id.clone(),
            store_id: store_id.clone(),
            device_id: record.device_id.clone(),
            age_bracket: customer.age_bracket.clone(),
            gender: customer.gender.clone(),
            location_data: customer.location.clone(),
            data_source: DATA_SOURCE_EDGE,
            quality_score: score.score,
            bronze_id: record.bronze_id,
            item_index: i32::try_from(index).unwrap_or(i32::MAX),
            quantity: item.quantity,
            unit_price: item.unit_price,
            product_name: item.product_name.clone(),
            device_brand: item.brand_name.clone(),
            brand_method: resolved.method,
            brand_source: resolved.source,
            brand_score: resolved.score,
            quality_issues: to_json(&score.issues),
            daypart: daypart(at),
            day_type: day_type(at),
            basket_units,
            basket_band: basket_band(basket_units),
            first_in_group,
            first_in_basket: position == 0,
        });
    }
    out
}

/// The brand and category an item is filed under.
#[derive(Debug, Clone, Copy)]
struct ItemBrand<'a> {
    brand: &'a str,
    category: &'a str,
    method: &'static str,
    source: Option<&'static str>,
    score: Option<f64>,
}

impl<'a> ItemBrand<'a> {
    fn resolve(item: &Item, detection: Option<&Detection<'a>>) -> Self {
        match detection {
            Some(d) => Self {
                brand: &d.brand.name,
                category: d.brand.category.as_str(),
                method: d.method.as_str(),
                source: Some(d.source.as_str()),
                score: Some(d.score),
            },
            None => Self {
                brand: if item.is_unbranded == Some(true) {
                    UNBRANDED
                } else {
                    UNKNOWN
                },
                category: item
                    .category
                    .as_deref()
                    .and_then(Category::parse)
                    .map_or(UNKNOWN, Category::as_str),
                method: "none",
                source: None,
                score: None,
            },
        }
    }
}

fn item_reasons(item: &Item) -> Vec<Reason> {
    let mut reasons = Vec::new();
    match item.total_price.filter(|a| a.is_finite()) {
        None => reasons.push(Reason {
            code: "missing_amount",
            message: "the item has neither a total price nor a unit price".into(),
        }),
        Some(a) if a < 0.0 => reasons.push(Reason {
            code: "negative_amount",
            message: format!("the amount is negative (₱{a:.2}); returns and voids are not sales"),
        }),
        Some(_) => {}
    }
    if item.quantity.is_nan() || item.quantity <= 0.0 {
        reasons.push(Reason {
            code: "non_positive_quantity",
            message: format!("the quantity is {}", item.quantity),
        });
    }
    reasons
}

/// Pesos to centavos, rounded half away from zero.
pub fn centavos(pesos: f64) -> i64 {
    // Amounts are bounded far below i64::MAX centavos; `as` saturates anyway.
    (pesos * 100.0).round() as i64
}

/// The payment method as gold groups it: lower case, `unknown` when absent.
pub fn payment_method(sent: Option<&str>) -> String {
    let m = sent.map(str::trim).unwrap_or_default();
    if m.is_empty() {
        "unknown".to_owned()
    } else {
        m.to_lowercase()
    }
}

/// Who bought, when the capture app says (ScoutPi transactions usually don't).
#[derive(Debug, Default)]
struct Customer {
    id: Option<String>,
    age_bracket: Option<String>,
    gender: Option<String>,
    location: Option<String>,
}

impl Customer {
    fn from_payload(payload: &Map<String, Value>) -> Self {
        let nested = ["customer", "demographics"]
            .iter()
            .filter_map(|k| payload.get(*k).and_then(Value::as_object))
            .collect::<Vec<_>>();
        let find = |keys: &[&str]| -> Option<String> {
            std::iter::once(payload)
                .chain(nested.iter().copied())
                .flat_map(|m| keys.iter().filter_map(move |k| m.get(*k)))
                .find_map(|v| match v {
                    Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
        };
        Self {
            id: find(&["customerId", "customer_id"]).or_else(|| {
                nested
                    .iter()
                    .find_map(|m| m.get("id"))
                    .and_then(|v| match v {
                        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
                        Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    })
            }),
            age_bracket: find(&["ageBracket", "age_bracket"]),
            gender: find(&["gender"]),
            location: ["location", "locationData", "storeLocation"]
                .iter()
                .find_map(|k| payload.get(*k).filter(|v| v.is_object()))
                .map(Value::to_string),
        }
    }
}

fn unparseable(record: &BronzeRecord, error: &str) -> SilverOutcome {
    let issues = json!([{
        "code": "unparseable_payload",
        "message": format!("the bronze payload no longer parses: {error}"),
        "penalty": 1.0,
    }]);
    SilverOutcome {
        bronze_id: record.bronze_id,
        rows: Vec::new(),
        rejects: vec![Reject {
            bronze_id: record.bronze_id,
            transaction_id: record.transaction_id.clone(),
            device_id: record.device_id.clone(),
            store_id: record.store_id.clone(),
            item_index: None,
            reasons: to_json(&[Reason {
                code: "unparseable_payload",
                message: format!("the bronze payload no longer parses: {error}"),
            }]),
            record: None,
            quality_score: 0.0,
            quality_issues: issues.to_string(),
        }],
        quality_score: 0.0,
        bronze_metadata: json!({ "quality": { "score": 0.0, "issues": issues } }).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn dayparts_follow_manila_hours() {
        // 05:59 and 06:00 Manila are 21:59 and 22:00 UTC the day before.
        assert_eq!(daypart(at("2026-11-26T21:59:00Z")), "night");
        assert_eq!(daypart(at("2026-11-26T22:00:00Z")), "morning");
        assert_eq!(daypart(at("2026-11-27T03:59:00Z")), "morning");
        assert_eq!(daypart(at("2026-11-27T04:00:00Z")), "afternoon");
        assert_eq!(daypart(at("2026-11-27T10:00:00Z")), "evening");
        assert_eq!(daypart(at("2026-11-27T13:59:00Z")), "evening");
        assert_eq!(daypart(at("2026-11-27T14:00:00Z")), "night");
    }

    #[test]
    fn the_business_day_and_weekend_are_manilas() {
        // Friday 23:30 UTC is Saturday 07:30 in Manila.
        let t = at("2026-11-27T23:30:00Z");
        assert_eq!(business_day(t).to_string(), "2026-11-28");
        assert_eq!(day_type(t), "weekend");
        assert_eq!(day_type(at("2026-11-27T03:00:00Z")), "weekday");
    }

    #[test]
    fn basket_bands() {
        let bands: Vec<_> = [1.0, 2.0, 3.0, 4.0, 6.0, 6.5, 7.0, 40.0]
            .into_iter()
            .map(basket_band)
            .collect();
        assert_eq!(bands, ["1", "2-3", "2-3", "4-6", "4-6", "7+", "7+", "7+"]);
    }

    #[test]
    fn centavos_round_half_away_from_zero() {
        assert_eq!(centavos(14.005), 1401);
        assert_eq!(centavos(0.1 + 0.2), 30);
        assert_eq!(centavos(-12.0), -1200);
    }

    fn record(payload: &str) -> BronzeRecord {
        BronzeRecord {
            bronze_id: 7,
            transaction_id: "t-1".into(),
            store_id: Some("104".into()),
            device_id: "SCOUTPI-0004".into(),
            transaction_timestamp: at("2026-11-27T01:00:00Z"),
            payload: payload.into(),
            captured_at: None,
            device_seq: None,
            agent_version: None,
        }
    }

    #[test]
    fn groups_and_baskets_are_flagged_once() {
        let matcher = BrandMatcher::shipped().unwrap();
        let payload = json!({
            "transactionId": "t-1", "storeId": "104",
            "items": [
                {"brandName": "Coca-Cola", "productName": "Coke Mismo", "quantity": 2, "unitPrice": 15, "totalPrice": 30},
                {"brandName": "Lucky Me", "productName": "Pancit Canton", "quantity": 1, "unitPrice": 14, "totalPrice": 14},
                {"brandName": "Coca-Cola", "productName": "Coke 1.5L", "quantity": 1, "unitPrice": 65, "totalPrice": 65},
            ],
        });
        let out = build(&record(&payload.to_string()), &matcher, Utc::now());
        let flags: Vec<_> = out
            .rows
            .iter()
            .map(|r| (r.brand_name.as_str(), r.first_in_group, r.first_in_basket))
            .collect();
        assert_eq!(
            flags,
            [
                ("Coca-Cola", true, true),
                ("Lucky Me!", true, false),
                ("Coca-Cola", false, false)
            ]
        );
        assert!(
            out.rows
                .iter()
                .all(|r| r.basket_units == 4.0 && r.basket_band == "4-6")
        );
        assert_eq!(out.rows[0].id, "SCOUTPI-0004:t-1:0");
    }

    #[test]
    fn an_unparseable_payload_is_quarantined_whole() {
        let matcher = BrandMatcher::shipped().unwrap();
        let out = build(&record("[1, 2]"), &matcher, Utc::now());
        assert!(out.rows.is_empty());
        assert_eq!(out.rejects.len(), 1);
        assert!(out.rejects[0].reasons.contains("unparseable_payload"));
        assert_eq!(out.quality_score, 0.0);
        let meta: Value = serde_json::from_str(&out.bronze_metadata).unwrap();
        assert_eq!(meta["quality"]["issues"][0]["code"], "unparseable_payload");
    }
}
