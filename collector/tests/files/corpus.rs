//! The corpus run: each file of the manifest through `files::process` and its transactions
//! through the common parser, checked against what the generator knew.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use scout_collector::files::{self, FileFormat, Options, Target};
use scout_common::transaction::Transaction;

#[derive(Debug, Deserialize)]
struct Manifest {
    file: Vec<Expected>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    name: String,
    format: String,
    sub_kind: Option<String>,
    encoding: Option<String>,
    delimiter: Option<String>,
    transactions: Option<u64>,
    items: Option<u64>,
    revenue_centavos: Option<i64>,
    /// What silver takes of it where that differs (returns and voids are quarantined).
    silver_revenue_centavos: Option<i64>,
    #[serde(default)]
    mapping: BTreeMap<String, String>,
    #[serde(default)]
    unmapped: Vec<String>,
    #[serde(default)]
    needs_review: bool,
    #[serde(default)]
    issues: Vec<String>,
    summary_rows: Option<u64>,
    first_timestamp: Option<String>,
    #[serde(default)]
    derived_ids: bool,
    product_example: Option<String>,
    options: Option<Options>,
    error: Option<String>,
    error_line: Option<u64>,
}

pub fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/files")
}

fn manifest() -> Manifest {
    let text = std::fs::read_to_string(corpus_dir().join("manifest.toml")).unwrap();
    toml::from_str(&text).unwrap()
}

/// Tallies and the list of every mismatch, so one run shows all of them.
#[derive(Default)]
struct Report {
    detected: usize,
    files: usize,
    mapped: usize,
    pairs: usize,
    problems: Vec<String>,
}

impl Report {
    fn check<T: PartialEq + std::fmt::Debug>(&mut self, file: &str, what: &str, got: T, want: T) {
        if got != want {
            self.problems
                .push(format!("{file}: {what}: got {got:?}, expected {want:?}"));
        }
    }
}

#[test]
fn the_corpus_reads_as_expected() {
    let manifest = manifest();
    assert!(
        manifest.file.len() >= 40,
        "the corpus holds {} files",
        manifest.file.len()
    );
    let mut report = Report::default();
    for expected in &manifest.file {
        run_one(expected, &mut report);
    }
    let detection = report.detected as f64 / report.files as f64;
    let mapping = report.mapped as f64 / report.pairs as f64;
    println!(
        "file corpus: {} files; detection accuracy {:.1}% ({}/{}); mapping accuracy {:.1}% ({}/{} columns)",
        report.files,
        detection * 100.0,
        report.detected,
        report.files,
        mapping * 100.0,
        report.mapped,
        report.pairs
    );
    for p in &report.problems {
        println!("  MISMATCH {p}");
    }
    assert!(
        detection >= 0.98,
        "detection accuracy {detection:.3} is below 0.98"
    );
    assert!(
        mapping >= 0.95,
        "mapping accuracy {mapping:.3} is below 0.95"
    );
    assert!(
        report.problems.is_empty(),
        "{} mismatches:\n{}",
        report.problems.len(),
        report.problems.join("\n")
    );
}

