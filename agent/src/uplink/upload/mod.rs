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
//!
//! This file holds the loop ([`Uplink::uploads`]) and the sending side (stamping, gzip,
//! posting); `settle.rs` settles each answer in its turn, `record.rs` keeps the status and the
//! outbox's agent state up to date (written only on change), `limit.rs` is the batch size that
//! halves on 413 and grows back.

mod limit;
mod record;
mod settle;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::Utc;
use futures_util::StreamExt as _;
use futures_util::stream::FuturesOrdered;
use scout_common::IngestResponse;
use tokio::sync::watch;
use tokio::time::Instant;

use super::backoff::Backoff;
use super::batch::{self, PreparedBatch};
use super::status::{BatchSummary, UplinkState};
use super::{Transport, Uplink, UplinkOutbox, UploadError, stopped};
use crate::outbox::{BufferError, Record};
use limit::BatchLimit;
use record::Persisted;

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
}
