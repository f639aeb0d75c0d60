//! File ingestion benchmark: detection + reading + schema inference + column mapping of small
//! sales files, in files per second on one core (issue 12's target: 1,000 files/s).
//!
//! `cargo bench -p scout-collector --bench files` (env: `SCOUT_BENCH_FILES`, default 1000,
//! 100 with `SCOUT_BENCH_QUICK=1`). The inputs are the readable files of the test corpus
//! (`collector/tests/data/files/`: CSV in several dialects and encodings, TSV, JSON, NDJSON,
//! XML, xlsx, xls, Parquet), taken in turn until the count is reached, each with one byte of
//! its own changed where that keeps it readable (a trailing newline), so no two inputs are the
//! same bytes. Prints the rate overall and per format; a full run fails below the target.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // a bench binary

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use scout_collector::files::{self, Options};

#[path = "support/quick.rs"]
mod quick;

/// Files per second one core must detect, read, infer and map (issue 12).
const FLOOR_FILES_PER_SEC: f64 = 1_000.0;

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/files");
    let mut out = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    for name in names {
        if name.ends_with(".py") || name.ends_with(".toml") {
            continue;
        }
        let bytes = std::fs::read(dir.join(&name)).unwrap();
        // Only files that read: the bench measures the work on real tables.
        if files::process(&bytes, &Options::default()).is_ok() {
            out.push((name, bytes));
        }
    }
    out
}

fn main() {
    quick::announce();
    let n = quick::size("SCOUT_BENCH_FILES", 1_000, 100);
    let corpus = corpus();
    assert!(
        corpus.len() >= 30,
        "only {} readable corpus files",
        corpus.len()
    );
    let inputs: Vec<(String, String, Vec<u8>)> = (0..n)
        .map(|i| {
            let (name, bytes) = &corpus[i % corpus.len()];
            let mut bytes = bytes.clone();
            let text_like = !bytes.starts_with(b"PK")
                && !bytes.starts_with(b"PAR1")
                && !bytes.starts_with(&[0xD0, 0xCF])
                && !bytes.starts_with(&[0xFF, 0xFE])
                && !bytes.starts_with(&[0xFE, 0xFF]);
            if text_like && i >= corpus.len() {
                bytes.extend(std::iter::repeat_n(b'\n', i / corpus.len()));
            }
            let format = files::detect(&bytes).format.to_string();
            (name.clone(), format, bytes)
        })
        .collect();
    let options = Options::default();
    let mut per_format: BTreeMap<String, (usize, Duration)> = BTreeMap::new();
    let mut rows = 0usize;
    let start = Instant::now();
    for (_, format, bytes) in &inputs {
        let one = Instant::now();
        let processed = files::process(black_box(bytes), &options).unwrap();
        rows += black_box(processed.sample.len());
        let entry = per_format.entry(format.clone()).or_default();
        entry.0 += 1;
        entry.1 += one.elapsed();
    }
    let elapsed = start.elapsed();
    let rate = inputs.len() as f64 / elapsed.as_secs_f64();
    println!(
        "detection + reading + inference + mapping: {} files ({} distinct, {rows} rows) in {:.1} ms",
        inputs.len(),
        corpus.len(),
        elapsed.as_secs_f64() * 1000.0
    );
    for (format, (count, time)) in &per_format {
        println!(
            "  {format:<8} {count:>5} files  {:>10.0} files/s",
            *count as f64 / time.as_secs_f64()
        );
    }
    println!(
        "  files/s on one core: {rate:.0} (floor {FLOOR_FILES_PER_SEC:.0}{})",
        if quick::quick() {
            ", not checked in quick mode"
        } else {
            ""
        }
    );
    if !quick::quick() {
        assert!(
            rate >= FLOOR_FILES_PER_SEC,
            "{rate:.0} files/s is below the floor of {FLOOR_FILES_PER_SEC:.0}"
        );
    }
}
