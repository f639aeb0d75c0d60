//! The release `scout-agent` binary against an in-process collector on loopback: start-up time,
//! idle memory and disk writes, drain rate of a 100,000-transaction backlog, and memory while
//! draining, and, as the drain's baseline in the same run, the same transactions posted straight
//! to a fresh collector by the bench itself. Prints figures; asserts only that everything arrived.
//!
//! It lives in `scout-tests`, the crate for code across both binaries, so that neither the agent
//! nor the collector depends on the other. A bench cannot ask cargo to build another package's
//! binary, so build the agent first: `cargo build --release -p scout-agent && cargo bench -p
//! scout-tests --bench drain` (`SCOUT_BENCH_BACKLOG` changes the backlog size (default 100000),
//! `SCOUT_BENCH_IDLE_SECS` the idle window (default 60), `SCOUT_BENCH_QUICK=1` makes those 5000
//! and 2, `SCOUT_BENCH_AGENT_BIN` measures another build of the agent, e.g. the device profile:
//! `target/release-small/scout-agent`; otherwise the agent beside this bench's profile, see
//! `scout_tests::bins::binary`).
//!
//! The idle phase runs with the default heartbeat interval (60 s) and the uplink's idle poll
//! (30 s), so the window sees both; bytes written are the kernel's `write_bytes` for the agent
//! process (its log file included), extrapolated to an hour from the window.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // a bench binary

use std::io::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::GzEncoder;
use futures_util::StreamExt as _;
use scout_agent::config::AgentConfig;
use scout_agent::simulate::StoreTraffic;
use scout_agent::uplink::IN_FLIGHT;
use scout_collector::store::{Store, StoreOptions};

// The agent benches' quick-mode sizes, shared rather than copied.
#[path = "../../agent/benches/support/quick.rs"]
mod quick;

/// The agent binary under test: `SCOUT_BENCH_AGENT_BIN`, else the workspace build of this
/// bench's profile (`target/release/scout-agent` for `cargo bench`).
fn bin() -> String {
    std::env::var("SCOUT_BENCH_AGENT_BIN").unwrap_or_else(|_| {
        scout_tests::bins::binary("scout-agent")
            .display()
            .to_string()
    })
}

