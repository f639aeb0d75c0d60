//! HTTP routes, one module per resource; [`router`] builds the whole app from its state so tests
//! can drive it without a socket.

mod health;
pub mod ingest;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::{get, post};
use tokio::sync::Semaphore;

use crate::config::IngestLimits;
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
}

impl AppState {
    pub fn new(store: Store, limits: IngestLimits) -> Self {
        Self {
            in_flight: Arc::new(Semaphore::new(limits.max_in_flight.max(1))),
            limits: Arc::new(limits),
            per_device: Arc::default(),
            store,
        }
    }
}

/// The collector's HTTP surface (CONTRACT.md §2 and §4).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/v1/ingest", post(ingest::ingest))
        .route("/functions/v1/ingest-stream", post(ingest::ingest_stream))
        .with_state(state)
}
