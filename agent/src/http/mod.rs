//! The agent's local HTTP server (127.0.0.1 by default): intake for the capture app and status
//! for the field technician. [`router`] builds it from [`AgentState`] so tests can drive it
//! without a socket.

mod intake;
mod status;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use scout_common::serve::Connections;
use tokio::sync::watch;

use crate::config::CheckedConfig;
use crate::outbox::OutboxHandle;
use crate::uplink::UplinkStatus;

/// The local server's connection rules. The capture app and a technician's browser send a
/// request in milliseconds over loopback or the store's network; the limits only close
/// connections that are held without being used (a misbehaving client, or anyone on the network
/// opening sockets until the agent has no file descriptors left).
pub const CONNECTIONS: Connections = Connections {
    header_timeout: Duration::from_secs(10),
    keep_alive: Duration::from_secs(60),
    drain: Duration::from_secs(10),
};

/// How long intake waits for the next bytes of a request body.
pub const BODY_IDLE: Duration = Duration::from_secs(10);

/// How long intake waits for a whole request body (16 MB at most, on a local network).
pub const BODY_TOTAL: Duration = Duration::from_secs(60);

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
    /// Whose transactions intake takes, from the configuration, built once.
    pub owner: Arc<crate::intake::Owner>,
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
