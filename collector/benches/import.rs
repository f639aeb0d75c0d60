//! File import benchmark, end to end (issue 12's targets):
//! - **throughput:** a 100,000-row CSV imported (`scout_collector::import`) and taken to silver
//!   on PostgreSQL, against `COPY` of the same silver rows into an empty table shaped like
//!   silver (its columns and indexes), in the same run. Prints both times and the ratio of the
//!   import's throughput to COPY's (target ≥ 0.3).
//! - **memory:** the real `scout-collector import` binary importing a generated 1 GB CSV into a
//!   SQLite file; its peak resident memory (`VmHWM`, sampled from /proc while it runs, and the
//!   children's `maxrss` after) in MB (target ≤ 100).
//!
//! `cargo bench -p scout-collector --bench import` (env: `SCOUT_BENCH_ROWS`, default 100000,
//! 5000 with `SCOUT_BENCH_QUICK=1`; `SCOUT_BENCH_CSV_MB`, default 1024, 1 quick;
//! `SCOUT_BENCH_PG_URL`, default postgres://postgres@127.0.0.1:5432/postgres). The files are
//! generated into a temporary folder and removed after. Prints figures; asserts only that the
//! rows arrived.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // a bench binary

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use scout_collector::brands::BrandMatcher;
use scout_collector::import::{ImportOptions, import_file};
use scout_collector::pipeline::{Pipeline, PipelineOptions};
use scout_collector::store::{Store, StoreOptions};
use sqlx::{Connection, Executor, PgConnection};

#[path = "support/database.rs"]
mod database;
#[path = "support/quick.rs"]
mod quick;
use database::BenchDatabase;

/// Writes a sales CSV of one-item transactions (distinct ids) until it holds `rows` rows or
/// `bytes` bytes, whichever comes first; returns the rows written.
fn write_csv(path: &Path, rows: u64, bytes: u64) -> u64 {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let header = b"Txn ID,Date,Store,Product,Qty,Price,Payment\n";
    out.write_all(header).unwrap();
    let mut written = header.len() as u64;
    let products = [
        "Coke Mismo 290ml",
        "Lucky Me Pancit Canton",
        "Safeguard Bar 60g",
    ];
    let payments = ["GCash", "cash", "Maya"];
    let mut n = 0;
    let mut line = String::new();
    while n < rows && written < bytes {
        line.clear();
        use std::fmt::Write as _;
        let _ = writeln!(
            line,
            "T{n:09},2025-03-{:02} {:02}:{:02},{},{},{},{}.50,{}",
            n % 28 + 1,
            8 + n % 12,
            n % 60,
            100 + n % 20,
            products[(n % 3) as usize],
            n % 3 + 1,
            10 + n % 40,
            payments[(n % 3) as usize],
        );
        out.write_all(line.as_bytes()).unwrap();
        written += line.len() as u64;
        n += 1;
    }
    out.flush().unwrap();
    n
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

async fn throughput(admin_url: &str, rows: u64, dir: &Path) {
    let db = BenchDatabase::create(admin_url, "scout_bench_import").await;
    let store = Store::connect(&db.url, &StoreOptions::default())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let csv = dir.join("sales_100k.csv");
    let rows = write_csv(&csv, rows, u64::MAX);

    let started = Instant::now();
    let report = import_file(&store, &csv, &ImportOptions::default())
        .await
        .unwrap();
    let landed = started.elapsed();
    assert_eq!(report.status, "processed", "{report:?}");
    assert_eq!(report.inserted, rows, "{report:?}");
    Pipeline::new(
        store.clone(),
        Arc::new(BrandMatcher::shipped().unwrap()),
        PipelineOptions::default(),
    )
    .catch_up()
    .await
    .unwrap();
    let import = started.elapsed();
    let silver_rows = store
        .query_int(
            "SELECT count(*) FROM silver.transactions_cleaned WHERE data_source = 'drive'",
            &[],
        )
        .await
        .unwrap();
    assert!(silver_rows >= i64::try_from(rows).unwrap(), "{silver_rows}");

    // The baseline: COPY of exactly those silver rows into an empty table of silver's shape.
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    conn.execute(
        "CREATE TABLE public.bench_copy (LIKE silver.transactions_cleaned INCLUDING INDEXES)",
    )
    .await
    .unwrap();
    let mut out = conn
        .copy_out_raw("COPY silver.transactions_cleaned TO STDOUT")
        .await
        .unwrap();
    let mut data = Vec::new();
    {
        use futures_util::StreamExt as _;
        while let Some(chunk) = out.next().await {
            data.extend_from_slice(&chunk.unwrap());
        }
    }
    drop(out);
    let started = Instant::now();
    let mut copy = conn
        .copy_in_raw("COPY public.bench_copy FROM STDIN")
        .await
        .unwrap();
    for chunk in data.chunks(1 << 20) {
        copy.send(chunk).await.unwrap();
    }
    let copied = copy.finish().await.unwrap();
    let copy_time = started.elapsed();
    assert_eq!(copied, u64::try_from(silver_rows).unwrap());

    let per_sec = |t: Duration| rows as f64 / secs(t).max(1e-9);
    println!(
        "PostgreSQL, {rows} CSV rows ({} MB): import to bronze {:.2} s, to silver {:.2} s \
         ({:.0} rows/s); COPY of the {silver_rows} silver rows {:.2} s ({:.0} rows/s); \
         import/COPY throughput {:.2}× (target ≥ 0.30×; the file → bronze part alone {:.2}×)",
        std::fs::metadata(&csv).unwrap().len() / 1_000_000,
        secs(landed),
        secs(import),
        per_sec(import),
        secs(copy_time),
        per_sec(copy_time),
        secs(copy_time) / secs(import),
        secs(copy_time) / secs(landed),
    );
    conn.close().await.unwrap();
    store.close().await;
    db.drop_now().await;
}

/// Peak resident memory of `scout-collector import` on a generated CSV of `megabytes` MB.
fn memory(megabytes: u64, dir: &Path) {
    let csv = dir.join("sales_big.csv");
    let rows = write_csv(&csv, u64::MAX, megabytes * 1_000_000);
    let size = std::fs::metadata(&csv).unwrap().len();
    let url = format!("sqlite://{}", dir.join("memory.db").display());
    let started = Instant::now();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_scout-collector"))
        .args(["--database-url", &url, "import", "--json"])
        .arg(&csv)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap());
    let mut peak_kib = 0_u64;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            let hwm = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok());
            peak_kib = peak_kib.max(hwm.unwrap_or(0));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let elapsed = started.elapsed();
    let reports: serde_json::Value = serde_json::from_str(&reader.join().unwrap()).unwrap();
    assert!(status.success(), "{reports}");
    assert_eq!(reports[0]["inserted"], rows, "{reports}");
    println!(
        "SQLite, `scout-collector import` of a {:.0} MB CSV ({rows} rows): {:.1} s \
         ({:.1} MB/s), peak RSS {:.1} MB (target ≤ 100 MB)",
        size as f64 / 1e6,
        secs(elapsed),
        size as f64 / 1e6 / secs(elapsed),
        peak_kib as f64 * 1024.0 / 1e6,
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    quick::announce();
    let rows = quick::size("SCOUT_BENCH_ROWS", 100_000, 5_000) as u64;
    let megabytes = quick::size("SCOUT_BENCH_CSV_MB", 1024, 1) as u64;
    let admin_url = database::admin_url();
    let dir = tempfile::tempdir().unwrap();
    throughput(&admin_url, rows, dir.path()).await;
    memory(megabytes, dir.path());
}