fn run_one(expected: &Expected, report: &mut Report) {
    let name = expected.name.as_str();
    let bytes = std::fs::read(corpus_dir().join(name)).unwrap();
    let options = expected.options.clone().unwrap_or_default();
    let want_format = FileFormat::from_name(&expected.format).unwrap();
    report.files += 1;
    let detection = files::detect(&bytes);
    if detection.format == want_format {
        report.detected += 1;
    } else {
        report.check(name, "format", detection.format, want_format);
    }
    if let Some(sub) = &expected.sub_kind {
        report.check(name, "sub-kind", detection.sub_kind, Some(sub.as_str()));
    }
    if let Some(encoding) = &expected.encoding {
        report.check(
            name,
            "encoding",
            detection.encoding.name(),
            encoding.as_str(),
        );
    }
    if let Some(d) = &expected.delimiter {
        report.check(
            name,
            "delimiter",
            detection.delimiter.map(char::from),
            d.chars().next(),
        );
    }
    if want_format != FileFormat::Text && expected.error.is_none() {
        if detection.confidence < 0.8 {
            report.problems.push(format!(
                "{name}: confidence {} below 0.8",
                detection.confidence
            ));
        }
    } else if want_format == FileFormat::Text && detection.confidence >= 0.8 {
        report.problems.push(format!(
            "{name}: text with confidence {}",
            detection.confidence
        ));
    }
    // Without the `parquet` feature a Parquet file is detected and refused as unsupported.
    let error = match &expected.error {
        _ if want_format == FileFormat::Parquet && !cfg!(feature = "parquet") => {
            Some("unsupported".to_owned())
        }
        other => other.clone(),
    };
    let processed = match (files::process(&bytes, &options), &error) {
        (Err(e), Some(kind)) => {
            report.check(name, "error kind", e.kind(), kind.as_str());
            if let (Some(line), Some(_)) = (expected.error_line, &expected.error) {
                report.check(name, "error line", e.line(), Some(line));
            }
            assert!(!e.to_string().is_empty());
            return;
        }
        (Ok(_), Some(kind)) => {
            report
                .problems
                .push(format!("{name}: read, expected the error {kind}"));
            return;
        }
        (Err(e), None) => {
            report.problems.push(format!("{name}: failed: {e}"));
            return;
        }
        (Ok(p), None) => p,
    };
    // Mapping, pair by pair.
    for (source, target) in &expected.mapping {
        report.pairs += 1;
        let want = Target::from_name(target).unwrap();
        let got = processed
            .mapping
            .column_mappings
            .iter()
            .find(|m| &m.source == source)
            .map(|m| m.target);
        if got == Some(want) {
            report.mapped += 1;
        } else {
            report.check(name, &format!("mapping of {source:?}"), got, Some(want));
        }
    }
    for source in &expected.unmapped {
        if let Some(m) = processed
            .mapping
            .column_mappings
            .iter()
            .find(|m| &m.source == source)
        {
            report.problems.push(format!(
                "{name}: {source:?} mapped to {:?}, expected unmapped",
                m.target
            ));
        }
    }
    report.check(
        name,
        "needs review",
        processed.needs_review(),
        expected.needs_review,
    );
    let issue_kinds: Vec<&str> = processed.schema.issues.iter().map(|i| i.kind).collect();
    for kind in &expected.issues {
        if !issue_kinds.contains(&kind.as_str()) {
            report.problems.push(format!(
                "{name}: issue {kind} not reported ({issue_kinds:?})"
            ));
        }
    }
    let score = processed.schema.quality_score;
    assert!(
        (0.0..=1.0).contains(&score),
        "{name}: quality score {score}"
    );
    let json = serde_json::to_value(&processed.schema).unwrap();
    assert!(json.get("qualityScore").is_some() && json.get("issues").is_some());
    // Conversion, then the common parser, which bronze and silver use.
    let mut transactions = processed.transactions();
    let payloads: Vec<_> = match transactions.by_ref().collect::<Result<Vec<_>, _>>() {
        Ok(p) => p,
        Err(e) => {
            report
                .problems
                .push(format!("{name}: conversion failed: {e}"));
            return;
        }
    };
    let stats = transactions.stats().clone();
    let mut parsed = Vec::new();
    for payload in payloads {
        match Transaction::parse(payload.clone()) {
            Ok(t) => parsed.push(t),
            Err(e) => report
                .problems
                .push(format!("{name}: the parser refused {payload}: {e}")),
        }
    }
    if let Some(n) = expected.transactions {
        report.check(name, "transactions", parsed.len() as u64, n);
    }
    let items: u64 = parsed.iter().map(|t| t.items.len() as u64).sum();
    if let Some(n) = expected.items {
        report.check(name, "items", items, n);
    }
    if let Some(revenue) = expected.revenue_centavos {
        let item_centavos: Vec<i64> = parsed
            .iter()
            .flat_map(|t| &t.items)
            .map(|i| (i.total_price.unwrap_or(f64::NAN) * 100.0).round() as i64)
            .collect();
        let parsed_revenue: i64 = item_centavos.iter().sum();
        report.check(
            name,
            "revenue (centavos, as parsed)",
            parsed_revenue,
            revenue,
        );
        report.check(
            name,
            "revenue (centavos, counted)",
            stats.revenue_centavos,
            revenue,
        );
        let sold: i64 = item_centavos.iter().filter(|c| **c >= 0).sum();
        report.check(
            name,
            "sales revenue (centavos, as parsed)",
            sold,
            expected.silver_revenue_centavos.unwrap_or(revenue),
        );
    }
    if let Some(n) = expected.summary_rows {
        report.check(name, "summary rows skipped", stats.summary_rows_skipped, n);
    }
    if let Some(ts) = &expected.first_timestamp {
        let want: DateTime<Utc> = DateTime::parse_from_rfc3339(ts)
            .unwrap()
            .with_timezone(&Utc);
        report.check(
            name,
            "first timestamp",
            parsed.first().and_then(|t| t.timestamp),
            Some(want),
        );
    }
    if !expected.needs_review {
        let stamped = parsed.iter().filter(|t| t.timestamp.is_some()).count();
        report.check(name, "transactions with a timestamp", stamped, parsed.len());
    }
    if expected.derived_ids {
        let derived = parsed.iter().all(|t| t.transaction_id.starts_with("file-"));
        report.check(name, "derived ids", derived, true);
    }
    if let Some(product) = &expected.product_example {
        let found = parsed
            .iter()
            .flat_map(|t| &t.items)
            .any(|i| i.product_name.as_deref() == Some(product.as_str()));
        report.check(name, &format!("a product named {product:?}"), found, true);
    }
}
