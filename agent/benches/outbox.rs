//! Outbox figures for the closing note: durable enqueue rate by batch size, the outbox's
//! share of draining (peek + ack), on-disk overhead, and start-up time with a million pending
//! rows after a clean and after an unclean stop. Prints numbers; asserts nothing about timings.
//! Run with `cargo bench -p scout-agent --bench outbox` (`SCOUT_BENCH_QUICK=1`: a twentieth of
//! the transactions, 20,000 pending rows for the start-up).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails loudly by design

use std::time::{Duration, Instant};

use chrono::Utc;
use scout_agent::outbox::{NewRecord, Outbox, OutboxConfig, StartupCheck};
use tempfile::TempDir;
use uuid::Uuid;

#[path = "support/quick.rs"]
mod quick;

const GIB: u64 = 1024 * 1024 * 1024;
const PAYLOAD_BYTES: usize = 3 * 1024;

/// A JSON line of exactly `len` bytes (at least about 60): a transaction-like object for large
/// sizes, a minimal one for small sizes.
fn payload(len: usize) -> Vec<u8> {
    let id = Uuid::new_v4();
    if len < 1024 {
        let mut line = format!("{{\"transactionId\":\"{id}\",\"pad\":\"").into_bytes();
        while line.len() + 2 < len {
            line.push(b'x');
        }
        line.extend_from_slice(b"\"}");
        return line;
    }
    let mut line = format!(
        "{{\"transactionId\":\"{id}\",\"storeId\":\"104\",\"deviceId\":\"SCOUTPI-0004\",\
         \"timestamp\":\"\",\"items\":[{{\"brandName\":\"Safeguard\",\"productName\":\"Safeguard \
         Pure White 135g\",\"quantity\":1,\"unitPrice\":48.5,\"totalPrice\":48.5,\
         \"category\":\"Personal Care\",\"confidence\":0.91}}],\"transactionContext\":\
         {{\"audioTranscript\":\""
    )
    .into_bytes();
    let filler = b"pabili po ng isang safeguard at dalawang lucky me pancit canton ";
    while line.len() + 3 < len {
        line.push(filler[line.len() % filler.len()]);
    }
    line.extend_from_slice(b"\"}}");
    line
}

fn records(n: usize, len: usize) -> Vec<NewRecord> {
    (0..n)
        .map(|_| NewRecord {
            transaction_id: Uuid::new_v4().to_string(),
            captured_at: Utc::now(),
            payload: payload(len),
        })
        .collect()
}

fn rate(n: usize, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64()
}

/// Durable enqueue of `total` ~3 KB transactions in batches of `batch`, each batch its own
/// `synchronous=FULL` commit.
fn enqueue_rate(batch: usize, total: usize) {
    let dir = TempDir::new().unwrap();
    let (mut outbox, _) =
        Outbox::open(dir.path().join("outbox.db"), OutboxConfig::new(GIB)).unwrap();
    let input = records(total, PAYLOAD_BYTES);
    let started = Instant::now();
    for chunk in input.chunks(batch) {
        outbox.enqueue_batch(chunk).unwrap();
    }
    let elapsed = started.elapsed();
    let stats = outbox.stats().unwrap();
    println!(
        "outbox enqueue batch={batch}: {:.0} tx/s ({:.0} commits/s, {:.1} MB/s of payload; {total} tx in {:.2} s)",
        rate(total, elapsed),
        rate(total.div_ceil(batch), elapsed),
        stats.pending_bytes as f64 / 1e6 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64(),
    );
    if batch >= 64 {
        println!(
            "outbox on-disk size with {} pending 3 KB rows: {:.1} MB file+WAL for {:.1} MB of payload (x{:.2})",
            stats.pending_count,
            stats.file_bytes as f64 / 1e6,
            stats.pending_bytes as f64 / 1e6,
            stats.file_bytes as f64 / stats.pending_bytes as f64,
        );
    }
}

/// The outbox's side of draining: peek a batch, ack it, repeat.
fn drain_rate(batch: usize, total: usize) {
    let dir = TempDir::new().unwrap();
    let (mut outbox, _) =
        Outbox::open(dir.path().join("outbox.db"), OutboxConfig::new(GIB)).unwrap();
    for chunk in records(total, PAYLOAD_BYTES).chunks(1_000) {
        outbox.enqueue_batch(chunk).unwrap();
    }
    let started = Instant::now();
    let mut drained = 0;
    loop {
        let rows = outbox.peek_batch(batch, u64::MAX).unwrap();
        if rows.is_empty() {
            break;
        }
        let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
        drained += outbox.ack(&seqs).unwrap() as usize;
    }
    let elapsed = started.elapsed();
    println!(
        "outbox drain peek+ack batch={batch}: {:.0} tx/s ({drained} tx in {:.2} s)",
        rate(drained, elapsed),
        elapsed.as_secs_f64()
    );
}

/// Start-up with `rows` pending small rows, created in one transaction.
fn open_with_backlog(rows: usize) {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("outbox.db");
    {
        let (mut outbox, _) = Outbox::open(&path, OutboxConfig::new(GIB)).unwrap();
        let started = Instant::now();
        let input = records(rows, 100);
        outbox.enqueue_batch(&input).unwrap();
        println!(
            "outbox fill: {rows} pending rows of {} B in one transaction in {:.2} s",
            input[0].payload.len(),
            started.elapsed().as_secs_f64()
        );
        outbox.close().unwrap();
    }
    // After a clean close the start skips `quick_check`; after a crash (here: dropped without
    // `close`, so the session stays marked unclean) it runs it. Starts: clean, clean, clean,
    // unclean, unclean.
    for close_after in [true, true, false, false, true] {
        let started = Instant::now();
        let (outbox, report) = Outbox::open(&path, OutboxConfig::new(GIB)).unwrap();
        let stats = outbox.stats().unwrap();
        let elapsed = started.elapsed();
        assert_eq!(stats.pending_count, rows as u64);
        let after = match report.startup_check {
            StartupCheck::CleanShutdown => "a clean stop",
            StartupCheck::QuickCheck(_) => "an unclean stop",
            _ => "?",
        };
        println!(
            "outbox open+stats with {rows} pending after {after} (warm page cache): {:.0} ms \
             ({:?}: {:.0} ms checking; file {:.0} MB)",
            elapsed.as_secs_f64() * 1e3,
            report.startup_check,
            report.integrity_check.as_secs_f64() * 1e3,
            stats.file_bytes as f64 / 1e6,
        );
        if close_after {
            outbox.close().unwrap();
        } else {
            drop(outbox);
        }
    }
    let started = Instant::now();
    let outbox = Outbox::open_read_only(&path).unwrap();
    let stats = outbox.stats().unwrap();
    println!(
        "outbox open_read_only+stats with {} pending: {:.1} ms",
        stats.pending_count,
        started.elapsed().as_secs_f64() * 1e3
    );
    let started = Instant::now();
    let batch = outbox.peek_batch(500, 1024 * 1024).unwrap();
    println!(
        "outbox peek of {} from a {rows}-row backlog: {:.2} ms",
        batch.len(),
        started.elapsed().as_secs_f64() * 1e3
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not supported, everything runs.
    quick::announce();
    let n = |full: usize| if quick::quick() { full / 20 } else { full };
    enqueue_rate(1, n(2_000));
    enqueue_rate(16, n(20_000));
    enqueue_rate(64, n(50_000));
    enqueue_rate(256, n(50_000));
    drain_rate(500, n(50_000));
    open_with_backlog(if quick::quick() { 20_000 } else { 1_000_000 });
}
