//! Tests of the real `scout-collector` binary: memory while streaming a large body, SIGKILL in
//! the middle of batches, and draining in-flight requests on SIGTERM.

use std::path::Path;
use std::time::{Duration, Instant};

use scout_tests::bins::{self, Process, peak_rss_kib};

use serde_json::json;

use crate::helpers::{Backend, TestDb, bronze_rows, clean_line, install_crypto, ndjson};

crate::both_backends!(
    large_body_streams_in_bounded_memory,
    sigkill_mid_batch_loses_nothing_and_duplicates_nothing,
    sigterm_drains_in_flight_requests,
);

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_scout-collector"))
}

/// `scout-collector serve` on 127.0.0.1:0 (SIGKILLed when dropped).
fn start(url: &str, dir: &Path, extra: &[&str]) -> Process {
    bins::start_collector(bin(), url, dir, "127.0.0.1:0", extra)
}

fn add_device(url: &str, device: &str, store: &str) -> String {
    bins::add_device(bin(), url, device, store)
}

fn client() -> reqwest::Client {
    install_crypto();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

async fn large_body_streams_in_bounded_memory(backend: Backend) {
    let db = TestDb::for_backend(backend).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token = add_device(&db.url, "SCOUTPI-0004", "104");
    // Ingest alone: the medallion stages' memory is bounded by their batch size, not the body,
    // and would only blur what this measures.
    let collector = start(&db.url, dir.path(), &["--process", "false"]);
    let client = client();
    // A 20 MB body to warm up (pools, buffers and SQLite's page caches filled), then the
    // baseline; then a 10 MB body and a 30 MB one, generated as they are sent
    // (the client holds none of them).
    let line_len = clean_line("0000bbbb-0000-4000-8000-000000000000").len() + 1;
    let mut peaks = Vec::new();
    let mut first_id = 0_usize;
    for megabytes in [20_usize, 10, 30] {
        let lines = megabytes * 1_000_000 / line_len + 1;
        let start_id = first_id;
        first_id += lines;
        let chunks = futures_util::stream::iter((0..lines).step_by(50).map(move |start| {
            let batch: Vec<String> = (start..(start + 50).min(lines))
                .map(|i| clean_line(&format!("0000bbbb-0000-4000-8000-{:012}", start_id + i)))
                .collect();
            Ok::<_, std::io::Error>(ndjson(&batch))
        }));
        let response = client
            .post(collector.url("/v1/ingest"))
            .bearer_auth(&token)
            .header("content-type", "application/x-ndjson")
            .body(reqwest::Body::wrap_stream(chunks))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let r: scout_common::IngestResponse = response.json().await.unwrap();
        assert_eq!(r.inserted, lines as u64);
        peaks.push(peak_rss_kib(collector.pid()));
    }
    let baseline = peaks.remove(0);
    eprintln!(
        "{backend:?}: peak RSS {baseline} KiB, after 10 MB {} KiB, after 30 MB {} KiB",
        peaks[0], peaks[1]
    );
    // Streaming holds a batch being built and one being committed (1 MiB of rows each by
    // default): a 10 MB body must not cost 10 MB, and tripling the body must not raise the
    // peak by more than noise.
    // Linux updates the high-water mark lazily, so a later reading can be a little lower than an
    // earlier one: growth is counted from zero up.
    let grew = |from: u64, to: u64| to.saturating_sub(from);
    assert!(
        grew(baseline, peaks[0]) < 10 * 1024,
        "10 MB body raised peak RSS by {} KiB",
        grew(baseline, peaks[0])
    );
    assert!(
        grew(peaks[0], peaks[1]) < 4 * 1024,
        "30 MB body raised peak RSS by {} KiB over the 10 MB one",
        grew(peaks[0], peaks[1])
    );
    collector.kill();
    db.cleanup().await;
}

async fn sigkill_mid_batch_loses_nothing_and_duplicates_nothing(backend: Backend) {
    let db = TestDb::for_backend(backend).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token = add_device(&db.url, "SCOUTPI-0004", "104");
    let client = client();
    let total = 6_000_usize;
    let batch = 300_usize;
    let batches: Vec<String> = (0..total)
        .step_by(batch)
        .map(|start| {
            let lines: Vec<String> = (start..start + batch)
                .map(|i| clean_line(&format!("0000cccc-0000-4000-8000-{i:012}")))
                .collect();
            ndjson(&lines)
        })
        .collect();

    let mut collector = start(&db.url, dir.path(), &["--batch-rows", "50"]);
    let mut kills = 0;
    let mut acknowledged = 0_u64;
    let mut next_kill = Instant::now() + Duration::from_millis(150);
    for body in &batches {
        loop {
            // Send in the background and kill the collector while it may be mid-batch.
            let send = client
                .post(collector.url("/v1/ingest"))
                .bearer_auth(&token)
                .header("content-type", "application/x-ndjson")
                .body(body.clone())
                .send();
            let handle = tokio::spawn(send);
            if kills < 5 && Instant::now() >= next_kill {
                tokio::time::sleep(Duration::from_millis(5 + 7 * kills)).await;
                collector.kill();
                kills += 1;
                next_kill = Instant::now() + Duration::from_millis(200);
                let outcome = handle.await.unwrap();
                if let Ok(response) = outcome
                    && response.status() == 200
                {
                    // Answered before the kill: acknowledged.
                    let r: scout_common::IngestResponse = response.json().await.unwrap();
                    acknowledged += r.records_processed;
                    collector = start(&db.url, dir.path(), &["--batch-rows", "50"]);
                    break;
                }
                // Not acknowledged: restart and send the same batch again.
                collector = start(&db.url, dir.path(), &["--batch-rows", "50"]);
                continue;
            }
            let response = handle.await.unwrap().unwrap();
            assert_eq!(response.status(), 200);
            let r: scout_common::IngestResponse = response.json().await.unwrap();
            assert!(r.is_balanced() && r.rejected.is_empty());
            acknowledged += r.records_processed;
            break;
        }
    }
    assert_eq!(kills, 5, "the run ended before all kills happened");
    assert!(acknowledged >= total as u64);
    let store = db.store().await;
    let rows = bronze_rows(&store).await;
    let mut ids: Vec<&str> = rows.iter().map(|r| r.transaction_id.as_str()).collect();
    assert_eq!(ids.len(), total, "bronze holds every transaction");
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), total, "and each exactly once");
    collector.kill();
    drop(store);
    db.cleanup().await;
}

