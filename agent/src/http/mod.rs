//! The agent's local HTTP server (127.0.0.1 by default): intake for the capture app and status
//! for the field technician. [`router`] builds it from [`AgentState`] so tests can drive it
//! without a socket.

mod intake;
mod status;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use axum::Router;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::config::CheckedConfig;
use crate::outbox::OutboxHandle;
use crate::uplink::UplinkStatus;

/// Intake counters since start (for `/metrics`).
#[derive(Debug, Default)]
pub struct IntakeCounters {
    pub requests: AtomicU64,
    pub accepted: AtomicU64,
    pub duplicates: AtomicU64,
    pub rejected_items: AtomicU64,
    pub refused_full: AtomicU64,
}

/// What the handlers can reach.
#[derive(Debug, Clone)]
pub struct AgentState {
    /// The service's configuration (its device id is the one intake accepts).
    pub config: Arc<CheckedConfig>,
    pub outbox: OutboxHandle,
    pub uplink: watch::Receiver<UplinkStatus>,
    pub started_at: DateTime<Utc>,
    pub intake: Arc<IntakeCounters>,
}

/// The local surface: `POST /v1/transactions`, `GET /status`, `/status.json`, `/healthz`,
/// `/metrics`.
pub fn router(state: AgentState) -> Router {
    Router::new()
        // The intake handler reads its body itself, within `intake::MAX_BODY_BYTES`.
        .route("/v1/transactions", post(intake::transactions))
        .route("/", get(status::page))
        .route("/status", get(status::page))
        .route("/status.json", get(status::json))
        .route("/healthz", get(status::healthz))
        .route("/metrics", get(status::metrics))
        .with_state(state)
}
