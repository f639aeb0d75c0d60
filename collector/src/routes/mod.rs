//! HTTP routes, one module per resource; [`router`] builds the whole app from its state so tests
//! can drive it without a socket.

mod auth;
mod body;
pub mod fleet;
mod gates;
mod health;
pub mod heartbeat;
pub mod ingest;
mod metrics;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::{get, post};
use tokio::sync::{Notify, Semaphore};

pub use auth::AdminDigest;

use crate::config::{AdminToken, IngestLimits};
use crate::gates::GatesConfig;
use crate::pipeline::EtlMetrics;
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
    /// The quality gates' windows and thresholds (`GET /v1/gates`).
    pub gates: Arc<GatesConfig>,
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
            gates: Arc::default(),
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
}

/// The collector's HTTP surface (the product contract, §2 and §4).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(metrics::metrics))
        .route("/v1/ingest", post(ingest::ingest))
        .route("/v1/heartbeat", post(heartbeat::heartbeat))
        .route("/v1/devices", get(fleet::devices))
        .route("/v1/gates", get(gates::gates))
        .route("/functions/v1/ingest-stream", post(ingest::ingest_stream))
        .with_state(state)
}
