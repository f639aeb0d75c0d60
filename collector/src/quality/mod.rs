//! Quality scoring: an explainable 0..1 score for each bronze transaction and each silver item row.
//!
//! **Enters:** a parsed [`Transaction`](scout_common::Transaction) plus what only the caller knows
//! ([`Context`]: the clock, whether the device is registered, the brand matcher's score), or the
//! facts of one silver item row ([`ItemFacts`]). Pure functions: no IO, no clock of their own.
//!
//! **Leaves:** a [`QualityScore`] `{score, dimensions: {completeness, validity, confidence},
//! issues: [{code, dimension, field, message, penalty}], formulaVersion}`, serialisable as-is into
//! `processing_metadata` (jsonb).
//!
//! # The formula
//!
//! Three dimensions carry fixed weights that sum to 1: completeness **0.40**, validity **0.35**,
//! confidence **0.25**. Each dimension is split into *checks*, each with its own weight (the tables
//! below, also as data in [`TRANSACTION_CHECKS`] and [`ITEM_CHECKS`]); the weights of a
//! dimension's checks add up to the dimension's weight. A check that fails charges a *penalty* of `weight × fraction`, where
//! `fraction` in 0..1 says how badly it failed:
//!
//! - a yes/no check charges its whole weight (a missing store id, an unknown device);
//! - a per-item check charges `weight / n` for each of the `n` items that fails it, so a basket
//!   where every item fails costs the whole weight;
//! - a confidence check charges `weight × (1 − credit)`, where `credit = min(c / 0.8, 1)` for a
//!   reported confidence `c` (0.8 and above is full credit) and 0.5 for one not reported;
//! - a few checks charge a stated part of their weight (a timestamp taken from the agent's
//!   capture time costs 40% of the timestamp check; see the tables).
//!
//! Every penalty becomes one [`QualityIssue`] naming the check's code, the field, and why. Then
//!
//! ```text
//! score          = 1 − Σ issue.penalty                       (clamped to 0..1)
//! dimension d    = 1 − Σ_{issues of d} penalty / weight(d)
//! score          = 0.40·completeness + 0.35·validity + 0.25·confidence
//! ```
//!
//! The two lines for `score` agree (within 0.0001, the dimensions' rounding) because a check
//! never charges more than its weight, so no dimension needs clamping. Penalties
//! are rounded *down* to 4 decimals (so a check still never exceeds its weight) and a penalty
//! that rounds to 0 is no issue; `score` and the dimensions are rounded to 4 decimals.
//!
//! ## Transaction checks ([`score_transaction`])
//!
//! | dimension | check (weight) | issue codes: what is charged |
//! |---|---|---|
//! | completeness | transaction id (0.05) | `derived_transaction_id`: all |
//! | | device id (0.04), store id (0.03) | `missing_device_id`, `missing_store_id`: all |
//! | | items (0.17) | `no_items`: all |
//! | | item amounts (0.04) | `missing_item_amount`: 1/n per item with no total (computed from unit price × quantity counts as present) |
//! | | total amount (0.02) | `missing_total_amount`: all |
//! | | timestamp (0.05) | `timestamp_from_capture` 40%, `timestamp_unreadable` (capture time stands in) 60%, `timestamp_missing` (no capture time) all |
//! | validity | total not negative (0.05) | `negative_total_amount`: all |
//! | | item amounts not negative (0.06) | `negative_item_amount`: 1/n per item with a negative total or unit price |
//! | | quantities above 0 (0.05) | `non_positive_quantity`: 1/n per item |
//! | | totals consistent (0.07) | `totals_mismatch`: all, when `totals.totalAmount` and the sum of the item totals differ by more than max(₱1, 2%); judged only when the total and every item total are known (no items sum to ₱0) |
//! | | device known (0.07) | `unknown_device`: all ([`Context::device_known`]) |
//! | | timestamp plausible (0.03) | `future_timestamp` (over 10 minutes ahead of [`Context::now`]), `timestamp_before_2015`: all; the payload's timestamp, else the agent's capture time |
//! | | parser repairs (0.02) | `parser_repairs`: 10% per repair not charged above, all from 10 repairs |
//! | confidence | item confidences (0.10) | `low_item_confidence`: 1 − the items' mean credit (no items: all) |
//! | | detected brands (0.08) | `low_detected_brand_confidence`: 1 − the device's detected brands' mean credit (none reported: 50%) |
//! | | matcher (0.07) | `low_matcher_confidence`: 1 − credit of [`Context::matcher_score`] |
//!
//! Without a matcher score its 0.07 is shared out: item confidences weigh 0.25 × 10/18 and
//! detected brands 0.25 × 8/18, so the confidence dimension always weighs 0.25.
//!
//! ## Item checks ([`score_item`])
//!
//! | dimension | check (weight) | issue codes: what is charged |
//! |---|---|---|
//! | completeness | amount (0.20) | `missing_amount`: all |
//! | | brand (0.10) | `missing_brand` (absent, blank or `unknown`): all; waived when the item is unbranded |
//! | | category (0.06), product (0.04) | `missing_category`, `missing_product` (no name, no SKU): all |
//! | validity | amount above 0 (0.15) | `negative_amount`, `zero_amount`: all |
//! | | quantity above 0 (0.10) | `non_positive_quantity`: all |
//! | | price consistent (0.10) | `price_mismatch`: all, when unit price × quantity and the amount differ by more than max(₱1, 2%) |
//! | confidence | brand confidence (0.25) | `low_brand_confidence`: 1 − credit of the detection's confidence |
//!
//! # Guarantees
//!
//! - `score` and every dimension lie in 0..1, for any input (non-finite numbers count as absent).
//! - The issues explain the score: `score == 1 − Σ penalties` (to the 4-decimal rounding), and an
//!   input with no issues scores exactly 1.
//! - Deterministic: the same input and [`Context`] give the same score and the same issues, in
//!   the same order. [`FORMULA_VERSION`] changes whenever a weight or a rule does, so stored
//!   scores say which formula made them.

