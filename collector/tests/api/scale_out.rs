//! Scale-out on PostgreSQL: two real `scout-collector` processes share one database, both
//! ingesting (every batch is sent to both, so each sees the other's duplicates) and both
//! processing at once. Their silver and gold must be exactly what one process makes of the same
//! data in a database of its own.

use std::path::Path;
use std::time::{Duration, Instant};

use scout_collector::store::Store;
use scout_tests::bins::{self, Process};
use serde_json::{Value, json};

use crate::helpers::{TestDb, install_crypto, ndjson};
use crate::medallion::table_lines;

const DEVICES: [(&str, &str); 4] = [
    ("SCOUTPI-0011", "111"),
    ("SCOUTPI-0012", "112"),
    ("SCOUTPI-0013", "113"),
    ("SCOUTPI-0014", "114"),
];

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_scout-collector"))
}

/// Each device's transactions, in batches: four days of sales, the last batch a late one for
/// the first day.
fn batches(device: &str, store: &str) -> Vec<String> {
    let brands = [
        ("Coca-Cola", "Coke Mismo", 15.0),
        ("Lucky Me", "Pancit Canton", 14.0),
        ("Safeguard", "Safeguard 60g", 28.5),
        ("Bear Brand", "Bear Brand 33g", 12.25),
        ("Smart", "Smart Load 50", 50.0),
        ("Kopiko", "Kopiko Blanca", 8.0),
        ("Unknown Store Brand", "Pandesal", 3.0),
    ];
    let sale = |i: u32, day: u32| -> Value {
        let items: Vec<Value> = (0..1 + i % 4)
            .map(|k| {
                let (b, p, price) = brands[((i + k * 3) as usize) % brands.len()];
                let q = f64::from(1 + (i + k) % 3);
                json!({"brandName": b, "productName": p, "quantity": q, "unitPrice": price,
                       "totalPrice": q * price})
            })
            .collect();
        let payment = ["cash", "gcash", "utang"][i as usize % 3];
        json!({
            "transactionId": format!("dddddddd-{store}-4000-8000-{i:012}"),
            "storeId": store, "deviceId": device.to_lowercase(),
            "timestamp": format!("2026-11-{day:02}T{:02}:{:02}:00Z", (i * 5) % 24, i % 60),
            "items": items,
            "transactionContext": {"paymentMethod": payment},
            "customerId": if i.is_multiple_of(7) { json!(format!("suki-{}", i % 5)) } else { Value::Null },
        })
    };
    let mut out: Vec<String> = (0..8u32)
        .map(|b| {
            let lines: Vec<String> = (0..50)
                .map(|j| {
                    let i = b * 50 + j;
                    sale(i, 20 + i % 4).to_string()
                })
                .collect();
            ndjson(&lines)
        })
        .collect();
    let late: Vec<String> = (1000..1020).map(|i| sale(i, 20).to_string()).collect();
    out.push(ndjson(&late));
    out
}

