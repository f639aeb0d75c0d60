//! Platinum benchmark: questions answered over about 1,000,000 silver items on each backend.
//! Per question: the time to read it into a plan (grammar and brand matcher), the end-to-end
//! time of a fresh answer (plan, generate, version probe, read-only run, shaping, audit row)
//! as p50/p95, a cache hit, and, as the baseline measured in the same run, the bare generated
//! SQL run on the writer pool without any of the engine's work. Targets: planning < 1 ms,
//! p95 < 50 ms where gold or the analytics tables answer and < 300 ms for silver scans (the
//! manual says 200 ms), cache hits < 2 ms.
//!
//! `cargo bench -p scout-collector --bench platinum` (env: `SCOUT_BENCH_ITEMS`, default
//! 1000000, 5000 with `SCOUT_BENCH_QUICK=1`; `SCOUT_BENCH_REPEATS`, default 20, 3 quick;
//! `SCOUT_BENCH_PG_URL`; `SCOUT_BENCH_BACKENDS`, default `postgres,sqlite`). Prints figures;
//! asserts only that every question is answered.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // a bench binary

use std::sync::Arc;
use std::time::{Duration, Instant};

use scout_collector::Store;
use scout_collector::brands::BrandMatcher;
use scout_collector::bronze::BronzeRow;
use scout_collector::pipeline::{Pipeline, PipelineOptions};
use scout_collector::platinum::generate::generate;
use scout_collector::platinum::{Engine, Outcome, Reading, manila_today, read};

#[path = "support/bronze.rs"]
mod bronze;
#[path = "support/database.rs"]
mod database;
#[path = "support/quick.rs"]
mod quick;
#[path = "support/workload.rs"]
mod workload;

const STORES: usize = 50;
const DAYS: i64 = 30;

/// Questions over every class of table (the answer says which one it came from).
const QUESTIONS: &[&str] = &[
    "top 5 brands by revenue last 7 days",
    "kita ng bawat tindahan ngayong linggo",
    "units per category last month",
    "GCash vs cash in the evenings",
    "average basket per payment method this month",
    "transactions by age bracket and gender",
    "revenue by brand and daypart crosstab",
    "transactions per brand",
    "unique customers on weekends",
    "units by device last 7 days",
    "transactions by brand and payment method",
];

fn bronze(items: usize) -> Vec<BronzeRow> {
    bronze::rows(0x9_1a71_0000, items, 0, STORES, DAYS, false).0
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn run(name: &str, store: &Store, items: usize, repeats: usize) {
    let rows = bronze(items);
    for chunk in rows.chunks(1000) {
        store.insert_bronze(chunk).await.unwrap();
    }
    let matcher = Arc::new(BrandMatcher::shipped().unwrap());
    let pipeline = Pipeline::new(
        store.clone(),
        Arc::clone(&matcher),
        PipelineOptions::default(),
    );
    pipeline.catch_up().await.unwrap();
    let silver = store
        .query_int("SELECT count(*) FROM silver.transactions_cleaned", &[])
        .await
        .unwrap();
    println!("{name}: {silver} silver items; {repeats} runs per question");
    println!(
        "  {:<58} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7}",
        "question (table)", "plan µs", "p50 ms", "p95 ms", "bare ms", "hit ms", "×bare"
    );
    let as_of = manila_today();
    for question in QUESTIONS {
        // Planning alone.
        let started = Instant::now();
        let mut plan = None;
        for _ in 0..repeats.max(10) {
            if let Reading::Plan { plan: p, .. } = read(question, as_of, Some(&matcher)) {
                plan = Some(p);
            }
        }
        let planning = started.elapsed() / repeats.max(10) as u32;
        let plan = plan.unwrap_or_else(|| panic!("{question} was not read into a plan"));
        // End to end, fresh each time (a new engine has an empty cache).
        let mut fresh = Vec::with_capacity(repeats);
        let mut hit = Duration::MAX;
        let mut source = String::new();
        for _ in 0..repeats {
            let engine = Engine::new(store.clone()).with_brands(Arc::clone(&matcher));
            let started = Instant::now();
            let answer = engine.ask(question, Some(as_of)).await.unwrap();
            fresh.push(started.elapsed());
            let Outcome::Answered { answer, .. } = answer else {
                panic!("{question} was not answered: {answer:?}");
            };
            source = serde_json::to_string(&answer.source).unwrap();
            let started = Instant::now();
            engine.ask(question, Some(as_of)).await.unwrap();
            hit = hit.min(started.elapsed());
        }
        fresh.sort();
        // The bare generated SQL on the writer pool.
        let query = generate(&plan, store.backend(), as_of);
        let mut bare = Vec::with_capacity(repeats);
        for _ in 0..repeats {
            let started = Instant::now();
            store.query(&query.sql, &query.args()).await.unwrap();
            bare.push(started.elapsed());
        }
        bare.sort();
        let p50 = percentile(&fresh, 0.5);
        let bare50 = percentile(&bare, 0.5);
        println!(
            "  {:<58} {:>9.0} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>7.2}",
            format!("{question} ({})", source.trim_matches('"')),
            planning.as_secs_f64() * 1e6,
            ms(p50),
            ms(percentile(&fresh, 0.95)),
            ms(bare50),
            ms(hit),
            ms(p50) / ms(bare50).max(1e-6)
        );
    }
}

#[tokio::main]
async fn main() {
    quick::announce();
    let items = quick::size("SCOUT_BENCH_ITEMS", 1_000_000, 5_000);
    let repeats = quick::size("SCOUT_BENCH_REPEATS", 20, 3);
    database::each_backend("scout_bench_platinum", async |name, store| {
        run(name, store, items, repeats).await;
    })
    .await;
}
