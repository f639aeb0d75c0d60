//! Delimited text (CSV, TSV, semicolon and pipe files) as a stream of rows, and the header
//! finding that sheets share: title rows above the header ("Sari-Sari Sales Report", "Period:
//! March"), `skip_rows`, trailing delimiters, blank rows and a header repeated mid-file.
//!
//! Quoting (embedded delimiters and newlines, doubled quotes) is the `csv` crate's; records are
//! pulled one at a time, so a file of any size is never held whole.

use std::io::Read;

use super::{Cell, FileError, Row, RowIter, Table, values, when};

/// Records looked at to find the header.
const HEADER_WINDOW: usize = 30;

/// Opens delimited text as a table; the reader must give UTF-8.
pub(super) fn read(
    reader: Box<dyn Read + Send>,
    delimiter: u8,
    skip_rows: Option<usize>,
) -> Result<Table, FileError> {
    let csv_reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(reader);
    let mut records = Records {
        reader: csv_reader,
        record: csv::StringRecord::new(),
    };
    let mut window: Vec<Row> = Vec::new();
    for row in records.by_ref() {
        let row = row?;
        if row.cells.iter().all(Cell::is_empty) {
            continue;
        }
        window.push(row);
        if window.len() >= HEADER_WINDOW {
            break;
        }
    }
    if window.is_empty() {
        return Err(FileError::Empty);
    }
    let (columns, header_line, body) = split_header(window, skip_rows)?;
    let width = columns.len();
    let header_cells = columns.clone();
    let rest = records.filter_map(move |row| match row {
        Err(e) => Some(Err(e)),
        Ok(row) => keep(row, width, &header_cells).map(Ok),
    });
    let rows: RowIter = Box::new(body.into_iter().map(Ok).chain(rest));
    Ok(Table {
        columns,
        rows,
        layout: serde_json::json!({
            "delimiter": char::from(delimiter).to_string(),
            "headerLine": header_line,
        }),
    })
}

/// Records with the line each starts on. (The `csv` crate's own position of a record counts
/// from any blank lines skipped before it, so the line is worked back from where it ended.)
struct Records {
    reader: csv::Reader<Box<dyn Read + Send>>,
    record: csv::StringRecord,
}

impl Iterator for Records {
    type Item = Result<Row, FileError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.reader.read_record(&mut self.record) {
            Ok(false) => None,
            Ok(true) => {
                let next_line = self.reader.position().line();
                let inner = self
                    .record
                    .iter()
                    .map(|f| f.bytes().filter(|b| *b == b'\n').count() as u64)
                    .sum::<u64>();
                // The reader stands on the line after the record, unless the file ended
                // without a final newline.
                let ended = self.reader.is_done();
                let last = if ended { next_line } else { next_line - 1 };
                Some(Ok(to_row(&self.record, last.saturating_sub(inner).max(1))))
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                Some(Err(FileError::Syntax {
                    line,
                    reason: e.to_string(),
                }))
            }
        }
    }
}

fn to_row(record: &csv::StringRecord, line: u64) -> Row {
    Row {
        line,
        cells: record
            .iter()
            .map(|f| {
                let t = f.trim();
                if t.is_empty() {
                    Cell::Empty
                } else {
                    Cell::Text(t.to_owned())
                }
            })
            .collect(),
    }
}

/// A data row cut or padded to the header's width; `None` for a blank row or a repeated header.
fn keep(mut row: Row, width: usize, header: &[String]) -> Option<Row> {
    if row.cells.iter().all(Cell::is_empty) {
        return None;
    }
    if row.cells.len() >= width
        && header
            .iter()
            .zip(&row.cells)
            .all(|(h, c)| h.eq_ignore_ascii_case(&c.display()))
    {
        return None;
    }
    row.cells.resize(width, Cell::Empty);
    Some(row)
}

fn non_empty(row: &Row) -> usize {
    row.cells.iter().filter(|c| !c.is_empty()).count()
}

