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

use super::evidence::{not_a_sale, value_evidence, with_values};
use super::infer::{self, ColumnType, SchemaInference, is_summary_row};
use super::values;
use super::words::{self, Target, VOCABULARY};
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
