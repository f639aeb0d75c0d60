//! JSON documents and NDJSON as tables. Records are the objects of a top-level array, of the
//! array an object wraps (`{"data": [...]}`), or one per NDJSON line. Nested objects flatten to
//! dotted columns (`customer.age`); a nested array of objects (`items`, `lineItems`, …) becomes
//! one row per element with the parent's fields repeated on each. XML and Parquet records come
//! through here too, converted to JSON values first.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};

use serde_json::{Map, Value};

use super::{Cell, FileError, Row, RowIter, SAMPLE_ROWS, Table};

/// Keys whose array of objects holds a record's line items, in order of preference.
const ITEM_KEYS: [&str; 8] = [
    "items",
    "line_items",
    "lineItems",
    "lines",
    "products",
    "details",
    "entries",
    "orderItems",
];

/// Keys that commonly wrap the record array of a JSON document.
const WRAPPER_KEYS: [&str; 8] = [
    "data",
    "records",
    "transactions",
    "rows",
    "results",
    "sales",
    "items",
    "orders",
];

/// Reads a whole JSON document (or NDJSON held in memory).
pub(super) fn read(text: &str, ndjson: bool) -> Result<Table, FileError> {
    if ndjson {
        let reader: Box<dyn Read + Send> = Box::new(std::io::Cursor::new(text.as_bytes().to_vec()));
        return read_ndjson_stream(reader);
    }
    let value: Value = serde_json::from_str(text).map_err(|e| FileError::Syntax {
        line: e.line() as u64,
        reason: format!("JSON does not parse: {e}"),
    })?;
    let (records, path) = records_of(value)?;
    let mut builder = Builder::default();
    let mut rows = Vec::new();
    for (i, record) in records.into_iter().enumerate() {
        builder.push(&record, i as u64 + 1, &mut rows);
    }
    let layout = serde_json::json!({ "records": path, "itemsKey": builder.items_key });
    Ok(builder.table(rows, layout))
}

/// The path of the largest array of objects nested inside wrapper objects (`response.data`),
/// looked for down to three levels.
fn nested_records_path(map: &Map<String, Value>, depth: usize) -> Option<(usize, Vec<String>)> {
    let mut best: Option<(usize, Vec<String>)> = None;
    for (key, value) in map {
        let found = match value {
            Value::Array(list) if is_object_array(value) => Some((list.len(), vec![key.clone()])),
            Value::Object(inner) if depth > 1 => {
                nested_records_path(inner, depth - 1).map(|(n, mut path)| {
                    path.insert(0, key.clone());
                    (n, path)
                })
            }
            _ => None,
        };
        if let Some(f) = found
            && best.as_ref().is_none_or(|b| f.0 > b.0)
        {
            best = Some(f);
        }
    }
    best
}

fn records_of(value: Value) -> Result<(Vec<Value>, String), FileError> {
    // `{"response": {"data": {"transactions": [...]}}}`: unwrap objects down to the records.
    if let Value::Object(map) = &value
        && !map.values().any(is_object_array)
        && let Some((_, path)) = nested_records_path(map, 3)
        && path.len() > 1
    {
        let mut inner = value;
        for key in &path[..path.len() - 1] {
            inner = match inner {
                Value::Object(mut m) => m.remove(key).unwrap_or(Value::Null),
                other => other,
            };
        }
        let (records, tail) = records_of(inner)?;
        let prefix = path[..path.len() - 1].join(".");
        return Ok((records, tail.replacen('$', &format!("$.{prefix}"), 1)));
    }
    match value {
        Value::Array(list) => Ok((list, "$".into())),
        Value::Object(mut map) => {
            let key = WRAPPER_KEYS
                .iter()
                .find(|k| map.get(**k).is_some_and(is_object_array))
                .map(|k| (*k).to_owned())
                .or_else(|| {
                    map.iter()
                        .filter(|(_, v)| is_object_array(v))
                        .max_by_key(|(_, v)| v.as_array().map_or(0, Vec::len))
                        .map(|(k, _)| k.clone())
                });
            // An object whose only array is its line items is one record, not a wrapper.
            match key {
                Some(k) if !is_items_key(&k) || map.len() == 1 => {
                    let list = map.remove(&k).unwrap_or(Value::Null);
                    match list {
                        Value::Array(list) => Ok((list, format!("$.{k}"))),
                        _ => Ok((Vec::new(), format!("$.{k}"))),
                    }
                }
                _ => Ok((vec![Value::Object(map)], "$".into())),
            }
        }
        _ => Err(FileError::NoRecords(
            "the JSON document is a bare value, not records".into(),
        )),
    }
}