/// Whether a cell reads as a label rather than a value.
fn is_label(cell: &Cell) -> bool {
    match cell {
        Cell::Text(s) => {
            let s = s.trim();
            values::parse_money(s, false).is_none()
                && values::parse_money(s, true).is_none()
                && when::parse_when(s, values::DateOrder::Mdy).is_none()
                && s.chars().any(char::is_alphabetic)
        }
        _ => false,
    }
}

/// Finds the header among the first rows: the first row as wide as the data under it whose
/// cells are labels, after `skip_rows` or any title rows. A table with no such row gets
/// `column_1`, `column_2`, … names and keeps every row as data.
pub(super) fn split_header(
    window: Vec<Row>,
    skip_rows: Option<usize>,
) -> Result<(Vec<String>, u64, Vec<Row>), FileError> {
    let mut window = window;
    if let Some(skip) = skip_rows {
        let first_line = window.first().map_or(1, |r| r.line);
        window.retain(|r| r.line >= first_line + skip as u64);
        if window.is_empty() {
            return Err(FileError::NoRecords(format!(
                "skipping {skip} rows leaves nothing"
            )));
        }
    }
    let widths: Vec<usize> = window.iter().map(non_empty).collect();
    let modal = modal_width(&widths);
    let header_at = if skip_rows.is_some() {
        Some(0).filter(|_| {
            let row = &window[0];
            row.cells.iter().filter(|c| is_label(c)).count() * 2 >= non_empty(row)
        })
    } else {
        // A row of labels as wide as the data is the header; failing that, the first row of
        // labels at least 60% as wide (a header over sparse columns). Narrower label rows above
        // it (`Store:,Cubao`) are titles.
        let labels = |row: &Row, min: usize| {
            let n = non_empty(row);
            n >= 2.max(min) && row.cells.iter().filter(|c| is_label(c)).count() * 10 >= n * 8
        };
        window
            .iter()
            .position(|row| labels(row, modal))
            .or_else(|| window.iter().position(|row| labels(row, modal * 6 / 10)))
    };
    let (names, header_line, data_from) = match header_at {
        Some(i) => (
            banded_names(i.checked_sub(1).map(|b| &window[b]), &window[i]),
            window[i].line,
            i + 1,
        ),
        None => {
            let start = if skip_rows.is_some() {
                0
            } else {
                widths.iter().position(|w| *w >= modal.max(2)).unwrap_or(0)
            };
            (Vec::new(), 0, start)
        }
    };
    let data: Vec<Row> = window.drain(data_from..).collect();
    let data_width = data
        .iter()
        .map(|r| {
            r.cells
                .iter()
                .rposition(|c| !c.is_empty())
                .map_or(0, |i| i + 1)
        })
        .max()
        .unwrap_or(0);
    let named_width = names
        .iter()
        .rposition(|n| !n.trim().is_empty())
        .map_or(0, |i| i + 1);
    let width = named_width.max(data_width);
    if width == 0 {
        return Err(FileError::NoRows);
    }
    let columns = column_names(&names, width);
    let body = data
        .into_iter()
        .filter_map(|row| keep(row, width, &columns))
        .collect();
    Ok((columns, header_line, body))
}

/// The header's names, with the group labels of a band row right above it (a two-row header:
/// `TRANSACTION` over `No.`, `Date`; `ITEM` over `Qty`, `Price`) put in front of the names
/// under them, and a band label standing alone where the header row is blank under it (a
/// label merged over both rows). A band has two labels or more, fewer than the header, on the
/// line right above it.
fn banded_names(band: Option<&Row>, header: &Row) -> Vec<String> {
    let names: Vec<String> = header.cells.iter().map(Cell::display).collect();
    let Some(band) = band.filter(|b| {
        let n = non_empty(b);
        b.line + 1 == header.line
            && n >= 2
            && n < non_empty(header)
            && b.cells.iter().all(|c| c.is_empty() || is_label(c))
    }) else {
        return names;
    };
    let mut group = String::new();
    (0..names.len().max(band.cells.len()))
        .map(|j| {
            let own = names.get(j).map_or("", |n| n.trim());
            match band.cells.get(j).filter(|c| !c.is_empty()) {
                Some(label) if own.is_empty() => {
                    group.clear();
                    label.display()
                }
                Some(label) => {
                    group = label.display().trim().to_owned();
                    format!("{group} {own}")
                }
                None if own.is_empty() || group.is_empty() => own.to_owned(),
                None => format!("{group} {own}"),
            }
        })
        .collect()
}

