//! Test support: a fresh database per test (a SQLite file in a tempdir, or a new PostgreSQL
//! database), the real app on 127.0.0.1:0, and backend-neutral views of bronze.
//!
//! PostgreSQL comes from `SCOUT_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`, any database the user may `CREATE DATABASE`
//! from). When it cannot be reached the PostgreSQL half of the suite is skipped with a loud
//! message, unless `SCOUT_REQUIRE_POSTGRES=1`, which turns the skip into a failure (CI sets it).
//! A test's PostgreSQL database is dropped even when the test panics (`scout_tests::pg`).

use std::net::SocketAddr;

use chrono::{DateTime, Utc};
use scout_collector::store::{Store, StoreOptions};
use scout_collector::{
    AdminToken, FilesConfig, IngestLimits, PipelineConfig, ServeConfig, devices,
};
use scout_tests::pg::ScratchDb;
use serde_json::Value;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Which backend a test body runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, migrated database that belongs to one test. A PostgreSQL one is dropped when this
/// goes, also when the test panics (the `ScratchDb` guard); `cleanup` drops it at once.
#[derive(Debug)]
pub struct TestDb {
    pub url: String,
    _dir: Option<TempDir>,
    pg: Option<ScratchDb>,
}

/// The PostgreSQL admin URL, or `None` (after saying so loudly) when PostgreSQL is unreachable
/// and not required.
pub async fn postgres_admin_url() -> Option<String> {
    scout_tests::pg::admin_url().await
}

impl TestDb {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("scout.db").display());
        Self {
            url,
            _dir: Some(dir),
            pg: None,
        }
    }

    /// A brand-new PostgreSQL database, or `None` when the PostgreSQL suite is skipped.
    pub async fn postgres() -> Option<Self> {
        let admin = postgres_admin_url().await?;
        let db = ScratchDb::create(&admin, "scout_test").await;
        Some(Self {
            url: db.url.clone(),
            _dir: None,
            pg: Some(db),
        })
    }

    /// The admin URL and the database name of a PostgreSQL test database.
    pub fn postgres_names(&self) -> Option<(String, String)> {
        self.pg
            .as_ref()
            .map(|db| (db.admin_url().to_owned(), db.name.clone()))
    }

    pub async fn for_backend(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => Some(Self::sqlite().await),
            Backend::Postgres => Self::postgres().await,
        }
    }

    pub async fn store(&self) -> Store {
        // A test waits longer for a connection than a serving collector would (5 s): on a
        // loaded 2-core machine, opening one to a database that was just created can take
        // that long, and a test should fail on what it checks, not on the machine's load.
        let options = StoreOptions {
            acquire_timeout: std::time::Duration::from_secs(60),
            ..StoreOptions::default()
        };
        let store = Store::connect(&self.url, &options).await.unwrap();
        store.migrate().await.unwrap();
        store
    }

    /// Drops a PostgreSQL test database now, failing the test if that fails (SQLite's tempdir
    /// goes by itself).
    pub async fn cleanup(mut self) {
        if let Some(db) = self.pg.take() {
            db.drop_now().await;
        }
    }
}

