//! The bronze transaction's score: completeness, validity and confidence of one ScoutPi
//! transaction as parsed, with the caller's knowledge of the device and the clock.

use chrono::{DateTime, Datelike, Duration, Utc};
use scout_common::{RepairKind, Transaction};

use super::{Charges, Check, Dimension, QualityScore, amounts_agree, credit, finite, peso};

/// A transaction timestamp may run this far ahead of the collector's clock (store clocks drift;
/// a Pi has no real-time clock until NTP answers).
pub const MAX_CLOCK_SKEW_SECS: i64 = 10 * 60;

/// Totals agree with the items within `max(TOTALS_TOLERANCE_PESO, TOTALS_TOLERANCE_SHARE × amount)`.
pub const TOTALS_TOLERANCE_PESO: f64 = 1.0;
pub const TOTALS_TOLERANCE_SHARE: f64 = 0.02;

/// No transaction before this year is plausible (Scout's devices did not exist).
const EARLIEST_YEAR: i32 = 2015;

/// Each parser repair not charged elsewhere costs this share of the `parser_repairs` check
/// (so ten or more repairs cost the whole check).
const REPAIR_SHARE: f64 = 0.1;

/// The repairs charged by their own check, not again as `parser_repairs`.
const CHARGED_ELSEWHERE: [RepairKind; 3] = [
    RepairKind::DerivedTransactionId,
    RepairKind::MissingTimestamp,
    RepairKind::InvalidTimestamp,
];

use Dimension::{Completeness, Confidence, Validity};

const fn check(name: &'static str, dimension: Dimension, weight: f64) -> Check {
    Check {
        name,
        dimension,
        weight,
    }
}

// Completeness, 0.40.
/// `transactionId` sent by the producer (a derived id costs the whole check).
const ID: Check = check("transaction_id", Completeness, 0.05);
const DEVICE_ID: Check = check("device_id", Completeness, 0.04);
const STORE_ID: Check = check("store_id", Completeness, 0.03);
const ITEMS: Check = check("items", Completeness, 0.17);
/// Per item: a total price (sent, or computed from unit price × quantity).
const ITEM_AMOUNTS: Check = check("item_amounts", Completeness, 0.04);
const TOTAL_AMOUNT: Check = check("total_amount", Completeness, 0.02);
/// Taken from capture time: 40%; unreadable, capture time stands in: 60%; none at all: 100%.
const TIMESTAMP: Check = check("timestamp", Completeness, 0.05);
// Validity, 0.35.
const TOTAL_NOT_NEGATIVE: Check = check("total_not_negative", Validity, 0.05);
/// Per item: neither unit price nor total price below 0.
const ITEM_AMOUNTS_NOT_NEGATIVE: Check = check("item_amounts_not_negative", Validity, 0.06);
/// Per item: quantity above 0.
const QUANTITIES_POSITIVE: Check = check("quantities_positive", Validity, 0.05);
/// `totals.totalAmount` within tolerance of the item totals (when both are known).
const TOTALS_CONSISTENT: Check = check("totals_consistent", Validity, 0.07);
const DEVICE_KNOWN: Check = check("device_known", Validity, 0.07);
/// Not ahead of the clock by more than the skew, not before 2015.
const TIMESTAMP_PLAUSIBLE: Check = check("timestamp_plausible", Validity, 0.03);
/// Each interpretation the parser had to make costs 10%.
const PARSER_REPAIRS: Check = check("parser_repairs", Validity, 0.02);
// Confidence, 0.25: these three weights are shared out over the evidence present (without a
// matcher score, items get 0.25 × 10/18 and detected brands 0.25 × 8/18).
/// The mean credit of the items' confidences (0 when there are no items).
const ITEM_CONFIDENCE: Check = check("item_confidence", Confidence, 0.10);
/// The mean credit of the device's detected-brand confidences (unknown when it reported none).
const BRAND_CONFIDENCE: Check = check("detected_brand_confidence", Confidence, 0.08);
/// The brand matcher's score, when the caller has one.
const MATCHER_CONFIDENCE: Check = check("matcher_confidence", Confidence, 0.07);

