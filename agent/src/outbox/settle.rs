//! Applying the collector's answer: acknowledged rows are deleted and rejected ones move to dead
//! letters with their reason, in one transaction. The only way a pending row leaves (invariant 6).

use chrono::Utc;
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::schema::Delta;
use super::{BufferError, Outbox, commit_write};

/// Longest stored dead-letter reason, in bytes (longer ones are cut at a character boundary).
pub const MAX_REASON_LEN: usize = 4096;

/// What one [`Outbox::settle`] call removed from pending.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Settled {
    pub acked: u64,
    pub dead_lettered: u64,
}

impl Outbox {
    /// Deletes the given pending rows after the collector acknowledged them; unknown sequence
    /// numbers are ignored (acknowledging twice is harmless). Returns how many were deleted.
    pub fn ack(&mut self, seqs: &[i64]) -> Result<u64, BufferError> {
        Ok(self.settle::<&str>(seqs, &[])?.acked)
    }

    /// Moves one pending row to the dead letters with `reason`. Returns false if it was not
    /// pending.
    pub fn dead_letter(&mut self, seq: i64, reason: &str) -> Result<bool, BufferError> {
        Ok(self.settle(&[], &[(seq, reason)])?.dead_lettered == 1)
    }

    /// Applies one collector response in one transaction: deletes the acknowledged rows and
    /// moves the rejected ones to dead letters (invariant 6). Sequence numbers that are not
    /// pending are ignored.
    pub fn settle<R: AsRef<str>>(
        &mut self,
        acked: &[i64],
        rejected: &[(i64, R)],
    ) -> Result<Settled, BufferError> {
        if acked.is_empty() && rejected.is_empty() {
            return Ok(Settled::default());
        }
        self.observed_mut(|outbox| {
            let now_ms = Utc::now().timestamp_millis();
            let reader = &mut outbox.reader;
            let tx = reader
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(BufferError::during("starting the settle transaction"))?;
            let mut delta = Delta::default();
            let mut settled = Settled::default();
            {
                let mut delete = tx
                    .prepare_cached("DELETE FROM pending WHERE seq = ?1 RETURNING length(payload)")
                    .map_err(BufferError::during("preparing the ack"))?;
                for &seq in acked {
                    let removed: Option<i64> = delete
                        .query_row([seq], |row| row.get(0))
                        .optional()
                        .map_err(BufferError::during("deleting an acknowledged row"))?;
                    if let Some(len) = removed {
                        settled.acked += 1;
                        delta.pending_count -= 1;
                        delta.pending_bytes -= len;
                    }
                }
                let mut copy = tx
                    .prepare_cached(
                        "INSERT INTO dead_letters
                         (seq, transaction_id, captured_at_ms, payload, reason, dead_lettered_at_ms)
                         SELECT seq, transaction_id, captured_at_ms, payload, ?2, ?3
                         FROM pending WHERE seq = ?1",
                    )
                    .map_err(BufferError::during("preparing the dead-letter move"))?;
                for (seq, reason) in rejected {
                    let reason = truncate_reason(reason.as_ref());
                    let moved = copy
                        .execute(params![seq, reason, now_ms])
                        .map_err(BufferError::during("moving a row to dead letters"))?;
                    if moved == 0 {
                        continue;
                    }
                    let len: i64 = delete
                        .query_row([seq], |row| row.get(0))
                        .map_err(BufferError::during("removing a dead-lettered row"))?;
                    settled.dead_lettered += 1;
                    delta.pending_count -= 1;
                    delta.pending_bytes -= len;
                    delta.dead_count += 1;
                    delta.dead_bytes += len;
                    tracing::warn!(seq, reason, "transaction moved to dead letters");
                }
            }
            if settled == Settled::default() && reader.unflushed_refusals == 0 {
                return Ok(settled); // nothing changed; the transaction rolls back on drop
            }
            commit_write(
                tx,
                delta,
                &mut reader.unflushed_refusals,
                "committing the settlement",
            )?;
            Ok(settled)
        })
    }
}

fn truncate_reason(reason: &str) -> &str {
    &reason[..reason.floor_char_boundary(MAX_REASON_LEN)]
}
