//! Shared pieces: a collector with a device, transactions, the agent's intake, bronze counts.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use scout_tests::bins::{Process, add_device, binary, start_collector};
use scout_tests::relay::Relay;
use serde_json::Value;
use sqlx::Row;

const CLEAN: &str = include_str!("../../../common/testdata/scoutpi_clean.json");

pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A SQLite collector database in `dir` with device SCOUTPI-0004 registered.
pub struct Central {
    pub url: String,
    pub token: String,
    pub dir: PathBuf,
}

impl Central {
    pub fn new(dir: &Path) -> Self {
        let url = format!("sqlite://{}", dir.join("collector.db").display());
        let token = add_device(&binary("scout-collector"), &url, "SCOUTPI-0004", "104");
        Self {
            url,
            token,
            dir: dir.to_owned(),
        }
    }

    pub fn start(&self, listen: &str, extra: &[&str]) -> Process {
        start_collector(
            &binary("scout-collector"),
            &self.url,
            &self.dir,
            listen,
            extra,
        )
    }

    /// Transaction ids in bronze, with how often each occurs.
    pub async fn bronze_ids(&self) -> Vec<String> {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(self.dir.join("collector.db"))
            .read_only(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        let rows = sqlx::query("SELECT transaction_id FROM bronze_scout_raw_transactions")
            .fetch_all(&pool)
            .await
            .unwrap();
        pool.close().await;
        rows.iter().map(|r| r.get::<String, _>(0)).collect()
    }

    /// Rows in bronze.
    pub async fn bronze_count(&self) -> usize {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(self.dir.join("collector.db"))
            .read_only(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM bronze_scout_raw_transactions")
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        usize::try_from(count).unwrap()
    }

    /// Asserts every id of `expected` is in bronze exactly once and nothing else is.
    pub async fn assert_exactly_once(&self, expected: &HashSet<String>) {
        let ids = self.bronze_ids().await;
        let distinct: HashSet<&String> = ids.iter().collect();
        assert_eq!(ids.len(), distinct.len(), "a transaction landed twice");
        let missing: Vec<&String> = expected
            .iter()
            .filter(|id| !distinct.contains(id))
            .collect();
        assert!(
            missing.is_empty(),
            "{} acknowledged transactions missing, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(3)]
        );
    }
}

/// A real-shaped transaction for SCOUTPI-0004 with the given id.
pub fn transaction(id: &str) -> Value {
    let mut v: Value = serde_json::from_str(CLEAN).unwrap();
    v["transactionId"] = Value::String(id.to_owned());
    v
}

pub fn id(prefix: u32, n: usize) -> String {
    format!("{prefix:08x}-0000-4000-8000-{n:012}")
}

pub fn client() -> reqwest::Client {
    install_crypto();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Posts transactions to the agent's intake (NDJSON); returns the ids it acknowledged.
pub async fn post(client: &reqwest::Client, intake: &str, ids: &[String]) -> Vec<String> {
    let body: String = ids
        .iter()
        .map(|id| format!("{}\n", transaction(id)))
        .collect();
    let response = client
        .post(intake)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "intake answered {}",
        response.status()
    );
    let report: Value = response.json().await.unwrap();
    report["stored"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["transaction_id"].as_str().unwrap().to_owned())
        .collect()
}

/// Whether an agent's `status --json` shows nothing waiting.
pub fn drained(s: &Value) -> bool {
    s["backlog"]["count"] == 0
}

/// An agent setup pointed at a reserved port where no collector listens yet (connections are
/// refused); `Relay::forward_to` a collector started on `127.0.0.1:0` brings it up there.
pub fn offline_setup(dir: &Path, central: &Central) -> (scout_tests::agent::AgentSetup, Relay) {
    let relay = Relay::reserve();
    (
        scout_tests::agent::AgentSetup::new(dir, &relay.url(), &central.token),
        relay,
    )
}

/// Feeds the agent's intake batches of `per_batch` transactions (ids `id(prefix, n..)` from
/// `first`) until a request fails (the agent was stopped); returns the acknowledged ids and the
/// next unused number. A request cut off by the stop is simply not acknowledged.
pub fn spawn_feeder(
    client: &reqwest::Client,
    intake: String,
    prefix: u32,
    first: usize,
    per_batch: usize,
) -> tokio::task::JoinHandle<(Vec<String>, usize)> {
    let client = client.clone();
    tokio::spawn(async move {
        let mut acked = Vec::new();
        let mut n = first;
        loop {
            let ids: Vec<String> = (n..n + per_batch).map(|i| id(prefix, i)).collect();
            n += per_batch;
            let body: String = ids
                .iter()
                .map(|i| format!("{}\n", transaction(i)))
                .collect();
            let sent = client
                .post(&intake)
                .header("content-type", "application/x-ndjson")
                .body(body)
                .send()
                .await;
            let Ok(response) = sent else { break };
            if !response.status().is_success() {
                break;
            }
            let Ok(report) = response.json::<Value>().await else {
                break;
            };
            for stored in report["stored"].as_array().unwrap() {
                acked.push(stored["transaction_id"].as_str().unwrap().to_owned());
            }
        }
        (acked, n)
    })
}
