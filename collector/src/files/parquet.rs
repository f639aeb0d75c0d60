//! Parquet files through the `parquet` crate's record API (no Arrow): each row's typed fields
//! become JSON values (decimals as exact text, dates as ISO dates, timestamps as UTC instants),
//! and nested groups and lists go through the JSON table builder like any nested record. A
//! timestamp column not adjusted to UTC (pandas' naive datetimes) holds wall-clock times, read as
//! Asia/Manila like every naive time.

use bytes::Bytes;
use chrono::{DateTime, NaiveDate};
use parquet::basic::LogicalType;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::{Field, Row};
use serde_json::{Map, Value};

use super::{FileError, Table, json};

pub(super) fn read(bytes: &[u8]) -> Result<Table, FileError> {
    let reader = SerializedFileReader::new(Bytes::copy_from_slice(bytes)).map_err(damaged)?;
    let naive: Vec<String> = reader
        .metadata()
        .file_metadata()
        .schema_descr()
        .root_schema()
        .get_fields()
        .iter()
        .filter(|f| {
            matches!(
                f.get_basic_info().logical_type_ref(),
                Some(LogicalType::Timestamp(t)) if !t.is_adjusted_to_u_t_c
            )
        })
        .map(|f| f.name().to_owned())
        .collect();
    let rows = reader.get_row_iter(None).map_err(damaged)?;
    let mut records = Vec::new();
    for (i, row) in rows.enumerate() {
        let row = row.map_err(|e| FileError::Damaged {
            format: "parquet",
            reason: format!("row {}: {e}", i + 1),
        })?;
        let mut record = row_json(&row);
        for name in &naive {
            if let Some(Value::String(s)) = record.get_mut(name) {
                // `…Z` of a wall-clock time: drop the zone, keep the clock.
                *s = s.trim_end_matches('Z').replacen('T', " ", 1);
            }
        }
        records.push((i as u64 + 1, record));
    }
    let metadata = reader.metadata().file_metadata();
    let layout = serde_json::json!({
        "rowGroups": reader.num_row_groups(),
        "rows": metadata.num_rows(),
        "createdBy": metadata.created_by(),
    });
    if records.is_empty() {
        return Err(FileError::NoRows);
    }
    json::table_from_records(records, layout)
}

fn damaged(e: parquet::errors::ParquetError) -> FileError {
    FileError::Damaged {
        format: "parquet",
        reason: e.to_string(),
    }
}

fn row_json(row: &Row) -> Value {
    let mut map = Map::new();
    for (name, field) in row.get_column_iter() {
        map.insert(name.clone(), field_json(field));
    }
    Value::Object(map)
}

fn field_json(field: &Field) -> Value {
    match field {
        Field::Null => Value::Null,
        Field::Bool(b) => Value::Bool(*b),
        Field::Byte(v) => Value::from(*v),
        Field::Short(v) => Value::from(*v),
        Field::Int(v) => Value::from(*v),
        Field::Long(v) => Value::from(*v),
        Field::UByte(v) => Value::from(*v),
        Field::UShort(v) => Value::from(*v),
        Field::UInt(v) => Value::from(*v),
        Field::ULong(v) => Value::from(*v),
        Field::Float16(v) => Value::from(f64::from(f32::from(*v))),
        Field::Float(v) => Value::from(f64::from(*v)),
        Field::Double(v) => Value::from(*v),
        // Display writes a decimal exactly (`1234.50`); the money reader takes it from there.
        Field::Decimal(_) => Value::String(field.to_string()),
        Field::Str(s) => Value::String(s.clone()),
        Field::Bytes(b) => Value::String(String::from_utf8_lossy(b.data()).into_owned()),
        Field::Date(days) => NaiveDate::from_ymd_opt(1970, 1, 1)
            .and_then(|d| d.checked_add_signed(chrono::Duration::days(i64::from(*days))))
            .map_or(Value::Null, |d| {
                Value::String(d.format("%Y-%m-%d").to_string())
            }),
        Field::TimestampMillis(ms) => instant(DateTime::from_timestamp_millis(*ms)),
        Field::TimestampMicros(us) => instant(DateTime::from_timestamp_micros(*us)),
        Field::TimeMillis(_) | Field::TimeMicros(_) => Value::String(field.to_string()),
        Field::Group(row) => row_json(row),
        Field::ListInternal(list) => Value::Array(list.elements().iter().map(field_json).collect()),
        Field::MapInternal(map) => {
            let mut out = Map::new();
            for (k, v) in map.entries() {
                let key = match k {
                    Field::Str(s) => s.clone(),
                    other => other.to_string(),
                };
                out.insert(key, field_json(v));
            }
            Value::Object(out)
        }
    }
}

fn instant(at: Option<DateTime<chrono::Utc>>) -> Value {
    at.map_or(Value::Null, |t| {
        Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    })
}
