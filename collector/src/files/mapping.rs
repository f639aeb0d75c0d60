//! Column mapping: which canonical sales field each column holds, from two kinds of evidence.
//! The header (normalised, compared with the vocabulary in `words.rs`: exactly, as a phrase
//! within it, or as a near spelling) and the values (a column of GCash/cash/Maya is a payment
//! method whatever its header; a column of dates is a timestamp; an "Amount" column of names is
//! not an amount). Each column gets a confidence; columns are assigned greedily, best pair
//! first, one column per field. `mapping_confidence` is the mean confidence of the mapped
//! columns, lowered when no amount or no date is mapped; below [`REVIEW_THRESHOLD`] a person
//! confirms the mapping before anything lands. [`header_fingerprint`] keys confirmed mappings for reuse.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::infer::{self, ColumnType, SchemaInference, is_summary_row};
use super::values;
use super::words::{self, GENDER_VALUES, PAYMENT_VALUES, Target, VOCABULARY};
use super::{Cell, Row};

/// Below this `mapping_confidence` the file waits for review (`needs_review`).
pub const REVIEW_THRESHOLD: f64 = 0.8;

/// Lowest confidence at which a column is mapped at all.
const MIN_COLUMN_CONFIDENCE: f64 = 0.6;

/// One column's proposed field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnMapping {
    pub source: String,
    pub target: Target,
    pub confidence: f64,
    pub evidence: String,
    #[serde(skip)]
    pub index: usize,
}

/// The contract's `column_mappings` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MappingProposal {
    pub mapping_confidence: f64,
    pub column_mappings: Vec<ColumnMapping>,
    pub unmapped: Vec<String>,
    pub header_fingerprint: String,
    pub needs_review: bool,
}

impl MappingProposal {
    pub fn needs_review(&self) -> bool {
        self.needs_review
    }

    /// The column holding `target`, if mapped.
    pub fn column_of(&self, target: Target) -> Option<usize> {
        self.column_mappings
            .iter()
            .find(|m| m.target == target)
            .map(|m| m.index)
    }

    /// Every column mapped to `target` (several for a target that [repeats](Target::repeats)).
    pub fn columns_of(&self, target: Target) -> impl Iterator<Item = usize> + '_ {
        self.column_mappings
            .iter()
            .filter(move |m| m.target == target)
            .map(|m| m.index)
    }

    /// The header of column `index`, if mapped.
    pub fn source_of(&self, index: usize) -> Option<&str> {
        self.column_mappings
            .iter()
            .find(|m| m.index == index)
            .map(|m| m.source.as_str())
    }

    /// The same mapping with each column found again in `columns` by its header (as written,
    /// else normalised), as a mapping read back from storage needs.
    pub fn bound_to(mut self, columns: &[String]) -> Result<Self, String> {
        for m in &mut self.column_mappings {
            m.index = find_column(columns, &m.source)?;
            m.source = columns[m.index].clone();
        }
        self.unmapped = columns
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.column_mappings.iter().any(|m| m.index == *i))
            .map(|(_, c)| c.clone())
            .collect();
        Ok(self)
    }

    /// A mapping an operator confirmed (`source header → target`), for a file with `columns`.
    /// Headers are matched as written or normalised; unknown headers are an error.
    pub fn confirmed(columns: &[String], pairs: &[(String, Target)]) -> Result<Self, String> {
        let mut column_mappings = Vec::new();
        for (source, target) in pairs {
            let index = find_column(columns, source)?;
            column_mappings.push(ColumnMapping {
                source: columns[index].clone(),
                target: *target,
                confidence: 1.0,
                evidence: "confirmed by an operator".into(),
                index,
            });
        }
        let unmapped = columns
            .iter()
            .enumerate()
            .filter(|(i, _)| !column_mappings.iter().any(|m| m.index == *i))
            .map(|(_, c)| c.clone())
            .collect();
        Ok(Self {
            mapping_confidence: 1.0,
            column_mappings,
            unmapped,
            header_fingerprint: header_fingerprint(columns),
            needs_review: false,
        })
    }
}

