//! What the upload loop records as it goes: the live status, and the outbox's agent state
//! (last upload, last error, next retry) that `scout-agent status` reads with the service
//! stopped. State is written only when a value changes, and the last upload time at most every
//! [`PERSIST_UPLOAD_EVERY`] while draining, so an agent that is idle or busy does not wear out
//! the SD card.

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use crate::outbox::state_keys;
use crate::uplink::status::UplinkState;
use crate::uplink::{PERSIST_UPLOAD_EVERY, Transport, Uplink, UplinkOutbox, UploadError};

/// What was last written to agent state, so unchanged values cost nothing.
#[derive(Debug)]
pub(super) struct Persisted {
    /// When `LAST_UPLOAD_AT` was last written (tokio clock).
    upload_written: Option<Instant>,
    /// A success not yet written (throttled while draining).
    unwritten_upload: Option<DateTime<Utc>>,
    /// `LAST_ERROR` / `NEXT_RETRY_AT` may hold a value (true at start: a previous run may
    /// have left one).
    error_set: bool,
    retry_set: bool,
}

impl Default for Persisted {
    fn default() -> Self {
        Self {
            upload_written: None,
            unwritten_upload: None,
            error_set: true,
            retry_set: true,
        }
    }
}

impl<O: UplinkOutbox, T: Transport + 'static> Uplink<O, T> {
    pub(super) async fn note_failure(
        &self,
        err: &UploadError,
        delay: std::time::Duration,
        backoff_attempts: u32,
        persisted: &mut Persisted,
    ) {
        let text = err.to_string();
        let now = Utc::now();
        let next = now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
        let state = if err.is_auth() {
            UplinkState::AuthFailed
        } else if err.is_tls() {
            UplinkState::TlsFailed
        } else {
            UplinkState::BackingOff
        };
        let (repeated, failures) = {
            let st = self.status.borrow();
            (
                st.last_error.as_deref() == Some(text.as_str()),
                st.consecutive_failures.saturating_add(1),
            )
        };
        let delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        if repeated {
            tracing::debug!(error = %text, consecutive_failures = failures, delay_ms, "upload failed again");
        } else {
            tracing::warn!(
                error = %text,
                state = state.as_str(),
                consecutive_failures = failures,
                backoff_attempts,
                delay_ms,
                "upload failed; will retry"
            );
        }
        // Persisted first, so whoever sees the status change also finds it recorded.
        self.set_state(state_keys::LAST_ERROR, Some(text.clone()))
            .await;
        persisted.error_set = true;
        self.set_state(state_keys::NEXT_RETRY_AT, Some(next.to_rfc3339()))
            .await;
        persisted.retry_set = true;
        self.status.send_modify(|st| {
            st.state = state;
            st.last_error = Some(text);
            st.last_error_at = Some(now);
            st.next_retry_at = Some(next);
            st.consecutive_failures = failures;
            if let Some(reachable) = err.collector_reachable() {
                st.collector_reachable = Some(reachable);
            }
            st.totals.failed_attempts += 1;
        });
    }

    /// After a 200: clear the error and retry time, and record the upload time (throttled).
    pub(super) async fn persist_success(&self, now: DateTime<Utc>, persisted: &mut Persisted) {
        if std::mem::take(&mut persisted.error_set) {
            self.set_state(state_keys::LAST_ERROR, None).await;
        }
        if std::mem::take(&mut persisted.retry_set) {
            self.set_state(state_keys::NEXT_RETRY_AT, None).await;
        }
        let due = persisted
            .upload_written
            .is_none_or(|at| at.elapsed() >= PERSIST_UPLOAD_EVERY);
        if due {
            self.write_upload_time(now, persisted).await;
        } else {
            persisted.unwritten_upload = Some(now);
        }
    }

    pub(super) async fn write_upload_time(&self, at: DateTime<Utc>, persisted: &mut Persisted) {
        self.set_state(state_keys::LAST_UPLOAD_AT, Some(at.to_rfc3339()))
            .await;
        persisted.upload_written = Some(Instant::now());
        persisted.unwritten_upload = None;
    }

    /// The queue is empty: say so, and write the last upload time if it is still pending.
    pub(super) async fn go_idle(&self, persisted: &mut Persisted) {
        if let Some(at) = persisted.unwritten_upload {
            self.write_upload_time(at, persisted).await;
        }
        self.status.send_if_modified(|st| {
            let changed = st.state != UplinkState::Idle || st.next_retry_at.is_some();
            st.state = UplinkState::Idle;
            st.next_retry_at = None;
            changed
        });
    }

    pub(super) async fn flush_on_stop(&self, persisted: &mut Persisted) {
        if let Some(at) = persisted.unwritten_upload {
            self.write_upload_time(at, persisted).await;
        }
        if std::mem::take(&mut persisted.retry_set) {
            // A retry time is meaningless once the service is stopped.
            self.set_state(state_keys::NEXT_RETRY_AT, None).await;
        }
        self.status.send_modify(|st| {
            if st.state == UplinkState::Sending {
                st.state = UplinkState::Idle;
            }
            st.next_retry_at = None;
        });
    }

    pub(super) async fn set_state(&self, key: &'static str, value: Option<String>) {
        if let Err(e) = self.outbox.set_state(key, value).await {
            tracing::debug!(key, error = %e, "could not record uplink state");
        }
    }
}
