//! The shutdown signal both binaries stop on (only with the `signal` feature): SIGTERM (systemd
//! stopping the service, `kill`) or SIGINT (Ctrl-C). The one piece of this crate that touches
//! the operating system, behind a feature so that a user of the wire types alone does not pull
//! in a runtime.
//!
//! [`shutdown_signal`] installs the handlers when it is called, not when its future is first
//! polled: a binary calls it before its slow start-up steps (opening and checking the agent's
//! outbox, connecting to and migrating the collector's database), so a signal that arrives
//! during them is a request to stop, not the default action that kills the process on the
//! spot. Once installed, the handlers stay for the life of the process, and the two signals no
//! longer end it by themselves: call it only in a command that waits for the future.

use std::future::Future;

#[cfg(unix)]
use tokio::signal::unix::{Signal, SignalKind, signal};

/// Installs the SIGINT and SIGTERM handlers now and returns a future that completes when the
/// first of the two arrives (logged at info, naming the signal). It must be called inside a
/// tokio runtime. A handler that cannot be installed is logged at error level, and that signal
/// is then not waited for.
#[cfg(unix)]
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    let interrupt = install(SignalKind::interrupt(), "SIGINT");
    let terminate = install(SignalKind::terminate(), "SIGTERM");
    async move {
        let name = tokio::select! {
            () = received(interrupt) => "SIGINT",
            () = received(terminate) => "SIGTERM",
        };
        tracing::info!(signal = name, "shutdown signal received");
    }
}

/// Ctrl-C only, where there is no SIGTERM (tokio installs this handler at the first poll).
#[cfg(not(unix))]
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    async {
        match tokio::signal::ctrl_c().await {
            Ok(()) => tracing::info!(signal = "Ctrl-C", "shutdown signal received"),
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for Ctrl-C");
                std::future::pending::<()>().await;
            }
        }
    }
}

#[cfg(unix)]
fn install(kind: SignalKind, name: &'static str) -> Option<Signal> {
    signal(kind)
        .map_err(|e| tracing::error!(signal = name, error = %e, "cannot listen for the signal"))
        .ok()
}

#[cfg(unix)]
async fn received(signal: Option<Signal>) {
    match signal {
        Some(mut signal) => {
            signal.recv().await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(all(test, unix))]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design
mod tests {
    //! A real signal sent to this test process. Safe in the test harness: the handlers are
    //! installed before the signal is sent, and once tokio's handler for a signal is installed
    //! it stays for the life of the process, so the signal can only be caught, never take the
    //! process down. (Under nextest each test runs in a process of its own anyway.)

    use std::process::Command;
    use std::time::Duration;

    use super::shutdown_signal;

    fn send_to_self(signal: &str) {
        let status = Command::new("kill")
            .args([signal, &std::process::id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal} failed: {status}");
    }

    async fn completes_on(signal: &str) {
        let shutdown = shutdown_signal();
        // Sent before the future is first polled: the handler was installed by the call.
        send_to_self(signal);
        tokio::time::timeout(Duration::from_secs(10), shutdown)
            .await
            .unwrap_or_else(|_| panic!("{signal} did not complete the shutdown future"));
    }

    #[tokio::test]
    async fn sigterm_completes_it_even_before_the_first_poll() {
        completes_on("-TERM").await;
    }

    #[tokio::test]
    async fn sigint_completes_it_even_before_the_first_poll() {
        completes_on("-INT").await;
    }
}