struct Agent(Child);
impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn proc_field(pid: u32, file: &str, key: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// User plus system CPU seconds of a process (`self` for this one).
fn cpu_secs(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn wait_listening(log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(log)
        .unwrap_or_default()
        .contains("listening address=")
    {
        assert!(
            Instant::now() < deadline,
            "agent did not start:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn backlog(config: &Path) -> u64 {
    let out = Command::new(bin())
        .args(["status", "--json", "--config"])
        .arg(config)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["backlog"]["count"].as_u64().unwrap()
}

/// A collector in this process, on a fresh SQLite file `db` with delivery into bronze only (the
/// medallion stages have their own bench), and the token of its one device, SCOUTPI-0004.
async fn start_collector(
    db: &Path,
) -> (
    Store,
    std::net::SocketAddr,
    String,
    tokio::task::JoinHandle<impl Sized + use<>>,
) {
    let url = format!("sqlite://{}", db.display());
    let store = Store::connect(&url, &StoreOptions::default())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let token = scout_collector::devices::new_token().unwrap();
    store
        .add_device(
            "SCOUTPI-0004",
            "104",
            &scout_collector::devices::token_hash(&token),
        )
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serve = <scout_collector::cli::Cli as clap::Parser>::parse_from([
        "scout-collector",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--process",
        "false",
    ]);
    let Some(scout_collector::cli::Command::Serve(config)) = serve.command else {
        unreachable!()
    };
    let server = tokio::spawn(scout_collector::run(
        listener,
        store.clone(),
        config,
        std::future::pending(),
    ));
    (store, addr, token, server)
}

/// The baseline for the drain: the backlog's transactions posted by this process to a collector
/// of its own on a fresh SQLite file, in the agent's batch size and with as many requests at once
/// as the agent keeps in flight, the bodies gzipped before the clock starts. What the drain adds
/// to this is the agent's share: reading the outbox, stamping, gzip, settling.
async fn post_straight(dir: &Path, backlog_dir: &Path, rows: usize) -> Duration {
    let (_store, addr, token, server) = start_collector(&dir.join("straight.db")).await;

    let mut files: Vec<_> = std::fs::read_dir(backlog_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut lines = Vec::with_capacity(rows);
    for file in files {
        let text = std::fs::read_to_string(file).unwrap();
        lines.extend(text.lines().map(str::to_owned));
    }
    let bodies: Vec<Vec<u8>> = lines
        .chunks(AgentConfig::default().batch_max_records as usize)
        .map(|batch| {
            let mut gz = GzEncoder::new(Vec::new(), Compression::default()); // level 6, as the agent
            for line in batch {
                gz.write_all(line.as_bytes()).unwrap();
                gz.write_all(b"\n").unwrap();
            }
            gz.finish().unwrap()
        })
        .collect();
    drop(lines);

    let client = reqwest::Client::new();
    let endpoint = format!("http://{addr}/v1/ingest");
    let started = Instant::now();
    let inserted: u64 = futures_util::stream::iter(bodies)
        .map(|body| {
            let request = client
                .post(&endpoint)
                .bearer_auth(&token)
                .header("content-type", "application/x-ndjson")
                .header("content-encoding", "gzip")
                .body(body);
            async move {
                let response = request.send().await.unwrap();
                assert_eq!(response.status(), 200);
                response
                    .json::<scout_common::IngestResponse>()
                    .await
                    .unwrap()
                    .inserted
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .fold(0, |sum, n| async move { sum + n })
        .await;
    let elapsed = started.elapsed();
    assert_eq!(inserted as usize, rows, "every row landed once");
    server.abort();
    elapsed
}

/// Whether bronze holds `rows` rows; polled every 50 ms while draining. `count(*)` walks a
/// whole index (milliseconds at 100,000 rows, charged to the collector being measured, 20 times
/// a second), so the highest row id is read first (one b-tree descent) and rows are counted
/// only once it says they may all be there.
async fn all_landed(store: &Store, rows: usize) -> bool {
    let max_id = store
        .query_int("SELECT max(id) FROM bronze.raw_transactions", &[])
        .await
        .unwrap();
    if max_id < rows as i64 {
        return false;
    }
    store.bronze_count().await.unwrap() as usize >= rows
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    quick::announce();
    let rows = quick::size("SCOUT_BENCH_BACKLOG", 100_000, 5_000);
    let idle_secs = quick::size("SCOUT_BENCH_IDLE_SECS", 60, 2) as u64;
    let dir = tempfile::tempdir().unwrap();

    // The collector, in this process, on SQLite.
    let (store, collector_addr, token, server) =
        start_collector(&dir.path().join("collector.db")).await;

    // The agent's config and a backlog, taken in with `scout-agent enqueue`. The idle phase
    // keeps the default heartbeat interval, the drain phase does without heartbeats.
    let config = dir.path().join("agent.toml");
    let idle_config = dir.path().join("agent-idle.toml");
    std::fs::create_dir_all(dir.path().join("spool")).unwrap();
    let common = format!(
        "device_id = \"SCOUTPI-0004\"\nstore_id = \"104\"\ncollector_url = \"http://{collector_addr}\"\n\
         token = \"{token}\"\noutbox_path = \"{}\"\nspool_dir = \"{}\"\nlisten = \"127.0.0.1:0\"\n\
         max_outbox_bytes = 4294967296\n",
        dir.path().join("outbox.db").display(),
        dir.path().join("spool").display()
    );
    std::fs::write(&idle_config, &common).unwrap();
    std::fs::write(&config, format!("{common}heartbeat_interval_secs = 3600\n")).unwrap();

    // Idle: start-up time, RSS and disk writes with nothing to send.
    let log = dir.path().join("idle.log");
    let started = Instant::now();
    let agent = Agent(
        Command::new(bin())
            .args(["run", "--config"])
            .arg(&idle_config)
            .env("SCOUT_AGENT_LOG", "info")
            .stderr(std::fs::File::create(&log).unwrap())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_listening(&log);
    let startup_empty = started.elapsed();
    let pid = agent.0.id();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let written_before = proc_field(pid, "io", "write_bytes:");
    tokio::time::sleep(Duration::from_secs(idle_secs)).await;
    let idle_rss = proc_field(pid, "status", "VmRSS:");
    let idle_written = proc_field(pid, "io", "write_bytes:") - written_before;
    let idle_log_bytes = std::fs::metadata(&log).map_or(0, |m| m.len());
    drop(agent);

    // Files of 10,000 transactions (intake reads at most 16 MiB and 20,000 transactions per
    // file).
    let backlog_dir = dir.path().join("backlog");
    std::fs::create_dir_all(&backlog_dir).unwrap();
    let mut traffic = StoreTraffic::new("SCOUTPI-0004", "104", 0.3, 9);
    let now = chrono::Utc::now();
    let mut bytes = 0;
    for (part, start) in (0..rows).step_by(10_000).enumerate() {
        let mut body = String::with_capacity(10_000 * 1500);
        for _ in start..(start + 10_000).min(rows) {
            body.push_str(&traffic.next_transaction(now).to_string());
            body.push('\n');
        }
        bytes += body.len();
        std::fs::write(backlog_dir.join(format!("part-{part:03}.ndjson")), body).unwrap();
    }
    let enqueue_started = Instant::now();
    let out = Command::new(bin())
        .args(["enqueue", "--config"])
        .arg(&config)
        .arg(&backlog_dir)
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let enqueue_time = enqueue_started.elapsed();
    assert_eq!(backlog(&config) as usize, rows);

    // Drain: start with the backlog, time until the collector has every row.
    let log = dir.path().join("drain.log");
    let started = Instant::now();
    let agent = Agent(
        Command::new(bin())
            .args(["run", "--config"])
            .arg(&config)
            .env("SCOUT_AGENT_LOG", "warn,scout_agent::service=info")
            .stderr(std::fs::File::create(&log).unwrap())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_listening(&log);
    let startup_backlog = started.elapsed();
    let pid = agent.0.id();
    let drain_started = Instant::now();
    let collector_cpu_before = cpu_secs("self");
    let mut peak_rss = 0;
    loop {
        peak_rss = peak_rss.max(proc_field(pid, "status", "VmRSS:"));
        if all_landed(&store, rows).await {
            break;
        }
        assert!(
            drain_started.elapsed() < Duration::from_secs(600),
            "drain too slow"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let drain = drain_started.elapsed();
    let hwm = proc_field(pid, "status", "VmHWM:");
    let agent_cpu = cpu_secs(&pid.to_string());
    let collector_cpu = cpu_secs("self") - collector_cpu_before;
    drop(agent);
    server.abort();
    let straight = post_straight(dir.path(), &backlog_dir, rows).await;

    println!(
        "agent start-up, empty outbox:          {:.0} ms",
        startup_empty.as_secs_f64() * 1e3
    );
    println!(
        "agent idle RSS:                        {:.1} MB",
        idle_rss as f64 / 1024.0
    );
    println!(
        "agent disk writes over {idle_secs} s idle:      {idle_written} bytes \
         (= {:.0} bytes per idle hour; log file {idle_log_bytes} bytes in all, start-up included)",
        idle_written as f64 * 3600.0 / idle_secs.max(1) as f64
    );
    println!("agent binary: {}", bin());
    println!(
        "enqueue CLI: {rows} tx ({:.0} MB) in {:.2} s = {:.0} tx/s",
        bytes as f64 / 1e6,
        enqueue_time.as_secs_f64(),
        rows as f64 / enqueue_time.as_secs_f64()
    );
    println!(
        "agent start-up with {rows} pending:  {:.0} ms",
        startup_backlog.as_secs_f64() * 1e3
    );
    println!(
        "drain to a local collector (SQLite): {rows} tx in {:.2} s = {:.0} tx/s",
        drain.as_secs_f64(),
        rows as f64 / drain.as_secs_f64()
    );
    println!(
        "the same rows posted straight to a fresh collector by this bench ({} a batch, {} at \
         once, gzipped beforehand): {:.2} s = {:.0} tx/s; the drain took {:.2}× as long",
        AgentConfig::default().batch_max_records,
        IN_FLIGHT,
        straight.as_secs_f64(),
        rows as f64 / straight.as_secs_f64(),
        drain.as_secs_f64() / straight.as_secs_f64()
    );
    println!(
        "CPU during the drain: agent {agent_cpu:.2} s, collector (and this bench) {collector_cpu:.2} s"
    );
    println!(
        "agent RSS while draining: peak {:.1} MB (VmHWM {:.1} MB)",
        peak_rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
}
