//! File ingestion's pure stage: a sales file of any common shape becomes ScoutPi-shaped
//! transaction payloads, with the evidence for every decision on the way.
//!
//! **Enters:** the bytes of one file (or a reader, for delimited text and NDJSON of any size) and
//! [`Options`] (`force_format`, `sheet_name`, `delimiter`, `skip_rows`, `max_rows`).
//!
//! **Leaves:** [`Processed`]: the [`Detection`] (format, encoding, confidence and the evidence),
//! the column names, the [`SchemaInference`] (per-column types, `qualityScore`, `issues`), the
//! [`MappingProposal`] (canonical field per column with confidences, `mapping_confidence`, the
//! header fingerprint), and [`Processed::transactions`], an iterator of JSON payloads that
//! `scout_common::transaction::Transaction::parse` accepts, so they can land in bronze and pass
//! through the same silver pipeline as the edge stream.
//!
//! **Guarantees:**
//! - Detection is by content; the file name is never consulted. Anything unrecognised is
//!   [`FileFormat::Text`] with a confidence below 0.8, an answer rather than an error.
//! - No panics on any input: a bad file is a [`FileError`] naming what is wrong and, for text
//!   formats, the line; an xlsx whose parts claim or inflate beyond [`MAX_XLSX_UNCOMPRESSED`]
//!   is refused before `calamine` opens it (its parts are inflated into a counting sink first).
//! - Memory: delimited text and NDJSON stream (a sample of [`SAMPLE_ROWS`] rows is held for
//!   inference and mapping; an NDJSON key first seen after the sample is not a column); JSON
//!   documents, XML, Excel and Parquet are read whole, capped at [`MAX_DOCUMENT_BYTES`].
//! - Money is exact: integer centavos from the text as written (`₱1,234.50`, `(1,234.50)`,
//!   `1.234,50`), never through a float parse; numbers a source types as floats (Excel cells,
//!   JSON numbers) are rounded to the centavo.
//! - Nothing is dropped silently: a row the converter cannot turn into an item (a subtotal row,
//!   an unreadable amount) is counted in [`ConvertStats`] with its reason.
//!
//! Pieces: `detect.rs` (format and encoding), `text.rs` (decoding), `delimited.rs` (dialect and
//! streaming rows), `values.rs` (money, numbers, dates; `shapes.rs` reads and writes the
//! everyday date and time shapes without format strings), the readers `json.rs`, `xml.rs`,
//! `excel.rs`, `parquet.rs`, then `infer.rs` (schema and quality), `mapping.rs` with its
//! vocabulary `words.rs`, and `convert.rs` (rows to transactions).

mod convert;
mod delimited;
mod detect;
mod evidence;
mod excel;
mod infer;
mod json;
mod mapping;
#[cfg(feature = "parquet")]
mod parquet;
mod shapes;
mod text;
mod values;
mod when;
mod words;
mod xml;

use std::fmt;
use std::io::Read;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use convert::{ConvertStats, Transactions};
pub use detect::{Detection, detect};
pub use infer::{ColumnSchema, ColumnType, Issue, SchemaInference, infer};
pub use mapping::{ColumnMapping, MappingProposal, REVIEW_THRESHOLD, header_fingerprint};
pub use values::{DateOrder, format_centavos, parse_money};
pub use words::Target;

/// Rows held for inference and mapping (the rest of a streamed file is read once, converting).
pub const SAMPLE_ROWS: usize = 2_000;
/// Largest file read whole (JSON documents, XML, Excel, Parquet): 256 MiB.
pub const MAX_DOCUMENT_BYTES: u64 = 256 * 1024 * 1024;
/// Largest total uncompressed size of an xlsx's parts: 512 MiB.
pub const MAX_XLSX_UNCOMPRESSED: u64 = 512 * 1024 * 1024;
/// Bytes read from the head of a file for detection.
pub const DETECT_BYTES: usize = 64 * 1024;

/// A file format, named as `staging.universal_file_ingestion.file_format` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    Json,
    Csv,
    Tsv,
    Excel,
    Xml,
    Parquet,
    Text,
}

impl FileFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Csv => "csv",
            Self::Tsv => "tsv",
            Self::Excel => "excel",
            Self::Xml => "xml",
            Self::Parquet => "parquet",
            Self::Text => "text",
        }
    }

    /// Reads a format name as an operator writes it (`forceFormat`): the contract's names plus
    /// `ndjson`, `jsonl`, `xlsx`, `xls` and `txt`.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "json" | "ndjson" | "jsonl" => Self::Json,
            "csv" => Self::Csv,
            "tsv" | "tab" => Self::Tsv,
            "excel" | "xlsx" | "xls" => Self::Excel,
            "xml" => Self::Xml,
            "parquet" => Self::Parquet,
            "text" | "txt" => Self::Text,
            _ => return None,
        })
    }
}