/// Every check of the transaction score, with its full weight.
pub const TRANSACTION_CHECKS: [Check; 17] = [
    ID,
    DEVICE_ID,
    STORE_ID,
    ITEMS,
    ITEM_AMOUNTS,
    TOTAL_AMOUNT,
    TIMESTAMP,
    TOTAL_NOT_NEGATIVE,
    ITEM_AMOUNTS_NOT_NEGATIVE,
    QUANTITIES_POSITIVE,
    TOTALS_CONSISTENT,
    DEVICE_KNOWN,
    TIMESTAMP_PLAUSIBLE,
    PARSER_REPAIRS,
    ITEM_CONFIDENCE,
    BRAND_CONFIDENCE,
    MATCHER_CONFIDENCE,
];

/// What the caller knows that the transaction does not say.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Context {
    /// The collector's clock when scoring (for the future-timestamp check).
    pub now: DateTime<Utc>,
    /// The device is registered (and not revoked).
    pub device_known: bool,
    /// The brand matcher's score for the transaction (e.g. the mean over its items' detections),
    /// 0..1; `None` when no matcher ran, and its weight is shared out over the device's evidence.
    pub matcher_score: Option<f64>,
}

impl Context {
    /// A registered device scored at `now`, without a matcher score.
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            now,
            device_known: true,
            matcher_score: None,
        }
    }
}

/// Scores a bronze transaction. See the module docs for the formula.
pub fn score_transaction(t: &Transaction, ctx: &Context) -> QualityScore {
    let mut c = Charges::default();
    completeness(t, &mut c);
    validity(t, ctx, &mut c);
    confidence(t, ctx, &mut c);
    c.finish()
}

fn completeness(t: &Transaction, c: &mut Charges) {
    if t.id_derived {
        c.charge(
            &ID,
            "derived_transaction_id",
            "transactionId",
            "no transactionId was sent; the id was derived from the content",
            1.0,
        );
    }
    if t.device_id.is_none() {
        c.charge(
            &DEVICE_ID,
            "missing_device_id",
            "deviceId",
            "no deviceId in the payload; the authenticated device stands in",
            1.0,
        );
    }
    if t.store_id.is_none() {
        c.charge(
            &STORE_ID,
            "missing_store_id",
            "storeId",
            "no storeId in the payload; the device's registered store stands in",
            1.0,
        );
    }
    let n = t.items.len();
    if n == 0 {
        c.charge(
            &ITEMS,
            "no_items",
            "items",
            "the transaction has no items",
            1.0,
        );
    }
    for (i, item) in t.items.iter().enumerate() {
        if finite(item.total_price).is_none() {
            c.charge(
                &ITEM_AMOUNTS,
                "missing_item_amount",
                format!("items[{i}].totalPrice"),
                "the item has neither a total price nor a unit price",
                share(n),
            );
        }
    }
    if finite(t.totals.total_amount).is_none() {
        c.charge(
            &TOTAL_AMOUNT,
            "missing_total_amount",
            "totals.totalAmount",
            "no usable totals.totalAmount",
            1.0,
        );
    }
    if t.timestamp.is_none() {
        let unreadable = t
            .repairs
            .iter()
            .any(|r| r.kind == RepairKind::InvalidTimestamp);
        match (&t.agent, unreadable) {
            (Some(stamp), false) => c.charge(
                &TIMESTAMP,
                "timestamp_from_capture",
                "timestamp",
                format!(
                    "no timestamp was sent; the agent's capture time {} stands in",
                    stamp.captured_at.to_rfc3339()
                ),
                0.4,
            ),
            (Some(stamp), true) => c.charge(
                &TIMESTAMP,
                "timestamp_unreadable",
                "timestamp",
                format!(
                    "the timestamp could not be read; the agent's capture time {} stands in",
                    stamp.captured_at.to_rfc3339()
                ),
                0.6,
            ),
            (None, unreadable) => c.charge(
                &TIMESTAMP,
                "timestamp_missing",
                "timestamp",
                if unreadable {
                    "the timestamp could not be read and there is no capture time; the receive time stands in"
                } else {
                    "no timestamp was sent and there is no capture time; the receive time stands in"
                },
                1.0,
            ),
        }
    }
}

