//! Shared pieces: a collector with a device, transactions, the agent's intake, bronze counts.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use scout_tests::bins::{CollectorProcess, add_device};
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
        let token = add_device(&url, "SCOUTPI-0004", "104");
        Self {
            url,
            token,
            dir: dir.to_owned(),
        }
    }

    pub fn start(&self, listen: &str, extra: &[&str]) -> CollectorProcess {
        CollectorProcess::start(&self.url, &self.dir, listen, extra)
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

/// A free port on 127.0.0.1 with nothing listening on it (yet).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
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
