//! Mapped rows to transactions: the JSON payloads the edge stream sends (camelCase,
//! `items[]`, `totals`, `transactionContext.paymentMethod`, `customer`), so a file's sales land
//! in bronze and pass through the same silver pipeline.
//!
//! Rows are grouped by transaction id (rows of one transaction may be apart; up to
//! [`OPEN_GROUPS`] transactions are held open at once, the oldest flushed first); without an id
//! column every row is a transaction whose id is derived from the file's content hash and the
//! row's line, so the same file gives the same ids. Amounts: an item's total is its total
//! column, else unit price × quantity; a total repeated on every row of a transaction that
//! equals the sum of unit price × quantity is the transaction's total, not each line's. Summary
//! rows (`TOTAL`, `Subtotal`, `Kabuuan`) are skipped and counted.

use std::collections::{HashMap, HashSet, VecDeque};

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::infer::is_summary_row;
use super::mapping::MappingProposal;
use super::values::{self, ColumnReading, ColumnReadings};
use super::when::{self, When};
use super::words::{self, LineKind, Target};
use super::{Cell, FileError, Row, RowIter};
use scout_common::device::DeviceId;

/// Transactions held open while rows are grouped.
pub const OPEN_GROUPS: usize = 4_096;

/// What the conversion did with the rows, by reason.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConvertStats {
    pub rows: u64,
    pub transactions: u64,
    pub items: u64,
    /// Sum of item totals, in centavos: sales net of returns and voids.
    pub revenue_centavos: i64,
    /// Sum of the negative item totals (returns and voids) as a positive amount, in centavos.
    /// Silver quarantines such items (`negative_amount`), so the file's sales in silver are
    /// `revenue_centavos + returns_centavos`.
    pub returns_centavos: i64,
    pub summary_rows_skipped: u64,
    /// Rows a status column marks voided, cancelled or failed: not sales, not landed.
    pub voided_rows_skipped: u64,
    /// Items without a readable amount (silver quarantines them as `missing_amount`).
    pub items_without_amount: u64,
    /// Rows whose timestamp could not be read (the transaction lands without one).
    pub unreadable_timestamps: u64,
    /// Device ids that are not valid Scout device ids (kept as `sourceDeviceId`).
    pub invalid_device_ids: u64,
    /// Transaction ids met again after their transaction was flushed (landing deduplicates).
    pub split_transactions: u64,
}

struct Line {
    line: u64,
    product: Option<String>,
    brand: Option<String>,
    sku: Option<String>,
    category: Option<String>,
    quantity: Option<f64>,
    unit: Option<i64>,
    total: Option<i64>,
}

struct Group {
    id: String,
    derived: bool,
    first: Row,
    lines: Vec<Line>,
}

/// The transactions of a file, pulled one at a time.
pub struct Transactions {
    rows: RowIter,
    mapping: MappingProposal,
    readings: ColumnReadings,
    content_hash: String,
    /// Open transactions, oldest first; `open[0]` has sequence number `base`.
    open: VecDeque<Group>,
    base: u64,
    by_id: HashMap<String, u64>,
    flushed_order: VecDeque<String>,
    flushed: HashSet<String>,
    ready: VecDeque<Value>,
    failed: Option<FileError>,
    done: bool,
    stats: ConvertStats,
    serial_dates: bool,
}