fn validity(t: &Transaction, ctx: &Context, c: &mut Charges) {
    let total = finite(t.totals.total_amount);
    if let Some(total) = total.filter(|x| *x < 0.0) {
        c.charge(
            &TOTAL_NOT_NEGATIVE,
            "negative_total_amount",
            "totals.totalAmount",
            format!("the total amount is negative ({})", peso(total)),
            1.0,
        );
    }
    let n = t.items.len();
    for (i, item) in t.items.iter().enumerate() {
        let negative = [
            ("totalPrice", item.total_price),
            ("unitPrice", item.unit_price),
        ]
        .into_iter()
        .find_map(|(key, v)| finite(v).filter(|x| *x < 0.0).map(|x| (key, x)));
        if let Some((key, amount)) = negative {
            c.charge(
                &ITEM_AMOUNTS_NOT_NEGATIVE,
                "negative_item_amount",
                format!("items[{i}].{key}"),
                format!("the item's {key} is negative ({})", peso(amount)),
                share(n),
            );
        }
        if !(item.quantity.is_finite() && item.quantity > 0.0) {
            c.charge(
                &QUANTITIES_POSITIVE,
                "non_positive_quantity",
                format!("items[{i}].quantity"),
                format!("the quantity is {}, not above 0", item.quantity),
                share(n),
            );
        }
    }
    // Judged only when the total and every item's amount are known (no items sum to ₱0).
    let items_sum: Option<f64> = t.items.iter().map(|i| finite(i.total_price)).sum();
    if let (Some(total), Some(sum)) = (total, items_sum)
        && !amounts_agree(total, sum)
    {
        c.charge(
            &TOTALS_CONSISTENT,
            "totals_mismatch",
            "totals.totalAmount",
            format!(
                "the total {} differs from the items' sum {} by more than max(₱1, 2%)",
                peso(total),
                peso(sum)
            ),
            1.0,
        );
    }
    if !ctx.device_known {
        c.charge(
            &DEVICE_KNOWN,
            "unknown_device",
            "deviceId",
            "the device is not registered",
            1.0,
        );
    }
    let (at, field) = match (t.timestamp, &t.agent) {
        (Some(at), _) => (Some(at), "timestamp"),
        (None, Some(stamp)) => (Some(stamp.captured_at), "_agent.capturedAt"),
        (None, None) => (None, "timestamp"),
    };
    if let Some(at) = at {
        if at > ctx.now + Duration::seconds(MAX_CLOCK_SKEW_SECS) {
            c.charge(
                &TIMESTAMP_PLAUSIBLE,
                "future_timestamp",
                field,
                format!(
                    "{} is more than {} minutes ahead of the collector's clock ({})",
                    at.to_rfc3339(),
                    MAX_CLOCK_SKEW_SECS / 60,
                    ctx.now.to_rfc3339()
                ),
                1.0,
            );
        } else if at.year() < EARLIEST_YEAR {
            c.charge(
                &TIMESTAMP_PLAUSIBLE,
                "timestamp_before_2015",
                field,
                format!("{} is before {EARLIEST_YEAR}", at.to_rfc3339()),
                1.0,
            );
        }
    }
    let repairs: Vec<_> = t
        .repairs
        .iter()
        .filter(|r| !CHARGED_ELSEWHERE.contains(&r.kind))
        .collect();
    if !repairs.is_empty() {
        let mut fields: Vec<&str> = Vec::new();
        for r in &repairs {
            if !fields.contains(&r.field.as_str()) {
                fields.push(&r.field);
            }
        }
        let mut kinds: Vec<RepairKind> = repairs.iter().map(|r| r.kind).collect();
        kinds.sort_unstable();
        kinds.dedup();
        let kinds: Vec<String> = kinds.into_iter().map(repair_name).collect();
        let shown = 8;
        let mut field = fields
            .iter()
            .take(shown)
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        if fields.len() > shown {
            field.push_str(", …");
        }
        c.charge(
            &PARSER_REPAIRS,
            "parser_repairs",
            field,
            format!(
                "the parser interpreted {} field(s): {}",
                repairs.len(),
                kinds.join(", ")
            ),
            REPAIR_SHARE * repairs.len() as f64,
        );
    }
}