impl fmt::Display for FileFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the caller may decide instead of detection (the `options` of an upload).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Options {
    /// Skips detection's choice of format (`json`, `csv`, `tsv`, `excel`, `xml`, `parquet`).
    pub force_format: Option<FileFormat>,
    /// The Excel sheet to read; default the first sheet that holds data.
    pub sheet_name: Option<String>,
    /// The delimiter of delimited text; default detected.
    pub delimiter: Option<char>,
    /// Lines to skip before the header row of delimited text or Excel; default detected.
    pub skip_rows: Option<usize>,
    /// Stop after this many data rows.
    pub max_rows: Option<usize>,
}

/// Why a file could not be read. Messages name the line or row where there is one.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("the file is empty")]
    Empty,
    #[error("the file holds a header but no data rows")]
    NoRows,
    #[error("the file holds no readable records: {0}")]
    NoRecords(String),
    #[error("not a table of sales: {0}")]
    NotATable(String),
    #[error("{format} file is truncated or damaged: {reason}")]
    Damaged {
        format: &'static str,
        reason: String,
    },
    #[error(
        "the xlsx parts would inflate to {claimed} bytes, over the cap of {cap} bytes (a zip bomb?)"
    )]
    ZipBomb { claimed: u64, cap: u64 },
    #[error("the file is {size} bytes, over the cap of {cap} bytes for a {format} document")]
    TooLarge {
        format: &'static str,
        size: u64,
        cap: u64,
    },
    #[error("line {line}: {reason}")]
    Syntax { line: u64, reason: String },
    #[error("option `{option}`: {reason}")]
    BadOption {
        option: &'static str,
        reason: String,
    },
    #[error("no sheet named `{0}` in the workbook")]
    NoSuchSheet(String),
    #[error("{0} files are not supported by this build (the `parquet` feature is off)")]
    Unsupported(&'static str),
    #[error("reading the file failed: {0}")]
    Io(#[from] std::io::Error),
}

impl FileError {
    /// A stable name of the kind of failure (`empty`, `no_rows`, `not_a_table`, `damaged`,
    /// `zip_bomb`, `too_large`, `syntax`, …), for staging rows and API answers.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::NoRows => "no_rows",
            Self::NoRecords(_) => "no_records",
            Self::NotATable(_) => "not_a_table",
            Self::Damaged { .. } => "damaged",
            Self::ZipBomb { .. } => "zip_bomb",
            Self::TooLarge { .. } => "too_large",
            Self::Syntax { .. } => "syntax",
            Self::NoSuchSheet(_) => "no_such_sheet",
            Self::BadOption { .. } => "bad_option",
            Self::Unsupported(_) => "unsupported",
            Self::Io(_) => "io",
        }
    }

    /// The 1-based line (or row) the failure is at, where there is one.
    pub fn line(&self) -> Option<u64> {
        match self {
            Self::Syntax { line, .. } => Some(*line),
            _ => None,
        }
    }
}

/// One value of a table, as typed as its source allows. Text stays text until a column's
/// reading (money, date) is decided over the whole column.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// A wall-clock time without zone (read as Asia/Manila).
    Naive(NaiveDateTime),
    /// An instant (a source that carries its zone).
    Instant(DateTime<Utc>),
}

impl Cell {
    pub fn is_empty(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(s) => s.trim().is_empty(),
            _ => false,
        }
    }

    /// The cell as text (what a person would read in the file).
    pub fn display(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(s) => s.trim().to_owned(),
            Cell::Int(i) => i.to_string(),
            Cell::Float(f) => format_float(*f),
            Cell::Bool(b) => b.to_string(),
            Cell::Naive(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
            Cell::Instant(t) => t.to_rfc3339(),
        }
    }
}

/// Shortest text that reads back as the same float (`12.5`, not `12.500000`).
fn format_float(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{f:.0}")
    } else {
        f.to_string()
    }
}

/// One data row and where it came from (1-based line of text formats, row of sheets, record
/// index of documents).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub line: u64,
    pub cells: Vec<Cell>,
}

/// The rows of a file, in order; streamed formats read as they are pulled.
pub type RowIter = Box<dyn Iterator<Item = Result<Row, FileError>> + Send>;

/// A file opened as a table: column names and its rows.
pub struct Table {
    pub columns: Vec<String>,
    pub rows: RowIter,
    /// What the reader decided about the layout (dialect, sheet, record element, header line).
    pub layout: serde_json::Value,
}

impl fmt::Debug for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Table")
            .field("columns", &self.columns)
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

