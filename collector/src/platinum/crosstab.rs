//! Cross-tabs: rows × columns × one measure, with row, column and grand totals. Each total is
//! its own plan (grouped by the rows only, the columns only, nothing), so a total of distinct
//! transactions or customers or of an average is right, not a sum of cells.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::dates::Period;
use super::execute::{AnswerError, Engine};
use super::plan::{Dimension, Filters, Intent, Measure, Plan};

/// A cross-tab, ready for JSON or CSV.
#[derive(Debug, Clone, Serialize)]
pub struct Crosstab {
    pub rows: Dimension,
    pub cols: Dimension,
    pub measure: Measure,
    /// The row labels, sorted (a missing label is `null`).
    pub row_keys: Vec<Option<String>>,
    pub col_keys: Vec<Option<String>>,
    /// `cells[r][c]`; `null` where nothing was sold.
    pub cells: Vec<Vec<Value>>,
    pub row_totals: Vec<Value>,
    pub col_totals: Vec<Value>,
    pub grand_total: Value,
    /// The four queries run (cells, row totals, column totals, grand total).
    pub sql: Vec<String>,
}

fn key(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

impl Engine {
    /// Builds the cross-tab of `measure` by `rows` × `cols` over `filters`.
    pub async fn crosstab(
        &self,
        rows: Dimension,
        cols: Dimension,
        measure: Measure,
        filters: Filters,
        as_of: Option<chrono::NaiveDate>,
        question: Option<&str>,
    ) -> Result<Crosstab, AnswerError> {
        let plan = |intent, dims: &[Dimension]| {
            let mut p = Plan::new(intent, dims, &[measure]);
            p.filters = filters.clone();
            p.as_of = as_of;
            p.limit = Some(super::plan::MAX_LIMIT);
            p
        };
        // Four independent reads: run at once, each on a connection of its own.
        let (cells, by_row, by_col, grand) = (
            plan(Intent::Crosstab, &[rows, cols]),
            plan(Intent::Aggregate, &[rows]),
            plan(Intent::Aggregate, &[cols]),
            plan(Intent::Aggregate, &[]),
        );
        let (cells, by_row, by_col, grand) = tokio::try_join!(
            self.answer(&cells, question),
            self.answer(&by_row, question),
            self.answer(&by_col, question),
            self.answer(&grand, question),
        )?;

        let row_totals: BTreeMap<Option<String>, Value> = by_row
            .rows
            .iter()
            .map(|r| (key(&r[0]), r[1].clone()))
            .collect();
        let col_totals: BTreeMap<Option<String>, Value> = by_col
            .rows
            .iter()
            .map(|r| (key(&r[0]), r[1].clone()))
            .collect();
        let row_keys: Vec<Option<String>> = row_totals.keys().cloned().collect();
        let col_keys: Vec<Option<String>> = col_totals.keys().cloned().collect();
        let mut grid = vec![vec![Value::Null; col_keys.len()]; row_keys.len()];
        for r in &cells.rows {
            let (Ok(i), Ok(j)) = (
                row_keys.binary_search(&key(&r[0])),
                col_keys.binary_search(&key(&r[1])),
            ) else {
                continue;
            };
            grid[i][j] = r[2].clone();
        }
        Ok(Crosstab {
            rows,
            cols,
            measure,
            row_totals: row_keys.iter().map(|k| row_totals[k].clone()).collect(),
            col_totals: col_keys.iter().map(|k| col_totals[k].clone()).collect(),
            row_keys,
            col_keys,
            cells: grid,
            grand_total: grand.rows.first().map_or(Value::Null, |r| r[0].clone()),
            sql: vec![cells.sql, by_row.sql, by_col.sql, grand.sql],
        })
    }
}

/// A period from optional `from`/`to` days (one alone means that day only).
pub fn period(from: Option<chrono::NaiveDate>, to: Option<chrono::NaiveDate>) -> Option<Period> {
    match (from, to) {
        (None, None) => None,
        (Some(d), None) | (None, Some(d)) => Some(Period::Between { from: d, to: d }),
        (Some(from), Some(to)) => Some(Period::Between { from, to }),
    }
}

fn csv_cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Crosstab {
    /// CSV: a header of the row dimension, each column key and `Total`; one line per row key;
    /// a last `Total` line.
    pub fn to_csv(&self) -> Result<String, csv::Error> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let label = |k: &Option<String>| k.clone().unwrap_or_default();
        let mut header = vec![self.rows.name().to_owned()];
        header.extend(self.col_keys.iter().map(label));
        header.push("Total".to_owned());
        w.write_record(&header)?;
        for (i, k) in self.row_keys.iter().enumerate() {
            let mut line = vec![label(k)];
            line.extend(self.cells[i].iter().map(csv_cell));
            line.push(csv_cell(&self.row_totals[i]));
            w.write_record(&line)?;
        }
        let mut last = vec!["Total".to_owned()];
        last.extend(self.col_totals.iter().map(csv_cell));
        last.push(csv_cell(&self.grand_total));
        w.write_record(&last)?;
        let bytes = w.into_inner().map_err(|e| e.into_error())?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}
