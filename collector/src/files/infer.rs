//! Schema inference over a file's sample: per column its type, nullability, uniqueness and
//! examples, the reading of its text (decimal comma, day order), and the file's quality: a
//! `qualityScore` in 0..1 explained by `issues`, each naming its column and count.
//!
//! The score is `1 − Σ penalty`, each issue's penalty being its weight times the share of rows
//! it touches (at most the weight); weights are in [`weight`]. Issues that need to know what a
//! column means (ids, amounts, quantities) are added once the mapping is known
//! (`mapping::add_mapped_issues`).

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::values::{self, ColumnReading, ColumnReadings};
use super::{Cell, Row, when};

/// A column's inferred type (`schema_inference.columns[].type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    String,
    Integer,
    Decimal,
    Boolean,
    Date,
    Timestamp,
    /// Time of day only (`14:05`).
    Time,
    Json,
    /// No values in the sample.
    Empty,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ColumnSchema {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ColumnType,
    pub nullable: bool,
    pub null_count: usize,
    pub distinct_count: usize,
    pub unique: bool,
    pub examples: Vec<String>,
    /// Values carrying a currency mark (`₱`, `PHP`).
    pub currency_marked: usize,
    #[serde(flatten)]
    pub reading: ColumnReading,
}

/// One finding about the file's data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Issue {
    /// `missing_values`, `empty_ids`, `duplicate_ids`, `duplicate_rows`, `negative_amounts`,
    /// `non_positive_quantities`, `summary_rows`, `unparseable_values`, `ambiguous_date_order`.
    pub kind: &'static str,
    pub column: Option<String>,
    pub count: usize,
    pub penalty: f64,
    /// Up to three 1-based lines (or rows) where it was seen.
    pub lines: Vec<u64>,
}

/// The contract's `schema_inference`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaInference {
    pub columns: Vec<ColumnSchema>,
    pub sample_rows: usize,
    pub quality_score: f64,
    pub issues: Vec<Issue>,
    #[serde(skip)]
    pub readings: ColumnReadings,
}

/// The weight of an issue kind: the most it can take off the score.
pub fn weight(kind: &str) -> f64 {
    match kind {
        "empty_ids" | "duplicate_ids" => 0.25,
        "unparseable_values" => 0.2,
        "duplicate_rows" | "negative_amounts" | "non_positive_quantities" => 0.15,
        "missing_values" | "summary_rows" => 0.1,
        "ambiguous_date_order" => 0.05,
        _ => 0.1,
    }
}

/// Words that mark a summary row instead of a sale.
const SUMMARY_WORDS: [&str; 14] = [
    "total",
    "kabuuang",
    "overall total",
    "net total",
    "gross total",
    "subtotals",
    "grand total",
    "subtotal",
    "sub-total",
    "sub total",
    "kabuuan",
    "kabuuang halaga",
    "totals",
    "total sales",
];

/// Whether a cell's text marks its row as a total or subtotal line.
pub fn is_summary_text(cell: &Cell) -> bool {
    let Cell::Text(s) = cell else { return false };
    let t = s.trim().trim_end_matches(':').to_lowercase();
    SUMMARY_WORDS
        .iter()
        .any(|w| t == *w || t.starts_with(&format!("{w} ")))
}

/// Whether a row is a summary row: a summary word in one of its first cells or alone.
pub fn is_summary_row(row: &Row) -> bool {
    row.cells.iter().take(3).any(is_summary_text)
        || (row.cells.iter().filter(|c| !c.is_empty()).count() <= 2
            && row.cells.iter().any(is_summary_text))
}

#[derive(Default)]
struct Tally {
    int: usize,
    decimal: usize,
    boolean: usize,
    date: usize,
    timestamp: usize,
    time: usize,
    json: usize,
    text: usize,
}

fn classify(cell: &Cell, reading: ColumnReading, t: &mut Tally) {
    match cell {
        Cell::Int(_) => t.int += 1,
        Cell::Float(f) if f.fract() == 0.0 => t.int += 1,
        Cell::Float(_) => t.decimal += 1,
        Cell::Bool(_) => t.boolean += 1,
        Cell::Naive(d) if d.time() == chrono::NaiveTime::MIN => t.date += 1,
        Cell::Naive(_) | Cell::Instant(_) => t.timestamp += 1,
        Cell::Empty => {}
        Cell::Text(s) => {
            let s = s.trim();
            let lower = s.to_ascii_lowercase();
            if matches!(lower.as_str(), "true" | "false" | "yes" | "no" | "y" | "n") {
                t.boolean += 1;
            } else if s.bytes().all(|b| b.is_ascii_digit() || b == b'-')
                && s.len() < 19
                && s.parse::<i64>().is_ok()
            {
                t.int += 1;
            } else if values::parse_money(s, reading.decimal_comma).is_some() {
                t.decimal += 1;
            } else if let Some(n) = values::parse_number(s, reading.decimal_comma) {
                // A count with its unit (`2 pcs`, `1.5 kg`).
                if n.fract() == 0.0 {
                    t.int += 1;
                } else {
                    t.decimal += 1;
                }
            } else if let Some(w) = when::parse_when(s, reading.date_order) {
                if w.has_time() {
                    t.timestamp += 1;
                } else {
                    t.date += 1;
                }
            } else if when::parse_time(s).is_some() && s.contains(':') {
                t.time += 1;
            } else if (s.starts_with('{') || s.starts_with('['))
                && serde_json::from_str::<serde_json::Value>(s).is_ok()
            {
                t.json += 1;
            } else {
                t.text += 1;
            }
        }
    }
}