/// A read file: the decisions made about it, a sample of rows, and the rest to be converted.
pub struct Processed {
    pub detection: Detection,
    pub columns: Vec<String>,
    pub layout: serde_json::Value,
    pub schema: SchemaInference,
    pub mapping: MappingProposal,
    /// The first rows (up to [`SAMPLE_ROWS`]), which inference and mapping saw.
    pub sample: Vec<Row>,
    /// Hex SHA-256 of the file's bytes when they were all in hand; derived transaction ids and
    /// the landing's identity use it.
    pub content_hash: String,
    rest: Option<RowIter>,
    max_rows: Option<usize>,
}

impl fmt::Debug for Processed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Processed")
            .field("detection", &self.detection)
            .field("columns", &self.columns)
            .field("mapping", &self.mapping)
            .field("sample_rows", &self.sample.len())
            .finish_non_exhaustive()
    }
}

impl Processed {
    /// The first `limit` sample rows as JSON objects (column → text as in the file), for a
    /// staging row's `raw_data` or an answer's preview.
    pub fn raw_sample(&self, limit: usize) -> serde_json::Value {
        let rows = self
            .sample
            .iter()
            .take(limit)
            .map(|row| {
                let mut object = serde_json::Map::new();
                object.insert("_line".into(), row.line.into());
                for (name, cell) in self.columns.iter().zip(&row.cells) {
                    if !cell.is_empty() {
                        object.insert(name.clone(), cell.display().into());
                    }
                }
                serde_json::Value::Object(object)
            })
            .collect();
        serde_json::Value::Array(rows)
    }

    /// Whether an operator must confirm the mapping before anything lands.
    pub fn needs_review(&self) -> bool {
        self.mapping.needs_review()
    }

    /// The file's transactions, converted with the proposed mapping.
    pub fn transactions(self) -> Transactions {
        let mapping = self.mapping.clone();
        self.convert(mapping)
    }

    /// The file's transactions, converted with `mapping` (an operator's confirmed one, say, as
    /// stored: its columns are found again by header, so one read back from JSON works). A
    /// mapping naming a column the file does not have is refused.
    pub fn transactions_with(self, mapping: MappingProposal) -> Result<Transactions, FileError> {
        let mapping = mapping
            .bound_to(&self.columns)
            .map_err(|reason| FileError::BadOption {
                option: "mapping",
                reason,
            })?;
        Ok(self.convert(mapping))
    }

    fn convert(self, mapping: MappingProposal) -> Transactions {
        let Processed {
            schema,
            sample,
            content_hash,
            rest,
            max_rows,
            ..
        } = self;
        let rows: RowIter = match rest {
            Some(rest) => Box::new(sample.into_iter().map(Ok).chain(rest)),
            None => Box::new(sample.into_iter().map(Ok)),
        };
        let rows: RowIter = match max_rows {
            Some(n) => Box::new(rows.take(n)),
            None => rows,
        };
        Transactions::new(rows, &schema.readings, mapping, content_hash)
    }
}

/// Detects, reads, infers and maps a file held in memory.
pub fn process(bytes: &[u8], options: &Options) -> Result<Processed, FileError> {
    check_options(options)?;
    let hash = hex::encode(Sha256::digest(bytes));
    let detection = detect::detect_with(bytes, bytes.len() as u64, options);
    let table = open_bytes(bytes, &detection, options)?;
    finish(detection, table, hash, options)
}

/// Detects, reads, infers and maps a file from a reader: delimited text and NDJSON stream, the
/// other formats are read whole (capped at [`MAX_DOCUMENT_BYTES`]). `content_hash` identifies
/// the file (the caller hashes it while storing it, say); derived ids depend on it.
pub fn process_reader(
    mut reader: Box<dyn Read + Send>,
    content_hash: String,
    options: &Options,
) -> Result<Processed, FileError> {
    check_options(options)?;
    let mut head = Vec::with_capacity(DETECT_BYTES);
    (&mut reader)
        .take(DETECT_BYTES as u64)
        .read_to_end(&mut head)?;
    let whole = head.len() < DETECT_BYTES;
    if whole {
        return process_with_hash(&head, content_hash, options);
    }
    let detection = detect::detect_with(&head, u64::MAX, options);
    // Nothing a table can be read from starts this way: answer now rather than read (and hold)
    // up to a document's cap of what follows.
    if detection.format == FileFormat::Text {
        return Err(FileError::NotATable(detection.evidence));
    }
    let streams = matches!(detection.format, FileFormat::Csv | FileFormat::Tsv)
        || detection.sub_kind == Some("ndjson");
    if streams {
        let joined: Box<dyn Read + Send> = Box::new(std::io::Cursor::new(head).chain(reader));
        let table = open_stream(joined, &detection, options)?;
        return finish(detection, table, content_hash, options);
    }
    let mut bytes = head;
    reader
        .take(MAX_DOCUMENT_BYTES + 1 - bytes.len() as u64)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_DOCUMENT_BYTES {
        return Err(FileError::TooLarge {
            format: detection.format.as_str(),
            size: bytes.len() as u64,
            cap: MAX_DOCUMENT_BYTES,
        });
    }
    process_with_hash(&bytes, content_hash, options)
}

