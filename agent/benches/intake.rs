//! Durable intake rate through the outbox actor: N concurrent callers each submit one ~3 KB
//! transaction per request and wait for its commit (`synchronous=FULL`), as the capture app's
//! HTTP requests do. Group commit is what makes this fast. Prints figures, asserts nothing. Run
//! with `cargo bench -p scout-agent --bench intake` (`SCOUT_BENCH_QUICK=1`: one short run per
//! configuration instead of three of 3 s, and fewer bodies parsed).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails loudly by design

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use scout_agent::intake::{Owner, parse_body, submit};
use scout_agent::outbox::{NewRecord, Outbox, OutboxConfig, OutboxHandle};
use scout_common::DeviceId;
use tempfile::TempDir;

#[path = "support/quick.rs"]
mod quick;

const GIB: u64 = 1024 * 1024 * 1024;

/// How long each run lasts.
fn run_for() -> Duration {
    if quick::quick() {
        Duration::from_millis(300)
    } else {
        Duration::from_secs(3)
    }
}

/// Runs per configuration: the figures of a shared VM's disk vary from run to run.
fn rounds() -> usize {
    if quick::quick() { 1 } else { 3 }
}

/// A realistic transaction of about 3 KB with the given id.
fn transaction(id: u64) -> String {
    let mut text = format!(
        r#"{{"transactionId":"bench-{id:012}","storeId":"104","deviceId":"SCOUTPI-0004","timestamp":"","items":[{{"brandName":"Safeguard","productName":"Safeguard Pure White 135g","sku":"SG-135","quantity":1,"unitPrice":48.5,"totalPrice":48.5,"category":"Personal Care","confidence":0.91}},{{"brand":"Lucky Me","productName":"Pancit Canton Original","quantity":"2","unitPrice":"15.00","totalPrice":30,"category":"Instant Noodles","confidence":0.88}}],"brandDetection":{{"detectedBrands":{{"Safeguard":0.68,"Lucky Me":{{"confidence":0.74}}}},"explicitMentions":["Safeguard"],"implicitSignals":["pancit canton"],"categoryBrandMapping":{{"Personal Care":["Safeguard"]}}}},"totals":{{"totalAmount":78.5,"totalItems":3,"currency":"PHP"}},"privacy":{{"audioStored":false,"dataRetentionDays":30,"consentTimestamp":"2025-09-13T00:41:13.919830.000Z"}},"transactionContext":{{"duration":41.2,"paymentMethod":"cash","audioTranscript":""#
    );
    let filler = "pabili po ng isang safeguard at dalawang lucky me pancit canton, salamat po ate ";
    let mut i = 0;
    while text.len() < 3000 {
        text.push_str(&filler[i % 7..i % 7 + 1]);
        text.push_str(&filler[..40]);
        i += 1;
    }
    text.push_str(r#""}}"#);
    text
}

fn record(id: u64) -> NewRecord {
    let payload = transaction(id).into_bytes();
    NewRecord {
        transaction_id: format!("bench-{id:012}"),
        captured_at: Utc::now(),
        payload,
    }
}

#[derive(Clone, Copy, Debug)]
enum Path {
    /// Prebuilt records straight into `OutboxHandle::enqueue`.
    Handle,
    /// Each request's body through `parse_body` and `submit` (the HTTP route's work minus HTTP).
    ParseAndSubmit,
}

/// One timed run; returns transactions per second.
async fn run(callers: u64, path: Path) -> f64 {
    let dir = TempDir::new().unwrap();
    let (outbox, _) = Outbox::open(dir.path().join("outbox.db"), OutboxConfig::new(GIB)).unwrap();
    let handle = OutboxHandle::spawn(outbox);
    let device = Owner::new(DeviceId::parse("SCOUTPI-0004").unwrap(), "104");
    let next_id = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + run_for();
    let started = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let handle = handle.clone();
            let next_id = next_id.clone();
            let device = device.clone();
            tokio::spawn(async move {
                let mut done = 0_u64;
                while Instant::now() < deadline {
                    let id = next_id.fetch_add(1, Ordering::Relaxed);
                    match path {
                        Path::Handle => {
                            handle.enqueue(vec![record(id)]).await.unwrap();
                        }
                        Path::ParseAndSubmit => {
                            let body = transaction(id);
                            let parsed = parse_body(body.as_bytes(), &device, Utc::now()).unwrap();
                            let report = submit(&handle, parsed).await.unwrap();
                            assert_eq!(report.accepted, 1);
                        }
                    }
                    done += 1;
                }
                done
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    let elapsed = started.elapsed();
    let commits = handle.commit_stats().await.unwrap();
    let stats = handle.stats().await.unwrap();
    assert_eq!(stats.pending_count, total);
    handle.close().await.unwrap();
    let rate = total as f64 / elapsed.as_secs_f64();
    println!(
        "  {path:?} callers={callers:>2}: {rate:>7.0} tx/s ({total} tx; {} commits, {:.1} tx/commit, \
         largest group {}; {:.1} MB/s of payload)",
        commits.commits,
        total as f64 / commits.commits.max(1) as f64,
        commits.largest_group,
        stats.pending_bytes as f64 / 1e6 / elapsed.as_secs_f64(),
    );
    rate
}

/// `parse_body` alone on one core: the CPU intake spends per transaction before the commit.
fn parse_only() {
    let device = Owner::new(DeviceId::parse("SCOUTPI-0004").unwrap(), "104");
    let count = if quick::quick() { 1_000 } else { 20_000 };
    let bodies: Vec<String> = (0..count).map(transaction).collect();
    let started = Instant::now();
    for body in &bodies {
        let parsed = parse_body(body.as_bytes(), &device, Utc::now()).unwrap();
        assert_eq!(parsed.accepted.len(), 1);
    }
    let elapsed = started.elapsed();
    println!(
        "parse_body alone, one core: {:.0} tx/s ({:.1} us per 3 KB transaction)",
        bodies.len() as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / bodies.len() as f64
    );
}

fn main() {
    quick::announce();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "one transaction = {} bytes; {:.1} s per run; 2 runtime workers + the outbox thread",
        transaction(0).len(),
        run_for().as_secs_f64()
    );
    parse_only();
    runtime.block_on(async {
        for path in [Path::Handle, Path::ParseAndSubmit] {
            for callers in [1, 16, 64] {
                let rounds = rounds();
                let mut rates = Vec::new();
                for _ in 0..rounds {
                    rates.push(run(callers, path).await);
                }
                rates.sort_by(f64::total_cmp);
                println!(
                    "intake {path:?} callers={callers:>2}: median {:.0} tx/s durable \
                     (min {:.0}, max {:.0} over {rounds} runs)",
                    rates[rounds / 2],
                    rates[0],
                    rates[rounds - 1]
                );
            }
        }
    });
}
