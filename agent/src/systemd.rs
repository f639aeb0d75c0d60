//! Tells systemd how the service is doing (`sd_notify`, for `Type=notify` with `WatchdogSec=`):
//! `READY=1` once the listener is bound and the outbox is open, `WATCHDOG=1` every half of
//! `WATCHDOG_USEC` while the outbox thread answers, `STOPPING=1` when shutdown begins.
//!
//! Everything here is a no-op when `NOTIFY_SOCKET` (or `WATCHDOG_USEC`) is unset, i.e. when the
//! agent was not started by systemd: a terminal, a test, another supervisor.
//!
//! # The watchdog proves more than "the process exists"
//!
//! A ping is sent only after the outbox thread answered a cheap request (its group-commit
//! counters, served from memory through the same queue as every enqueue) within a quarter of the
//! watchdog interval. So a runtime that no longer schedules timers, or an outbox thread stuck
//! (a wedged SD card, a lock never released), stops the pings, and systemd kills and restarts
//! the agent, whose next start checks the outbox. The ping interval is half the watchdog
//! interval, as `sd_watchdog_enabled(3)` recommends; one withheld ping is therefore enough.

use std::future::Future;
use std::time::Duration;

use tracing::{debug, warn};

use crate::outbox::OutboxHandle;

/// Shortest ping interval, whatever `WATCHDOG_USEC` says (a guard against a tiny value).
const MIN_PING_EVERY: Duration = Duration::from_millis(10);

/// What the agent tells systemd.
#[derive(Debug, Clone, Copy)]
enum Message<'a> {
    /// `READY=1` plus a one-line `STATUS=` that `systemctl status` shows.
    Ready(&'a str),
    /// `WATCHDOG=1`.
    Watchdog,
    /// `STOPPING=1`.
    Stopping,
}

/// `READY=1`, with `status` as the line `systemctl status` shows.
pub fn ready(status: &str) {
    log_failure(Message::Ready(status), send(Message::Ready(status)));
}

/// `STOPPING=1`: shutdown has begun (systemd then waits up to `TimeoutStopSec=`).
pub fn stopping() {
    log_failure(Message::Stopping, send(Message::Stopping));
}

/// The watchdog interval systemd asked for (`WATCHDOG_USEC`, for this process), if any.
pub fn watchdog_interval() -> Option<Duration> {
    #[cfg(unix)]
    return sd_notify::watchdog_enabled().filter(|d| !d.is_zero());
    #[cfg(not(unix))]
    None
}

/// Sends `WATCHDOG=1` every half of `interval` while `outbox` answers, until `shutdown`.
pub async fn keep_alive(
    outbox: OutboxHandle,
    interval: Duration,
    shutdown: impl Future<Output = ()>,
) {
    keep_alive_with(outbox, interval, shutdown, || send(Message::Watchdog)).await;
}

/// [`keep_alive`] with the ping itself passed in (tests count pings instead of sending them).
async fn keep_alive_with(
    outbox: OutboxHandle,
    interval: Duration,
    shutdown: impl Future<Output = ()>,
    mut ping: impl FnMut() -> std::io::Result<()>,
) {
    let every = (interval / 2).max(MIN_PING_EVERY);
    let answer_within = (interval / 4).max(MIN_PING_EVERY);
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    let mut warned = false;
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            _ = ticks.tick() => {}
        }
        match tokio::time::timeout(answer_within, outbox.commit_stats()).await {
            Ok(Ok(_)) => match ping() {
                Ok(()) => {}
                Err(e) if warned => debug!(error = %e, "cannot send WATCHDOG=1 to systemd"),
                Err(e) => {
                    warn!(error = %e, "cannot send WATCHDOG=1 to systemd");
                    warned = true;
                }
            },
            Ok(Err(e)) => warn!(error = %e, "outbox unavailable: watchdog ping withheld"),
            Err(_) => warn!(
                within_ms = answer_within.as_millis() as u64,
                "outbox thread did not answer: watchdog ping withheld"
            ),
        }
    }
}

#[cfg(unix)]
fn send(message: Message<'_>) -> std::io::Result<()> {
    use sd_notify::NotifyState;
    match message {
        Message::Ready(status) => {
            sd_notify::notify(&[NotifyState::Ready, NotifyState::Status(status)])
        }
        Message::Watchdog => sd_notify::notify(&[NotifyState::Watchdog]),
        Message::Stopping => sd_notify::notify(&[NotifyState::Stopping]),
    }
}

#[cfg(not(unix))]
fn send(_: Message<'_>) -> std::io::Result<()> {
    Ok(())
}

fn log_failure(message: Message<'_>, result: std::io::Result<()>) {
    match result {
        Ok(()) => debug!(notification = ?message, "told systemd"),
        Err(e) => warn!(notification = ?message, error = %e, "cannot notify systemd"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::outbox::{Outbox, OutboxConfig};

    /// Pings sent by `keep_alive_with` over `run_for`, with a 100 ms watchdog.
    async fn pings(outbox: OutboxHandle, run_for: Duration) -> u32 {
        let count = Arc::new(AtomicU32::new(0));
        let counter = Arc::clone(&count);
        keep_alive_with(
            outbox,
            Duration::from_millis(100),
            tokio::time::sleep(run_for),
            move || {
                counter.fetch_add(1, Ordering::Relaxed);
                Ok(())
            },
        )
        .await;
        count.load(Ordering::Relaxed)
    }

    fn open_outbox(dir: &std::path::Path) -> OutboxHandle {
        let (outbox, _) =
            Outbox::open(dir.join("outbox.db"), OutboxConfig::new(64 * 1024 * 1024)).unwrap();
        OutboxHandle::spawn(outbox)
    }

    // Real time, not paused: the outbox answers from its own OS thread, and a paused clock
    // would jump past the answer deadline while the runtime waits for it.
    #[tokio::test]
    async fn pings_every_half_interval_while_the_outbox_answers() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = open_outbox(dir.path());
        let sent = pings(outbox.clone(), Duration::from_millis(520)).await;
        // Ticks at 0, 50, ..., 500 ms: 11, fewer on a busy machine, never more.
        assert!((4..=11).contains(&sent), "{sent} pings in 520 ms");
        outbox.close().await.unwrap();
    }

    #[tokio::test]
    async fn withholds_pings_once_the_outbox_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = open_outbox(dir.path());
        outbox.close().await.unwrap();
        assert_eq!(pings(outbox, Duration::from_millis(300)).await, 0);
    }
}
