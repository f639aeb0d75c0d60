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
//!   item marked unbranded, else NULL (so `brand_name IS NOT NULL` means branded; gold labels
//!   it [`UNKNOWN`]); the device's text is kept in `device_brand`.
//!   Category: the detected brand's, else the item's own category when it names one of the
//!   dictionary's categories, else `Unknown`.
//! - `data_source` is `drive` for a transaction landed from a file (bronze's endpoint
//!   [`FILE_ENDPOINT`]), else `edge`.
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
//!   row and `first_in_group` the first row of each brand × category in it (`first_in_brand`
//!   and `first_in_category` of each brand and each category), so gold counts
//!   transactions and baskets with plain sums, without regrouping rows per transaction.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Timelike, Utc, Weekday};
use scout_common::protocol::AgentStamp;
use scout_common::{Item, Transaction};
use serde_json::{Map, Value, json};

mod rows;
mod rules;

pub use crate::store::BronzeRecord;
pub use rows::{Reject, SilverBatch, SilverOutcome, SilverRow, writes};
use rules::{Reason, item_reasons, transaction_reasons};

use crate::brands::{BrandMatcher, Category, Detection, ItemMemo};
use crate::bronze::to_json;
use crate::quality::{self, Context, ItemFacts, QualityScore};

/// `data_source` of rows that came from ScoutPi devices.
pub const DATA_SOURCE_EDGE: &str = "edge";
/// `data_source` of rows that came from imported files (a back office's exports, a shared
/// Drive folder).
pub const DATA_SOURCE_DRIVE: &str = "drive";
/// The bronze `endpoint` of transactions landed from files.
pub const FILE_ENDPOINT: &str = "file";
/// Category that could not be resolved, and gold's label for a brand that could not be (NULL in
/// silver).
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

/// Builds the silver rows of one bronze row. `now` feeds the future-timestamp check and stamps
/// the rows written.
pub fn build(record: &BronzeRecord, matcher: &BrandMatcher, now: DateTime<Utc>) -> SilverOutcome {
    build_with(record, matcher, now, &mut ItemMemo::new())
}

/// [`build`], reusing the item brand detections `memo` holds from the batch's earlier rows.
pub fn build_with<'m>(
    record: &BronzeRecord,
    matcher: &'m BrandMatcher,
    now: DateTime<Utc>,
    memo: &mut ItemMemo<'m>,
) -> SilverOutcome {
    let mut t = match Transaction::parse_line(&record.payload) {
        Ok(t) => t,
        // Bronze only holds lines that parsed; a row that no longer does (edited by hand, or a
        // parser change) is quarantined whole rather than lost.
        Err(error) => return unparseable(record, &error.to_string(), now),
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

    let brands = matcher.detect_transaction_with(&t, memo);
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
    let bronze_metadata = to_json(&BronzeMetadata {
        quality: &tx_quality,
        brands: brands.brands(),
        device_only_brands: &brands.device_only,
    });

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
        scored_at: now,
    };
    // The whole transaction quarantined, with the transaction's own score.
    let whole = |store_id: String, reasons: &[Reason]| Reject {
        bronze_id: record.bronze_id,
        transaction_id: record.transaction_id.clone(),
        device_id: record.device_id.clone(),
        store_id: Some(store_id),
        item_index: None,
        reasons: to_json(reasons),
        record: None,
        quality_score: tx_quality.score,
        quality_issues: to_json(&tx_quality.issues),
        quarantined_at: now,
    };
    if t.items.is_empty() {
        let reason = Reason::new(
            "no_items",
            "the transaction has no items to make silver rows from",
        );
        out.rejects.push(whole(store_id, &[reason]));
        return out;
    }

    let at = record.transaction_timestamp;
    let customer = Customer::from_payload(&t.payload);
    let reasons = transaction_reasons(record, &t, &customer, &store_id);
    if !reasons.is_empty() {
        out.rejects.push(whole(store_id, &reasons));
        return out;
    }
    let payment_method = payment_method(t.payment_method.as_deref());
    let data_source = if record.endpoint.as_deref() == Some(FILE_ENDPOINT) {
        DATA_SOURCE_DRIVE
    } else {
        DATA_SOURCE_EDGE
    };
    let mut sold: Vec<(usize, i64, ItemBrand<'_>, QualityScore)> = Vec::new();
    for (index, item) in t.items.iter().enumerate() {
        let detection = brands.items.get(index).and_then(Option::as_ref);
        let resolved = ItemBrand::resolve(item, detection);
        let mut facts = ItemFacts::from_item(item);
        facts.brand = resolved.brand;
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
                quarantined_at: now,
            });
        }
    }

    let basket_units: f64 = sold.iter().map(|(i, ..)| t.items[*i].quantity).sum();
    let transaction_date = business_day(at);
    let mut groups: Vec<(Option<&str>, &str)> = Vec::with_capacity(sold.len());
    for (position, (index, amount_centavos, resolved, score)) in sold.into_iter().enumerate() {
        let group = (resolved.brand, resolved.category);
        let first_in_group = !groups.contains(&group);
        let first_in_brand = !groups.iter().any(|(b, _)| *b == resolved.brand);
        let first_in_category = !groups.iter().any(|(_, c)| *c == resolved.category);
        if first_in_group {
            groups.push(group);
        }
        // The item's texts move into its row: nothing reads them after this.
        let item = &mut t.items[index];
        out.rows.push(SilverRow {
            id: format!("{}:{}:{index}", record.device_id, record.transaction_id),
            transaction_id: record.transaction_id.clone(),
            timestamp: at,
            transaction_date,
            amount_centavos,
            payment_method: payment_method.clone(),
            product_category: resolved.category.to_owned(),
            brand_name: resolved.brand.map(str::to_owned),
            sku: item.sku.take(),
            customer_id: customer.id.clone(),
            store_id: store_id.clone(),
            device_id: record.device_id.clone(),
            age_bracket: customer.age_bracket.clone(),
            gender: customer.gender.clone(),
            location_data: customer.location.clone(),
            data_source,
            quality_score: score.score,
            bronze_id: record.bronze_id,
            item_index: i32::try_from(index).unwrap_or(i32::MAX),
            quantity: item.quantity,
            unit_price: item.unit_price,
            product_name: item.product_name.take(),
            device_brand: item.brand_name.take(),
            brand_method: resolved.method,
            brand_source: resolved.source,
            brand_score: resolved.score,
            quality_issues: issues_json(&score.issues),
            daypart: daypart(at),
            day_type: day_type(at),
            basket_units,
            basket_band: basket_band(basket_units),
            first_in_group,
            first_in_basket: position == 0,
            first_in_brand,
            first_in_category,
            loaded_at: now,
        });
    }
    out
}

