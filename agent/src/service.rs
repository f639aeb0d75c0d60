//! The agent service (`scout-agent run`): opens the outbox, then runs intake (HTTP and spool),
//! the uplink and the status server side by side until shutdown, and closes the outbox last.
//!
//! Shutdown during start-up: while the outbox opens (its start-up check can take a while on a
//! large file after an unclean stop), `shutdown` stops the opening where the next start picks
//! it up again ([`Interrupt`]), and the service exits cleanly without having served.
//!
//! Shutdown order: stop taking new work (HTTP intake, spool scans), let the uplink finish its
//! request in flight (bounded by the request timeout), then close the outbox, which finishes
//! the current SQLite transaction and marks the session clean. A corruption seen while running
//! ends the service with an error so that systemd restarts it and the next start quarantines
//! the file.
//!
//! Under systemd (`Type=notify`) the service says `READY=1` once the listener is bound and the
//! outbox is open, pings the watchdog while the outbox thread answers, and says `STOPPING=1`
//! when shutdown begins (see [`crate::systemd`]).

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::config::{AgentConfig, CheckedConfig};
use crate::http::{AgentState, IntakeCounters, router};
use crate::intake::spool::{SpoolConfig, SpoolWatcher};
use crate::outbox::{BufferError, Interrupt, OpenReport, Outbox, OutboxConfig, OutboxHandle};
use crate::status::LISTEN_STATE_KEY;
use crate::uplink::{self, UplinkStatus, Wake};

/// Extra time, beyond the request timeout, that shutdown waits for the tasks.
const SHUTDOWN_SLACK: Duration = Duration::from_secs(5);

/// Checks `config` ([`AgentConfig::check`], logging its warnings) and runs the agent with it
/// ([`run_checked`]): for a configuration built in code, as the collector's demo builds its
/// agents'. `scout-agent run` checks first itself, to report every problem before it binds.
pub async fn run(
    config: AgentConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let config = config.check().context("Failed to start")?;
    for warning in config.warnings() {
        warn!(key = warning.key, "{}", warning.message);
    }
    run_checked(config, listener, shutdown).await
}

