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
//! - Sane ranges, so that no single record can overflow a column, an index row or a gold sum and
//!   hold up the rows behind it: an item whose amount is over [`MAX_ITEM_AMOUNT`]
//!   (`amount_out_of_range`), whose quantity lies outside [`MIN_QUANTITY`]..=[`MAX_QUANTITY`]
//!   (`quantity_out_of_range`) or whose unit price is over [`MAX_UNIT_PRICE`] either way
//!   (`unit_price_out_of_range`) is quarantined; so is an item whose SKU, product name or brand
//!   text is longer than its limit (`field_too_long`, naming the field, its length and the
//!   limit). A transaction-level field over its limit (transaction id, store id, payment method,
//!   customer id, age bracket, gender, the location object) quarantines the whole transaction
//!   (`field_too_long`, item index NULL), as does a timestamp outside
//!   [`EARLIEST_YEAR`]..=[`LATEST_YEAR`] (`timestamp_out_of_range`).
//! - What the database still refuses (a row these rules let through) is the pipeline's to
//!   isolate: a bronze row that fails on its own is quarantined whole by [`storage_failed`].
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

/// Largest amount (`totalPrice`) one item line may carry: ₱1,000,000. A sari-sari store's whole
/// stock is worth less; a larger figure is a capture fault (centavos sent as pesos, a barcode in
/// the price field). The bound keeps silver's `numeric(14, 2)` and gold's integer centavo sums
/// far from overflowing.
pub const MAX_ITEM_AMOUNT: f64 = 1_000_000.0;
/// Largest unit price, either side of zero: the same ₱1,000,000.
pub const MAX_UNIT_PRICE: f64 = 1_000_000.0;
/// Most units on one item line: 10,000 (a sari-sari store sells by the piece, the sachet or the
/// kilo; a basket never holds ten thousand of one thing).
pub const MAX_QUANTITY: f64 = 10_000.0;
/// Fewest units on one item line: 0.001 (a gram of a product sold by the kilo). Above 0 but below
/// this is a unit fault, and it would blow up gold's average unit price (amount ÷ units).
pub const MIN_QUANTITY: f64 = 0.001;
/// Longest transaction id, in characters (the agent refuses ids over 256 bytes).
pub const MAX_TRANSACTION_ID_CHARS: usize = 256;
/// Longest store id, in characters.
pub const MAX_STORE_ID_CHARS: usize = 64;
/// Longest payment method, in characters (`cash`, `gcash`, `maya`, `utang`, `credit card`...).
/// Gold groups by it, and PostgreSQL indexes it in `gold.customer_analytics`' grain.
pub const MAX_PAYMENT_METHOD_CHARS: usize = 64;
/// Longest customer id, in characters.
pub const MAX_CUSTOMER_ID_CHARS: usize = 128;
/// Longest age bracket or gender, in characters (`25-34`, `female`).
pub const MAX_DEMOGRAPHIC_CHARS: usize = 32;
/// Longest location object, in bytes of JSON (a few coordinates and names).
pub const MAX_LOCATION_BYTES: usize = 4096;
/// Longest SKU, in characters.
pub const MAX_SKU_CHARS: usize = 128;
/// Longest product name, in characters.
pub const MAX_PRODUCT_NAME_CHARS: usize = 256;
/// Longest brand text (the device's `brandName`), in characters.
pub const MAX_BRAND_CHARS: usize = 128;
/// Earliest year of a transaction timestamp silver takes. 1970 is a device clock that was never
/// set (a Pi has no real-time clock until NTP answers): kept, and charged in quality.
pub const EARLIEST_YEAR: i32 = 1970;
/// Latest year of a transaction timestamp silver takes (the parser's own limit for a producer's
/// timestamp; an agent's capture time is not checked there).
pub const LATEST_YEAR: i32 = 2100;
/// Longest database message kept in a `storage_failed` quarantine row, in characters.
const MAX_FAILURE_MESSAGE_CHARS: usize = 1000;

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
    /// The field at fault, for `field_too_long` (`transactionContext.paymentMethod`,
    /// `items[2].sku`).
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
}