/// Builds a batch's rows ([`build`] for each record), spread over the machine's cores.
pub fn build_all(
    records: &[BronzeRecord],
    matcher: &BrandMatcher,
    now: DateTime<Utc>,
) -> Vec<SilverOutcome> {
    // A thread per 64 records at most: below that, starting one costs more than it saves.
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(records.len() / 64)
        .max(1);
    let build_part = |part: &[BronzeRecord]| {
        let mut memo = ItemMemo::new();
        part.iter()
            .map(|r| build_with(r, matcher, now, &mut memo))
            .collect::<Vec<_>>()
    };
    if threads == 1 {
        return build_part(records);
    }
    std::thread::scope(|scope| {
        let parts: Vec<_> = records
            .chunks(records.len().div_ceil(threads))
            .map(|part| scope.spawn(move || build_part(part)))
            .collect();
        parts
            .into_iter()
            .flat_map(|part| part.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// What silver records of a bronze row in its quality row's metadata: the transaction's score
/// and the brands found, each once (serialised straight to text, with no JSON tree between).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct BronzeMetadata<'a, 'm> {
    quality: &'a QualityScore,
    brands: Vec<&'a Detection<'m>>,
    device_only_brands: &'a [String],
}

/// The brand and category an item is filed under.
#[derive(Debug, Clone, Copy)]
struct ItemBrand<'a> {
    /// `None`: unresolved.
    brand: Option<&'a str>,
    category: &'a str,
    method: &'static str,
    source: Option<&'static str>,
    score: Option<f64>,
}

impl<'a> ItemBrand<'a> {
    fn resolve(item: &Item, detection: Option<&Detection<'a>>) -> Self {
        match detection {
            Some(d) => Self {
                brand: Some(&d.brand.name),
                category: d.brand.category.as_str(),
                method: d.method.as_str(),
                source: Some(d.source.as_str()),
                score: Some(d.score),
            },
            None => Self {
                brand: (item.is_unbranded == Some(true)).then_some(UNBRANDED),
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

/// An item score's issues as JSON text; most items have none, and `[]` needs no serialiser.
fn issues_json(issues: &[quality::QualityIssue]) -> String {
    if issues.is_empty() {
        "[]".to_owned()
    } else {
        to_json(issues)
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

fn unparseable(record: &BronzeRecord, error: &str, now: DateTime<Utc>) -> SilverOutcome {
    quarantined_whole(
        record,
        now,
        "unparseable_payload",
        format!("the bronze payload no longer parses: {error}"),
    )
}

/// The outcome of a bronze row the database refused to take into silver even on its own (the
/// pipeline found it by retrying its batch in smaller ones): quarantined whole as
/// `storage_failed` with the database's message, its bronze row scored 0 and marked processed,
/// so it no longer holds up the rows behind it.
pub fn storage_failed(record: &BronzeRecord, error: &str, now: DateTime<Utc>) -> SilverOutcome {
    let error: String = error.chars().take(MAX_FAILURE_MESSAGE_CHARS).collect();
    quarantined_whole(
        record,
        now,
        "storage_failed",
        format!("the database refused this transaction's silver rows: {error}"),
    )
}

/// A bronze row quarantined whole with one reason, its transaction scored 0.
fn quarantined_whole(
    record: &BronzeRecord,
    now: DateTime<Utc>,
    code: &'static str,
    message: String,
) -> SilverOutcome {
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
            quarantined_at: now,
        }],
        quality_score: 0.0,
        bronze_metadata: json!({ "quality": { "score": 0.0, "issues": issues } }).to_string(),
        scored_at: now,
    }
}

#[cfg(test)]
mod tests;
