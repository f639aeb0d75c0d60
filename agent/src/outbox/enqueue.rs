//! Storing what intake accepted: one transaction per batch or per group commit, each group all or
//! nothing, sequence numbers from the persisted high-water mark, pending ids deduplicated, the cap
//! enforced, and refusals counted (invariants 1–4, 7, 8).

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, TransactionBehavior, params};

use super::schema::{Counters, Delta};
use super::{BufferError, Outbox, commit_write, to_i64, to_u64};

/// Longest accepted transaction id, in bytes.
pub const MAX_TRANSACTION_ID_LEN: usize = 256;

/// Refusals after the first are written at most this often (see invariant 8).
pub const REFUSAL_FLUSH_INTERVAL: Duration = Duration::from_secs(5);

/// A transaction handed to the outbox by intake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecord {
    pub transaction_id: String,
    /// When intake took it in.
    pub captured_at: DateTime<Utc>,
    /// The NDJSON line to send, without its newline.
    pub payload: Vec<u8>,
}

/// The outcome of one group of [`Outbox::enqueue_groups`].
pub type GroupResult = Result<Vec<Enqueued>, BufferError>;

/// What happened to one record of an enqueued batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    /// The record's sequence number (the existing one for a duplicate).
    pub seq: i64,
    /// True when the transaction id was already pending and nothing new was stored.
    pub duplicate: bool,
}

/// What one group added inside the enqueue transaction.
struct Inserted {
    outcome: Vec<Enqueued>,
    count: i64,
    bytes: i64,
    last_seq: i64,
}

impl Outbox {
    /// Stores a batch in one transaction and returns, per record in order, its sequence number
    /// and whether it was already pending (invariants 1–4, 7).
    pub fn enqueue_batch(&mut self, records: &[NewRecord]) -> Result<Vec<Enqueued>, BufferError> {
        self.enqueue_groups(&[records])
            .and_then(|mut groups| groups.pop().unwrap_or_else(|| Ok(Vec::new())))
    }

    /// Group commit: stores several independent groups (one per producer request) in ONE
    /// transaction, so they share one fsync. Each group is all or nothing on its own: a group
    /// with an invalid record, or one that would take the outbox over its cap, is refused
    /// (its entry is `Err`) and the others are still stored. Groups are applied in order, as
    /// if enqueued one after the other (a later group sees an earlier one's ids as pending).
    /// The outer `Err` is a failure of the transaction itself (disk full, I/O, corruption):
    /// then nothing was stored.
    pub fn enqueue_groups<G: AsRef<[NewRecord]>>(
        &mut self,
        groups: &[G],
    ) -> Result<Vec<GroupResult>, BufferError> {
        self.observed_mut(|outbox| outbox.store_groups(groups))
    }

    /// Enqueue transactions committed since this outbox was opened.
    pub fn enqueue_commits(&self) -> u64 {
        self.enqueue_commits
    }

    /// [`Outbox::enqueue_groups`] before its result is observed.
    fn store_groups<G: AsRef<[NewRecord]>>(
        &mut self,
        groups: &[G],
    ) -> Result<Vec<GroupResult>, BufferError> {
        let max_bytes = self.max_bytes;
        let cap = to_i64(max_bytes);
        let mut results: Vec<GroupResult> = groups
            .iter()
            .map(|group| match first_invalid(group.as_ref()) {
                Some(err) => Err(err),
                None => Ok(Vec::new()),
            })
            .collect();
        if !any_unrefused(groups, &results) {
            return Ok(results);
        }

        let reader = &mut self.reader;
        let mut tx = reader
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(BufferError::during("starting the enqueue transaction"))?;
        let counters = Counters::read(&tx).map_err(BufferError::during("reading the counters"))?;
        let mut delta = Delta::default();
        let mut next_seq = counters.last_seq;
        let mut refused_now = 0_u64;
        let used = counters.pending_bytes.saturating_add(counters.dead_bytes);
        for (group, result) in groups.iter().zip(results.iter_mut()) {
            let records = group.as_ref();
            if result.is_err() || records.is_empty() {
                continue;
            }
            // A group that fits even if every record is new cannot be refused by the cap: it
            // needs no savepoint (two statements fewer per group in the common case).
            let upper_bound = to_i64(records.iter().map(|r| r.payload.len() as u64).sum());
            let pending_before = counters.pending_bytes.saturating_add(delta.pending_bytes);
            let in_use = used.saturating_add(delta.pending_bytes);
            let inserted = if in_use.saturating_add(upper_bound) <= cap {
                insert_group(&tx, records, next_seq)?
            } else {
                let mut sp = tx
                    .savepoint()
                    .map_err(BufferError::during("starting a group"))?;
                let inserted = insert_group(&sp, records, next_seq)?;
                if inserted.count > 0 && in_use.saturating_add(inserted.bytes) > cap {
                    sp.rollback()
                        .map_err(BufferError::during("rolling back a refused group"))?;
                    sp.commit()
                        .map_err(BufferError::during("releasing a refused group"))?;
                    refused_now += to_u64(inserted.count);
                    tracing::warn!(
                        refused = inserted.count,
                        new_bytes = inserted.bytes,
                        pending_bytes = pending_before,
                        dead_letter_bytes = counters.dead_bytes,
                        max_bytes,
                        "outbox full: batch refused"
                    );
                    *result = Err(BufferError::Full {
                        new_records: to_u64(inserted.count),
                        new_bytes: to_u64(inserted.bytes),
                        pending_bytes: to_u64(pending_before),
                        dead_letter_bytes: to_u64(counters.dead_bytes),
                        max_bytes,
                    });
                    continue;
                }
                sp.commit()
                    .map_err(BufferError::during("releasing a group"))?;
                inserted
            };
            next_seq = inserted.last_seq;
            delta.pending_count += inserted.count;
            delta.pending_bytes += inserted.bytes;
            *result = Ok(inserted.outcome);
        }

        if !any_unrefused(groups, &results) {
            // Every group was refused: nothing to commit; the transaction rolls back on drop
            // and the refusals are counted the coalescing way (invariant 8).
            drop(tx);
            if refused_now > 0 {
                self.count_refusals(refused_now);
            }
            return Ok(results);
        }
        delta.last_seq = next_seq;
        delta.refused = to_i64(refused_now);
        commit_write(
            tx,
            delta,
            &mut reader.unflushed_refusals,
            "committing the batch",
        )?;
        if refused_now > 0 {
            self.last_refusal_write = Some(Instant::now());
        }
        self.enqueue_commits += 1;
        Ok(results)
    }