mod item;
mod transaction;

#[cfg(test)]
mod tests;

use serde::Serialize;

pub use item::{ITEM_CHECKS, ItemFacts, score_item};
pub use transaction::{
    Context, MAX_CLOCK_SKEW_SECS, TOTALS_TOLERANCE_PESO, TOTALS_TOLERANCE_SHARE,
    TRANSACTION_CHECKS, score_transaction,
};

/// Version of the formula; stored with every score.
pub const FORMULA_VERSION: u32 = 1;

/// A reported confidence at or above this earns full credit.
pub const CONFIDENT: f64 = 0.8;

/// The credit given to a confidence that was not reported.
pub const UNKNOWN_CREDIT: f64 = 0.5;

/// The three things a score measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// Is everything there (ids, items, amounts, timestamp)?
    Completeness,
    /// Does what is there make sense (signs, totals, known device, plausible time)?
    Validity,
    /// How sure are the detections (item and brand confidences)?
    Confidence,
}

impl Dimension {
    /// The dimension's share of the score; the three add up to 1.
    pub const fn weight(self) -> f64 {
        match self {
            Self::Completeness => 0.40,
            Self::Validity => 0.35,
            Self::Confidence => 0.25,
        }
    }

    pub const ALL: [Self; 3] = [Self::Completeness, Self::Validity, Self::Confidence];
}

/// One check of the formula: its stable name, its dimension and the most it can cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Check {
    pub name: &'static str,
    pub dimension: Dimension,
    pub weight: f64,
}

/// One reason a score is below 1.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualityIssue {
    /// Stable, snake_case (`negative_item_amount`); what dashboards group by.
    pub code: &'static str,
    pub dimension: Dimension,
    /// JSON path of the field concerned (`items[1].totalPrice`), as in the parser's repairs.
    pub field: String,
    /// For a person: what was found.
    pub message: String,
    /// What this issue took off the score (0..1).
    pub penalty: f64,
}

/// The score of each dimension, 0..1 (1 = nothing charged).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Dimensions {
    pub completeness: f64,
    pub validity: f64,
    pub confidence: f64,
}

