//! Accuracy on the labelled set: product names and Taglish transcripts written for this purpose,
//! each with the brand(s) a person reads in it or UNKNOWN. The test prints every miss.

use std::collections::BTreeSet;

use scout_collector::brands::Category;

use crate::matcher;

const LABELS: &str = include_str!("../data/brand_labels.tsv");
const REQUIRED_ACCURACY: f64 = 0.95;

struct Row {
    line: usize,
    group: String,
    text: String,
    expected: Vec<String>,
}

fn rows() -> Vec<Row> {
    let mut group = String::new();
    let mut out = Vec::new();
    for (i, line) in LABELS.lines().enumerate() {
        if let Some(g) = line.strip_prefix("##") {
            group = g.trim().to_owned();
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (text, expected) = line
            .split_once('\t')
            .unwrap_or_else(|| panic!("brand_labels.tsv line {}: no tab", i + 1));
        let expected = if expected == "UNKNOWN" {
            Vec::new()
        } else {
            expected.split(" | ").map(str::to_owned).collect()
        };
        out.push(Row {
            line: i + 1,
            group: group.clone(),
            text: text.to_owned(),
            expected,
        });
    }
    out
}

/// What the matcher says for a row, in the row's terms.
fn answer(row: &Row) -> Vec<String> {
    let m = matcher();
    if row.expected.len() > 1 {
        let mut all: Vec<String> = m
            .detect_all(&row.text)
            .into_iter()
            .map(|d| d.brand.name.clone())
            .collect();
        all.sort();
        all
    } else if row.expected.is_empty() {
        // Noise must give nothing at all, not even in the all-brands (fuzzy always) mode.
        let mut all: Vec<String> = m
            .detect_all(&row.text)
            .into_iter()
            .map(|d| d.brand.name.clone())
            .collect();
        if let Some(d) = m.detect(&row.text) {
            all.push(d.brand.name.clone());
        }
        all.sort();
        all.dedup();
        all
    } else {
        m.detect(&row.text)
            .map(|d| vec![d.brand.name.clone()])
            .unwrap_or_default()
    }
}

#[test]
fn labelled_set_is_large_and_covers_every_category() {
    let rows = rows();
    assert!(rows.len() >= 300, "{} rows", rows.len());
    let unknown = rows.iter().filter(|r| r.expected.is_empty()).count();
    assert!(unknown >= 40, "{unknown} unknown rows");
    let m = matcher();
    let mut categories = BTreeSet::new();
    for row in &rows {
        for name in &row.expected {
            let brand = m
                .brand(name)
                .unwrap_or_else(|| panic!("line {}: {name:?} is not a dictionary brand", row.line));
            assert_eq!(
                &brand.name, name,
                "line {}: write the canonical name",
                row.line
            );
            categories.insert(brand.category);
        }
    }
    let missing: Vec<_> = Category::ALL
        .iter()
        .filter(|c| !categories.contains(c))
        .collect();
    assert!(missing.is_empty(), "no labelled rows for {missing:?}");
}

#[test]
fn labelled_set_accuracy() {
    let rows = rows();
    let mut misses = Vec::new();
    for row in &rows {
        let mut want = row.expected.clone();
        want.sort();
        let got = answer(row);
        if got != want {
            misses.push(format!(
                "  line {:>3} [{}] {:?}: expected {}, got {}",
                row.line,
                row.group,
                row.text,
                show(&want),
                show(&got)
            ));
        }
    }
    let accuracy = 1.0 - misses.len() as f64 / rows.len() as f64;
    println!(
        "brand matcher: {}/{} labelled rows right ({:.1}%), {} misses",
        rows.len() - misses.len(),
        rows.len(),
        accuracy * 100.0,
        misses.len()
    );
    for m in &misses {
        println!("{m}");
    }
    assert!(
        accuracy >= REQUIRED_ACCURACY,
        "accuracy {:.1}% is below {:.0}%:\n{}",
        accuracy * 100.0,
        REQUIRED_ACCURACY * 100.0,
        misses.join("\n")
    );
}

fn show(brands: &[String]) -> String {
    if brands.is_empty() {
        "UNKNOWN".to_owned()
    } else {
        brands.join(" | ")
    }
}
