//! The Scout collector: authenticates ScoutPi devices, lands their transactions exactly once in
//! bronze, and (in later stages) builds silver, gold and platinum from them.
//!
//! `main.rs` only parses arguments; [`cli::run`] dispatches subcommands and [`run`] serves the
//! HTTP API on a listener the caller bound, until the caller's shutdown future completes.

pub mod brands;
pub mod bronze;
pub mod cli;
pub mod config;
pub mod devices;
pub mod error;
pub mod quality;
pub mod routes;
pub mod server;
pub mod store;

use std::future::Future;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;

pub use config::{AdminToken, IngestLimits, ServeConfig};
pub use routes::{AppState, router};
pub use store::Store;

/// This build's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Serves the collector API on `listener` until `shutdown` completes.
pub async fn run(
    listener: TcpListener,
    store: Store,
    config: ServeConfig,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(server::tls_acceptor(cert, key)?),
        _ => None,
    };
    config.check()?;
    if config.admin_token.is_none() {
        tracing::info!(
            "no admin token configured: GET /v1/devices is open to anyone who can reach the collector"
        );
    }
    let state = AppState::new(store, config.limits).with_admin_token(config.admin_token.as_ref());
    let app = router(state);
    server::serve(
        listener,
        app,
        tls,
        shutdown,
        Duration::from_secs(config.drain_secs),
    )
    .await
    .context("Failed to serve")
}

/// Completes on Ctrl-C or SIGTERM: the one shutdown path of the binary.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}