    /// Counts refused records: written now unless a refusal was written within
    /// [`REFUSAL_FLUSH_INTERVAL`], in which case the next write carries it (invariant 8).
    fn count_refusals(&mut self, n: u64) {
        self.reader.unflushed_refusals = self.reader.unflushed_refusals.saturating_add(n);
        let due = self
            .last_refusal_write
            .is_none_or(|at| at.elapsed() >= REFUSAL_FLUSH_INTERVAL);
        if due {
            self.last_refusal_write = Some(Instant::now());
            if let Err(err) = self.flush_refusals() {
                tracing::warn!(error = %err, "could not record the refusal count; will retry");
            }
        }
    }
}

/// True when a group not refused (so far) has records: before the transaction, there is work to
/// do; after it, something was stored.
fn any_unrefused<G: AsRef<[NewRecord]>>(groups: &[G], results: &[GroupResult]) -> bool {
    groups
        .iter()
        .zip(results)
        .any(|(group, result)| result.is_ok() && !group.as_ref().is_empty())
}

/// Inserts one group's records after `last_seq` inside the caller's transaction: the
/// per-record outcome, how many rows and payload bytes were added, and the new last sequence.
fn insert_group(
    conn: &Connection,
    records: &[NewRecord],
    last_seq: i64,
) -> Result<Inserted, BufferError> {
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO pending (seq, transaction_id, captured_at_ms, payload)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (transaction_id) DO NOTHING",
        )
        .map_err(BufferError::during("preparing the enqueue"))?;
    let mut existing = conn
        .prepare_cached("SELECT seq FROM pending WHERE transaction_id = ?1")
        .map_err(BufferError::during("preparing the duplicate lookup"))?;
    let mut added = Inserted {
        outcome: Vec::with_capacity(records.len()),
        count: 0,
        bytes: 0,
        last_seq,
    };
    for record in records {
        let candidate = added.last_seq + 1;
        let inserted = insert
            .execute(params![
                candidate,
                record.transaction_id,
                record.captured_at.timestamp_millis(),
                record.payload,
            ])
            .map_err(BufferError::during("storing a transaction"))?;
        if inserted == 1 {
            added.last_seq = candidate;
            added.count += 1;
            added.bytes += to_i64(record.payload.len() as u64);
            added.outcome.push(Enqueued {
                seq: candidate,
                duplicate: false,
            });
        } else {
            let seq: i64 = existing
                .query_row([&record.transaction_id], |row| row.get(0))
                .map_err(BufferError::during("looking up a duplicate"))?;
            added.outcome.push(Enqueued {
                seq,
                duplicate: true,
            });
        }
    }
    Ok(added)
}

fn first_invalid(records: &[NewRecord]) -> Option<BufferError> {
    records.iter().enumerate().find_map(|(index, record)| {
        invalid_reason(record).map(|reason| BufferError::InvalidRecord {
            index,
            transaction_id: record.transaction_id.clone(),
            reason,
        })
    })
}

fn invalid_reason(record: &NewRecord) -> Option<&'static str> {
    if record.transaction_id.trim().is_empty() {
        Some("transaction_id is empty")
    } else if record.transaction_id.len() > MAX_TRANSACTION_ID_LEN {
        Some("transaction_id is longer than 256 bytes")
    } else if record.payload.is_empty() {
        Some("payload is empty")
    } else if record.payload.contains(&b'\n') || record.payload.contains(&b'\r') {
        Some("payload contains a line break; an NDJSON line must be a single line")
    } else {
        None
    }
}