impl std::fmt::Debug for Transactions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transactions")
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Transactions {
    pub(super) fn new(
        rows: RowIter,
        readings: &ColumnReadings,
        mapping: MappingProposal,
        content_hash: String,
    ) -> Self {
        let mut readings = readings.clone();
        // A money column whose header names centavos holds whole centavos.
        for target in [Target::UnitPrice, Target::TotalAmount] {
            if let Some(i) = mapping.column_of(target)
                && mapping.source_of(i).is_some_and(words::names_centavos)
                && let Some(reading) = readings.get_mut(i)
            {
                reading.centavos = true;
            }
        }
        Self {
            rows,
            mapping,
            readings,
            content_hash,
            open: VecDeque::new(),
            base: 0,
            by_id: HashMap::new(),
            flushed_order: VecDeque::new(),
            flushed: HashSet::new(),
            ready: VecDeque::new(),
            failed: None,
            done: false,
            stats: ConvertStats::default(),
            serial_dates: true,
        }
    }

    /// Counts so far (complete once the iterator is exhausted).
    pub fn stats(&self) -> &ConvertStats {
        &self.stats
    }

    fn cell<'r>(&self, row: &'r Row, target: Target) -> Option<(&'r Cell, ColumnReading)> {
        let i = self.mapping.column_of(target)?;
        let cell = row.cells.get(i).filter(|c| !c.is_empty())?;
        Some((cell, self.readings.get(i).copied().unwrap_or_default()))
    }

    fn text(&self, row: &Row, target: Target) -> Option<String> {
        self.cell(row, target).map(|(c, _)| c.display())
    }

    fn take(&mut self, row: Row) {
        self.stats.rows += 1;
        if is_summary_row(&row) {
            self.stats.summary_rows_skipped += 1;
            return;
        }
        // Every status column has its say: a void anywhere voids, else a return returns.
        let kind = self
            .mapping
            .columns_of(Target::LineStatus)
            .filter_map(|i| row.cells.get(i))
            .filter_map(|c| words::line_kind(&c.display()))
            .max_by_key(|k| match k {
                LineKind::Sale => 0,
                LineKind::Return => 1,
                LineKind::Void => 2,
            });
        if kind == Some(LineKind::Void) {
            self.stats.voided_rows_skipped += 1;
            return;
        }
        let mut line = Line {
            line: row.line,
            product: self.text(&row, Target::Product),
            brand: self.text(&row, Target::Brand),
            sku: self.text(&row, Target::Sku),
            category: self.text(&row, Target::Category),
            quantity: self
                .cell(&row, Target::Quantity)
                .and_then(|(c, r)| values::cell_number(c, r)),
            unit: self
                .cell(&row, Target::UnitPrice)
                .and_then(|(c, r)| values::cell_money(c, r)),
            total: self
                .cell(&row, Target::TotalAmount)
                .and_then(|(c, r)| values::cell_money(c, r)),
        };
        if kind == Some(LineKind::Return) {
            // A refund printed as a positive amount is still money going back.
            line.total = line.total.map(|t| -t.abs());
            if line.total.is_none() {
                line.unit = line.unit.map(|u| -u.abs());
            }
        }
        let id = self.text(&row, Target::TransactionId);
        let has_id_column = self.mapping.column_of(Target::TransactionId).is_some();
        match id {
            Some(id) if has_id_column => {
                if let Some(&seq) = self.by_id.get(&id) {
                    let at = (seq - self.base) as usize;
                    self.open[at].lines.push(line);
                    return;
                }
                if self.flushed.contains(&id) {
                    self.stats.split_transactions += 1;
                }
                if self.open.len() >= OPEN_GROUPS {
                    self.flush_oldest();
                }
                self.by_id
                    .insert(id.clone(), self.base + self.open.len() as u64);
                self.open.push_back(Group {
                    id,
                    derived: false,
                    first: row,
                    lines: vec![line],
                });
            }
            _ => {
                let short: String = self.content_hash.chars().take(16).collect();
                let id = format!("file-{short}-{}", row.line);
                let group = Group {
                    id,
                    derived: true,
                    first: row,
                    lines: vec![line],
                };
                let payload = self.payload(group);
                self.ready.push_back(payload);
            }
        }
    }

    fn flush_oldest(&mut self) {
        let Some(group) = self.open.pop_front() else {
            return;
        };
        self.base += 1;
        self.by_id.remove(&group.id);
        if self.flushed.insert(group.id.clone()) {
            self.flushed_order.push_back(group.id.clone());
        }
        if self.flushed_order.len() > OPEN_GROUPS
            && let Some(old) = self.flushed_order.pop_front()
        {
            self.flushed.remove(&old);
        }
        let payload = self.payload(group);
        self.ready.push_back(payload);
    }

    fn flush_all(&mut self) {
        let groups = std::mem::take(&mut self.open);
        self.base += groups.len() as u64;
        self.by_id.clear();
        for group in groups {
            let payload = self.payload(group);
            self.ready.push_back(payload);
        }
    }

    fn when(&mut self, row: &Row) -> Option<When> {
        let serials = self.serial_dates;
        let date_cell = self
            .cell(row, Target::Timestamp)
            .or_else(|| self.cell(row, Target::Date));
        let time = self
            .cell(row, Target::Time)
            .and_then(|(c, _)| when::cell_time(c));
        let when = date_cell.and_then(|(c, r)| when::cell_when(c, r, serials));
        match (when, time) {
            (Some(When::Date(d)), Some(t)) => Some(When::Local(d.and_time(t))),
            (Some(w), _) => Some(w),
            (None, _) => None,
        }
    }

    fn payload(&mut self, group: Group) -> Value {
        let row = &group.first;
        let mut out = Map::new();
        out.insert("transactionId".into(), json!(group.id));
        if let Some(store) = self.text(row, Target::StoreId) {
            out.insert("storeId".into(), json!(store));
        }
        if let Some(device) = self.text(row, Target::DeviceId) {
            match DeviceId::parse(&device) {
                Ok(id) => {
                    out.insert("deviceId".into(), json!(id.as_str()));
                }
                Err(_) => {
                    self.stats.invalid_device_ids += 1;
                    out.insert("sourceDeviceId".into(), json!(device));
                }
            }
        }
        let has_when_column = self.mapping.column_of(Target::Timestamp).is_some()
            || self.mapping.column_of(Target::Date).is_some();
        match self.when(row) {
            Some(w) => {
                out.insert("timestamp".into(), json!(w.to_rfc3339()));
            }
            None => {
                if has_when_column {
                    self.stats.unreadable_timestamps += 1;
                }
                out.insert("timestamp".into(), json!(""));
            }
        }
        let (items, total) = self.items(&group.lines);
        out.insert("items".into(), Value::Array(items));
        let mut totals = Map::new();
        if let Some(total) = total {
            totals.insert("totalAmount".into(), json!(pesos(total)));
        }
        totals.insert("totalItems".into(), json!(group.lines.len()));
        totals.insert("currency".into(), json!("PHP"));
        out.insert("totals".into(), Value::Object(totals));
        if let Some(method) = self.text(row, Target::PaymentMethod) {
            out.insert(
                "transactionContext".into(),
                json!({ "paymentMethod": method }),
            );
        }
        let mut customer = Map::new();
        if let Some((cell, reading)) = self.cell(row, Target::CustomerAge) {
            match values::cell_number(cell, reading) {
                Some(age) if (0.0..=130.0).contains(&age) => {
                    customer.insert("age".into(), json!(age.round() as i64));
                    customer.insert("ageBracket".into(), json!(age_bracket(age)));
                }
                _ => {
                    customer.insert("ageBracket".into(), json!(cell.display()));
                }
            }
        }
        if let Some(id) = self.text(row, Target::CustomerId) {
            customer.insert("id".into(), json!(id));
        }
        if let Some(gender) = self.text(row, Target::Gender) {
            customer.insert("gender".into(), json!(normal_gender(&gender)));
        }
        if !customer.is_empty() {
            out.insert("customer".into(), Value::Object(customer));
        }
        out.insert(
            "fileSource".into(),
            json!({
                "contentHash": self.content_hash,
                "lines": group.lines.iter().map(|l| l.line).collect::<Vec<_>>(),
                "derivedId": group.derived,
            }),
        );
        self.stats.transactions += 1;
        Value::Object(out)
    }

    /// The item objects and the transaction's total in centavos.
    fn items(&mut self, lines: &[Line]) -> (Vec<Value>, Option<i64>) {
        let computed = |l: &Line| -> Option<i64> {
            let unit = l.unit?;
            let q = l.quantity.unwrap_or(1.0);
            Some((unit as f64 * q).round() as i64)
        };
        // A total repeated on every line that equals Σ unit × quantity is the transaction's.
        let repeated_total = lines.len() > 1
            && lines
                .iter()
                .all(|l| l.total.is_some() && l.total == lines[0].total)
            && lines.iter().all(|l| l.unit.is_some())
            && lines.iter().filter_map(computed).sum::<i64>() == lines[0].total.unwrap_or(0);
        let mut items = Vec::with_capacity(lines.len());
        let mut sum: Option<i64> = None;
        for l in lines {
            let total = if repeated_total {
                computed(l)
            } else {
                l.total.or_else(|| computed(l))
            };
            let quantity = l.quantity.unwrap_or(1.0);
            let unit = l.unit.or_else(|| {
                let t = total?;
                (quantity > 0.0 && (t as f64 / quantity).fract() == 0.0)
                    .then(|| (t as f64 / quantity) as i64)
            });
            let mut item = Map::new();
            if let Some(b) = &l.brand {
                item.insert("brandName".into(), json!(b));
            }
            if let Some(p) = &l.product {
                item.insert("productName".into(), json!(p));
            }
            if let Some(s) = &l.sku {
                item.insert("sku".into(), json!(s));
            }
            item.insert("quantity".into(), json!(quantity));
            if let Some(u) = unit {
                item.insert("unitPrice".into(), json!(pesos(u)));
            }
            match total {
                Some(t) => {
                    item.insert("totalPrice".into(), json!(pesos(t)));
                    *sum.get_or_insert(0) += t;
                    self.stats.revenue_centavos += t;
                    if t < 0 {
                        self.stats.returns_centavos -= t;
                    }
                }
                None => {
                    self.stats.items_without_amount += 1;
                    item.insert("totalPrice".into(), Value::Null);
                }
            }
            if let Some(c) = &l.category {
                item.insert("category".into(), json!(c));
            }
            self.stats.items += 1;
            items.push(Value::Object(item));
        }
        (items, sum)
    }
}

