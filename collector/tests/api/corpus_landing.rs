//! Every readable file of the ingestion corpus (`collector/tests/data/files/`, expectations in
//! its `manifest.toml`, written by `generate.py` from the sales it made up) imported on both
//! backends, each into a database of its own: the revenue that reaches silver and gold is the
//! generator's to the centavo (sales only: a return is quarantined), and a file left for review
//! lands nothing.

use std::sync::Arc;

use futures_util::{StreamExt as _, stream};
use scout_collector::brands::BrandMatcher;
use scout_collector::files::Options;
use scout_collector::import::{ImportOptions, import_file};
use scout_collector::pipeline::{Pipeline, PipelineOptions};
use serde::Deserialize;

use crate::helpers::{Backend, TestDb, corpus};

crate::both_backends!(every_corpus_file_lands_its_revenue_in_silver_and_gold);

#[derive(Debug, Deserialize)]
struct Manifest {
    file: Vec<Expected>,
}

/// What this test reads of a file's expectations (the pure stage's suite reads the rest).
#[derive(Debug, Deserialize)]
struct Expected {
    name: String,
    format: String,
    transactions: Option<u64>,
    revenue_centavos: Option<i64>,
    silver_revenue_centavos: Option<i64>,
    #[serde(default)]
    needs_review: bool,
    options: Option<Options>,
    error: Option<String>,
}

/// Files imported at once, each into its own database (PostgreSQL spends most of a file's time
/// creating and migrating its database).
const AT_ONCE: usize = 4;

async fn every_corpus_file_lands_its_revenue_in_silver_and_gold(backend: Backend) {
    let text = std::fs::read_to_string(corpus("manifest.toml")).unwrap();
    let manifest: Manifest = toml::from_str(&text).unwrap();
    let matcher = Arc::new(BrandMatcher::shipped().unwrap());
    let outcomes: Vec<(Landing, Vec<String>)> = stream::iter(&manifest.file)
        .map(|expected| land(backend, expected, &matcher))
        .buffer_unordered(AT_ONCE)
        .collect()
        .await;
    let count = |kind: Landing| outcomes.iter().filter(|(k, _)| *k == kind).count();
    let (landed, held) = (count(Landing::ToGold), count(Landing::HeldForReview));
    println!("corpus landed on {backend:?}: {landed} files to gold, {held} held for review");
    let problems: Vec<String> = outcomes.into_iter().flat_map(|(_, p)| p).collect();
    assert!(landed >= 40, "only {landed} corpus files landed");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Landing {
    ToGold,
    HeldForReview,
    /// A broken file (the broken-file tests cover it) or one without expected revenue.
    NotChecked,
}

/// Imports one file into a database of its own and brings silver and gold up to date; returns
/// how it landed and what differed from the manifest.
async fn land(
    backend: Backend,
    expected: &Expected,
    matcher: &Arc<BrandMatcher>,
) -> (Landing, Vec<String>) {
    let mut problems = Vec::new();
    if expected.error.is_some() || (expected.format == "parquet" && !cfg!(feature = "parquet")) {
        return (Landing::NotChecked, problems);
    }
    let Some(revenue) = expected
        .revenue_centavos
        .or(expected.needs_review.then_some(0))
    else {
        return (Landing::NotChecked, problems);
    };
    let db = TestDb::for_backend(backend).await.unwrap();
    let store = db.store().await;
    let options = ImportOptions {
        files: expected.options.clone().unwrap_or_default(),
        ..ImportOptions::default()
    };
    let name = &expected.name;
    let report = import_file(&store, &corpus(name), &options).await.unwrap();
    Pipeline::new(store.clone(), matcher.clone(), PipelineOptions::default())
        .catch_up()
        .await
        .unwrap();
    let sum = async |sql: &str| store.query_int(sql, &[]).await.unwrap();
    let silver =
        sum("SELECT CAST(sum(amount_centavos) AS BIGINT) FROM silver.transactions_cleaned").await;
    let gold =
        sum("SELECT CAST(sum(revenue_centavos) AS BIGINT) FROM scout.scout_gold_transactions")
            .await;
    let bronze = sum("SELECT count(*) FROM bronze.raw_transactions").await;
    let mut check = |what: &str, got: i64, want: i64| {
        if got != want {
            problems.push(format!("{name}: {what}: got {got}, want {want}"));
        }
    };
    let landing = if expected.needs_review {
        check(
            "status needs_review",
            i64::from(report.status == "needs_review"),
            1,
        );
        check("bronze rows of a file left for review", bronze, 0);
        check("silver revenue of a file left for review", silver, 0);
        Landing::HeldForReview
    } else {
        check(
            "status processed",
            i64::from(report.status == "processed"),
            1,
        );
        if let Some(n) = expected.transactions {
            check("transactions landed", bronze, n as i64);
        }
        let sold = expected.silver_revenue_centavos.unwrap_or(revenue);
        check("silver revenue (centavos)", silver, sold);
        check(
            "the report's sales (revenue plus returns, centavos)",
            report.revenue_centavos + report.returns_centavos,
            sold,
        );
        check("gold revenue (centavos)", gold, sold);
        Landing::ToGold
    };
    db.cleanup().await;
    (landing, problems)
}
