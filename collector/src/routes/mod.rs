//! HTTP routes, one module per resource; [`router`] builds the whole app from its state so tests
//! can drive it without a socket.

mod auth;
mod body;
mod control;
mod files;
pub mod fleet;
mod gates;
mod health;
pub mod heartbeat;
pub mod ingest;
mod metrics;
mod platinum;
mod session;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};
use tokio::sync::{Notify, Semaphore};

pub use auth::AdminDigest;

use crate::config::{AdminToken, DEFAULT_MAX_FILE_BYTES, FilesConfig, IngestLimits};
use crate::gates::GatesConfig;
use crate::pipeline::EtlMetrics;
use crate::platinum::Engine;
use crate::store::Store;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
    pub limits: Arc<IngestLimits>,
    /// Ingest requests being processed, collector-wide.
    pub in_flight: Arc<Semaphore>,
    /// Ingest requests being processed, per device.
    pub per_device: Arc<Mutex<HashMap<String, usize>>>,
    /// Hash of the admin token the fleet view requires; `None`: the fleet view is open.
    pub admin: Option<AdminDigest>,
    /// Woken when ingest commits new bronze rows, so the pipeline starts at once.
    pub pipeline_wake: Arc<Notify>,
    /// The pipeline's counters, when this process runs it.
    pub etl: Option<Arc<EtlMetrics>>,
    /// Control-room sessions (logins with the admin token).
    pub sessions: Arc<session::Sessions>,
    /// Whether session cookies carry `Secure` (the collector serves TLS).
    pub secure_cookies: bool,
    /// Answers questions and plans (`/v1/nl2sql`, `/v1/crosstab`).
    pub platinum: Engine,
    /// The quality gates' windows and thresholds (`GET /v1/gates`).
    pub gates: Arc<GatesConfig>,
    /// Hash of the token that admits file uploads only (besides the admin token).
    pub upload: Option<AdminDigest>,
    /// Largest uploaded file, in bytes.
    pub max_file_bytes: u64,
}

impl AppState {
    pub fn new(store: Store, limits: IngestLimits) -> Self {
        Self {
            in_flight: Arc::new(Semaphore::new(limits.max_in_flight.max(1))),
            limits: Arc::new(limits),
            per_device: Arc::default(),
            admin: None,
            pipeline_wake: Arc::default(),
            etl: None,
            sessions: Arc::default(),
            secure_cookies: false,
            platinum: Engine::new(store.clone()),
            gates: Arc::default(),
            upload: None,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            store,
        }
    }

    /// Requires `token` (when given) for the fleet view; only its hash is kept.
    #[must_use]
    pub fn with_admin_token(mut self, token: Option<&AdminToken>) -> Self {
        self.admin = token.map(AdminDigest::of);
        self
    }

    /// Runs `GET /v1/gates` with these windows and thresholds.
    #[must_use]
    pub fn with_gates(mut self, gates: GatesConfig) -> Self {
        self.gates = Arc::new(gates);
        self
    }

    /// Takes the upload settings (size cap, upload token) from `files`.
    #[must_use]
    pub fn with_files(mut self, files: &FilesConfig) -> Self {
        self.upload = files.upload_token.as_ref().map(AdminDigest::of);
        self.max_file_bytes = files.max_file_bytes;
        self
    }
}

/// The collector's HTTP surface (the product contract, §2 and §4).
pub fn router(state: AppState) -> Router {
    let small = || middleware::from_fn_with_state(state.clone(), body::small_body);
    let upload = || middleware::from_fn_with_state(state.clone(), body::upload_body);
    Router::new()
        .route("/", get(control::index))
        .route("/login", post(control::login).layer(small()))
        .route("/logout", post(control::logout).layer(small()))
        .route("/v1/dashboard", get(control::figures))
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(metrics::metrics))
        .route("/v1/ingest", post(ingest::ingest))
        .route("/v1/heartbeat", post(heartbeat::heartbeat))
        .route("/v1/devices", get(fleet::devices))
        .route("/v1/gates", get(gates::gates))
        .route("/functions/v1/ingest-stream", post(ingest::ingest_stream))
        .route("/v1/nl2sql", post(platinum::nl2sql).layer(small()))
        .route(
            "/functions/v1/nl2sql",
            post(platinum::nl2sql).layer(small()),
        )
        .route("/v1/crosstab", get(platinum::crosstab))
        // Uploads stream to a temporary file under their own cap (`max_file_bytes`), so axum's
        // in-memory body limit does not apply to them.
        .route(
            "/v1/files",
            post(files::upload)
                .layer(DefaultBodyLimit::disable())
                .layer(upload()),
        )
        .route(
            "/functions/v1/drive-universal-processor",
            post(files::upload)
                .layer(DefaultBodyLimit::disable())
                .layer(upload()),
        )
        .with_state(state)
}