impl Dimensions {
    pub fn get(&self, dimension: Dimension) -> f64 {
        match dimension {
            Dimension::Completeness => self.completeness,
            Dimension::Validity => self.validity,
            Dimension::Confidence => self.confidence,
        }
    }
}

/// A record's quality: the score, its dimensions, and the issues that explain it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QualityScore {
    /// 0..1; `1 − Σ issues[].penalty`.
    pub score: f64,
    pub dimensions: Dimensions,
    pub issues: Vec<QualityIssue>,
    pub formula_version: u32,
}

impl QualityScore {
    /// Whether any issue has this code.
    pub fn has(&self, code: &str) -> bool {
        self.issues.iter().any(|i| i.code == code)
    }

    /// The sum of the penalties of the issues with this code.
    pub fn penalty_of(&self, code: &str) -> f64 {
        self.issues
            .iter()
            .filter(|i| i.code == code)
            .map(|i| i.penalty)
            .sum()
    }
}

/// Collects penalties while the checks run, then sums them into a [`QualityScore`].
#[derive(Debug, Default)]
struct Charges {
    issues: Vec<QualityIssue>,
}

impl Charges {
    /// Charges `check.weight × fraction` (fraction clamped to 0..1, penalty rounded down to 4
    /// decimals); nothing is recorded when that is 0.
    fn charge(
        &mut self,
        check: &Check,
        code: &'static str,
        field: impl Into<String>,
        message: impl Into<String>,
        fraction: f64,
    ) {
        let fraction = if fraction.is_finite() {
            fraction.clamp(0.0, 1.0)
        } else {
            1.0
        };
        let penalty = floor4(check.weight * fraction);
        if penalty > 0.0 {
            self.issues.push(QualityIssue {
                code,
                dimension: check.dimension,
                field: field.into(),
                message: message.into(),
                penalty,
            });
        }
    }

    fn finish(self) -> QualityScore {
        let charged = |d: Dimension| -> f64 {
            self.issues
                .iter()
                .filter(|i| i.dimension == d)
                .map(|i| i.penalty)
                .sum()
        };
        let dimension = |d: Dimension| round4((1.0 - charged(d) / d.weight()).clamp(0.0, 1.0));
        let total: f64 = self.issues.iter().map(|i| i.penalty).sum();
        QualityScore {
            score: round4((1.0 - total).clamp(0.0, 1.0)),
            dimensions: Dimensions {
                completeness: dimension(Dimension::Completeness),
                validity: dimension(Dimension::Validity),
                confidence: dimension(Dimension::Confidence),
            },
            issues: self.issues,
            formula_version: FORMULA_VERSION,
        }
    }
}

/// The credit a confidence earns: `min(c / CONFIDENT, 1)`, [`UNKNOWN_CREDIT`] when not reported.
pub fn credit(confidence: Option<f64>) -> f64 {
    match finite(confidence) {
        Some(c) => (c / CONFIDENT).clamp(0.0, 1.0),
        None => UNKNOWN_CREDIT,
    }
}

/// A number, unless it is absent or not finite.
fn finite(x: Option<f64>) -> Option<f64> {
    x.filter(|v| v.is_finite())
}

/// Whether two amounts agree within `max(₱1, 2%)` of the larger.
fn amounts_agree(a: f64, b: f64) -> bool {
    (a - b).abs() <= tolerance(a, b)
}

fn tolerance(a: f64, b: f64) -> f64 {
    TOTALS_TOLERANCE_PESO.max(TOTALS_TOLERANCE_SHARE * a.abs().max(b.abs()))
}

/// Rounds down to 4 decimals (a hair of slack absorbs binary noise such as 0.0299999…).
fn floor4(x: f64) -> f64 {
    ((x * 10_000.0) + 1e-6).floor() / 10_000.0
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// `₱12.50`, `-₱3.00`, for messages.
fn peso(x: f64) -> String {
    // `+ 0.0` turns −0 (the sum of no items) into 0.
    let x = x + 0.0;
    if x < 0.0 {
        format!("-₱{:.2}", -x)
    } else {
        format!("₱{x:.2}")
    }
}