fn is_object_array(v: &Value) -> bool {
    v.as_array()
        .is_some_and(|a| !a.is_empty() && a.iter().any(Value::is_object))
}

fn is_items_key(key: &str) -> bool {
    ITEM_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key))
}

/// Reads NDJSON as it streams: columns come from the first [`SAMPLE_ROWS`] records; keys first
/// seen after them are not columns.
pub(super) fn read_ndjson_stream(reader: Box<dyn Read + Send>) -> Result<Table, FileError> {
    let mut lines = BufReader::new(reader).lines();
    let mut line_no = 0u64;
    let mut builder = Builder::default();
    let mut buffered = Vec::new();
    let mut records = 0usize;
    let mut next_record = move |lines: &mut std::io::Lines<BufReader<Box<dyn Read + Send>>>| {
        for line in lines.by_ref() {
            line_no += 1;
            let line = match line {
                Ok(l) => l,
                Err(e) => return Some(Err(FileError::Io(e))),
            };
            let t = line.trim();
            if t.is_empty() {
                continue;
            }
            return Some(match serde_json::from_str::<Value>(t) {
                Ok(v @ Value::Object(_)) => Ok((line_no, v)),
                Ok(_) => Err(FileError::Syntax {
                    line: line_no,
                    reason: "an NDJSON line must be a JSON object".into(),
                }),
                Err(e) => Err(FileError::Syntax {
                    line: line_no,
                    reason: format!("JSON does not parse: {e}"),
                }),
            });
        }
        None
    };
    while records < SAMPLE_ROWS {
        match next_record(&mut lines) {
            Some(Ok((line, value))) => {
                builder.push(&value, line, &mut buffered);
                records += 1;
            }
            Some(Err(e)) => return Err(e),
            None => break,
        }
    }
    let columns = builder.columns.clone();
    let width = columns.len();
    let items_key = builder.items_key.clone();
    builder.frozen = true;
    let mut pending: std::collections::VecDeque<Row> = std::collections::VecDeque::new();
    let rest = std::iter::from_fn(move || {
        loop {
            if let Some(row) = pending.pop_front() {
                return Some(Ok(row));
            }
            match next_record(&mut lines)? {
                Ok((line, value)) => {
                    let mut out = Vec::new();
                    builder.push(&value, line, &mut out);
                    pending.extend(out);
                }
                Err(e) => return Some(Err(e)),
            }
        }
    });
    let head = buffered.into_iter().map(Ok);
    let rows: RowIter = Box::new(head.chain(rest).map(move |r| {
        r.map(|mut row| {
            row.cells.resize(width, Cell::Empty);
            row
        })
    }));
    Ok(Table {
        columns,
        rows,
        layout: serde_json::json!({ "records": "lines", "itemsKey": items_key }),
    })
}

/// Turns records into rows over a growing set of dotted columns.
#[derive(Default)]
pub(super) struct Builder {
    pub(super) columns: Vec<String>,
    index: HashMap<String, usize>,
    items_key: Option<String>,
    /// No new columns (a stream whose columns were fixed by its sample).
    frozen: bool,
}

impl Builder {
    /// The table of the rows pushed, each padded to the columns found in all of them.
    fn table(&self, rows: Vec<Row>, layout: serde_json::Value) -> Table {
        let width = self.columns.len();
        let rows: RowIter = Box::new(rows.into_iter().map(move |mut r| {
            r.cells.resize(width, Cell::Empty);
            Ok(r)
        }));
        Table {
            columns: self.columns.clone(),
            rows,
            layout,
        }
    }

    fn slot(&mut self, name: &str) -> Option<usize> {
        if let Some(i) = self.index.get(name) {
            return Some(*i);
        }
        if self.frozen {
            return None;
        }
        let i = self.columns.len();
        self.columns.push(name.to_owned());
        self.index.insert(name.to_owned(), i);
        Some(i)
    }

