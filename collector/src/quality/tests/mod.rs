//! Quality-score tests: the formula's tables here, with the helpers every test file shares
//! ([`assert_explained`] above all: the issues explain the score); the real fixtures and each
//! check alone for transactions (`transaction.rs`) and items (`item.rs`); and a property test
//! that any input gets a score in 0..1 that its issues explain (`properties.rs`).

mod item;
mod properties;
mod transaction;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};

use super::*;
use scout_common::Transaction;

const CLEAN: &str = include_str!("../../../../common/testdata/scoutpi_clean.json");
const QUIRKY: &str = include_str!("../../../../common/testdata/scoutpi_quirky.json");

/// A collector clock a few days after the fixtures' sales.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 9, 15, 12, 0, 0).unwrap()
}

fn ctx() -> Context {
    Context::new(now())
}

fn clean_json() -> Value {
    serde_json::from_str(CLEAN).unwrap()
}

fn parse(v: Value) -> Transaction {
    Transaction::parse(v).unwrap()
}

fn score(v: Value) -> QualityScore {
    let q = score_transaction(&parse(v), &ctx());
    assert_explained(&q);
    q
}

fn codes(q: &QualityScore) -> Vec<&'static str> {
    q.issues.iter().map(|i| i.code).collect()
}

/// The issues explain the score, and the dimensions explain it too.
fn assert_explained(q: &QualityScore) {
    assert!((0.0..=1.0).contains(&q.score), "score {}", q.score);
    let charged: f64 = q.issues.iter().map(|i| i.penalty).sum();
    assert!(
        (q.score - (1.0 - charged).clamp(0.0, 1.0)).abs() < 1e-9,
        "score {} but 1 − Σ penalties = {}",
        q.score,
        1.0 - charged
    );
    let weighted: f64 = Dimension::ALL
        .iter()
        .map(|d| d.weight() * q.dimensions.get(*d))
        .sum();
    assert!(
        (q.score - weighted).abs() <= 1e-4 + 1e-12,
        "score {} but Σ weight × dimension = {weighted}",
        q.score
    );
    for d in Dimension::ALL {
        let dim = q.dimensions.get(d);
        assert!((0.0..=1.0).contains(&dim), "{d:?} = {dim}");
        let of_d: f64 = q
            .issues
            .iter()
            .filter(|i| i.dimension == d)
            .map(|i| i.penalty)
            .sum();
        assert!(of_d <= d.weight() + 1e-9, "{d:?} charged {of_d}");
    }
    for issue in &q.issues {
        assert!(issue.penalty > 0.0, "{issue:?}");
        assert!(issue.penalty <= issue.dimension.weight(), "{issue:?}");
        assert!(
            !issue.code.is_empty() && !issue.message.is_empty(),
            "{issue:?}"
        );
        assert_eq!(
            issue.penalty,
            (issue.penalty * 1e4).round() / 1e4,
            "{issue:?}"
        );
    }
    if q.issues.is_empty() {
        assert_eq!(q.score, 1.0);
    }
}

// ── The formula's tables ──────────────────────────────────────────────────────────────────────

#[test]
fn check_weights_add_up_to_their_dimensions_and_to_one() {
    for (name, checks) in [
        ("transaction", &TRANSACTION_CHECKS[..]),
        ("item", &ITEM_CHECKS[..]),
    ] {
        let total: f64 = checks.iter().map(|c| c.weight).sum();
        assert!((total - 1.0).abs() < 1e-9, "{name}: {total}");
        for d in Dimension::ALL {
            let of_d: f64 = checks
                .iter()
                .filter(|c| c.dimension == d)
                .map(|c| c.weight)
                .sum();
            assert!((of_d - d.weight()).abs() < 1e-9, "{name} {d:?}: {of_d}");
        }
        let mut names: Vec<_> = checks.iter().map(|c| c.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), checks.len(), "{name}: check names are unique");
    }
    let dims: f64 = Dimension::ALL.iter().map(|d| d.weight()).sum();
    assert!((dims - 1.0).abs() < 1e-9);
}

#[test]
fn credit_is_full_from_0_8_and_half_when_unknown() {
    assert_eq!(credit(Some(0.9)), 1.0);
    assert_eq!(credit(Some(0.8)), 1.0);
    assert!((credit(Some(0.4)) - 0.5).abs() < 1e-12);
    assert_eq!(credit(Some(-1.0)), 0.0);
    assert_eq!(credit(None), UNKNOWN_CREDIT);
    assert_eq!(credit(Some(f64::NAN)), UNKNOWN_CREDIT);
}