fn find_column(columns: &[String], source: &str) -> Result<usize, String> {
    let wanted = words::normalise(source);
    columns
        .iter()
        .position(|c| c == source)
        .or_else(|| columns.iter().position(|c| words::normalise(c) == wanted))
        .ok_or_else(|| format!("no column `{source}` in the file"))
}

/// A stable key of a header: SHA-256 over the normalised names in order (hex, 16 bytes).
pub fn header_fingerprint(columns: &[String]) -> String {
    let mut hasher = Sha256::new();
    for c in columns {
        hasher.update(words::normalise(c).as_bytes());
        hasher.update([0x1f]);
    }
    hex::encode(&hasher.finalize()[..16])
}

/// Whether `phrase` occurs in `header` as whole words.
fn contains_words(header: &str, phrase: &str) -> bool {
    header.match_indices(phrase).any(|(at, _)| {
        let before = at == 0 || header.as_bytes()[at - 1] == b' ';
        let end = at + phrase.len();
        let after = end == header.len() || header.as_bytes()[end] == b' ';
        before && after
    })
}

/// How well a normalised header names `phrase`'s field: exact, as whole words within it, or as
/// a near spelling of it.
fn header_score(
    header: &str,
    header_words: usize,
    phrase: &str,
    strength: f64,
) -> Option<(f64, &'static str)> {
    if header == phrase {
        return Some((strength, "header"));
    }
    if phrase.len() < header.len() && contains_words(header, phrase) {
        let phrase_words = phrase.bytes().filter(|b| *b == b' ').count() + 1;
        let extra = header_words.saturating_sub(phrase_words) as f64;
        // A one-word phrase inside a long header is weak evidence (`id` in `customer id`).
        let base = if phrase_words == 1 && strength < 0.8 {
            0.3
        } else {
            strength
        };
        return Some(((base - 0.03 - 0.03 * extra).max(0.0), "header contains"));
    }
    // A near spelling: similar length, same first letter (Jaro-Winkler weighs the start).
    if header.len() >= 4
        && phrase.len() >= 4
        && header.len().abs_diff(phrase.len()) <= 2
        && header.as_bytes()[0] == phrase.as_bytes()[0]
        && strsim::jaro_winkler(header, phrase) >= 0.93
    {
        return Some((strength * 0.92, "header spelled like"));
    }
    None
}

/// The best header evidence per target for one column.
fn header_candidates(header: &str) -> Vec<(Target, f64, String)> {
    let mut out: Vec<(Target, f64, String)> = Vec::new();
    if header.is_empty() {
        return out;
    }
    let words = header.bytes().filter(|b| *b == b' ').count() + 1;
    for (target, phrases) in VOCABULARY {
        let best = phrases
            .iter()
            .filter_map(|(p, s)| {
                header_score(header, words, p, *s).map(|(score, how)| (score, how, *p))
            })
            .max_by(|a, b| a.0.total_cmp(&b.0));
        if let Some((score, how, phrase)) = best {
            out.push((*target, score, format!("{how} \"{phrase}\"")));
        }
    }
    out
}

/// What the values say a column is.
struct ValueEvidence {
    payment: f64,
    gender: f64,
    numeric: bool,
    integer_like: bool,
    ages: bool,
    datelike: bool,
    has_time: bool,
    time_only: bool,
    /// Decimals from 0 to 1: times of day as spreadsheets store them (0.5 is noon).
    day_fractions: bool,
    /// Whole numbers that read as Unix times in seconds or milliseconds (years 2001 to 2100).
    epoch: bool,
    money_marked: bool,
    /// Share of values that are sale, return or void words, and whether a return or a void
    /// is among them (a column of `SALE` alone changes nothing).
    line_kinds: f64,
    not_all_sales: bool,
    /// Numbers that read as spreadsheet day numbers of the years 2000 to 2099 (a date cell
    /// saved without its date style).
    serials: bool,
}

