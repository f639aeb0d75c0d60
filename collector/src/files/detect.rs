//! Format detection by content: magic bytes for the binary formats (an xlsx is a ZIP holding
//! `xl/workbook.xml`, an xls an OLE2 compound file with a `Workbook` stream, a Parquet file
//! starts and ends with `PAR1`), then the text's encoding, then its shape (XML, a JSON document,
//! NDJSON, delimited text). Each answer carries a confidence from the evidence found and that
//! evidence in words. The file's name is never looked at.

use encoding_rs::Encoding;
use serde::Serialize;

use super::{DETECT_BYTES, FileFormat, Options, text};

/// What a file is, how sure detection is, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detection {
    pub format: FileFormat,
    /// `xlsx`/`xls`, `array`/`wrapped`/`object`/`ndjson`, `comma`/`semicolon`/`pipe`/`tab`.
    pub sub_kind: Option<&'static str>,
    /// 0..1. Below 0.8 the answer is a guess.
    pub confidence: f64,
    /// The text encoding (WHATWG name), for text formats.
    #[serde(serialize_with = "encoding_name")]
    pub encoding: &'static Encoding,
    /// The delimiter of delimited text.
    #[serde(skip)]
    pub delimiter: Option<u8>,
    pub evidence: String,
}

fn encoding_name<S: serde::Serializer>(e: &&'static Encoding, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(e.name())
}

/// Detects the format of a file from its bytes (all of them, or its head).
pub fn detect(bytes: &[u8]) -> Detection {
    detect_with(bytes, bytes.len() as u64, &Options::default())
}

/// Detects with the caller's overrides; `total_len` is the file's length when known
/// (`u64::MAX` when `head` is only the start of a longer stream).
pub(super) fn detect_with(head: &[u8], total_len: u64, options: &Options) -> Detection {
    let whole = total_len == head.len() as u64;
    let mut found = sniff(head, whole);
    if let Some(forced) = options.force_format
        && forced != found.format
    {
        found = Detection {
            format: forced,
            sub_kind: match forced {
                FileFormat::Tsv => Some("tab"),
                FileFormat::Csv => delimiter_name(options_delimiter(options).unwrap_or(b',')),
                FileFormat::Json if found.sub_kind == Some("ndjson") => Some("ndjson"),
                _ => None,
            },
            delimiter: match forced {
                FileFormat::Tsv => Some(b'\t'),
                FileFormat::Csv => options_delimiter(options)
                    .or(found.delimiter.filter(|d| *d != b'\t'))
                    .or(Some(b',')),
                _ => None,
            },
            confidence: 1.0,
            evidence: format!("forced by the caller (detection said {})", found.format),
            encoding: found.encoding,
        };
    } else if options.force_format.is_some() {
        found.confidence = 1.0;
        found.evidence = format!("forced by the caller, as detected: {}", found.evidence);
    }
    if let Some(d) = options_delimiter(options)
        && matches!(found.format, FileFormat::Csv | FileFormat::Tsv)
    {
        found.delimiter = Some(d);
        found.format = if d == b'\t' {
            FileFormat::Tsv
        } else {
            FileFormat::Csv
        };
        found.sub_kind = delimiter_name(d);
    }
    found
}

fn options_delimiter(options: &Options) -> Option<u8> {
    options.delimiter.and_then(|c| u8::try_from(c).ok())
}

fn answer(
    format: FileFormat,
    sub_kind: Option<&'static str>,
    confidence: f64,
    evidence: impl Into<String>,
) -> Detection {
    Detection {
        format,
        sub_kind,
        confidence: (confidence * 1000.0).round() / 1000.0,
        encoding: encoding_rs::UTF_8,
        delimiter: None,
        evidence: evidence.into(),
    }
}

const OLE2: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