fn modal_width(widths: &[usize]) -> usize {
    let mut counts = std::collections::BTreeMap::new();
    for w in widths.iter().filter(|w| **w >= 2) {
        *counts.entry(*w).or_insert(0usize) += 1;
    }
    counts
        .into_iter()
        .max_by_key(|(w, c)| (*c, *w))
        .map_or(1, |(w, _)| w)
}

/// Header names made usable: blanks named by position, repeats numbered.
pub(super) fn column_names(names: &[String], width: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(width);
    for i in 0..width {
        let raw = names.get(i).map_or("", |s| s.trim());
        let mut name = if raw.is_empty() {
            format!("column_{}", i + 1)
        } else {
            raw.split_whitespace().collect::<Vec<_>>().join(" ")
        };
        if out.iter().any(|n| n.eq_ignore_ascii_case(&name)) {
            let mut k = 2;
            while out
                .iter()
                .any(|n| n.eq_ignore_ascii_case(&format!("{name}_{k}")))
            {
                k += 1;
            }
            name = format!("{name}_{k}");
        }
        out.push(name);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str, delimiter: u8, skip: Option<usize>) -> (Vec<String>, Vec<Row>) {
        let t = read(
            Box::new(std::io::Cursor::new(text.as_bytes().to_vec())),
            delimiter,
            skip,
        )
        .unwrap();
        let rows = t.rows.collect::<Result<Vec<_>, _>>().unwrap();
        (t.columns, rows)
    }

    #[test]
    fn title_rows_blank_rows_and_trailing_delimiters() {
        let text = "Tindahan ni Aling Nena,,\nSales Report March 2025,,\n\n\
                    Petsa,Produkto,Halaga,\n2025-03-01,Coke 1.5L,75.00,\n\n2025-03-01,\"Bear Brand, 33g\",12.00,\n";
        let (columns, rows) = table(text, b',', None);
        assert_eq!(columns, ["Petsa", "Produkto", "Halaga"]);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].cells[1], Cell::Text("Bear Brand, 33g".into()));
        assert_eq!((rows[0].line, rows[1].line), (5, 7), "{rows:?}");
    }

    #[test]
    fn quoted_newlines_and_skip_rows() {
        let text = "junk line\nid;note;amount\n1;\"two\nlines\";1,50\n";
        let (columns, rows) = table(text, b';', Some(1));
        assert_eq!(columns, ["id", "note", "amount"]);
        assert_eq!(rows[0].cells[1], Cell::Text("two\nlines".into()));
    }

    #[test]
    fn label_rows_narrower_than_the_data_are_titles() {
        let text = "sep=,\nStore:,Cubao,\nDate:,2025-03-14,\nReceipt,Item,Amount\nR1,Coke,20.00\nR2,Tide,14.00\n";
        let (columns, rows) = table(text, b',', None);
        assert_eq!(columns, ["Receipt", "Item", "Amount"]);
        assert_eq!(rows.len(), 2);
    }

    #[test]
    fn a_table_without_a_header_gets_position_names() {
        let (columns, rows) = table("1,2025-03-01,12.50\n2,2025-03-02,3.00\n", b',', None);
        assert_eq!(columns, ["column_1", "column_2", "column_3"]);
        assert_eq!(rows.len(), 2);
    }
}