fn check_options(options: &Options) -> Result<(), FileError> {
    if let Some(d) = options.delimiter
        && !(d.is_ascii() && !d.is_ascii_alphanumeric() && d != '"' && d != '\n' && d != '\r')
    {
        return Err(FileError::BadOption {
            option: "delimiter",
            reason: format!("{d:?} cannot delimit fields (one ASCII punctuation or tab)"),
        });
    }
    if options.force_format == Some(FileFormat::Text) {
        return Err(FileError::BadOption {
            option: "forceFormat",
            reason: "`text` is not a table format".into(),
        });
    }
    if options.max_rows == Some(0) {
        return Err(FileError::BadOption {
            option: "maxRows",
            reason: "must be at least 1".into(),
        });
    }
    Ok(())
}

fn process_with_hash(
    bytes: &[u8],
    content_hash: String,
    options: &Options,
) -> Result<Processed, FileError> {
    let detection = detect::detect_with(bytes, bytes.len() as u64, options);
    let table = open_bytes(bytes, &detection, options)?;
    finish(detection, table, content_hash, options)
}

/// Opens a file in memory as a table, following `detection`.
pub fn open_bytes(
    bytes: &[u8],
    detection: &Detection,
    options: &Options,
) -> Result<Table, FileError> {
    if bytes.is_empty() {
        return Err(FileError::Empty);
    }
    if detection.format == FileFormat::Text {
        return Err(FileError::NotATable(detection.evidence.clone()));
    }
    if bytes.len() as u64 > MAX_DOCUMENT_BYTES
        && !matches!(detection.format, FileFormat::Csv | FileFormat::Tsv)
        && detection.sub_kind != Some("ndjson")
    {
        return Err(FileError::TooLarge {
            format: detection.format.as_str(),
            size: bytes.len() as u64,
            cap: MAX_DOCUMENT_BYTES,
        });
    }
    match detection.format {
        FileFormat::Excel => excel::read(bytes, options),
        #[cfg(feature = "parquet")]
        FileFormat::Parquet => parquet::read(bytes),
        #[cfg(not(feature = "parquet"))]
        FileFormat::Parquet => Err(FileError::Unsupported("parquet")),
        FileFormat::Json | FileFormat::Xml => {
            let text = text::decode_all(bytes, detection.encoding);
            if detection.format == FileFormat::Xml {
                xml::read(&text)
            } else {
                json::read(&text, detection.sub_kind == Some("ndjson"))
            }
        }
        FileFormat::Csv | FileFormat::Tsv | FileFormat::Text => {
            // (Text was refused above; it shares the arm with the delimited formats.)
            let owned: Box<dyn Read + Send> = Box::new(std::io::Cursor::new(bytes.to_vec()));
            open_stream(owned, detection, options)
        }
    }
}

fn open_stream(
    reader: Box<dyn Read + Send>,
    detection: &Detection,
    options: &Options,
) -> Result<Table, FileError> {
    if detection.format == FileFormat::Text {
        return Err(FileError::NotATable(detection.evidence.clone()));
    }
    let decoded = text::DecodingReader::new(reader, detection.encoding);
    if detection.sub_kind == Some("ndjson") {
        return json::read_ndjson_stream(Box::new(decoded));
    }
    let delimiter = options
        .delimiter
        .and_then(|c| u8::try_from(c).ok())
        .or(detection.delimiter)
        .unwrap_or(if detection.format == FileFormat::Tsv {
            b'\t'
        } else {
            b','
        });
    delimited::read(Box::new(decoded), delimiter, options.skip_rows)
}

fn finish(
    detection: Detection,
    table: Table,
    content_hash: String,
    options: &Options,
) -> Result<Processed, FileError> {
    let Table {
        columns,
        mut rows,
        layout,
    } = table;
    let limit = options.max_rows.unwrap_or(usize::MAX).min(SAMPLE_ROWS);
    let mut sample = Vec::new();
    while sample.len() < limit {
        match rows.next() {
            Some(row) => sample.push(row?),
            None => break,
        }
    }
    if sample.is_empty() {
        return Err(if columns.is_empty() {
            FileError::Empty
        } else {
            FileError::NoRows
        });
    }
    let mut schema = infer::infer(&columns, &sample);
    let items_key = layout.get("itemsKey").and_then(serde_json::Value::as_str);
    let mapping = mapping::propose(&columns, &sample, &schema, items_key);
    mapping::add_mapped_issues(&mut schema, &mapping, &sample);
    Ok(Processed {
        detection,
        columns,
        layout,
        schema,
        mapping,
        sample,
        content_hash,
        rest: Some(rows),
        max_rows: options.max_rows,
    })
}

#[cfg(test)]
mod tests;