fn sniff(head: &[u8], whole: bool) -> Detection {
    if head.is_empty() {
        return answer(FileFormat::Text, None, 0.0, "the file is empty");
    }
    if head.starts_with(b"PK\x03\x04") {
        return if contains(head, b"xl/workbook.xml") {
            answer(
                FileFormat::Excel,
                Some("xlsx"),
                0.99,
                "ZIP archive holding xl/workbook.xml",
            )
        } else if contains(head, b"xl/") || contains(head, b"[Content_Types].xml") {
            answer(
                FileFormat::Excel,
                Some("xlsx"),
                0.85,
                "ZIP archive with Office Open XML parts, no xl/workbook.xml seen",
            )
        } else {
            answer(
                FileFormat::Text,
                None,
                0.2,
                "a ZIP archive that is not an Excel workbook",
            )
        };
    }
    if head.starts_with(OLE2) {
        let workbook =
            contains(head, &utf16_name("Workbook")) || contains(head, &utf16_name("Book"));
        return if workbook {
            answer(
                FileFormat::Excel,
                Some("xls"),
                0.98,
                "OLE2 compound file with a Workbook stream",
            )
        } else {
            answer(
                FileFormat::Excel,
                Some("xls"),
                0.7,
                "OLE2 compound file (no Workbook stream seen in the head)",
            )
        };
    }
    if head.starts_with(b"PAR1") {
        return if whole && head.len() >= 8 && head.ends_with(b"PAR1") {
            answer(
                FileFormat::Parquet,
                None,
                0.99,
                "PAR1 magic at the head and the tail",
            )
        } else if whole {
            answer(
                FileFormat::Parquet,
                None,
                0.85,
                "PAR1 magic at the head but not at the tail (truncated?)",
            )
        } else {
            answer(FileFormat::Parquet, None, 0.95, "PAR1 magic at the head")
        };
    }
    // Text is judged on its first [`DETECT_BYTES`], however much of the file is in hand.
    let (head, whole) = if head.len() > DETECT_BYTES {
        (&head[..DETECT_BYTES], false)
    } else {
        (head, whole)
    };
    let (encoding, why) = text::sniff(head);
    let decoded = text::decode_all(head, encoding);
    let mut found = sniff_text(&decoded, whole);
    found.encoding = encoding;
    if encoding != encoding_rs::UTF_8 || why == "byte-order mark" {
        found.evidence = format!("{}; encoding {} ({why})", found.evidence, encoding.name());
    }
    found
}

fn utf16_name(name: &str) -> Vec<u8> {
    name.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn sniff_text(text: &str, whole: bool) -> Detection {
    if text::looks_binary(text) {
        return answer(
            FileFormat::Text,
            None,
            0.05,
            "binary data: control characters that no text file holds",
        );
    }
    let trimmed = text.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']);
    if trimmed.is_empty() {
        return answer(FileFormat::Text, None, 0.0, "only white space");
    }
    if trimmed.starts_with('<') {
        return sniff_xml(trimmed, whole);
    }
    if trimmed.starts_with(['[', '{'])
        && let Some(found) = sniff_json(trimmed, whole)
    {
        return found;
    }
    sniff_delimited(text, whole)
}

fn sniff_xml(text: &str, whole: bool) -> Detection {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut elements = 0usize;
    let mut complete = false;
    let mut depth = 0i64;
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Start(_)) => {
                elements += 1;
                depth += 1;
            }
            Ok(quick_xml::events::Event::Empty(_)) => elements += 1,
            Ok(quick_xml::events::Event::End(_)) => {
                depth -= 1;
                if depth == 0 {
                    complete = true;
                }
            }
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(_) => {}
            Err(_) => {
                let evidence = format!("XML markup, malformed after {elements} elements");
                return answer(
                    FileFormat::Xml,
                    None,
                    if whole { 0.6 } else { 0.85 },
                    evidence,
                );
            }
        }
    }
    let declared = text.starts_with("<?xml");
    if elements == 0 {
        return answer(
            FileFormat::Text,
            None,
            0.3,
            "starts with '<' but holds no elements",
        );
    }
    let confidence = match (complete, declared) {
        (true, true) => 0.99,
        (true, false) => 0.95,
        (false, _) if !whole => 0.9,
        (false, _) => 0.7,
    };
    answer(
        FileFormat::Xml,
        None,
        confidence,
        format!(
            "XML{}, {elements} elements{}",
            if declared { " declaration" } else { " markup" },
            if complete {
                ", well formed"
            } else {
                ", not closed"
            }
        ),
    )
}

