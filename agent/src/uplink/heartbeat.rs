//! The heartbeat loop: every `heartbeat_interval_secs`, a `scout_common::Heartbeat` built from
//! the outbox's counts, the uplink's status, the agent's uptime and the free space beside the
//! outbox goes to `POST /v1/heartbeat`. It runs beside the upload loop and never delays it; a
//! failure is logged once per distinct error (repeats at debug), shown in status, and the next
//! heartbeat is simply the next interval's.

use std::path::Path;

use chrono::Utc;
use scout_common::Heartbeat;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use super::{Transport, Uplink, UplinkOutbox, UploadError, stopped};

impl<O: UplinkOutbox, T: Transport> Uplink<O, T> {
    pub(super) async fn heartbeats(&self, mut stop: watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(self.settings.heartbeat_interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last_error: Option<String> = None;
        loop {
            tokio::select! {
                biased;
                () = stopped(&mut stop) => break,
                _ = ticker.tick() => {}
            }
            let outcome = tokio::select! {
                biased;
                () = stopped(&mut stop) => break,
                outcome = self.beat() => outcome,
            };
            match outcome {
                Ok(()) => {
                    if last_error.take().is_some() {
                        tracing::info!("heartbeats delivered again");
                    }
                    self.status.send_modify(|st| {
                        st.last_heartbeat_at = Some(Utc::now());
                        st.heartbeat_error = None;
                        st.collector_reachable = Some(true);
                        st.totals.heartbeats += 1;
                    });
                }
                Err(err) => {
                    let text = err.to_string();
                    if last_error.as_deref() == Some(text.as_str()) {
                        tracing::debug!(error = %text, "heartbeat failed again");
                    } else {
                        tracing::warn!(
                            error = %text,
                            interval_secs = self.settings.heartbeat_interval.as_secs(),
                            "heartbeat failed; uploads are not affected"
                        );
                    }
                    self.status.send_modify(|st| {
                        st.heartbeat_error = Some(text.clone());
                        if let Some(reachable) = err.collector_reachable() {
                            st.collector_reachable = Some(reachable);
                        }
                        st.totals.heartbeat_failures += 1;
                    });
                    last_error = Some(text);
                }
            }
        }
    }

    /// Builds and sends one heartbeat.
    async fn beat(&self) -> Result<(), UploadError> {
        let heartbeat = self.heartbeat().await?;
        self.transport.heartbeat(&heartbeat).await
    }

    async fn heartbeat(&self) -> Result<Heartbeat, UploadError> {
        let stats = self.outbox.stats().await?;
        let now = Utc::now();
        let (last_upload_at, last_error) = {
            let st = self.status.borrow();
            (st.last_success_at, st.last_error.clone())
        };
        let outbox_path = self.settings.outbox_path.clone();
        let disk_free_bytes = tokio::task::spawn_blocking(move || disk_free_bytes(&outbox_path))
            .await
            .ok()
            .flatten();
        Ok(Heartbeat {
            sent_at: now,
            agent_version: self.settings.agent_version.clone(),
            uptime_secs: self.settings.started.elapsed().as_secs(),
            queue_depth: stats.pending_count,
            queue_bytes: stats.pending_bytes,
            oldest_pending_age_secs: stats
                .oldest_pending_captured_at
                .map(|at| u64::try_from((now - at).num_seconds()).unwrap_or(0)),
            dead_letters: stats.dead_letter_count,
            refused_total: stats.refused_total,
            disk_free_bytes,
            last_upload_at,
            last_error,
        })
    }
}

/// Bytes available to the agent (not root's reserve) on the file system holding `path` (the
/// outbox file, or its folder if the file does not exist yet). `None` when it cannot be told.
pub fn disk_free_bytes(path: &Path) -> Option<u64> {
    let probe = if path.exists() {
        path
    } else {
        path.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
    };
    statvfs_available(probe)
}

#[cfg(unix)]
fn statvfs_available(path: &Path) -> Option<u64> {
    let vfs = rustix::fs::statvfs(path).ok()?;
    Some(vfs.f_bavail.saturating_mul(vfs.f_frsize))
}

#[cfg(not(unix))]
fn statvfs_available(_path: &Path) -> Option<u64> {
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design
mod tests {
    use super::*;

    #[test]
    #[cfg(unix)]
    fn disk_free_is_reported_for_files_and_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("outbox.db");
        let free = disk_free_bytes(&missing).unwrap();
        assert!(free > 0);
        std::fs::write(&missing, b"x").unwrap();
        assert!(disk_free_bytes(&missing).unwrap() > 0);
        assert!(disk_free_bytes(Path::new("outbox.db")).is_some());
    }
}