/// The collector served in-process on 127.0.0.1:0 with one registered device.
#[derive(Debug)]
pub struct TestApp {
    pub addr: SocketAddr,
    pub store: Store,
    pub db: TestDb,
    pub client: reqwest::Client,
    /// Token of device `SCOUTPI-0004` (store 104).
    pub token: String,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl TestApp {
    pub async fn spawn(db: TestDb) -> Self {
        Self::spawn_with(db, IngestLimits::default()).await
    }

    pub async fn spawn_with(db: TestDb, limits: IngestLimits) -> Self {
        Self::spawn_configured(db, limits, None, PipelineConfig::default()).await
    }

    /// The app with its background pipeline off, so a test runs the stages itself.
    pub async fn spawn_ingest_only(db: TestDb) -> Self {
        let pipeline = PipelineConfig {
            enabled: false,
            ..PipelineConfig::default()
        };
        Self::spawn_configured(db, IngestLimits::default(), None, pipeline).await
    }

    /// The app with its background pipeline polling every `poll_secs`.
    pub async fn spawn_processing(db: TestDb, poll_secs: f64) -> Self {
        let pipeline = PipelineConfig {
            process_poll_secs: poll_secs,
            ..PipelineConfig::default()
        };
        Self::spawn_configured(db, IngestLimits::default(), None, pipeline).await
    }

    /// The app with the fleet view behind `admin_token`.
    pub async fn spawn_with_admin_token(db: TestDb, admin_token: &str) -> Self {
        let token = Some(AdminToken::new(admin_token));
        Self::spawn_configured(
            db,
            IngestLimits::default(),
            token,
            PipelineConfig::default(),
        )
        .await
    }

    async fn spawn_configured(
        db: TestDb,
        limits: IngestLimits,
        admin_token: Option<AdminToken>,
        pipeline: PipelineConfig,
    ) -> Self {
        Self::spawn_full(db, limits, admin_token, pipeline, FilesConfig::default()).await
    }

    /// The app with the admin token and file settings given.
    pub async fn spawn_with_files(db: TestDb, admin_token: &str, files: FilesConfig) -> Self {
        let token = Some(AdminToken::new(admin_token));
        let pipeline = PipelineConfig::default();
        Self::spawn_full(db, IngestLimits::default(), token, pipeline, files).await
    }

    async fn spawn_full(
        db: TestDb,
        limits: IngestLimits,
        admin_token: Option<AdminToken>,
        pipeline: PipelineConfig,
        files: FilesConfig,
    ) -> Self {
        install_crypto();
        let store = db.store().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config = ServeConfig {
            listen: addr,
            tls_cert: None,
            tls_key: None,
            drain_secs: 5,
            admin_token,
            limits,
            timeouts: Default::default(),
            pipeline,
            gates: Default::default(),
            files,
        };
        let (tx, rx) = oneshot::channel();
        let server = tokio::spawn(scout_collector::run(
            listener,
            store.clone(),
            config,
            async move {
                let _ = rx.await;
            },
        ));
        let mut app = Self {
            addr,
            store,
            db,
            client: reqwest::Client::new(),
            token: String::new(),
            shutdown: Some(tx),
            server: Some(server),
        };
        app.token = app.add_device("SCOUTPI-0004", "104").await;
        app
    }

    /// Registers a device and returns its token.
    pub async fn add_device(&self, device_id: &str, store_id: &str) -> String {
        let token = devices::new_token().unwrap();
        assert!(
            self.store
                .add_device(device_id, store_id, &devices::token_hash(&token))
                .await
                .unwrap()
        );
        token
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Posts an NDJSON body to `/v1/ingest` with `token`.
    pub async fn ingest(&self, token: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client
            .post(self.url("/v1/ingest"))
            .bearer_auth(token)
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Posts and expects a 200 with a balanced ingest response.
    pub async fn ingest_ok(&self, token: &str, body: impl Into<reqwest::Body>) -> IngestResponse {
        let response = self.ingest(token, body).await;
        assert_eq!(response.status(), 200);
        let body: IngestResponse = response.json().await.unwrap();
        assert!(body.is_balanced(), "unbalanced: {body:?}");
        body
    }

    pub async fn bronze(&self) -> Vec<BronzeView> {
        bronze_rows(&self.store).await
    }

    /// Stops the server (drains) and drops the database.
    pub async fn finish(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
        self.store.close().await;
        self.db.cleanup().await;
    }
}

pub use scout_common::IngestResponse;

/// A bronze row read back the same way from either backend.
#[derive(Debug, Clone)]
pub struct BronzeView {
    pub transaction_id: String,
    pub device_id: String,
    pub store_id: Option<String>,
    pub transaction_timestamp: DateTime<Utc>,
    pub items: Value,
    pub detected_brands: Value,
    pub processing_metadata: Value,
    pub payload: Value,
    pub captured_at: Option<DateTime<Utc>>,
    pub device_seq: Option<i64>,
    pub agent_version: Option<String>,
}

pub async fn bronze_rows(store: &Store) -> Vec<BronzeView> {
    let rows = store
        .query(
            "SELECT transaction_id, device_id, store_id, transaction_timestamp, items::text, \
             detected_brands::text, processing_metadata::text, payload::text, captured_at, \
             device_seq, agent_version FROM bronze.scout_raw_transactions ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    let json = |text: String| -> Value { serde_json::from_str(&text).unwrap() };
    rows.iter()
        .map(|r| BronzeView {
            transaction_id: r.text(0).unwrap(),
            device_id: r.text(1).unwrap(),
            store_id: r.opt_text(2).unwrap(),
            transaction_timestamp: r.opt_time(3).unwrap().expect("a readable timestamp"),
            items: json(r.text(4).unwrap()),
            detected_brands: json(r.text(5).unwrap()),
            processing_metadata: json(r.text(6).unwrap()),
            payload: json(r.text(7).unwrap()),
            captured_at: r.opt_time(8).unwrap(),
            device_seq: r.opt_int(9).unwrap(),
            agent_version: r.opt_text(10).unwrap(),
        })
        .collect()
}

/// A real-shaped transaction line with a given id (fixture with the id replaced).
/// A file of the ingestion corpus (`collector/tests/data/files/`, written by its `generate.py`).
pub fn corpus(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/files")
        .join(name)
}

pub fn clean_line(transaction_id: &str) -> String {
    let mut v: Value = serde_json::from_str(CLEAN).unwrap();
    v["transactionId"] = Value::String(transaction_id.to_owned());
    v.to_string()
}

pub const CLEAN: &str = include_str!("../../../common/testdata/scoutpi_clean.json");
pub const QUIRKY: &str = include_str!("../../../common/testdata/scoutpi_quirky.json");

/// Joins lines into an NDJSON body.
pub fn ndjson<S: AsRef<str>>(lines: &[S]) -> String {
    let mut body = String::new();
    for line in lines {
        body.push_str(line.as_ref());
        body.push('\n');
    }
    body
}

/// One metric's value from a `/metrics` page (`name` with its labels, if any).
pub fn metric(page: &str, name: &str) -> f64 {
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{name} missing from\n{page}"))
        .parse()
        .unwrap()
}

/// The collector's `/metrics` page.
pub async fn metrics_page(app: &TestApp) -> String {
    app.client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}
