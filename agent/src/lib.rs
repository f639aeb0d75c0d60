//! Scout agent library: everything the `scout-agent` binary does, callable from tests and
//! benches. Modules follow the data's journey on the device: `intake` → `outbox` → `uplink`,
//! with `status` and `http` for the technician, `service` tying them together and `systemd`
//! reporting readiness and liveness to the service manager.

pub mod cli;
pub mod config;
pub mod http;
pub mod intake;
pub mod outbox;
pub mod service;
pub mod simulate;
pub mod status;
pub mod systemd;
pub mod uplink;

pub use service::run;

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
