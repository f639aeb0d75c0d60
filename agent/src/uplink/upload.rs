//! The upload loop: peek, stamp and gzip, post, settle; back off on failure; sleep when idle.
//! The guarantees are listed in the module doc of `uplink`.

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::time::Instant;

use super::backoff::Backoff;
use super::batch::{self, PreparedBatch};
use super::status::{BatchSummary, UplinkState};
use super::{PERSIST_UPLOAD_EVERY, Transport, Uplink, UplinkOutbox, UploadError, stopped};
use crate::outbox::{BufferError, Record, state_keys};

/// Successful batches at a reduced (after 413) limit before the limit doubles again.
const REGROW_AFTER: u32 = 16;

/// What one pass of the loop did.
enum Step {
    /// The collector answered 200 and the batch was settled.
    Delivered(Delivered),
    /// Records were settled without a 200 (a lone 413 record, or unsendable payloads).
    Settled,
    /// 413: the batch limit was halved; try again at once.
    Shrunk,
    /// Nothing settled; retry after a delay.
    Failed(UploadError),
}

/// What a delivered batch changes in the status.
struct Delivered {
    summary: BatchSummary,
    dead_lettered: u64,
    batch_limit: u64,
}

/// Records per batch: `batch_max_records`, halved on 413, growing back after successes.
#[derive(Debug)]
struct BatchLimit {
    max: usize,
    current: usize,
    successes: u32,
}

impl BatchLimit {
    fn new(max: usize) -> Self {
        Self {
            max,
            current: max,
            successes: 0,
        }
    }

    fn shrink(&mut self, sent: usize) {
        self.current = (sent / 2).clamp(1, self.max);
        self.successes = 0;
    }

    fn on_success(&mut self) {
        if self.current >= self.max {
            return;
        }
        self.successes += 1;
        if self.successes >= REGROW_AFTER {
            self.current = self.current.saturating_mul(2).min(self.max);
            self.successes = 0;
        }
    }
}