    /// Appends the rows of one record: one, or one per line item.
    pub(super) fn push(&mut self, record: &Value, line: u64, out: &mut Vec<Row>) {
        let Value::Object(map) = record else {
            let mut cells = Vec::new();
            if let Some(i) = self.slot("value") {
                set(&mut cells, i, cell_of(record));
            }
            out.push(Row { line, cells });
            return;
        };
        let items_key = map
            .iter()
            .find(|(k, v)| is_items_key(k) && is_object_array(v))
            .map(|(k, _)| k.clone());
        let mut parent = Vec::new();
        let mut flat = Vec::new();
        flatten(map, "", items_key.as_deref(), &mut flat);
        for (name, cell) in flat {
            if let Some(i) = self.slot(&name) {
                set(&mut parent, i, cell);
            }
        }
        let Some(key) = items_key else {
            out.push(Row {
                line,
                cells: parent,
            });
            return;
        };
        if self.items_key.is_none() {
            self.items_key = Some(key.clone());
        }
        let items = map
            .get(&key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for item in items {
            let mut cells = parent.clone();
            match &item {
                Value::Object(fields) => {
                    let mut flat = Vec::new();
                    flatten(fields, &key, None, &mut flat);
                    for (name, cell) in flat {
                        if let Some(i) = self.slot(&name) {
                            set(&mut cells, i, cell);
                        }
                    }
                }
                other => {
                    if let Some(i) = self.slot(&format!("{key}.value")) {
                        set(&mut cells, i, cell_of(other));
                    }
                }
            }
            out.push(Row { line, cells });
        }
    }
}

fn set(cells: &mut Vec<Cell>, i: usize, cell: Cell) {
    if cells.len() <= i {
        cells.resize(i + 1, Cell::Empty);
    }
    cells[i] = cell;
}

fn flatten(
    map: &Map<String, Value>,
    prefix: &str,
    skip: Option<&str>,
    out: &mut Vec<(String, Cell)>,
) {
    for (key, value) in map {
        if Some(key.as_str()) == skip {
            continue;
        }
        let name = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            Value::Object(inner) if !inner.is_empty() => flatten(inner, &name, None, out),
            other => out.push((name, cell_of(other))),
        }
    }
}

pub(super) fn cell_of(value: &Value) -> Cell {
    match value {
        Value::Null => Cell::Empty,
        Value::Bool(b) => Cell::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Cell::Int(i),
            None => n.as_f64().map_or(Cell::Empty, Cell::Float),
        },
        Value::String(s) if s.trim().is_empty() => Cell::Empty,
        Value::String(s) => Cell::Text(s.clone()),
        other => Cell::Text(other.to_string()),
    }
}

/// Builds a table from records already held as JSON values (XML and Parquet use it).
pub(super) fn table_from_records(
    records: Vec<(u64, Value)>,
    layout: Value,
) -> Result<Table, FileError> {
    if records.is_empty() {
        return Err(FileError::NoRecords("no records found".into()));
    }
    let mut builder = Builder::default();
    let mut rows = Vec::new();
    for (line, record) in &records {
        builder.push(record, *line, &mut rows);
    }
    Ok(builder.table(rows, layout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_items_become_rows_with_the_parent_repeated() {
        let text = r#"{"status":"ok","transactions":[
            {"id":"T1","store":{"id":"S1"},"items":[{"name":"Coke","price":20},{"name":"Piattos","price":15.5}]},
            {"id":"T2","store":{"id":"S2"},"items":[{"name":"Safeguard","price":"₱35.00"}]}]}"#;
        let table = read(text, false).unwrap();
        assert_eq!(
            table.columns,
            ["id", "store.id", "items.name", "items.price"]
        );
        // (Keys come in name order: serde_json's map is sorted.)
        let rows: Vec<Row> = table.rows.collect::<Result<_, _>>().unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1].cells[0], Cell::Text("T1".into()));
        assert_eq!(rows[1].cells[3], Cell::Float(15.5));
        assert_eq!(rows[2].line, 2);
    }

    #[test]
    fn records_wrapped_deeper_are_found() {
        let text =
            r#"{"response":{"status":200,"data":{"page":1,"sales":[{"id":"A"},{"id":"B"}]}}}"#;
        let table = read(text, false).unwrap();
        assert_eq!(table.columns, ["id"]);
        assert_eq!(table.rows.count(), 2);
    }

    #[test]
    fn a_bad_ndjson_line_is_named() {
        let text = "{\"a\":1}\n{\"a\":2\n";
        match read(text, true) {
            Err(FileError::Syntax { line, .. }) => assert_eq!(line, 2),
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }
}
