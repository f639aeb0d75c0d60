//! Medallion benchmark: bronze → silver → gold for about 1,000,000 purchased items, on each
//! backend, with baselines measured in the same run on the same rows:
//! - silver against a plain copy of the finished silver table (`CREATE TABLE … AS SELECT *`):
//!   what writing the same rows costs the database without any of the stage's work; and against
//!   an insert of the same rows into an empty table with silver's three indexes (what keeping
//!   those indexes adds to the copy, which the stage cannot avoid);
//! - the gold refresh against the bare `GROUP BY` of silver at gold's grain, and against the
//!   bare `GROUP BY`s of silver at the grains of the three analytics tables a rebuild reads
//!   silver for (the rest of its seven tables are rolled up from those).
//!
//! Each timed step starts after a checkpoint, so none pays for the writes of the step before.
//!
//! Then an incremental pass: 1,000 new transactions for today and a late one for an old day,
//! processed as a running collector would (how far behind ingest the stages stay).
//!
//! `cargo bench -p scout-collector --bench medallion` (env: `SCOUT_BENCH_ITEMS`, default
//! 1000000, 10000 with `SCOUT_BENCH_QUICK=1`; `SCOUT_BENCH_PG_URL`, default postgres://postgres@127.0.0.1:5432/postgres;
//! `SCOUT_BENCH_BACKENDS`, default `postgres,sqlite`; `SCOUT_BENCH_KEEP=1` keeps the PostgreSQL
//! database for a look at the plans; `SCOUT_BENCH_SILVER_BATCH` and `SCOUT_BENCH_SILVER_WORKERS`
//! try other silver batch sizes and worker counts than the pipeline's defaults). Prints figures;
//! asserts only that gold revenue equals silver's.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // a bench binary

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use scout_collector::brands::BrandMatcher;
use scout_collector::bronze::BronzeRow;
use scout_collector::pipeline::{Pipeline, PipelineOptions};
use scout_collector::silver::{self, BronzeRecord};
use scout_collector::store::{Backend, Store, StoreOptions};

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

/// Bronze rows holding about `items` items: 50 stores over the last 30 days.
fn bronze(items: usize, first_seq: usize, today_only: bool) -> (Vec<BronzeRow>, usize) {
    bronze::rows(
        0x5c0_7ba5e ^ first_seq as u64,
        items,
        first_seq,
        STORES,
        DAYS,
        today_only,
    )
}

/// The silver stage's CPU work alone, on one core: every row through `silver::build_with`.
fn build_alone(rows: &[BronzeRow]) -> Duration {
    let matcher = BrandMatcher::shipped().unwrap();
    let now = Utc::now();
    let records: Vec<BronzeRecord> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| BronzeRecord {
            bronze_id: i as i64,
            transaction_id: r.transaction_id.clone(),
            store_id: r.store_id.clone(),
            device_id: r.device_id.clone(),
            transaction_timestamp: r.transaction_timestamp,
            payload: r.payload.clone(),
            captured_at: r.captured_at,
            device_seq: r.device_seq,
            agent_version: r.agent_version.clone(),
            endpoint: None,
        })
        .collect();
    let started = Instant::now();
    let mut n = 0;
    // As the pipeline builds: a default batch split over two threads, one memo per part.
    for part in records.chunks(1000) {
        let mut memo = scout_collector::brands::ItemMemo::new();
        for r in part {
            n += std::hint::black_box(silver::build_with(r, &matcher, now, &mut memo))
                .rows
                .len();
        }
    }
    assert!(n > 0);
    started.elapsed()
}

