//! The upload loop: peek, stamp and gzip, post, settle; back off on failure; sleep when idle.
//! The guarantees are listed in the module doc of `uplink`.
//!
//! While uploads succeed, [`IN_FLIGHT`] batches travel at once: the next batch is peeked (after
//! the last sequence number already sent), stamped, gzipped and posted while the collector parses
//! and commits the one before it. Answers are settled strictly in the order the batches were
//! peeked. When the oldest batch in flight is not delivered, the answers of the batches behind it
//! are awaited and discarded (never settled), and after the wait everything is sent again from
//! the oldest pending record, in order. The uplink starts with one batch in flight and returns to
//! one after every failure, until a batch is delivered.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use futures_util::StreamExt as _;
use futures_util::stream::FuturesOrdered;
use scout_common::IngestResponse;
use tokio::sync::watch;
use tokio::time::Instant;

use super::backoff::Backoff;
use super::batch::{self, PreparedBatch};
use super::status::{BatchSummary, UplinkState};
use super::{PERSIST_UPLOAD_EVERY, Transport, Uplink, UplinkOutbox, UploadError, stopped};
use crate::outbox::{BufferError, Record, state_keys};

/// Successful batches at a reduced (after 413) limit before the limit doubles again.
const REGROW_AFTER: u32 = 16;

/// Batches in flight at once while uploads succeed. The collector takes four requests per device
/// at a time by default (`--max-in-flight-per-device`); a collector that answers 429 to a batch
/// posted beside others makes the uplink keep to as many as were in flight ahead of it for the
/// rest of its run.
pub const IN_FLIGHT: usize = 4;

/// A batch stamped and gzipped, and posted (or found to have nothing sendable), waiting to be
/// settled in its turn.
struct Sent {
    /// Records peeked for it (sendable or not).
    peeked: usize,
    /// Sequence number of each line sent, in body order.
    seqs: Vec<i64>,
    unsendable: Vec<(i64, String)>,
    raw_bytes: u64,
    wire_bytes: u64,
    /// When the request started (tokio clock).
    started: Instant,
    /// Batches already in flight when this one was posted.
    ahead: usize,
    /// The collector's answer; `None` when nothing was sendable (so nothing was posted).
    answer: Option<Result<IngestResponse, UploadError>>,
}

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

