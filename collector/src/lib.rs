//! The Scout collector: authenticates ScoutPi devices, lands their transactions exactly once in
//! bronze, and (in later stages) builds silver, gold and platinum from them.
//!
//! `main.rs` parses arguments and installs the shutdown signal; [`cli::run`] dispatches
//! subcommands and [`run`] serves the HTTP API on a listener the caller bound, until the
//! caller's shutdown future completes.

pub mod brands;
pub mod bronze;
pub mod cli;
pub mod cli_device;
pub mod cli_ops;
pub mod config;
pub mod curation;
pub mod dashboard;
#[cfg(feature = "demo")]
pub mod demo;
pub mod devices;
pub mod doctor;
pub mod error;
pub mod files;
pub mod gates;
pub mod gold;
pub mod import;
pub mod inbox;
pub mod maintain;
pub mod pipeline;
pub mod platinum;
pub mod progress;
pub mod quality;
pub mod routes;
pub mod server;
pub mod silver;
pub mod store;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;

pub use config::{AdminToken, FilesConfig, IngestLimits, PipelineConfig, ServeConfig};
use pipeline::Pipeline;
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
            "no admin token configured: the control room (GET /), GET /v1/dashboard, \
             GET /v1/devices and GET /v1/gates are open to anyone who can reach the collector"
        );
    }
    let store_backend = store.backend();
    let gates = config
        .gates
        .config()
        .context("Failed to read the gates' settings")?;
    let store_for_inbox = store.clone();
    let mut state = AppState::new(store.clone(), config.limits)
        .with_admin_token(config.admin_token.as_ref())
        .with_gates(gates)
        .with_files(&config.files);
    state.secure_cookies = tls.is_some();
    // The pipeline stops when the server starts draining.
    let (stopping, stop) = tokio::sync::watch::channel(false);
    let mut pipeline_task = None;
    // One dictionary load at start-up: the pipeline's matcher (which then reloads taught
    // entries as they change) also reads brand names in questions (`/v1/nl2sql`).
    if config.pipeline.enabled {
        let pipeline = Pipeline::with_dictionary(
            store,
            config.pipeline.brands_file.clone(),
            config.pipeline.options(),
        )
        .await
        .context("Failed to load the brand dictionary")?;
        state.platinum = state.platinum.with_brands(pipeline.matcher());
        state.etl = Some(pipeline.metrics());
        let wake = Arc::clone(&state.pipeline_wake);
        let mut stop = stop.clone();
        pipeline_task = Some(tokio::spawn(pipeline.run(wake, async move {
            let _ = stop.wait_for(|s| *s).await;
        })));
    } else {
        let matcher = curation::matcher(&store, config.pipeline.brands_file.as_deref()).await?;
        state.platinum = state.platinum.with_brands(Arc::new(matcher));
        tracing::info!("medallion processing is off in this process (--process false)");
    }
    if let Some(dir) = &config.files.inbox {
        inbox::prepare(dir)
            .with_context(|| format!("Failed to prepare the inbox {}", dir.display()))?;
    }
    let inbox_task = config.files.inbox.clone().map(|dir| {
        let mut stop = stop.clone();
        tokio::spawn(inbox::watch(
            store_for_inbox.clone(),
            dir,
            config.files.inbox_poll(),
            Arc::clone(&state.pipeline_wake),
            async move {
                let _ = stop.wait_for(|s| *s).await;
            },
        ))
    });
    drop(stop);
    let app = router(state);
    tracing::info!(
        address = %listener.local_addr()?,
        scheme = if tls.is_some() { "https" } else { "http" },
        database = ?store_backend,
        version = VERSION,
        "scout-collector listening"
    );
    let served = server::serve(
        listener,
        app,
        tls,
        async {
            shutdown.await;
            let _ = stopping.send(true);
        },
        Duration::from_secs(config.drain_secs),
        config.timeouts,
    )
    .await;
    let _ = stopping.send(true);
    if let Some(task) = inbox_task {
        // An import in flight finishes first; its file is moved or stays for the next start.
        match task.await {
            Ok(Err(e)) => tracing::warn!(error = format!("{e:#}"), "the inbox stopped"),
            Err(e) => tracing::warn!(error = %e, "the inbox task failed"),
            Ok(Ok(())) => {}
        }
    }
    if let Some(task) = pipeline_task {
        // A pass in flight is rolled back by the database if it cannot finish.
        let _ = task.await;
    }
    served.context("Failed to serve")
}