async fn load(store: &Store, rows: &[BronzeRow]) -> Duration {
    let started = Instant::now();
    for chunk in rows.chunks(1000) {
        store.insert_bronze(chunk).await.unwrap();
    }
    started.elapsed()
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Writes out what earlier steps left in memory (PostgreSQL's `CHECKPOINT`, SQLite's WAL
/// checkpoint), so that each timed step starts from the same state rather than paying for the
/// writes of the one before.
async fn settle(store: &Store) {
    let sql = match store.backend() {
        Backend::Postgres => "CHECKPOINT",
        Backend::Sqlite => "PRAGMA wal_checkpoint(TRUNCATE)",
    };
    store.execute(sql, &[]).await.unwrap();
}

/// Executes `sql` and returns how long it took.
async fn timed(store: &Store, sql: &str) -> Duration {
    let started = Instant::now();
    store.execute(sql, &[]).await.unwrap();
    started.elapsed()
}

/// The database `store` reaches, through sessions that plan with the memory gold's rebuild
/// gives its own statements (`work_mem` 64 MB on PostgreSQL), so that a baseline `GROUP BY`
/// hashes as the rebuild's aggregates do instead of sorting on disk. SQLite has no such setting.
async fn planned_as_the_rebuild(backend: &str, store: &Store) -> Store {
    if backend != "postgres" {
        return store.clone();
    }
    let name = store
        .query_texts("SELECT current_database()", &[])
        .await
        .unwrap()
        .remove(0)
        .unwrap();
    let mut url = sqlx::ConnectOptions::to_url_lossy(
        &sqlx::postgres::PgConnectOptions::from_str(&database::admin_url())
            .unwrap()
            .database(&name),
    );
    url.query_pairs_mut()
        .append_pair("options[work_mem]", "64MB");
    Store::connect(url.as_str(), &StoreOptions::default())
        .await
        .unwrap()
}

/// Silver and gold revenue in centavos, all days.
async fn revenue(store: &Store) -> (i64, i64) {
    let one = |sql: &'static str| store.query_int(sql, &[]);
    (
        one("SELECT CAST(sum(amount_centavos) AS BIGINT) FROM silver.transactions_cleaned")
            .await
            .unwrap(),
        one("SELECT CAST(sum(revenue_centavos) AS BIGINT) FROM scout.scout_gold_transactions")
            .await
            .unwrap(),
    )
}

/// The pipeline's options, with the silver batch size and workers from
/// `SCOUT_BENCH_SILVER_BATCH` and `SCOUT_BENCH_SILVER_WORKERS` where set (to try other values).
fn options() -> PipelineOptions {
    let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse().ok());
    let mut options = PipelineOptions::default();
    if let Some(batch) = var("SCOUT_BENCH_SILVER_BATCH") {
        options.silver_batch = batch as i64;
    }
    if let Some(workers) = var("SCOUT_BENCH_SILVER_WORKERS") {
        options.silver_workers = workers;
    }
    options
}

async fn run(backend: &str, store: &Store, items: usize) {
    let pipeline = Pipeline::new(
        store.clone(),
        Arc::new(BrandMatcher::shipped().unwrap()),
        options(),
    );
    let (rows, item_count) = bronze(items, 0, false);
    let tx_count = rows.len();
    let loaded = load(store, &rows).await;
    let build_cpu = build_alone(&rows);
    drop(rows);
    println!(
        "\n[{backend}] {tx_count} transactions, {item_count} items, {STORES} stores, {DAYS} days \
         (bronze loaded in {:.1} s)",
        secs(loaded)
    );

    // Silver: every bronze row, batch after batch, as a collector does.
    settle(store).await;
    let started = Instant::now();
    let silver = pipeline.silver_pass().await.unwrap().silver_rows;
    let silver_time = started.elapsed();
    // Gold: the first build of every partition.
    settle(store).await;
    let started = Instant::now();
    let partitions = pipeline.gold_pass().await.unwrap().partitions;
    let gold_first = started.elapsed();
    // Gold refresh: every partition queued again and rebuilt from silver.
    store.queue_gold_rebuild().await.unwrap();
    settle(store).await;
    let started = Instant::now();
    pipeline.gold_pass().await.unwrap();
    let gold_refresh = started.elapsed();
    let (s, g) = revenue(store).await;
    assert_eq!(s, g, "gold revenue equals silver");

    // Baselines on the same rows.
    let copy_sql = "CREATE TABLE bench_silver_copy AS SELECT * FROM silver.transactions_cleaned";
    let group_sql = "SELECT count(*) FROM (SELECT transaction_date, store_id, brand_name, \
         product_category, sum(amount_centavos), count(DISTINCT transaction_id) \
         FROM silver.transactions_cleaned GROUP BY 1, 2, 3, 4) x";
    settle(store).await;
    let copy = timed(store, copy_sql).await;
    settle(store).await;
    let group = timed(store, group_sql).await;
    let planned = planned_as_the_rebuild(backend, store).await;
    let mut groups = Duration::ZERO;
    for grain in [
        "daypart, day_type, payment_method, basket_band, age_bracket, gender",
        "daypart, day_type, brand_name, product_category",
        "day_type, payment_method, brand_name, product_category",
    ] {
        groups += timed(
            &planned,
            &format!(
                "SELECT count(*) FROM (SELECT transaction_date, store_id, {grain}, \
                 sum(amount_centavos), sum(quantity), count(*) \
                 FROM silver.transactions_cleaned GROUP BY transaction_date, store_id, {grain}) x"
            ),
        )
        .await;
    }
    for sql in [
        "CREATE TABLE bench_silver_indexed AS SELECT * FROM silver.transactions_cleaned WHERE 1 = 0",
        "CREATE UNIQUE INDEX bench_silver_indexed_key ON bench_silver_indexed (bronze_id, item_index)",
        "CREATE INDEX bench_silver_indexed_day ON bench_silver_indexed (transaction_date, store_id)",
        "CREATE INDEX bench_silver_indexed_customers ON bench_silver_indexed \
         (transaction_date, store_id) WHERE customer_id IS NOT NULL",
    ] {
        store.execute(sql, &[]).await.unwrap();
    }
    settle(store).await;
    let indexed = timed(
        store,
        "INSERT INTO bench_silver_indexed SELECT * FROM silver.transactions_cleaned",
    )
    .await;

    println!(
        "  silver:       {silver} rows in {:>6.2} s = {:>8.0} items/s   \
         (plain copy of the same rows {:.2} s: {:.1}× the copy's time)",
        secs(silver_time),
        silver as f64 / secs(silver_time),
        secs(copy),
        secs(silver_time) / secs(copy)
    );
    println!(
        "                (insert of the same rows into a table with silver's indexes {:.2} s: \
         {:.1}× its time)",
        secs(indexed),
        secs(silver_time) / secs(indexed)
    );
    println!(
        "                the stage's own work (parse, brands, scores; one core, no database): \
         {:.2} s = {:.0} items/s",
        secs(build_cpu),
        silver as f64 / secs(build_cpu)
    );
    println!(
        "  gold build:   {partitions} partitions in {:>6.2} s",
        secs(gold_first)
    );
    println!(
        "  gold refresh: {partitions} partitions in {:>6.2} s             \
         (bare GROUP BY of silver {:.2} s: {:.1}× its time)",
        secs(gold_refresh),
        secs(group),
        secs(gold_refresh) / secs(group)
    );
    println!(
        "                (bare GROUP BYs of silver at the three analytics grains {:.2} s: \
         {:.1}× their time)",
        secs(groups),
        secs(gold_refresh) / secs(groups)
    );

    // Incremental: today's new sales plus one late transaction, one pass.
    let (mut fresh, _) = bronze(6000, 10_000_000, true);
    let (late, _) = bronze(1, 20_000_000, false);
    fresh.truncate(1000);
    fresh.extend(late);
    load(store, &fresh).await;
    let report = pipeline.catch_up().await.unwrap();
    println!(
        "  incremental:  {} new transactions → {} silver rows in {:.3} s, \
         {} partitions rebuilt in {:.3} s",
        report.silver.bronze_rows,
        report.silver.silver_rows,
        report.silver_secs,
        report.gold.partitions,
        report.gold_secs
    );
    let (s, g) = revenue(store).await;
    assert_eq!(
        s, g,
        "gold revenue equals silver after the incremental pass"
    );
}

#[tokio::main]
async fn main() {
    quick::announce();
    let items = quick::size("SCOUT_BENCH_ITEMS", 1_000_000, 10_000);
    database::each_backend("scout_bench_medallion", async |name, store| {
        run(name, store, items).await;
    })
    .await;
}