fn sniff_json(text: &str, whole: bool) -> Option<Detection> {
    if whole && let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
        return Some(match &value {
            serde_json::Value::Array(list) => {
                let objects = list.iter().filter(|v| v.is_object()).count();
                if objects > 0 && objects * 10 >= list.len() * 9 {
                    answer(
                        FileFormat::Json,
                        Some("array"),
                        0.99,
                        format!("a JSON array of {objects} objects"),
                    )
                } else {
                    answer(
                        FileFormat::Json,
                        Some("array"),
                        0.75,
                        "a JSON array, but not of objects",
                    )
                }
            }
            serde_json::Value::Object(map) => match map.iter().find(|(_, v)| {
                v.as_array()
                    .is_some_and(|a| !a.is_empty() && a.iter().all(|e| e.is_object()))
            }) {
                Some((key, _))
                    if map.len() <= 8 || map.values().filter(|v| v.is_array()).count() == 1 =>
                {
                    answer(
                        FileFormat::Json,
                        Some("wrapped"),
                        0.97,
                        format!("a JSON object wrapping an array of objects under `{key}`"),
                    )
                }
                _ => answer(
                    FileFormat::Json,
                    Some("object"),
                    0.9,
                    "a single JSON object",
                ),
            },
            _ => answer(FileFormat::Json, None, 0.5, "a bare JSON value"),
        });
    }
    // NDJSON: every complete line is a JSON object of its own.
    let mut lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if !whole && lines.len() > 1 {
        lines.pop(); // the head may end inside a line
    }
    let total = lines.len().min(200);
    let objects = lines
        .iter()
        .take(200)
        .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| v.is_object()))
        .count();
    if total > 0 && objects * 10 >= total * 8 && (total > 1 || !whole) {
        let share = objects as f64 / total as f64;
        return Some(answer(
            FileFormat::Json,
            Some("ndjson"),
            0.6 + 0.39 * share,
            format!("NDJSON: {objects} of {total} sampled lines are JSON objects"),
        ));
    }
    if !whole && text.starts_with('[') {
        return Some(answer(
            FileFormat::Json,
            Some("array"),
            0.8,
            "the head of a JSON array",
        ));
    }
    if !whole && text.starts_with('{') && text.contains("\":") {
        return Some(answer(
            FileFormat::Json,
            Some("object"),
            0.8,
            "the head of a JSON object",
        ));
    }
    if text.starts_with('[') || text.starts_with('{') {
        // Malformed or truncated JSON: still JSON, and reading it will say where it broke.
        let looks_json = text.contains("\":") || text.starts_with("[{");
        if looks_json {
            return Some(answer(
                FileFormat::Json,
                None,
                0.6,
                "JSON that does not parse (truncated or malformed)",
            ));
        }
    }
    None
}

const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

fn delimiter_name(d: u8) -> Option<&'static str> {
    match d {
        b',' => Some("comma"),
        b';' => Some("semicolon"),
        b'\t' => Some("tab"),
        b'|' => Some("pipe"),
        _ => None,
    }
}

/// Whether a field reads as a sentence rather than a value: sentence punctuation, or a dozen
/// words (a long product name is not a sentence).
fn sentence_like(field: &str) -> bool {
    let t = field.trim();
    let words = t.split_whitespace().count();
    words >= 12
        || t.contains(". ")
        || t.contains("! ")
        || t.contains("? ")
        || (words >= 3 && t.ends_with(['.', '!', '?']))
}

/// The share of sampled records with the most common field count (≥ 2), after any title rows,
/// that count, the rows it was measured on, and the share of fields that read as sentences.
fn consistency(text: &str, delimiter: u8, whole: bool) -> (f64, usize, usize, f64) {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut widths: Vec<usize> = Vec::new();
    let (mut fields_seen, mut sentences) = (0usize, 0usize);
    for record in reader.records().take(200) {
        let Ok(record) = record else { break };
        let fields: Vec<&str> = record.iter().collect();
        fields_seen += fields.iter().filter(|f| !f.trim().is_empty()).count();
        sentences += fields.iter().filter(|f| sentence_like(f)).count();
        let width = fields
            .iter()
            .rposition(|f| !f.trim().is_empty())
            .map_or(0, |i| i + 1);
        if width > 0 {
            widths.push(width);
        }
    }
    if !whole && widths.len() > 2 {
        widths.pop();
    }
    let mut counts = std::collections::BTreeMap::new();
    for w in &widths {
        *counts.entry(*w).or_insert(0usize) += 1;
    }
    let Some((&modal, _)) = counts
        .iter()
        .filter(|(w, _)| **w >= 2)
        .max_by_key(|(w, c)| (**c, **w))
    else {
        return (0.0, 0, widths.len(), 0.0);
    };
    let prose = sentences as f64 / fields_seen.max(1) as f64;
    // Title rows above the header and notes below the data have fewer fields.
    let first = widths.iter().position(|w| *w >= modal).unwrap_or(0);
    let body = &widths[first..];
    // Rows one short (a trailing empty field) count as consistent.
    let ok = body
        .iter()
        .filter(|w| **w == modal || **w + 1 == modal)
        .count();
    // Rows above the first full one count against a delimiter only a little (title rows).
    let coverage = 0.9 + 0.1 * body.len() as f64 / widths.len().max(1) as f64;
    (
        ok as f64 / body.len().max(1) as f64 * coverage,
        modal,
        body.len(),
        prose,
    )
}