/// Runs the agent until `shutdown` completes (or the outbox turns out corrupt).
pub async fn run_checked(
    config: CheckedConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let mut shutdown = pin!(shutdown);
    let Some((outbox, report)) = open_outbox(&config, shutdown.as_mut()).await? else {
        return Ok(());
    };
    if let Some(q) = &report.quarantined {
        error!(
            kept_at = %q.path.display(),
            reason = %q.reason,
            salvaged = q.salvaged_pending,
            damaged = q.damaged_pending,
            lost = ?q.lost_pending,
            "THE OUTBOX WAS DAMAGED: it was renamed aside and a fresh one opened"
        );
    }
    info!(
        path = %config.outbox_path().display(),
        check = ?report.startup_check,
        check_ms = report.integrity_check.as_millis() as u64,
        "outbox open"
    );
    let outbox = OutboxHandle::spawn(outbox);
    let addr = listener
        .local_addr()
        .context("Failed to read the listen address")?;
    outbox
        .set_state(LISTEN_STATE_KEY, Some(addr.to_string()))
        .await
        .context("Failed to record the listen address")?;

    let config = Arc::new(config);
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    let (status_tx, status_rx) = watch::channel(UplinkStatus::default());
    let wake = Wake::new();

    let uplink_task = {
        let (outbox, config, wake, stop) =
            (outbox.clone(), Arc::clone(&config), wake.clone(), stopped());
        tokio::spawn(
            async move { uplink::run_checked(outbox, &config, status_tx, wake, stop).await },
        )
    };
    // Anything this process commits to the outbox (HTTP intake, spool) wakes the uplink at once;
    // rows a `scout-agent enqueue` beside us adds are found by the uplink's idle poll.
    let wake_task = {
        let (mut enqueued, wake, stop) = (outbox.enqueued(), wake.clone(), stopped());
        tokio::spawn(async move {
            tokio::pin!(stop);
            loop {
                tokio::select! {
                    () = &mut stop => break,
                    changed = enqueued.changed() => {
                        if changed.is_err() { break; }
                        wake.notify();
                    }
                }
            }
        })
    };
    let spool_task = {
        let watcher = SpoolWatcher::new(SpoolConfig::from(&*config), outbox.clone());
        tokio::spawn(watcher.run(stopped()))
    };
    let state = AgentState {
        config: Arc::clone(&config),
        owner: Arc::new(crate::intake::Owner::from(&*config)),
        outbox: outbox.clone(),
        uplink: status_rx,
        started_at: chrono::Utc::now(),
        intake: Arc::new(IntakeCounters::default()),
    };
    info!(
        address = %addr,
        device = %config.device_id(),
        collector = %config.collector_url(),
        version = crate::VERSION,
        "scout-agent listening"
    );
    let server_task = {
        let stop = stopped();
        tokio::spawn(async move {
            scout_common::serve::serve(
                listener,
                router(state),
                scout_common::serve::plain,
                stop,
                crate::http::CONNECTIONS,
            )
            .await;
        })
    };
    crate::systemd::ready(&format!("listening on {addr}"));
    let watchdog_task = crate::systemd::watchdog_interval().map(|interval| {
        info!(
            interval_ms = interval.as_millis() as u64,
            "systemd watchdog enabled"
        );
        let (outbox, stop) = (outbox.clone(), stopped());
        tokio::spawn(crate::systemd::keep_alive(outbox, interval, stop))
    });

    let mut corruption = outbox.corruption();
    let outbox_failed = async move {
        match corruption.wait_for(|seen| *seen).await {
            Ok(_) => "the outbox reported corruption while running",
            Err(_) => "the outbox stopped unexpectedly",
        }
    };
    let failure = tokio::select! {
        () = &mut shutdown => None,
        why = outbox_failed => Some(why),
    };
    crate::systemd::stopping();
    info!("stopping: no new intake, finishing the upload in flight");
    let _ = stop_tx.send(true);
    let limit = config.request_timeout().saturating_add(SHUTDOWN_SLACK);
    let tasks = async {
        let _ = server_task.await;
        let _ = spool_task.await;
        let _ = uplink_task.await;
        let _ = wake_task.await;
        if let Some(watchdog) = watchdog_task {
            let _ = watchdog.await;
        }
    };
    if tokio::time::timeout(limit, tasks).await.is_err() {
        warn!(
            ?limit,
            "tasks did not stop in time; closing the outbox anyway"
        );
    }
    outbox.close().await.context("Failed to close the outbox")?;
    info!("stopped cleanly");
    match failure {
        None => Ok(()),
        Some(why) => Err(anyhow::anyhow!(
            "{why}: exiting so the next start checks and quarantines it"
        )),
    }
}

/// Opens the outbox (on a blocking thread), or stops the opening when `shutdown` completes
/// first: `None` then, once the opening thread has let go of the file.
async fn open_outbox(
    config: &CheckedConfig,
    shutdown: Pin<&mut impl Future<Output = ()>>,
) -> anyhow::Result<Option<(Outbox, OpenReport)>> {
    let path = config.outbox_path().to_path_buf();
    info!(path = %path.display(), "opening the outbox");
    let open_config = OutboxConfig::new(config.max_outbox_bytes());
    let interrupt = Interrupt::new();
    let mut opening = tokio::task::spawn_blocking({
        let interrupt = interrupt.clone();
        move || Outbox::open_interruptible(path, open_config, &interrupt)
    });
    let failed = || {
        format!(
            "Failed to open the outbox {}",
            config.outbox_path().display()
        )
    };
    tokio::select! {
        opened = &mut opening => {
            let opened = opened.context("Failed to open the outbox")?.with_context(failed)?;
            return Ok(Some(opened));
        }
        () = shutdown => {}
    }
    crate::systemd::stopping();
    info!("stopping during start-up: the outbox's opening stops where the next start resumes");
    interrupt.raise();
    match opening.await.context("Failed to open the outbox")? {
        Err(BufferError::Interrupted) => {
            info!(
                "stopped before the outbox opened; its start-up check runs again at the next start"
            );
            Ok(None)
        }
        Ok((outbox, _)) => {
            // It finished before the stop reached it: close it as a stop would.
            tokio::task::spawn_blocking(move || outbox.close())
                .await
                .context("Failed to close the outbox")?
                .context("Failed to close the outbox")?;
            info!("stopped cleanly");
            Ok(None)
        }
        Err(e) => Err(e).with_context(failed),
    }
}