fn value_evidence(index: usize, rows: &[Row], schema: &SchemaInference) -> ValueEvidence {
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
fn with_values(target: Target, score: f64, v: &ValueEvidence, kind: ColumnType) -> (f64, String) {
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
fn not_a_sale(header: &str, target: Target) -> Option<&'static str> {
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

/// How much a line item's own field (`items.subtotal`) is preferred over the record's field of
/// the same meaning (`order_total`) for an item-level target: rows are items, so a record's
/// total repeated on each of them is not the item's.
const ITEM_FIELD_BONUS: f64 = 0.08;

/// Proposes a mapping for a table from its headers, its sample and its schema. `items_key` is
/// the nested array whose elements became the rows (`items`), when there is one: its fields are
/// `items.…` columns.
pub fn propose(
    columns: &[String],
    rows: &[Row],
    schema: &SchemaInference,
    items_key: Option<&str>,
) -> MappingProposal {
    let item_prefix = items_key.map(|k| format!("{k}."));
    // Every (column, target) pair with its confidence and evidence.
    let mut pairs: Vec<(f64, usize, Target, String)> = Vec::new();
    for (index, source) in columns.iter().enumerate() {
        // A line item's field reads as the item's, whatever the array is called
        // (`lines.name` is the item's name).
        let header = match item_prefix.as_deref().and_then(|p| source.strip_prefix(p)) {
            Some(field) => words::normalise(&format!("item.{field}")),
            None => words::normalise(source),
        };
        let kind = schema
            .columns
            .get(index)
            .map_or(ColumnType::Empty, |c| c.kind);
        let values = value_evidence(index, rows, schema);
        let item_field = item_prefix
            .as_deref()
            .is_some_and(|p| source.starts_with(p));
        for (target, score, why) in header_candidates(&header) {
            let (mut score, value_why) = with_values(target, score, &values, kind);
            let mut evidence = if value_why.is_empty() {
                why
            } else {
                format!("{why}; {value_why}")
            };
            if let Some(why) = not_a_sale(&header, target) {
                score -= 0.5;
                evidence.push_str("; ");
                evidence.push_str(why);
            }
            if item_field && target.is_item_level() {
                score = (score + ITEM_FIELD_BONUS).min(0.99);
                evidence.push_str("; a line item's field");
            }
            pairs.push((score, index, target, evidence));
        }
        // Value evidence alone (the better of the two pairs wins in the assignment below).
        if values.payment >= 0.6 {
            let share = values.payment;
            pairs.push((
                0.8 + 0.15 * share,
                index,
                Target::PaymentMethod,
                format!("{:.0}% of values are payment methods", share * 100.0),
            ));
        }
        if values.line_kinds >= 0.9 && values.not_all_sales {
            pairs.push((
                0.88,
                index,
                Target::LineStatus,
                "values are sale, return and void words".into(),
            ));
        }
        if values.gender >= 0.9 {
            pairs.push((0.85, index, Target::Gender, "values are genders".into()));
        }
        if values.datelike {
            pairs.push((0.82, index, Target::Timestamp, "values are dates".into()));
        }
        if values.time_only {
            pairs.push((0.8, index, Target::Time, "values are times of day".into()));
        }
        // Unix times and spreadsheet day numbers, where the header speaks of time
        // (`event_time_ms`, `created_at`, `ts`): a column of large ids would read as either.
        let speaks_of_time = header.split(' ').any(|w| {
            matches!(
                w,
                "time"
                    | "timestamp"
                    | "ts"
                    | "epoch"
                    | "unix"
                    | "date"
                    | "day"
                    | "at"
                    | "created"
                    | "posted"
                    | "oras"
                    | "petsa"
                    | "araw"
            )
        });
        if values.epoch && speaks_of_time {
            pairs.push((
                0.84,
                index,
                Target::Timestamp,
                "values are Unix times".into(),
            ));
        }
        if values.serials && speaks_of_time {
            pairs.push((
                0.86,
                index,
                Target::Timestamp,
                "values are spreadsheet day numbers".into(),
            ));
        }
    }
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut mapped: Vec<ColumnMapping> = Vec::new();
    for (confidence, index, target, evidence) in pairs {
        if confidence < MIN_COLUMN_CONFIDENCE {
            break;
        }
        if mapped
            .iter()
            .any(|m| m.index == index || (m.target == target && !target.repeats()))
        {
            continue;
        }
        mapped.push(ColumnMapping {
            source: columns[index].clone(),
            target,
            confidence: (confidence * 100.0).round() / 100.0,
            evidence,
            index,
        });
    }
    // A separate time column makes the timestamp column a date.
    if mapped.iter().any(|m| m.target == Target::Time)
        && let Some(m) = mapped.iter_mut().find(|m| m.target == Target::Timestamp)
    {
        let dates_only = schema
            .columns
            .get(m.index)
            .is_some_and(|c| c.kind != ColumnType::Timestamp);
        if dates_only {
            m.target = Target::Date;
        }
    }
    mapped.sort_by_key(|m| m.index);
    let mut confidence = if mapped.is_empty() {
        0.0
    } else {
        mapped.iter().map(|m| m.confidence).sum::<f64>() / mapped.len() as f64
    };
    let has_amount = mapped
        .iter()
        .any(|m| matches!(m.target, Target::TotalAmount | Target::UnitPrice));
    if !has_amount {
        confidence *= 0.6;
    }
    // Without a date, every row would be dated the day of the import: a person decides.
    let has_date = mapped
        .iter()
        .any(|m| matches!(m.target, Target::Timestamp | Target::Date));
    if !has_date && !mapped.is_empty() {
        confidence *= 0.75;
    }
    let unmapped = columns
        .iter()
        .enumerate()
        .filter(|(i, _)| !mapped.iter().any(|m| m.index == *i))
        .map(|(_, c)| c.clone())
        .collect();
    let mapping_confidence = (confidence * 100.0).round() / 100.0;
    MappingProposal {
        mapping_confidence,
        needs_review: mapping_confidence < REVIEW_THRESHOLD,
        column_mappings: mapped,
        unmapped,
        header_fingerprint: header_fingerprint(columns),
    }
}

/// Adds the issues that depend on what columns mean: empty and duplicate transaction ids (a
/// duplicate only where rows are transactions, not items), negative amounts, non-positive
/// quantities; and rescores.
pub fn add_mapped_issues(schema: &mut SchemaInference, mapping: &MappingProposal, rows: &[Row]) {
    let column = |t: Target| mapping.column_of(t);
    let rows: Vec<&Row> = rows.iter().filter(|r| !is_summary_row(r)).collect();
    let mut found = Vec::new();
    // The lines of the rows whose cell `c` passes `test`.
    let lines = |c: usize, test: &mut dyn FnMut(&Cell) -> bool| -> Vec<u64> {
        rows.iter()
            .filter(|r| r.cells.get(c).is_some_and(&mut *test))
            .map(|r| r.line)
            .collect()
    };
    let line_items = column(Target::Product).is_some()
        || column(Target::Sku).is_some()
        || column(Target::Brand).is_some();
    if let Some(c) = column(Target::TransactionId) {
        // A missing cell is an empty id too.
        let empty: Vec<u64> = rows
            .iter()
            .filter(|r| r.cells.get(c).is_none_or(Cell::is_empty))
            .map(|r| r.line)
            .collect();
        found.push(("empty_ids", c, empty));
        if !line_items {
            let mut seen = HashSet::new();
            let duplicate = lines(c, &mut |x| !x.is_empty() && !seen.insert(x.display()));
            found.push(("duplicate_ids", c, duplicate));
        }
    }
    for target in [Target::TotalAmount, Target::UnitPrice] {
        let Some(c) = column(target) else { continue };
        let reading = schema.readings.get(c).copied().unwrap_or_default();
        let negative = lines(c, &mut |x| {
            values::cell_money(x, reading).is_some_and(|m| m < 0)
        });
        found.push(("negative_amounts", c, negative));
    }
    if let Some(c) = column(Target::Quantity) {
        let reading = schema.readings.get(c).copied().unwrap_or_default();
        let bad = lines(c, &mut |x| {
            values::cell_number(x, reading).is_some_and(|q| q <= 0.0)
        });
        found.push(("non_positive_quantities", c, bad));
    }
    for (kind, c, lines) in found {
        if !lines.is_empty() {
            let first = lines.iter().take(3).copied().collect();
            let name = mapping.source_of(c);
            let issue = infer::issue(kind, name, lines.len(), rows.len(), first);
            schema.issues.push(issue);
        }
    }
    schema.rescore(schema.columns.len());
}
