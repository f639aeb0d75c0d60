//! Ingest benchmark: real-shaped ScoutPi transactions over loopback HTTP into bronze, through the
//! release `scout-collector` binary, next to a bulk-load baseline of the same rows measured in
//! the same run (PostgreSQL `COPY` into a plain table; on SQLite, one prepared INSERT per row in
//! a single transaction into a plain table).
//!
//! `cargo bench -p scout-collector --bench ingest` (env: `SCOUT_BENCH_ROWS`, default 200000,
//! 5000 with `SCOUT_BENCH_QUICK=1`; `SCOUT_BENCH_PG_URL`, default
//! postgres://postgres@127.0.0.1:5432/postgres; `SCOUT_BENCH_BACKENDS`, default
//! `sqlite,postgres`). Prints figures; asserts only correctness.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // a bench binary

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::Utc;
use scout_collector::bronze::{BronzeRow, Landing};
use scout_common::Transaction;
use scout_tests::bins::{self, Process};
use sqlx::{Connection, Executor};

const BIN: &str = env!("CARGO_BIN_EXE_scout-collector");
const DEVICES: usize = 8;
const LINES_PER_REQUEST: usize = 1000;

#[path = "support/database.rs"]
mod database;
#[path = "support/quick.rs"]
mod quick;
#[path = "support/workload.rs"]
mod workload;
use database::BenchDatabase;
use workload::transaction;

struct Workload {
    /// Per device: NDJSON request bodies.
    bodies: Vec<Vec<String>>,
    lines: Vec<(usize, String)>,
    bytes: usize,
}

fn workload(rows: usize) -> Workload {
    let mut rng = workload::Rng(0x5c0_7ba5e);
    let mut bodies = vec![Vec::new(); DEVICES];
    let mut current = vec![String::new(); DEVICES];
    let mut counts = [0; DEVICES];
    let mut lines = Vec::with_capacity(rows);
    let mut bytes = 0;
    for n in 0..rows {
        let device = n % DEVICES;
        let line = transaction(&mut rng, device, n).to_string();
        bytes += line.len() + 1;
        current[device].push_str(&line);
        current[device].push('\n');
        counts[device] += 1;
        if counts[device] == LINES_PER_REQUEST {
            bodies[device].push(std::mem::take(&mut current[device]));
            counts[device] = 0;
        }
        lines.push((device, line));
    }
    for (device, rest) in current.into_iter().enumerate() {
        if !rest.is_empty() {
            bodies[device].push(rest);
        }
    }
    Workload {
        bodies,
        lines,
        bytes,
    }
}

fn bin() -> &'static Path {
    Path::new(BIN)
}

fn start(url: &str, dir: &Path) -> Process {
    // The release binary, quiet but for its start-up lines (the crate root's info, which
    // says where it listens) and warnings; not one line per request.
    // Ingest alone: the medallion stages have their own benchmark (`--bench medallion`).
    let args = ["serve", "--listen", "127.0.0.1:0", "--process", "false"];
    let env = [
        ("DATABASE_URL", url),
        (
            "SCOUT_LOG",
            "warn,scout_collector=info,scout_collector::routes=warn",
        ),
    ];
    Process::start(bin(), args, &env, dir)
}

fn add_device(url: &str, device: usize) -> String {
    bins::add_device(
        bin(),
        url,
        &format!("SCOUTPI-{device:04}"),
        &format!("{}", 100 + device),
    )
}

/// Sends every device's bodies, one connection per device, all devices at once.
async fn drive(addr: &str, tokens: &[String], work: &Workload) -> Duration {
    let client = reqwest::Client::builder().build().unwrap();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (device, bodies) in work.bodies.iter().enumerate() {
        let client = client.clone();
        let url = format!("http://{addr}/v1/ingest");
        let token = tokens[device].clone();
        let bodies = bodies.clone();
        tasks.push(tokio::spawn(async move {
            let mut inserted = 0;
            for body in bodies {
                let response = client
                    .post(&url)
                    .bearer_auth(&token)
                    .header("content-type", "application/x-ndjson")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                let r: scout_common::IngestResponse = response.json().await.unwrap();
                assert!(r.rejected.is_empty(), "{:?}", r.rejected.first());
                inserted += r.inserted;
            }
            inserted
        }));
    }
    let mut inserted = 0;
    for task in tasks {
        inserted += task.await.unwrap();
    }
    assert_eq!(inserted as usize, work.lines.len());
    started.elapsed()
}

fn bronze_rows(work: &Workload) -> Vec<BronzeRow> {
    let now = Utc::now();
    work.lines
        .iter()
        .map(|(device, line)| {
            let t = Transaction::parse_line(line).unwrap();
            let device_id = format!("SCOUTPI-{device:04}");
            let store_id = format!("{}", 100 + device);
            BronzeRow::new(
                t,
                Landing {
                    device_id: &device_id,
                    store_id: &store_id,
                    endpoint: "bench",
                    received_at: now,
                },
            )
        })
        .collect()
}

/// PostgreSQL COPY text-format escaping.
fn copy_field(out: &mut String, value: Option<&str>) {
    match value {
        None => out.push_str("\\N"),
        Some(v) => {
            for c in v.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\t' => out.push_str("\\t"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    c => out.push(c),
                }
            }
        }
    }
}