impl Reason {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: None,
        }
    }

    /// `field_too_long` when `value` is longer than `limit` characters.
    fn too_long(field: impl Into<String>, value: Option<&str>, limit: usize) -> Option<Self> {
        let value = value?;
        // A string of at most `limit` bytes has at most `limit` characters: no count needed.
        if value.len() <= limit {
            return None;
        }
        let length = value.chars().count();
        (length > limit).then(|| {
            let field = field.into();
            Self {
                code: "field_too_long",
                message: format!("{field} is {length} characters long; the limit is {limit}"),
                field: Some(field),
            }
        })
    }
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
            reasons: to_json(&[Reason::new(
                "no_items",
                "the transaction has no items to make silver rows from",
            )]),
            record: None,
            quality_score: tx_quality.score,
            quality_issues: to_json(&tx_quality.issues),
        });
        return out;
    }

    let at = record.transaction_timestamp;
    let customer = Customer::from_payload(&t.payload);
    let reasons = transaction_reasons(record, &t, &customer, &store_id);
    if !reasons.is_empty() {
        out.rejects.push(Reject {
            bronze_id: record.bronze_id,
            transaction_id: record.transaction_id.clone(),
            device_id: record.device_id.clone(),
            store_id: Some(store_id),
            item_index: None,
            reasons: to_json(&reasons),
            record: None,
            quality_score: tx_quality.score,
            quality_issues: to_json(&tx_quality.issues),
        });
        return out;
    }
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
        let reasons = item_reasons(index, item);
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

/// Why the whole transaction cannot go to silver: fields over their limits, a timestamp out of
/// range. Empty when it can.
fn transaction_reasons(
    record: &BronzeRecord,
    t: &Transaction,
    customer: &Customer,
    store_id: &str,
) -> Vec<Reason> {
    let mut reasons: Vec<Reason> = [
        Reason::too_long(
            "transactionId",
            Some(&record.transaction_id),
            MAX_TRANSACTION_ID_CHARS,
        ),
        Reason::too_long("storeId", Some(store_id), MAX_STORE_ID_CHARS),
        Reason::too_long(
            "transactionContext.paymentMethod",
            t.payment_method.as_deref().map(str::trim),
            MAX_PAYMENT_METHOD_CHARS,
        ),
        Reason::too_long("customerId", customer.id.as_deref(), MAX_CUSTOMER_ID_CHARS),
        Reason::too_long(
            "ageBracket",
            customer.age_bracket.as_deref(),
            MAX_DEMOGRAPHIC_CHARS,
        ),
        Reason::too_long("gender", customer.gender.as_deref(), MAX_DEMOGRAPHIC_CHARS),
    ]
    .into_iter()
    .flatten()
    .collect();
    if let Some(location) = &customer.location
        && location.len() > MAX_LOCATION_BYTES
    {
        reasons.push(Reason {
            code: "field_too_long",
            message: format!(
                "location is {} bytes of JSON; the limit is {MAX_LOCATION_BYTES}",
                location.len()
            ),
            field: Some("location".into()),
        });
    }
    // The UTC year first: a time near chrono's limits is never moved into Manila time.
    let years = EARLIEST_YEAR..=LATEST_YEAR;
    let at = record.transaction_timestamp;
    if !years.contains(&at.year()) || !years.contains(&business_day(at).year()) {
        reasons.push(Reason::new(
            "timestamp_out_of_range",
            format!(
                "the transaction time {} is outside the years {EARLIEST_YEAR} to {LATEST_YEAR}",
                record.transaction_timestamp.to_rfc3339()
            ),
        ));
    }
    reasons
}

/// Why an item cannot be sold in silver. Empty when it can.
fn item_reasons(index: usize, item: &Item) -> Vec<Reason> {
    let mut reasons = Vec::new();
    match item.total_price {
        None => reasons.push(Reason::new(
            "missing_amount",
            "the item has neither a total price nor a unit price",
        )),
        Some(a) if a.is_finite() && a < 0.0 => reasons.push(Reason::new(
            "negative_amount",
            format!("the amount is negative (₱{a:.2}); returns and voids are not sales"),
        )),
        // Not finite: unit price × quantity overflowed.
        Some(a) if !a.is_finite() || a > MAX_ITEM_AMOUNT => reasons.push(Reason::new(
            "amount_out_of_range",
            format!(
                "the amount ₱{} is over the limit of ₱{} per item",
                number(a),
                number(MAX_ITEM_AMOUNT)
            ),
        )),
        Some(_) => {}
    }
    let q = item.quantity;
    if q.is_nan() || q <= 0.0 {
        reasons.push(Reason::new(
            "non_positive_quantity",
            format!("the quantity is {}", number(q)),
        ));
    } else if !(MIN_QUANTITY..=MAX_QUANTITY).contains(&q) {
        reasons.push(Reason::new(
            "quantity_out_of_range",
            format!(
                "the quantity {} is outside {MIN_QUANTITY} to {}",
                number(q),
                number(MAX_QUANTITY)
            ),
        ));
    }
    if let Some(p) = item.unit_price
        && (!p.is_finite() || p.abs() > MAX_UNIT_PRICE)
    {
        reasons.push(Reason::new(
            "unit_price_out_of_range",
            format!(
                "the unit price ₱{} is beyond ₱{} either way",
                number(p),
                number(MAX_UNIT_PRICE)
            ),
        ));
    }
    let field = |name: &str| format!("items[{index}].{name}");
    reasons.extend(
        [
            Reason::too_long(field("sku"), item.sku.as_deref(), MAX_SKU_CHARS),
            Reason::too_long(
                field("productName"),
                item.product_name.as_deref(),
                MAX_PRODUCT_NAME_CHARS,
            ),
            Reason::too_long(
                field("brandName"),
                item.brand_name.as_deref(),
                MAX_BRAND_CHARS,
            ),
        ]
        .into_iter()
        .flatten(),
    );
    reasons
}