fn sniff_delimited(text: &str, whole: bool) -> Detection {
    let mut best: Option<(f64, usize, usize, u8, f64)> = None;
    for d in DELIMITERS {
        if !text.as_bytes().contains(&d) {
            continue;
        }
        let (share, width, rows, prose) = consistency(text, d, whole);
        if width < 2 {
            continue;
        }
        let better = match best {
            None => true,
            Some((s, w, _, _, _)) => share > s + 0.01 || (share > s - 0.01 && width > w),
        };
        if better {
            best = Some((share, width, rows, d, prose));
        }
    }
    let Some((share, width, rows, d, prose)) = best else {
        return answer(
            FileFormat::Text,
            None,
            0.4,
            "text without a consistent delimiter (prose or an unknown layout)",
        );
    };
    // Sentences in some fields of a wide, regular table are notes, not prose.
    let regular_table = share >= 0.95 && rows >= 5 && width >= 3;
    if prose > 0.2 && !regular_table {
        return answer(
            FileFormat::Text,
            None,
            0.45,
            format!(
                "prose: {:.0}% of the fields split by {:?} read as sentences",
                prose * 100.0,
                char::from(d)
            ),
        );
    }
    if rows == 1 && width >= 3 {
        let mut found = answer(
            if d == b'\t' {
                FileFormat::Tsv
            } else {
                FileFormat::Csv
            },
            delimiter_name(d),
            0.6,
            format!(
                "a single line of {width} fields delimited by {:?}",
                char::from(d)
            ),
        );
        found.delimiter = Some(d);
        return found;
    }
    if share < 0.6 || rows < 2 {
        return answer(
            FileFormat::Text,
            None,
            0.3 + 0.3 * share,
            format!(
                "text; the best delimiter {:?} gives {width} fields on only {:.0}% of {rows} rows",
                char::from(d),
                share * 100.0
            ),
        );
    }
    let format = if d == b'\t' {
        FileFormat::Tsv
    } else {
        FileFormat::Csv
    };
    let few_rows = if rows < 3 { 0.85 } else { 1.0 };
    let mut found = answer(
        format,
        delimiter_name(d),
        (0.55 + 0.44 * share) * few_rows,
        format!(
            "delimited by {:?}: {width} fields on {:.0}% of {rows} rows",
            char::from(d),
            share * 100.0
        ),
    );
    found.delimiter = Some(d);
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_of_text() {
        let csv = detect(b"id,date,amount\n1,2025-03-01,12.50\n2,2025-03-01,3.00\n");
        assert_eq!((csv.format, csv.delimiter), (FileFormat::Csv, Some(b',')));
        assert!(csv.confidence >= 0.9, "{csv:?}");
        let semi = detect(b"id;amount\n1;12,50\n2;3,00\n3;1.234,00\n");
        assert_eq!(semi.delimiter, Some(b';'));
        let tsv = detect(b"id\tamount\n1\t12.50\n2\t3.00\n");
        assert_eq!(tsv.format, FileFormat::Tsv);
        let nd = detect(b"{\"a\":1}\n{\"a\":2}\n");
        assert_eq!((nd.format, nd.sub_kind), (FileFormat::Json, Some("ndjson")));
        let wrapped = detect(b"{\"data\":[{\"a\":1}]}");
        assert_eq!(wrapped.sub_kind, Some("wrapped"));
        let xml = detect(b"<?xml version=\"1.0\"?><r><t a=\"1\"/><t a=\"2\"/></r>");
        assert_eq!(xml.format, FileFormat::Xml);
        let names = detect(
            "date,product,amount\n2025-03-01,Lucky Me Pancit Canton Chilimansi Flavor 60g,16.50\n\
             2025-03-01,Nescafe Classic Instant Coffee Refill Pack 25g,45.00\n"
                .as_bytes(),
        );
        assert_eq!(names.format, FileFormat::Csv, "{names:?}");
        let prose = detect(b"Dear team, attached are the sales. Thanks!\nRegards, Ana\n");
        assert_eq!(prose.format, FileFormat::Text);
        assert!(prose.confidence < 0.8);
    }

    #[test]
    fn forcing_overrides_the_answer() {
        let options = Options {
            force_format: Some(FileFormat::Tsv),
            ..Options::default()
        };
        let d = detect_with(b"a,b\n1,2\n", 8, &options);
        assert_eq!(
            (d.format, d.delimiter, d.confidence),
            (FileFormat::Tsv, Some(b'\t'), 1.0)
        );
    }
}