impl<O: UplinkOutbox, T: Transport + 'static> Uplink<O, T> {
    pub(super) async fn uploads(
        &self,
        stop_tx: &watch::Sender<bool>,
        mut stop: watch::Receiver<bool>,
    ) {
        let s = &self.settings;
        let mut backoff = Backoff::new(s.backoff_initial, s.backoff_max, s.jitter_seed);
        let mut limit = BatchLimit::new(s.batch_max_records.get());
        let mut persisted = Persisted::default();
        // Oldest first; the futures run concurrently and are settled in this order.
        let mut in_flight = FuturesOrdered::new();
        // Batches allowed in flight now: one until a batch is delivered, `most` after that.
        let mut window = 1;
        let mut most = IN_FLIGHT;
        // The last sequence number peeked into a batch still in flight.
        let mut last_peeked = 0_i64;
        // Raised by a request that failed (413 aside) before its turn to be settled: no new batch
        // goes until that failure has been waited out (a `Retry-After` is the collector's word).
        let failing = Arc::new(AtomicBool::new(false));
        loop {
            let mut peek_error = None;
            while in_flight.len() < window
                && !*stop.borrow()
                && (in_flight.is_empty() || !failing.load(Ordering::Acquire))
            {
                let after = if in_flight.is_empty() { 0 } else { last_peeked };
                match self
                    .outbox
                    .peek_after(after, limit.current, s.batch_max_bytes)
                    .await
                {
                    Ok(records) => match records.last() {
                        None => break,
                        Some(last) => {
                            let last_seq = last.seq;
                            let ahead = in_flight.len();
                            let (batch, body) = self.prepare(records, ahead).await;
                            if ahead > 0 && failing.load(Ordering::Acquire) {
                                // A failure came in while it was being prepared: it is
                                // peeked again after that failure's wait.
                                break;
                            }
                            last_peeked = last_seq;
                            in_flight.push_back(self.post(batch, body, &failing));
                        }
                    },
                    Err(e) => {
                        peek_error = Some(e);
                        break;
                    }
                }
            }
            let step = match in_flight.next().await {
                Some(sent) => {
                    if sent.ahead > 0
                        && sent.ahead < most
                        && matches!(
                            sent.answer,
                            Some(Err(UploadError::Busy { status: 429, .. }))
                        )
                    {
                        most = sent.ahead;
                        tracing::info!(
                            batches = most,
                            "the collector takes fewer requests at a time from this device; \
                             keeping fewer batches in flight"
                        );
                    }
                    self.finish(sent, &mut limit).await
                }
                None if *stop.borrow() => break,
                None => match peek_error {
                    Some(e) => Step::Failed(UploadError::Outbox(e)),
                    None => {
                        self.go_idle(&mut persisted).await;
                        tokio::select! {
                            biased;
                            () = stopped(&mut stop) => break,
                            () = self.wake.notified() => {}
                            () = tokio::time::sleep(s.idle_poll) => {}
                        }
                        continue;
                    }
                },
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
                    window = most;
                    self.persist_success(delivered.summary.finished_at, &mut persisted)
                        .await;
                    self.publish_success(delivered);
                }
                Step::Settled => backoff.reset(),
                Step::Shrunk => {
                    // Sent again, smaller, from the oldest pending record.
                    while in_flight.next().await.is_some() {}
                    failing.store(false, Ordering::Release);
                }
                Step::Failed(err) => {
                    window = 1;
                    // The batches behind it go again after it, in order: their answers are not
                    // settled, and a failure among them is one more failed attempt.
                    let mut failures = vec![err];
                    while let Some(behind) = in_flight.next().await {
                        if let Some(Err(e)) = behind.answer
                            && !matches!(e, UploadError::TooLarge { .. })
                        {
                            failures.push(e);
                        }
                    }
                    failing.store(false, Ordering::Release);
                    // The longest wait asked for (a `Retry-After` beside a quicker retry wins).
                    let mut delay = std::time::Duration::ZERO;
                    for err in &failures {
                        delay = delay.max(match err.retry_after() {
                            Some(wait) => wait.min(backoff.cap()),
                            None => backoff.next_delay(),
                        });
                        self.note_failure(err, delay, backoff.attempts(), &mut persisted)
                            .await;
                    }
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

    /// Stamps and gzips one batch: what it holds, and its body unless there is nothing to send
    /// (or preparing it failed, which is then its answer).
    async fn prepare(&self, records: Vec<Record>, ahead: usize) -> (Sent, Option<Vec<u8>>) {
        let peeked = records.len();
        let version = self.settings.agent_version.clone();
        let mut sent = Sent {
            peeked,
            seqs: Vec::new(),
            unsendable: Vec::new(),
            raw_bytes: 0,
            wire_bytes: 0,
            started: Instant::now(),
            ahead,
            answer: None,
        };
        // Stamping and gzip are CPU work (a few ms per MiB); keep them off the async workers.
        let prepared =
            match tokio::task::spawn_blocking(move || batch::prepare(&records, &version)).await {
                Ok(Ok(prepared)) => prepared,
                Ok(Err(e)) => {
                    sent.answer = Some(Err(UploadError::Internal {
                        detail: format!("gzip failed: {e}"),
                    }));
                    return (sent, None);
                }
                Err(e) => {
                    sent.answer = Some(Err(UploadError::Internal {
                        detail: e.to_string(),
                    }));
                    return (sent, None);
                }
            };
        let PreparedBatch {
            body,
            seqs,
            unsendable,
            raw_bytes,
        } = prepared;
        sent.seqs = seqs;
        sent.unsendable = unsendable;
        sent.raw_bytes = raw_bytes;
        if sent.seqs.is_empty() {
            return (sent, None);
        }
        sent.wire_bytes = body.len() as u64;
        (sent, Some(body))
    }

    /// Posts a prepared batch at once (the request runs on its own task, so it travels while
    /// the loop settles or prepares other batches); the returned future yields the batch with
    /// its answer, to be settled in its turn ([`Self::finish`]).
    fn post(
        &self,
        mut sent: Sent,
        body: Option<Vec<u8>>,
        failing: &Arc<AtomicBool>,
    ) -> impl Future<Output = Sent> + Send + 'static {
        let request = body.map(|body| {
            let wire_bytes = sent.wire_bytes;
            self.status.send_modify(|st| {
                st.state = UplinkState::Sending;
                st.last_attempt_at = Some(Utc::now());
                st.totals.attempts += 1;
                st.totals.wire_bytes += wire_bytes;
            });
            tracing::debug!(
                lines = sent.seqs.len(),
                wire_bytes,
                raw_bytes = sent.raw_bytes,
                first_seq = sent.seqs.first().copied(),
                "sending batch"
            );
            sent.started = Instant::now();
            let transport = Arc::clone(&self.transport);
            let failing = Arc::clone(failing);
            tokio::spawn(async move {
                let answer = transport.ingest(body).await;
                if matches!(&answer, Err(e) if !matches!(e, UploadError::TooLarge { .. })) {
                    failing.store(true, Ordering::Release);
                }
                answer
            })
        });
        async move {
            if let Some(request) = request {
                sent.answer = Some(request.await.unwrap_or_else(|e| {
                    Err(UploadError::Internal {
                        detail: e.to_string(),
                    })
                }));
            }
            sent
        }
    }

    /// Settles one batch's answer (the oldest in flight).
    async fn finish(&self, sent: Sent, limit: &mut BatchLimit) -> Step {
        let Sent {
            peeked,
            seqs,
            unsendable,
            raw_bytes,
            wire_bytes,
            started,
            ahead: _,
            answer,
        } = sent;
        let Some(answer) = answer else {
            return self.settle_without_answer(Vec::new(), unsendable).await;
        };
        let lines = seqs.len();
        let response = match answer {
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
