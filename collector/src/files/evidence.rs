//! What a column's values, and a few of its header's words, say about its field: payment
//! methods, genders, dates and times, Unix times and spreadsheet day numbers, sale and void
//! words; and what rules a field out (numbers that are not, stock and costs that are not sales).

use super::infer::{ColumnType, SchemaInference};
use super::words::{self, GENDER_VALUES, PAYMENT_VALUES, Target};
use super::{Cell, Row};

/// What the values say a column is.
pub(super) struct ValueEvidence {
    pub(super) payment: f64,
    pub(super) gender: f64,
    pub(super) numeric: bool,
    pub(super) integer_like: bool,
    pub(super) ages: bool,
    pub(super) datelike: bool,
    pub(super) has_time: bool,
    pub(super) time_only: bool,
    /// Decimals from 0 to 1: times of day as spreadsheets store them (0.5 is noon).
    pub(super) day_fractions: bool,
    /// Whole numbers that read as Unix times in seconds or milliseconds (years 2001 to 2100).
    pub(super) epoch: bool,
    pub(super) money_marked: bool,
    /// Share of values that are sale, return or void words, and whether a return or a void
    /// is among them (a column of `SALE` alone changes nothing).
    pub(super) line_kinds: f64,
    pub(super) not_all_sales: bool,
    /// Numbers that read as spreadsheet day numbers of the years 2000 to 2099 (a date cell
    /// saved without its date style).
    pub(super) serials: bool,
}

pub(super) fn value_evidence(
    index: usize,
    rows: &[Row],
    schema: &SchemaInference,
) -> ValueEvidence {
    let column = &schema.columns[index];
    let texts: Vec<String> = rows
        .iter()
        .filter_map(|r| r.cells.get(index))
        .filter(|c| !c.is_empty())
        .map(|c| c.display().to_lowercase())
        .collect();
    let share = |set: &[&str]| {
        if texts.is_empty() {
            0.0
        } else {
            texts.iter().filter(|t| set.contains(&t.trim())).count() as f64 / texts.len() as f64
        }
    };
    let numeric = matches!(column.kind, ColumnType::Integer | ColumnType::Decimal);
    let ages = column.kind == ColumnType::Integer
        && rows
            .iter()
            .filter_map(|r| r.cells.get(index))
            .all(|c| match c {
                Cell::Int(i) => (5..=110).contains(i),
                Cell::Text(s) => s
                    .trim()
                    .parse::<i64>()
                    .is_ok_and(|i| (5..=110).contains(&i)),
                Cell::Empty => true,
                _ => false,
            });
    ValueEvidence {
        payment: share(&PAYMENT_VALUES),
        gender: share(&GENDER_VALUES),
        numeric,
        integer_like: column.kind == ColumnType::Integer,
        ages,
        datelike: matches!(column.kind, ColumnType::Date | ColumnType::Timestamp),
        has_time: column.kind == ColumnType::Timestamp,
        time_only: column.kind == ColumnType::Time,
        day_fractions: column.kind == ColumnType::Decimal
            && texts.iter().all(|t| {
                t.trim()
                    .parse::<f64>()
                    .is_ok_and(|f| (0.0..1.0).contains(&f))
            }),
        epoch: column.kind == ColumnType::Integer
            && !texts.is_empty()
            && texts.iter().all(|t| {
                t.trim().parse::<i64>().is_ok_and(|n| {
                    (1_000_000_000..4_102_444_800).contains(&n)
                        || (1_000_000_000_000..4_102_444_800_000).contains(&n)
                })
            }),
        money_marked: column.currency_marked > 0,
        serials: numeric
            && !texts.is_empty()
            && texts.iter().all(|t| {
                t.trim()
                    .parse::<f64>()
                    .is_ok_and(|n| (36_526.0..73_051.0).contains(&n))
            }),
        line_kinds: if texts.is_empty() {
            0.0
        } else {
            texts
                .iter()
                .filter(|t| words::line_kind(t).is_some())
                .count() as f64
                / texts.len() as f64
        },
        not_all_sales: texts
            .iter()
            .any(|t| words::line_kind(t).is_some_and(|k| k != words::LineKind::Sale)),
    }
}

/// Adjusts a header score by what the values say; `None` when the values rule the field out.
pub(super) fn with_values(
    target: Target,
    score: f64,
    v: &ValueEvidence,
    kind: ColumnType,
) -> (f64, String) {
    let empty = kind == ColumnType::Empty;
    match target {
        t if t.numeric() && !v.numeric && !empty => {
            // An age bracket (`25-34`) is text and still an age.
            if t == Target::CustomerAge && kind == ColumnType::String {
                (score - 0.05, "values are brackets".into())
            } else {
                (score - 0.45, "values are not numbers".into())
            }
        }
        Target::Quantity if v.money_marked => (score - 0.3, "values carry a currency".into()),
        Target::Timestamp | Target::Date
            if !v.datelike && !v.integer_like && !v.serials && !empty =>
        {
            (score - 0.45, "values are not dates".into())
        }
        Target::Timestamp if v.time_only => (score - 0.3, "values are times of day".into()),
        Target::Time if !(v.time_only || v.has_time || v.day_fractions || empty) => {
            (score - 0.4, "values are not times".into())
        }
        Target::LineStatus if v.line_kinds >= 0.9 && v.not_all_sales => (
            (score + 0.15).min(0.99),
            "values are sale, return and void words".into(),
        ),
        Target::LineStatus => (score - 0.5, "values are not sale or void words".into()),
        Target::PaymentMethod if v.payment >= 0.6 => (
            (score + 0.05).min(0.99),
            "values are payment methods".into(),
        ),
        Target::Gender if v.gender >= 0.8 => {
            ((score + 0.03).min(0.99), "values are genders".into())
        }
        Target::CustomerAge if v.ages => ((score + 0.02).min(0.99), "values are ages".into()),
        t if t.numeric() && v.numeric => ((score + 0.02).min(0.99), "numeric values".into()),
        Target::Timestamp | Target::Date if v.datelike => {
            ((score + 0.03).min(0.99), "values are dates".into())
        }
        _ => (score, String::new()),
    }
}

/// Why a header's money or count is not a sale's, if it is not: stock on hand, inventory and
/// balances count what is on the shelf, costs are what the store paid.
pub(super) fn not_a_sale(header: &str, target: Target) -> Option<&'static str> {
    if !matches!(
        target,
        Target::Quantity | Target::UnitPrice | Target::TotalAmount
    ) {
        return None;
    }
    let words: Vec<&str> = header.split(' ').collect();
    let has = |w: &str| words.contains(&w);
    if has("stock")
        || has("inventory")
        || has("soh")
        || has("onhand")
        || has("balance")
        || has("reorder")
        || has("beginning")
        || has("ending")
        || header.contains("on hand")
    {
        Some("a stock figure, not a sale")
    } else if has("cost") || has("costs") || has("puhunan") {
        Some("a cost, not a selling price")
    } else {
        None
    }
}
