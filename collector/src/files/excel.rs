//! Excel workbooks, xlsx and legacy xls, through `calamine`. The sheet is `sheet_name` or the
//! one that holds the most table rows; its header is found like delimited text's (title rows, `skip_rows`).
//! An xlsx is inflated once into a counting sink before `calamine` opens it, so a zip bomb is
//! refused at [`MAX_XLSX_UNCOMPRESSED`] whatever sizes its directory claims.

use std::io::{Cursor, Read};

use calamine::{Data, Reader};

use super::{
    Cell, FileError, MAX_XLSX_UNCOMPRESSED, Options, Row, RowIter, Table, delimited, when,
};

pub(super) fn read(bytes: &[u8], options: &Options) -> Result<Table, FileError> {
    if bytes.starts_with(b"PK") {
        check_zip(bytes, MAX_XLSX_UNCOMPRESSED)?;
    }
    let mut workbook = calamine::open_workbook_auto_from_rs(Cursor::new(bytes.to_vec()))
        .map_err(|e| damaged(&e.to_string()))?;
    let names = workbook.sheet_names();
    let (sheet, range) = match &options.sheet_name {
        Some(wanted) => {
            let name = names
                .iter()
                .find(|n| n.eq_ignore_ascii_case(wanted.trim()))
                .ok_or_else(|| FileError::NoSuchSheet(wanted.clone()))?
                .clone();
            let range = workbook
                .worksheet_range(&name)
                .map_err(|e| damaged(&e.to_string()))?;
            (name, range)
        }
        None => {
            // The sheet with the most table rows (three cells or more filled), the first of
            // equals: a cover page, notes or a small summary ahead of the data lose to it.
            let mut best: Option<(usize, String, calamine::Range<Data>)> = None;
            for name in &names {
                let range = workbook
                    .worksheet_range(name)
                    .map_err(|e| damaged(&e.to_string()))?;
                let filled = |r: &[Data]| r.iter().filter(|c| !matches!(c, Data::Empty)).count();
                if range.rows().filter(|r| filled(r) > 0).take(2).count() < 2 {
                    continue;
                }
                let table_rows = range.rows().filter(|r| filled(r) >= 3).count();
                if best.as_ref().is_none_or(|(n, _, _)| table_rows > *n) {
                    best = Some((table_rows, name.clone(), range));
                }
            }
            best.map(|(_, name, range)| (name, range))
                .ok_or(FileError::NoRows)?
        }
    };
    let (first_row, _) = range.start().unwrap_or((0, 0));
    let mut rows: Vec<Row> = Vec::new();
    for (i, r) in range.rows().enumerate() {
        let cells: Vec<Cell> = r.iter().map(cell).collect();
        if cells.iter().all(Cell::is_empty) {
            continue;
        }
        rows.push(Row {
            line: u64::from(first_row) + i as u64 + 1,
            cells,
        });
    }
    if rows.is_empty() {
        return Err(FileError::NoRows);
    }
    let window_end = rows.len().min(30);
    let rest = rows.split_off(window_end);
    let (columns, header_line, body) = delimited::split_header(rows, options.skip_rows)?;
    let width = columns.len();
    let rest = rest.into_iter().map(move |mut r| {
        r.cells.resize(width, Cell::Empty);
        r
    });
    let all: RowIter = Box::new(body.into_iter().chain(rest).map(Ok));
    Ok(Table {
        columns,
        rows: all,
        layout: serde_json::json!({ "sheet": sheet, "sheets": names, "headerRow": header_line }),
    })
}

fn damaged(reason: &str) -> FileError {
    FileError::Damaged {
        format: "excel",
        reason: reason.to_owned(),
    }
}

/// Inflates every part of the archive into a counting sink, refusing past `cap` bytes in all.
pub(super) fn check_zip(bytes: &[u8], cap: u64) -> Result<(), FileError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| damaged(&format!("not a readable ZIP archive: {e}")))?;
    let mut claimed: u64 = 0;
    for i in 0..archive.len() {
        let entry = archive
            .by_index_raw(i)
            .map_err(|e| damaged(&format!("ZIP entry {i}: {e}")))?;
        claimed = claimed.saturating_add(entry.size());
    }
    if claimed > cap {
        return Err(FileError::ZipBomb { claimed, cap });
    }
    let mut inflated: u64 = 0;
    let mut buf = vec![0u8; 64 * 1024];
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| damaged(&format!("ZIP entry {i}: {e}")))?;
        loop {
            let n = entry
                .read(&mut buf)
                .map_err(|e| damaged(&format!("inflating ZIP entry {i}: {e}")))?;
            if n == 0 {
                break;
            }
            inflated += n as u64;
            if inflated > cap {
                return Err(FileError::ZipBomb {
                    claimed: inflated,
                    cap,
                });
            }
        }
    }
    Ok(())
}

fn cell(data: &Data) -> Cell {
    match data {
        Data::Empty | Data::Error(_) => Cell::Empty,
        Data::Int(i) => Cell::Int(*i),
        Data::Float(f) => Cell::Float(*f),
        Data::Bool(b) => Cell::Bool(*b),
        Data::String(s) if s.trim().is_empty() => Cell::Empty,
        Data::String(s) => Cell::Text(s.clone()),
        Data::DateTimeIso(s) | Data::DurationIso(s) => Cell::Text(s.clone()),
        Data::DateTime(dt) if dt.is_datetime() => match when::excel_serial(dt.as_f64()) {
            Some(when::When::Local(t)) => Cell::Naive(t),
            Some(when::When::Date(d)) => Cell::Naive(d.and_time(chrono::NaiveTime::MIN)),
            _ => Cell::Float(dt.as_f64()),
        },
        Data::DateTime(dt) => Cell::Float(dt.as_f64()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn archive(entry_bytes: usize) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        let mut zip = zip::ZipWriter::new(&mut out);
        let options = zip::write::SimpleFileOptions::default();
        zip.start_file("xl/workbook.xml", options).unwrap();
        zip.write_all(b"<workbook/>").unwrap();
        zip.start_file("xl/worksheets/sheet1.xml", options).unwrap();
        zip.write_all(&vec![b' '; entry_bytes]).unwrap();
        zip.finish().unwrap();
        out.into_inner()
    }

    #[test]
    fn inflation_is_counted_against_the_cap() {
        let bytes = archive(1 << 20);
        assert!(check_zip(&bytes, 2 << 20).is_ok());
        assert!(matches!(
            check_zip(&bytes, 512 << 10),
            Err(FileError::ZipBomb { .. })
        ));
        assert!(matches!(
            check_zip(&bytes[..bytes.len() / 2], 2 << 20),
            Err(FileError::Damaged { .. })
        ));
    }
}