impl Iterator for Transactions {
    type Item = Result<Value, FileError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(payload) = self.ready.pop_front() {
                return Some(Ok(payload));
            }
            if let Some(e) = self.failed.take() {
                return Some(Err(e));
            }
            if self.done {
                return None;
            }
            match self.rows.next() {
                Some(Ok(row)) => self.take(row),
                Some(Err(e)) => {
                    // What was read before the error is still delivered, then the error.
                    self.flush_all();
                    self.failed = Some(e);
                    self.done = true;
                }
                None => {
                    self.flush_all();
                    self.done = true;
                }
            }
        }
    }
}

/// Centavos as a JSON number of pesos (exact to the centavo when read back and rounded). The
/// division is correctly rounded, so the float is the one reading `format_centavos`'s text
/// gives (a parser computes `1050 / 10²` the same way), without writing and parsing that text.
fn pesos(centavos: i64) -> Value {
    serde_json::Number::from_f64(centavos as f64 / 100.0).map_or(Value::Null, Value::Number)
}

fn age_bracket(age: f64) -> &'static str {
    match age as i64 {
        ..18 => "under-18",
        18..=24 => "18-24",
        25..=34 => "25-34",
        35..=44 => "35-44",
        45..=54 => "45-54",
        55..=64 => "55-64",
        _ => "65+",
    }
}

fn normal_gender(raw: &str) -> String {
    match raw.trim().to_lowercase().as_str() {
        "m" | "male" | "lalaki" | "man" | "l" => "male".into(),
        "f" | "female" | "babae" | "woman" | "b" => "female".into(),
        other => other.to_owned(),
    }
}