async fn copy_baseline(url: &str, rows: &[BronzeRow]) -> Duration {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    conn.execute(
        "CREATE TABLE copy_baseline (transaction_id text, store_id text, device_id text, \
         transaction_timestamp timestamptz, items jsonb, detected_brands jsonb, \
         processing_metadata jsonb, payload jsonb, ingested_at timestamptz, \
         captured_at timestamptz, device_seq bigint, agent_version text)",
    )
    .await
    .unwrap();
    let mut data = String::new();
    let now = Utc::now().to_rfc3339();
    for r in rows {
        let ts = r.transaction_timestamp.to_rfc3339();
        let captured = r.captured_at.map(|c| c.to_rfc3339());
        let seq = r.device_seq.map(|s| s.to_string());
        let fields = [
            Some(r.transaction_id.as_str()),
            r.store_id.as_deref(),
            Some(r.device_id.as_str()),
            Some(ts.as_str()),
            Some(r.items.as_str()),
            Some(r.detected_brands.as_str()),
            Some(r.processing_metadata.as_str()),
            Some(r.payload.as_str()),
            Some(now.as_str()),
            captured.as_deref(),
            seq.as_deref(),
            r.agent_version.as_deref(),
        ];
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                data.push('\t');
            }
            copy_field(&mut data, *f);
        }
        data.push('\n');
    }
    let started = Instant::now();
    let mut copy = conn
        .copy_in_raw("COPY copy_baseline FROM STDIN")
        .await
        .unwrap();
    for chunk in data.as_bytes().chunks(1 << 20) {
        copy.send(chunk).await.unwrap();
    }
    let copied = copy.finish().await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(copied as usize, rows.len());
    elapsed
}

async fn sqlite_baseline(path: &std::path::Path, rows: &[BronzeRow]) -> Duration {
    let url = format!("sqlite://{}", path.display());
    // The same durability as the collector's own connections: WAL, synchronous FULL.
    let options = <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(&url)
        .unwrap()
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .synchronous(sqlx::sqlite::SqliteSynchronous::Full);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    sqlx::query(
        "CREATE TABLE copy_baseline (transaction_id TEXT, store_id TEXT, device_id TEXT, \
         transaction_timestamp TEXT, items TEXT, detected_brands TEXT, processing_metadata TEXT, \
         payload TEXT, ingested_at TEXT, captured_at TEXT, device_seq INTEGER, agent_version TEXT)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let now = Utc::now().to_rfc3339();
    let started = Instant::now();
    let mut tx = pool.begin().await.unwrap();
    for r in rows {
        sqlx::query("INSERT INTO copy_baseline VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(&r.transaction_id)
            .bind(&r.store_id)
            .bind(&r.device_id)
            .bind(r.transaction_timestamp.to_rfc3339())
            .bind(&r.items)
            .bind(&r.detected_brands)
            .bind(&r.processing_metadata)
            .bind(&r.payload)
            .bind(&now)
            .bind(r.captured_at.map(|c| c.to_rfc3339()))
            .bind(r.device_seq)
            .bind(&r.agent_version)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    started.elapsed()
}

fn rate(rows: usize, elapsed: Duration) -> f64 {
    rows as f64 / elapsed.as_secs_f64()
}

fn report(
    backend: &str,
    rows: usize,
    bytes: usize,
    collector: Duration,
    base: Duration,
    base_name: &str,
) {
    let (c, b) = (rate(rows, collector), rate(rows, base));
    println!(
        "{backend:<8} collector: {rows} tx ({:.0} MB) in {:.2} s = {c:.0} tx/s ({:.1} MB/s)",
        bytes as f64 / 1e6,
        collector.as_secs_f64(),
        bytes as f64 / 1e6 / collector.as_secs_f64()
    );
    println!(
        "{backend:<8} {base_name}: {rows} rows in {:.2} s = {b:.0} rows/s",
        base.as_secs_f64()
    );
    println!("{backend:<8} ratio collector / {base_name} = {:.2}", c / b);
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    quick::announce();
    let rows = quick::size("SCOUT_BENCH_ROWS", 200_000, 5_000);
    let backends = std::env::var("SCOUT_BENCH_BACKENDS").unwrap_or("sqlite,postgres".into());
    let pg_admin = database::admin_url();
    let dir = tempfile::tempdir().unwrap();

    let started = Instant::now();
    let work = workload(rows);
    println!(
        "workload: {rows} transactions, {} devices, {:.0} MB NDJSON, {:.0} bytes/tx (generated in {:.1} s)",
        DEVICES,
        work.bytes as f64 / 1e6,
        work.bytes as f64 / rows as f64,
        started.elapsed().as_secs_f64()
    );
    let expected = bronze_rows(&work);

    for backend in backends.split(',') {
        match backend.trim() {
            "sqlite" => {
                let url = format!("sqlite://{}", dir.path().join("bench.db").display());
                let tokens: Vec<String> = (0..DEVICES).map(|d| add_device(&url, d)).collect();
                let server = start(&url, dir.path());
                let elapsed = drive(&server.addr, &tokens, &work).await;
                drop(server);
                let base = sqlite_baseline(&dir.path().join("baseline.db"), &expected).await;
                report("sqlite", rows, work.bytes, elapsed, base, "bulk INSERT");
            }
            "postgres" => {
                let db = BenchDatabase::create(&pg_admin, "scout_bench").await;
                let url = db.url.clone();
                let tokens: Vec<String> = (0..DEVICES).map(|d| add_device(&url, d)).collect();
                let server = start(&url, dir.path());
                let elapsed = drive(&server.addr, &tokens, &work).await;
                drop(server);
                let base = copy_baseline(&url, &expected).await;
                report("postgres", rows, work.bytes, elapsed, base, "COPY");
                db.drop_now().await;
            }
            other => panic!("unknown backend {other:?}"),
        }
    }
}