async fn post(client: &reqwest::Client, collector: &Process, token: &str, body: String) {
    // A 503/429 under load is an answer to retry, as the agent does.
    for _ in 0..50 {
        let response = client
            .post(collector.url("/v1/ingest"))
            .bearer_auth(token)
            .header("content-type", "application/x-ndjson")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        if response.status() == 200 {
            let r: scout_common::IngestResponse = response.json().await.unwrap();
            assert!(r.is_balanced() && r.rejected.is_empty(), "{r:?}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("collector kept refusing a batch");
}

/// Waits until every bronze row is processed and no gold partition is queued.
async fn caught_up(store: &Store, expected_bronze: i64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let b = store.backlog().await.unwrap();
        let bronze = store.bronze_count().await.unwrap();
        if bronze == expected_bronze && b.bronze_pending == 0 && b.gold_pending == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not caught up: {bronze} rows, {b:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn results(store: &Store) -> Vec<Vec<String>> {
    let mut all = Vec::new();
    for table in ["gold", "product", "customer", "silver_portable"] {
        all.push(table_lines(store, table).await);
    }
    all
}

mod postgres {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_collectors_on_one_database_match_a_single_one() {
        if crate::helpers::postgres_admin_url().await.is_none() {
            return;
        }
        install_crypto();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let work = tempfile::tempdir().unwrap();
        let per_device: Vec<Vec<String>> = DEVICES.iter().map(|(d, s)| batches(d, s)).collect();
        let expected: i64 = per_device
            .iter()
            .flatten()
            .map(|b| b.lines().count() as i64)
            .sum();

        // Two collectors, one database, both ingesting and processing.
        let shared = TestDb::postgres().await.unwrap();
        let tokens: Vec<String> = DEVICES
            .iter()
            .map(|(d, s)| bins::add_device(bin(), &shared.url, d, s))
            .collect();
        let fast = ["--process-poll-secs", "0.2"];
        let a = bins::start_collector(bin(), &shared.url, work.path(), "127.0.0.1:0", &fast);
        let b = bins::start_collector(bin(), &shared.url, work.path(), "127.0.0.1:0", &fast);
        let mut sends = Vec::new();
        for (i, batches) in per_device.iter().enumerate() {
            let (client, token, batches) = (client.clone(), tokens[i].clone(), batches.clone());
            let (a, b) = (&a, &b);
            // Every batch goes to one collector, then to the other (a resend after a lost
            // answer, as far as the second one can tell).
            sends.push(async move {
                for (k, body) in batches.into_iter().enumerate() {
                    let (first, second) = if (i + k) % 2 == 0 { (a, b) } else { (b, a) };
                    post(&client, first, &token, body.clone()).await;
                    post(&client, second, &token, body).await;
                }
            });
        }
        futures_util::future::join_all(sends).await;
        let store = shared.store().await;
        caught_up(&store, expected).await;
        let two = results(&store).await;
        for log in [&a.log, &b.log] {
            let text = std::fs::read_to_string(log).unwrap();
            assert!(!text.contains("medallion pass failed"), "{text}");
        }
        // Each bronze row was processed once across the two processes.
        let mut processed = Vec::new();
        for collector in [&a, &b] {
            let text = client
                .get(collector.url("/metrics"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let line = text
                .lines()
                .find(|l| l.starts_with("scout_etl_bronze_processed_total "))
                .unwrap_or_else(|| panic!("no processed counter in\n{text}"));
            processed.push(
                line.split_whitespace()
                    .nth(1)
                    .unwrap()
                    .parse::<f64>()
                    .unwrap() as i64,
            );
        }
        assert_eq!(processed.iter().sum::<i64>(), expected, "{processed:?}");
        eprintln!("bronze rows processed by each collector: {processed:?}");
        drop((a, b));

        // One collector, its own database, each batch once.
        let alone = TestDb::postgres().await.unwrap();
        let c = bins::start_collector(bin(), &alone.url, work.path(), "127.0.0.1:0", &fast);
        for (i, batches) in per_device.iter().enumerate() {
            let (d, s) = DEVICES[i];
            let token = bins::add_device(bin(), &alone.url, d, s);
            for body in batches {
                post(&client, &c, &token, body.clone()).await;
            }
        }
        let single_store = alone.store().await;
        caught_up(&single_store, expected).await;
        let one = results(&single_store).await;
        drop(c);

        assert!(two.iter().all(|t| !t.is_empty()));
        for (name, (x, y)) in ["gold", "product", "customer", "silver"]
            .iter()
            .zip(two.iter().zip(&one))
        {
            assert_eq!(x.len(), y.len(), "{name} row count");
            assert!(x == y, "{name} differs between two collectors and one");
        }
        eprintln!(
            "two collectors, one database: {} gold rows, {} silver rows, identical to one",
            two[0].len(),
            two[3].len()
        );
        for (s, db) in [(store, shared), (single_store, alone)] {
            s.close().await;
            db.cleanup().await;
        }
    }
}