/// What was last written to agent state, so unchanged values cost nothing.
#[derive(Debug)]
struct Persisted {
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

impl<O: UplinkOutbox, T: Transport> Uplink<O, T> {
    pub(super) async fn uploads(
        &self,
        stop_tx: &watch::Sender<bool>,
        mut stop: watch::Receiver<bool>,
    ) {
        let s = &self.settings;
        let mut backoff = Backoff::new(s.backoff_initial, s.backoff_max, s.jitter_seed);
        let mut limit = BatchLimit::new(s.batch_max_records);
        let mut persisted = Persisted::default();
        loop {
            if *stop.borrow() {
                break;
            }
            let step = match self.outbox.peek(limit.current, s.batch_max_bytes).await {
                Ok(records) if records.is_empty() => {
                    self.go_idle(&mut persisted).await;
                    tokio::select! {
                        biased;
                        () = stopped(&mut stop) => break,
                        () = self.wake.notified() => {}
                        () = tokio::time::sleep(s.idle_poll) => {}
                    }
                    continue;
                }
                Ok(records) => self.attempt(records, &mut limit).await,
                Err(e) => Step::Failed(UploadError::Outbox(e)),
            };
            if let Step::Failed(UploadError::Outbox(BufferError::Closed)) = step {
                tracing::warn!("the outbox was closed; the uplink stops");
                let _ = stop_tx.send(true);
                break;
            }
            match step {
                Step::Delivered(delivered) => {
                    if backoff.attempts() > 0 {
                        tracing::info!(failed_attempts = backoff.attempts(), "uploads resumed");
                    }
                    backoff.reset();
                    self.persist_success(delivered.summary.finished_at, &mut persisted)
                        .await;
                    self.publish_success(delivered);
                }
                Step::Settled => backoff.reset(),
                Step::Shrunk => {}
                Step::Failed(err) => {
                    let delay = match err.retry_after() {
                        Some(wait) => wait.min(backoff.cap()),
                        None => backoff.next_delay(),
                    };
                    self.note_failure(&err, delay, backoff.attempts(), &mut persisted)
                        .await;
                    tokio::select! {
                        biased;
                        () = stopped(&mut stop) => break,
                        () = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
        self.flush_on_stop(&mut persisted).await;
    }

    /// Sends one batch and settles the answer.
    async fn attempt(&self, records: Vec<Record>, limit: &mut BatchLimit) -> Step {
        let peeked = records.len();
        let version = self.settings.agent_version.clone();
        // Stamping and gzip are CPU work (a few ms per MiB); keep them off the async workers.
        let prepared =
            match tokio::task::spawn_blocking(move || batch::prepare(&records, &version)).await {
                Ok(Ok(prepared)) => prepared,
                Ok(Err(e)) => {
                    return Step::Failed(UploadError::Internal {
                        detail: format!("gzip failed: {e}"),
                    });
                }
                Err(e) => {
                    return Step::Failed(UploadError::Internal {
                        detail: e.to_string(),
                    });
                }
            };
        let PreparedBatch {
            body,
            seqs,
            unsendable,
            raw_bytes,
        } = prepared;
        if seqs.is_empty() {
            return self.settle_without_answer(Vec::new(), unsendable).await;
        }

        let wire_bytes = body.len() as u64;
        let lines = seqs.len();
        self.status.send_modify(|st| {
            st.state = UplinkState::Sending;
            st.last_attempt_at = Some(Utc::now());
            st.totals.attempts += 1;
            st.totals.wire_bytes += wire_bytes;
        });
        let started = Instant::now();
        tracing::debug!(
            lines,
            wire_bytes,
            raw_bytes,
            first_seq = seqs[0],
            "sending batch"
        );
        let response = match self.transport.ingest(body).await {
            Ok(response) => response,
            Err(UploadError::TooLarge { message }) if lines > 1 => {
                limit.shrink(peeked);
                let now_limit = limit.current as u64;
                self.status.send_modify(|st| st.batch_limit = now_limit);
                tracing::warn!(
                    lines,
                    wire_bytes,
                    batch_limit = now_limit,
                    message,
                    "collector refused the batch as too large (413); halving it"
                );
                return Step::Shrunk;
            }
            Err(UploadError::TooLarge { message }) => {
                let reason = format!(
                    "collector: refused on its own as too large (HTTP 413: {message}); not resent"
                );
                tracing::warn!(
                    seq = seqs[0],
                    wire_bytes,
                    "a single transaction is too large"
                );
                return self
                    .settle_without_answer(vec![(seqs[0], reason)], unsendable)
                    .await;
            }
            Err(e) => return Step::Failed(e),
        };
        let accounting = match batch::account(&response, &seqs) {
            Ok(accounting) => accounting,
            Err(e) => return Step::Failed(e),
        };
        let acked = accounting.acked.len() as u64;
        let rejected_by_collector = accounting.rejected.len() as u64;
        let mut rejected = accounting.rejected;
        rejected.extend(unsendable);
        let settled = match self.outbox.settle(accounting.acked, rejected).await {
            Ok(settled) => settled,
            Err(e) => return Step::Failed(UploadError::Outbox(e)),
        };
        limit.on_success();
        let summary = BatchSummary {
            finished_at: Utc::now(),
            lines: lines as u64,
            inserted: response.inserted,
            duplicates: response.duplicates,
            rejected: rejected_by_collector,
            wire_bytes,
            raw_bytes,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
        tracing::info!(
            lines,
            inserted = response.inserted,
            duplicates = response.duplicates,
            rejected = rejected_by_collector,
            acked,
            wire_bytes,
            duration_ms = summary.duration_ms,
            "batch delivered"
        );
        Step::Delivered(Delivered {
            summary,
            dead_lettered: settled.dead_lettered,
            batch_limit: limit.current as u64,
        })
    }

    fn publish_success(&self, delivered: Delivered) {
        let Delivered {
            summary,
            dead_lettered,
            batch_limit,
        } = delivered;
        self.status.send_modify(|st| {
            st.last_success_at = Some(summary.finished_at);
            st.last_error = None;
            st.last_error_at = None;
            st.next_retry_at = None;
            st.consecutive_failures = 0;
            st.collector_reachable = Some(true);
            st.batch_limit = batch_limit;
            st.totals.batches += 1;
            st.totals.inserted += summary.inserted;
            st.totals.duplicates += summary.duplicates;
            st.totals.dead_lettered += dead_lettered;
            st.last_batch = Some(summary);
        });
    }

    /// Dead-letters records the collector will never take, with no 200 to settle.
    async fn settle_without_answer(
        &self,
        mut rejected: Vec<(i64, String)>,
        unsendable: Vec<(i64, String)>,
    ) -> Step {
        rejected.extend(unsendable);
        match self.outbox.settle(Vec::new(), rejected).await {
            Ok(settled) => {
                self.status
                    .send_modify(|st| st.totals.dead_lettered += settled.dead_lettered);
                Step::Settled
            }
            Err(e) => Step::Failed(UploadError::Outbox(e)),
        }
    }

    async fn note_failure(
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
    async fn persist_success(&self, now: DateTime<Utc>, persisted: &mut Persisted) {
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

    async fn write_upload_time(&self, at: DateTime<Utc>, persisted: &mut Persisted) {
        self.set_state(state_keys::LAST_UPLOAD_AT, Some(at.to_rfc3339()))
            .await;
        persisted.upload_written = Some(Instant::now());
        persisted.unwritten_upload = None;
    }

    /// The queue is empty: say so, and write the last upload time if it is still pending.
    async fn go_idle(&self, persisted: &mut Persisted) {
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

    async fn flush_on_stop(&self, persisted: &mut Persisted) {
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

    async fn set_state(&self, key: &'static str, value: Option<String>) {
        if let Err(e) = self.outbox.set_state(key, value).await {
            tracing::debug!(key, error = %e, "could not record uplink state");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_limit_halves_to_one_and_regrows() {
        let mut limit = BatchLimit::new(500);
        limit.shrink(500);
        assert_eq!(limit.current, 250);
        limit.shrink(3);
        assert_eq!(limit.current, 1);
        limit.shrink(1);
        assert_eq!(limit.current, 1);
        for _ in 0..REGROW_AFTER - 1 {
            limit.on_success();
        }
        assert_eq!(limit.current, 1);
        limit.on_success();
        assert_eq!(limit.current, 2);
        for _ in 0..REGROW_AFTER * 20 {
            limit.on_success();
        }
        assert_eq!(limit.current, 500);
    }
}