fn confidence(t: &Transaction, ctx: &Context, c: &mut Charges) {
    let matcher = finite(ctx.matcher_score);
    let present = ITEM_CONFIDENCE.weight
        + BRAND_CONFIDENCE.weight
        + if matcher.is_some() {
            MATCHER_CONFIDENCE.weight
        } else {
            0.0
        };
    let scale = Dimension::Confidence.weight() / present;
    let scaled = |check: Check| Check {
        weight: check.weight * scale,
        ..check
    };

    let items = scaled(ITEM_CONFIDENCE);
    if t.items.is_empty() {
        c.charge(
            &items,
            "low_item_confidence",
            "items",
            "no items, so no item was detected with any confidence",
            1.0,
        );
    } else {
        let credits: Vec<f64> = t.items.iter().map(|i| credit(i.confidence)).collect();
        let mean = mean(&credits);
        let unreported = t
            .items
            .iter()
            .filter(|i| finite(i.confidence).is_none())
            .count();
        c.charge(
            &items,
            "low_item_confidence",
            "items[].confidence",
            format!(
                "the items' confidences earn {:.0}% credit ({} of {} not reported)",
                mean * 100.0,
                unreported,
                t.items.len()
            ),
            1.0 - mean,
        );
    }

    let brands = scaled(BRAND_CONFIDENCE);
    if t.detected_brands.is_empty() {
        c.charge(
            &brands,
            "low_detected_brand_confidence",
            "brandDetection.detectedBrands",
            "the device reported no detected brands",
            1.0 - super::UNKNOWN_CREDIT,
        );
    } else {
        let credits: Vec<f64> = t.detected_brands.values().map(|v| credit(*v)).collect();
        let mean = mean(&credits);
        let weakest = t
            .detected_brands
            .iter()
            .filter_map(|(b, v)| finite(*v).map(|v| (b, v)))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        let detail = match weakest {
            Some((brand, v)) => format!("; weakest {brand} at {v:.2}"),
            None => String::new(),
        };
        c.charge(
            &brands,
            "low_detected_brand_confidence",
            "brandDetection.detectedBrands",
            format!(
                "the device's {} detected brand(s) earn {:.0}% credit{detail}",
                credits.len(),
                mean * 100.0
            ),
            1.0 - mean,
        );
    }

    if let Some(score) = matcher {
        let got = credit(Some(score));
        c.charge(
            &scaled(MATCHER_CONFIDENCE),
            "low_matcher_confidence",
            "items[].brandName",
            format!("the brand matcher's score is {score:.2}"),
            1.0 - got,
        );
    }
}

/// The share of a per-item check one failing item costs.
fn share(n: usize) -> f64 {
    if n == 0 { 1.0 } else { 1.0 / n as f64 }
}

fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

/// The repair's name as stored in `processing_metadata.repairs` (snake_case).
fn repair_name(kind: RepairKind) -> String {
    match serde_json::to_value(kind) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{kind:?}"),
    }
}
