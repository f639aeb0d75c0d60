//! Settling one batch's answer, the oldest in flight first: a 200 that accounts for every line
//! acknowledges and dead-letters its records in one outbox transaction; a 413 halves the batch
//! (or dead-letters a lone record); anything else settles nothing and is a failed attempt.

use chrono::Utc;

use super::limit::BatchLimit;
use super::{Delivered, Sent, Step};
use crate::uplink::batch;
use crate::uplink::status::BatchSummary;
use crate::uplink::{Transport, Uplink, UplinkOutbox, UploadError};

impl<O: UplinkOutbox, T: Transport + 'static> Uplink<O, T> {
    /// Settles one batch's answer (the oldest in flight).
    pub(super) async fn finish(&self, sent: Sent, limit: &mut BatchLimit) -> Step {
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

    pub(super) fn publish_success(&self, delivered: Delivered) {
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
    pub(super) async fn settle_without_answer(
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
}
