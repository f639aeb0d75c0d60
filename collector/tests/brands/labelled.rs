//! Accuracy on the labelled set: product names as receipts print them and Taglish transcripts,
//! each with the brand(s) a person reads in it or UNKNOWN, in two splits: tuning
//! (`brand_labels.tsv`, the dictionary is fitted to it) and held-back
//! (`brand_labels_heldback.tsv`, written without looking at match results and never tuned on).
//! The test prints accuracy per split and per category, and every miss; it fails below the target
//! on either split or on any brand found in a noise row.

use std::collections::{BTreeMap, BTreeSet};

use scout_collector::brands::{BrandKind, Category};

use crate::matcher;

const TUNING: &str = include_str!("../data/brand_labels.tsv");
const HELD_BACK: &str = include_str!("../data/brand_labels_heldback.tsv");
const REQUIRED_ACCURACY: f64 = 0.97;

struct Row {
    split: &'static str,
    line: usize,
    group: String,
    text: String,
    expected: Vec<String>,
}

fn parse(split: &'static str, file: &str) -> Vec<Row> {
    let mut group = String::new();
    let mut out = Vec::new();
    for (i, line) in file.lines().enumerate() {
        if let Some(g) = line.strip_prefix("##") {
            group = g.trim().to_owned();
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (text, expected) = line
            .split_once('\t')
            .unwrap_or_else(|| panic!("{split} line {}: no tab", i + 1));
        let expected = if expected == "UNKNOWN" {
            Vec::new()
        } else {
            expected.split(" | ").map(str::to_owned).collect()
        };
        out.push(Row {
            split,
            line: i + 1,
            group: group.clone(),
            text: text.to_owned(),
            expected,
        });
    }
    out
}

fn rows() -> Vec<Row> {
    let mut all = parse("tuning", TUNING);
    all.extend(parse("held-back", HELD_BACK));
    all
}

/// The row's class in the report: its brand's category, "company", "multi-brand" or "noise".
fn class(row: &Row) -> String {
    match row.expected.as_slice() {
        [] => "noise".to_owned(),
        [one] => {
            let b = matcher().brand(one).expect("checked by the coverage test");
            match b.kind {
                BrandKind::Company => "company".to_owned(),
                BrandKind::Brand => b.category.as_str().to_owned(),
            }
        }
        _ => "multi-brand".to_owned(),
    }
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
    assert!(rows.len() >= 1500, "{} rows", rows.len());
    let m = matcher();
    for split in ["tuning", "held-back"] {
        let of_split: Vec<&Row> = rows.iter().filter(|r| r.split == split).collect();
        assert!(of_split.len() >= 450, "{split}: {} rows", of_split.len());
        let noise = of_split.iter().filter(|r| r.expected.is_empty()).count();
        assert!(noise >= 40, "{split}: {noise} noise rows");
        let mut categories = BTreeSet::new();
        for row in &of_split {
            for name in &row.expected {
                let brand = m.brand(name).unwrap_or_else(|| {
                    panic!(
                        "{split} line {}: {name:?} is not in the dictionary",
                        row.line
                    )
                });
                assert_eq!(
                    &brand.name, name,
                    "{split} line {}: write the canonical name",
                    row.line
                );
                categories.insert(brand.category);
            }
        }
        let missing: Vec<_> = Category::ALL
            .iter()
            .filter(|c| !categories.contains(c))
            .collect();
        assert!(
            missing.is_empty(),
            "{split}: no labelled rows for {missing:?}"
        );
    }
}

#[test]
fn labelled_set_accuracy() {
    let rows = rows();
    let mut failures = Vec::new();
    for split in ["tuning", "held-back"] {
        let mut misses = Vec::new();
        let mut noise_hits = Vec::new();
        // class → (right, total)
        let mut by_class: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        let of_split: Vec<&Row> = rows.iter().filter(|r| r.split == split).collect();
        for row in &of_split {
            let mut want = row.expected.clone();
            want.sort();
            let got = answer(row);
            let entry = by_class.entry(class(row)).or_default();
            entry.1 += 1;
            if got == want {
                entry.0 += 1;
                continue;
            }
            let miss = format!(
                "  {split} line {:>4} [{}] {:?}: expected {}, got {}",
                row.line,
                row.group,
                row.text,
                show(&want),
                show(&got)
            );
            if want.is_empty() {
                noise_hits.push(miss.clone());
            }
            misses.push(miss);
        }
        let accuracy = 1.0 - misses.len() as f64 / of_split.len() as f64;
        println!(
            "brand matcher, {split} split: {}/{} rows right ({:.1}%), {} misses, {} false positives on noise",
            of_split.len() - misses.len(),
            of_split.len(),
            accuracy * 100.0,
            misses.len(),
            noise_hits.len()
        );
        for (class, (right, total)) in &by_class {
            println!(
                "  {class:<26} {right:>4}/{total:<4} {:>5.1}%",
                100.0 * *right as f64 / *total as f64
            );
        }
        for m in &misses {
            println!("{m}");
        }
        if accuracy < REQUIRED_ACCURACY {
            failures.push(format!(
                "{split}: accuracy {:.1}% is below {:.0}%",
                accuracy * 100.0,
                REQUIRED_ACCURACY * 100.0
            ));
        }
        if !noise_hits.is_empty() {
            failures.push(format!(
                "{split}: brands found in noise rows:\n{}",
                noise_hits.join("\n")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn show(brands: &[String]) -> String {
    if brands.is_empty() {
        "UNKNOWN".to_owned()
    } else {
        brands.join(" | ")
    }
}