/// A number for a message: plain when it is of a sane size, in exponent form when it is not (a
/// quantity of 1e300 is not written out in 301 digits).
fn number(x: f64) -> String {
    if x.is_finite() && x.abs() < 1e12 {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

/// Pesos to centavos, rounded half away from zero.
pub fn centavos(pesos: f64) -> i64 {
    // Silver takes amounts up to MAX_ITEM_AMOUNT, far below i64::MAX centavos; `as` saturates
    // anyway.
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
    quarantined_whole(
        record,
        "unparseable_payload",
        format!("the bronze payload no longer parses: {error}"),
    )
}

/// The outcome of a bronze row the database refused to take into silver even on its own (the
/// pipeline found it by retrying its batch in smaller ones): quarantined whole as
/// `storage_failed` with the database's message, its bronze row scored 0 and marked processed,
/// so it no longer holds up the rows behind it.
pub fn storage_failed(record: &BronzeRecord, error: &str) -> SilverOutcome {
    let error: String = error.chars().take(MAX_FAILURE_MESSAGE_CHARS).collect();
    quarantined_whole(
        record,
        "storage_failed",
        format!("the database refused this transaction's silver rows: {error}"),
    )
}

/// A bronze row quarantined whole with one reason, its transaction scored 0.
fn quarantined_whole(record: &BronzeRecord, code: &'static str, message: String) -> SilverOutcome {
    let issues = json!([{ "code": code, "message": message, "penalty": 1.0 }]);
    SilverOutcome {
        bronze_id: record.bronze_id,
        rows: Vec::new(),
        rejects: vec![Reject {
            bronze_id: record.bronze_id,
            transaction_id: record.transaction_id.clone(),
            device_id: record.device_id.clone(),
            store_id: record.store_id.clone(),
            item_index: None,
            reasons: to_json(&[Reason::new(code, message)]),
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

    fn reasons_of(reject: &Reject) -> Vec<Value> {
        serde_json::from_str::<Vec<Value>>(&reject.reasons).unwrap()
    }

    fn codes_of(reject: &Reject) -> Vec<String> {
        reasons_of(reject)
            .iter()
            .map(|r| r["code"].as_str().unwrap().to_owned())
            .collect()
    }

    fn one_item_sale(item: Value) -> Value {
        json!({
            "transactionId": "t-1", "storeId": "104",
            "items": [
                item,
                {"brandName": "Coca-Cola", "productName": "Coke Mismo", "quantity": 1, "unitPrice": 15, "totalPrice": 15},
            ],
        })
    }

    #[test]
    fn out_of_range_numbers_quarantine_the_item_and_its_neighbours_sell() {
        let matcher = BrandMatcher::shipped().unwrap();
        let cases = [
            (
                json!({"productName": "Coke", "quantity": 1, "totalPrice": 1e17}),
                "amount_out_of_range",
            ),
            (
                json!({"productName": "Coke", "quantity": 1e300, "unitPrice": 15, "totalPrice": 15}),
                "quantity_out_of_range",
            ),
            (
                json!({"productName": "Coke", "quantity": 1e-9, "totalPrice": 15}),
                "quantity_out_of_range",
            ),
            (
                json!({"productName": "Coke", "quantity": 1, "unitPrice": 1e15, "totalPrice": 15}),
                "unit_price_out_of_range",
            ),
            (
                json!({"productName": "Coke", "quantity": 1, "unitPrice": -1e15, "totalPrice": 15}),
                "unit_price_out_of_range",
            ),
        ];
        for (item, code) in cases {
            let out = build(
                &record(&one_item_sale(item.clone()).to_string()),
                &matcher,
                Utc::now(),
            );
            assert_eq!(out.rejects.len(), 1, "{item}");
            assert_eq!(out.rejects[0].item_index, Some(0));
            assert_eq!(codes_of(&out.rejects[0]), [code], "{item}");
            assert!((0.0..=1.0).contains(&out.rejects[0].quality_score));
            assert_eq!(out.rows.len(), 1, "the Coke beside it sells");
            assert_eq!(out.rows[0].amount_centavos, 1500);
            assert_eq!(out.rows[0].basket_units, 1.0, "{item}");
        }
    }

    #[test]
    fn an_amount_that_overflows_is_out_of_range_not_missing() {
        // unit price × quantity = inf: every bound it breaks is named.
        let matcher = BrandMatcher::shipped().unwrap();
        let item = json!({"productName": "Coke", "quantity": 1e300, "unitPrice": 1e300});
        let out = build(
            &record(&one_item_sale(item).to_string()),
            &matcher,
            Utc::now(),
        );
        assert_eq!(
            codes_of(&out.rejects[0]),
            [
                "amount_out_of_range",
                "quantity_out_of_range",
                "unit_price_out_of_range"
            ]
        );
        let message = reasons_of(&out.rejects[0])[1]["message"].clone();
        assert_eq!(message, "the quantity 1e300 is outside 0.001 to 10000");
    }

    #[test]
    fn the_bounds_themselves_are_sales() {
        let matcher = BrandMatcher::shipped().unwrap();
        for item in [
            json!({"productName": "Load", "quantity": 1, "unitPrice": MAX_UNIT_PRICE, "totalPrice": MAX_ITEM_AMOUNT}),
            json!({"productName": "Candy", "quantity": MAX_QUANTITY, "unitPrice": 1, "totalPrice": 10000}),
            json!({"productName": "Rice", "quantity": MIN_QUANTITY, "unitPrice": 50, "totalPrice": 0.05}),
            json!({"productName": "Promo", "quantity": 1, "unitPrice": -5, "totalPrice": 0}),
        ] {
            let out = build(
                &record(&one_item_sale(item.clone()).to_string()),
                &matcher,
                Utc::now(),
            );
            assert!(out.rejects.is_empty(), "{item}: {:?}", out.rejects);
            assert_eq!(out.rows.len(), 2);
        }
        let out = build(
            &record(
                &one_item_sale(
                    json!({"productName": "Load", "quantity": 1, "totalPrice": MAX_ITEM_AMOUNT}),
                )
                .to_string(),
            ),
            &matcher,
            Utc::now(),
        );
        assert_eq!(out.rows[0].amount_centavos, 100_000_000);
    }

    #[test]
    fn long_item_texts_quarantine_the_item() {
        let matcher = BrandMatcher::shipped().unwrap();
        let long = "x".repeat(3000);
        for (key, field, limit) in [
            ("sku", "items[0].sku", MAX_SKU_CHARS),
            (
                "productName",
                "items[0].productName",
                MAX_PRODUCT_NAME_CHARS,
            ),
            ("brandName", "items[0].brandName", MAX_BRAND_CHARS),
        ] {
            let mut item = json!({"productName": "Coke", "quantity": 1, "totalPrice": 15});
            item[key] = json!(long);
            let out = build(
                &record(&one_item_sale(item).to_string()),
                &matcher,
                Utc::now(),
            );
            assert_eq!(out.rows.len(), 1, "{key}");
            let reasons = reasons_of(&out.rejects[0]);
            assert_eq!(reasons.len(), 1, "{reasons:?}");
            assert_eq!(reasons[0]["code"], "field_too_long");
            assert_eq!(reasons[0]["field"], field);
            assert_eq!(
                reasons[0]["message"],
                format!("{field} is 3000 characters long; the limit is {limit}")
            );
        }
    }

    #[test]
    fn long_transaction_fields_quarantine_the_whole_transaction() {
        let matcher = BrandMatcher::shipped().unwrap();
        let long = "y".repeat(3000);
        let cases = [
            (
                json!({"transactionContext": {"paymentMethod": long}}),
                "transactionContext.paymentMethod",
            ),
            (json!({"customerId": long}), "customerId"),
            (json!({"customer": {"id": long}}), "customerId"),
            (json!({"demographics": {"ageBracket": long}}), "ageBracket"),
            (json!({"gender": long}), "gender"),
            (
                json!({"location": {"barangay": long.repeat(2), "lat": 14.6}}),
                "location",
            ),
            (json!({"storeId": long}), "storeId"),
        ];
        for (extra, field) in cases {
            let mut payload =
                one_item_sale(json!({"productName": "Kopiko", "quantity": 2, "totalPrice": 16}));
            for (k, v) in extra.as_object().unwrap() {
                payload[k] = v.clone();
            }
            let mut rec = record(&payload.to_string());
            if field == "storeId" {
                rec.store_id = None; // the payload's store id stands
            }
            let out = build(&rec, &matcher, Utc::now());
            assert!(out.rows.is_empty(), "{field}");
            assert_eq!(out.rejects.len(), 1, "{field}");
            assert_eq!(out.rejects[0].item_index, None);
            assert_eq!(out.rejects[0].record, None);
            let reasons = reasons_of(&out.rejects[0]);
            assert_eq!(reasons.len(), 1, "{reasons:?}");
            assert_eq!(reasons[0]["code"], "field_too_long");
            assert_eq!(reasons[0]["field"], field);
            assert!(
                reasons[0]["message"].as_str().unwrap().starts_with(field),
                "{reasons:?}"
            );
        }
        // The transaction id is bronze's.
        let mut rec =
            record(&one_item_sale(json!({"productName": "Kopiko", "totalPrice": 8})).to_string());
        rec.transaction_id = "t".repeat(MAX_TRANSACTION_ID_CHARS + 1);
        let out = build(&rec, &matcher, Utc::now());
        assert_eq!(codes_of(&out.rejects[0]), ["field_too_long"]);
        assert!(out.rows.is_empty());
    }

    #[test]
    fn lengths_are_counted_in_characters() {
        let matcher = BrandMatcher::shipped().unwrap();
        let at_limit = "ñ".repeat(MAX_PAYMENT_METHOD_CHARS); // 128 bytes, 64 characters
        let mut payload = one_item_sale(json!({"productName": "Kopiko", "totalPrice": 8}));
        payload["transactionContext"] = json!({"paymentMethod": at_limit});
        let out = build(&record(&payload.to_string()), &matcher, Utc::now());
        assert!(out.rejects.is_empty(), "{:?}", out.rejects);
        payload["transactionContext"] = json!({"paymentMethod": format!("{at_limit}ñ")});
        let out = build(&record(&payload.to_string()), &matcher, Utc::now());
        assert_eq!(
            reasons_of(&out.rejects[0])[0]["message"],
            "transactionContext.paymentMethod is 65 characters long; the limit is 64"
        );
    }

    #[test]
    fn timestamps_outside_the_years_quarantine_the_transaction() {
        let matcher = BrandMatcher::shipped().unwrap();
        let payload = one_item_sale(json!({"productName": "Kopiko", "totalPrice": 8})).to_string();
        for (ts, kept) in [
            ("1970-01-01T00:00:00Z", true), // a clock never set: kept
            ("2100-12-31T15:59:59Z", true),
            ("2100-12-31T16:00:00Z", false), // 2101 in Manila
            ("1969-12-31T15:59:59Z", false), // 23:59 in Manila, still 1969
            ("9999-12-31T23:59:59Z", false),
            ("0001-01-01T00:00:00Z", false),
            ("max", false),
        ] {
            let mut rec = record(&payload);
            rec.transaction_timestamp = if ts == "max" {
                DateTime::<Utc>::MAX_UTC
            } else {
                at(ts)
            };
            let out = build(&rec, &matcher, Utc::now());
            if kept {
                assert_eq!(out.rows.len(), 2, "{ts}");
            } else {
                assert!(out.rows.is_empty(), "{ts}");
                assert_eq!(
                    codes_of(&out.rejects[0]),
                    ["timestamp_out_of_range"],
                    "{ts}"
                );
                assert_eq!(out.rejects[0].item_index, None);
            }
        }
    }

    #[test]
    fn a_storage_failure_is_quarantined_whole() {
        let rec = record("{}");
        let out = storage_failed(&rec, &"boom ".repeat(1000));
        assert!(out.rows.is_empty());
        assert_eq!(out.rejects.len(), 1);
        assert_eq!(out.rejects[0].item_index, None);
        assert_eq!(codes_of(&out.rejects[0]), ["storage_failed"]);
        let message = reasons_of(&out.rejects[0])[0]["message"].clone();
        let message = message.as_str().unwrap();
        assert!(message.starts_with("the database refused this transaction's silver rows: boom"));
        assert!(message.chars().count() < MAX_FAILURE_MESSAGE_CHARS + 100);
        assert_eq!(out.quality_score, 0.0);
        let meta: Value = serde_json::from_str(&out.bronze_metadata).unwrap();
        assert_eq!(meta["quality"]["issues"][0]["code"], "storage_failed");
    }
}