/// Infers the schema of a sample and the issues visible without knowing what columns mean.
pub fn infer(columns: &[String], rows: &[Row]) -> SchemaInference {
    let mut schemas = Vec::with_capacity(columns.len());
    let mut readings = Vec::with_capacity(columns.len());
    let mut issues = Vec::new();
    for (i, name) in columns.iter().enumerate() {
        let cells = || rows.iter().filter_map(move |r| r.cells.get(i));
        let reading = ColumnReading::decide(cells());
        let mut tally = Tally::default();
        let mut distinct: HashSet<String> = HashSet::new();
        let mut examples = Vec::new();
        let mut nulls = 0;
        let mut nulls_at = Vec::new();
        let mut currency = 0;
        for (row, cell) in rows.iter().zip(cells()) {
            if cell.is_empty() {
                nulls += 1;
                if nulls_at.len() < 3 {
                    nulls_at.push(row.line);
                }
                continue;
            }
            classify(cell, reading, &mut tally);
            let text = cell.display();
            if text.contains('₱') || text.to_ascii_uppercase().starts_with("PHP") {
                currency += 1;
            }
            if distinct.len() < 100_000 && distinct.insert(text.clone()) && examples.len() < 3 {
                examples.push(text);
            }
        }
        let filled = rows.len() - nulls;
        let (kind, odd) = decide(&tally, filled);
        if nulls > 0 {
            issues.push(issue(
                "missing_values",
                Some(name),
                nulls,
                rows.len(),
                nulls_at,
            ));
        }
        if odd > 0 {
            issues.push(issue(
                "unparseable_values",
                Some(name),
                odd,
                rows.len(),
                Vec::new(),
            ));
        }
        if reading.date_order_guessed && matches!(kind, ColumnType::Date | ColumnType::Timestamp) {
            // Every day is ≤ 12: `03/04/2025` is read month first, which nothing confirmed.
            issues.push(issue(
                "ambiguous_date_order",
                Some(name),
                filled,
                rows.len(),
                Vec::new(),
            ));
        }
        schemas.push(ColumnSchema {
            name: name.clone(),
            kind,
            nullable: nulls > 0,
            null_count: nulls,
            distinct_count: distinct.len(),
            unique: filled > 0 && distinct.len() == filled,
            examples,
            currency_marked: currency,
            reading,
        });
        readings.push(reading);
    }
    let mut seen: HashMap<Vec<String>, u64> = HashMap::new();
    let (mut duplicates, mut duplicate_at) = (0, Vec::new());
    let (mut summaries, mut summary_at) = (0, Vec::new());
    for row in rows {
        if is_summary_row(row) {
            summaries += 1;
            if summary_at.len() < 3 {
                summary_at.push(row.line);
            }
            continue;
        }
        let key: Vec<String> = row.cells.iter().map(Cell::display).collect();
        if seen.insert(key, row.line).is_some() {
            duplicates += 1;
            if duplicate_at.len() < 3 {
                duplicate_at.push(row.line);
            }
        }
    }
    if duplicates > 0 {
        issues.push(issue(
            "duplicate_rows",
            None,
            duplicates,
            rows.len(),
            duplicate_at,
        ));
    }
    if summaries > 0 {
        issues.push(issue(
            "summary_rows",
            None,
            summaries,
            rows.len(),
            summary_at,
        ));
    }
    let mut inference = SchemaInference {
        columns: schemas,
        sample_rows: rows.len(),
        quality_score: 1.0,
        issues,
        readings,
    };
    inference.rescore(columns.len());
    inference
}

/// The column's type and how many of its values do not fit it.
fn decide(t: &Tally, filled: usize) -> (ColumnType, usize) {
    if filled == 0 {
        return (ColumnType::Empty, 0);
    }
    let numeric = t.int + t.decimal;
    let dates = t.date + t.timestamp;
    let candidates = [
        (ColumnType::Boolean, t.boolean),
        (
            if t.decimal > 0 {
                ColumnType::Decimal
            } else {
                ColumnType::Integer
            },
            numeric,
        ),
        (
            if t.timestamp > 0 {
                ColumnType::Timestamp
            } else {
                ColumnType::Date
            },
            dates,
        ),
        (ColumnType::Time, t.time),
        (ColumnType::Json, t.json),
    ];
    let (kind, count) = candidates
        .into_iter()
        .max_by_key(|(_, c)| *c)
        .unwrap_or((ColumnType::String, 0));
    if count * 10 >= filled * 8 {
        (kind, filled - count)
    } else {
        (ColumnType::String, 0)
    }
}

pub(super) fn issue(
    kind: &'static str,
    column: Option<&str>,
    count: usize,
    rows: usize,
    lines: Vec<u64>,
) -> Issue {
    Issue {
        kind,
        column: column.map(str::to_owned),
        count,
        penalty: weight(kind) * (count as f64 / rows.max(1) as f64).min(1.0),
        lines,
    }
}

impl SchemaInference {
    /// Recomputes the score from the issues; per-column kinds share their weight among columns.
    pub(super) fn rescore(&mut self, width: usize) {
        let rows = self.sample_rows.max(1);
        let mut total = 0.0;
        for issue in &mut self.issues {
            let mut penalty = weight(issue.kind) * (issue.count as f64 / rows as f64).min(1.0);
            if matches!(
                issue.kind,
                "missing_values" | "unparseable_values" | "ambiguous_date_order"
            ) {
                penalty /= width.max(1) as f64;
            }
            issue.penalty = (penalty * 10_000.0).round() / 10_000.0;
            total += issue.penalty;
        }
        self.quality_score = ((1.0 - total).clamp(0.0, 1.0) * 10_000.0).round() / 10_000.0;
    }
}