async fn sigterm_drains_in_flight_requests(backend: Backend) {
    let db = TestDb::for_backend(backend).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token = add_device(&db.url, "SCOUTPI-0004", "104");
    // One row per commit: the first line lands as soon as it arrives, which shows the request
    // is being served.
    let collector = start(&db.url, dir.path(), &["--batch-rows", "1"]);
    let store = db.store().await;
    let client = client();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let first = ndjson(&[clean_line("0000dddd-0000-4000-8000-000000000001")]);
    let rest = ndjson(&[
        clean_line("0000dddd-0000-4000-8000-000000000002"),
        json!({"transactionId": "0000dddd-3", "deviceId": "SCOUTPI-0004"}).to_string(),
    ]);
    let body = futures_util::StreamExt::chain(
        futures_util::stream::once(async move { Ok::<_, std::io::Error>(first) }),
        futures_util::stream::once(async move {
            let _ = rx.await;
            Ok::<_, std::io::Error>(rest)
        }),
    );
    let request = client
        .post(collector.url("/v1/ingest"))
        .bearer_auth(&token)
        .header("content-type", "application/x-ndjson")
        .body(reqwest::Body::wrap_stream(body));
    let in_flight = tokio::spawn(request.send());
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.bronze_count().await.unwrap() == 0 {
        assert!(
            Instant::now() < deadline,
            "the first line was never committed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    collector.signal("TERM");
    // Shutdown has begun: wait until the log says so, then let the request finish.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&collector.log)
        .unwrap()
        .contains("draining")
    {
        assert!(
            Instant::now() < deadline,
            "no drain message in\n{}",
            std::fs::read_to_string(&collector.log).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // New connections are no longer accepted.
    assert!(
        client
            .get(format!("http://{}/healthz", collector.addr))
            .send()
            .await
            .is_err()
    );
    if tx.send(()).is_err() {
        let early = in_flight.await.unwrap();
        panic!(
            "the request ended before its body did: {early:?}\n{}",
            std::fs::read_to_string(&collector.log).unwrap()
        );
    }
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    let r: scout_common::IngestResponse = response.json().await.unwrap();
    assert_eq!(r.inserted, 3);
    let exit = collector.wait(Duration::from_secs(30));
    assert!(exit.success(), "exit status {exit:?}");
    assert_eq!(store.bronze_count().await.unwrap(), 3);
    drop(store);
    db.cleanup().await;
}
