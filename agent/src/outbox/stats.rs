//! The outbox at a glance, from the one-row counters (no table scans), for `status`, `/metrics` and
//! the start-up log; and the audit that checks those counters against a full count (invariant 8).

use std::fs;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction};

use super::schema::Counters;
use super::{BufferError, OutboxReader, QuarantineInfo, from_millis, recovery, to_u64};

/// The outbox at a glance; cheap (a handful of single-row reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxStats {
    pub pending_count: u64,
    /// Payload bytes of pending rows.
    pub pending_bytes: u64,
    /// Sequence number of the head of the queue.
    pub oldest_pending_seq: Option<i64>,
    /// Capture time of the head of the queue (the oldest by sequence).
    pub oldest_pending_captured_at: Option<DateTime<Utc>>,
    pub dead_letter_count: u64,
    /// Payload bytes of dead letters.
    pub dead_letter_bytes: u64,
    /// Records refused because the cap was reached, since the file was created.
    pub refused_total: u64,
    /// The last sequence number issued (0 before the first).
    pub last_seq: i64,
    /// The cap the writer last opened with (`None` if no writer has recorded one).
    pub max_bytes: Option<u64>,
    /// Size of the database file plus its WAL, as on disk.
    pub file_bytes: u64,
    /// The last quarantine this file resulted from, if any.
    pub quarantined: Option<QuarantineInfo>,
}

impl OutboxStats {
    /// Bytes counted against the cap.
    pub fn accounted_bytes(&self) -> u64 {
        self.pending_bytes.saturating_add(self.dead_letter_bytes)
    }
}

/// Counts and bytes of the two tables.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub pending_count: u64,
    pub pending_bytes: u64,
    pub dead_letter_count: u64,
    pub dead_letter_bytes: u64,
}

/// The counters compared with a full count (see [`OutboxReader::audit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Audit {
    pub recorded: Tally,
    pub counted: Tally,
    pub last_seq: i64,
    /// Highest sequence present in either table.
    pub max_stored_seq: i64,
}

impl Audit {
    pub fn is_consistent(&self) -> bool {
        self.recorded == self.counted && self.max_stored_seq <= self.last_seq
    }
}

impl OutboxReader {
    /// The outbox at a glance, from one consistent snapshot, without scanning any table.
    pub fn stats(&self) -> Result<OutboxStats, BufferError> {
        self.observed(|| {
            let (tx, c) = self.snapshot("starting a stats snapshot")?;
            let head: Option<(i64, i64)> = tx
                .prepare_cached("SELECT seq, captured_at_ms FROM pending ORDER BY seq LIMIT 1")
                .and_then(|mut stmt| {
                    stmt.query_row([], |row| Ok((row.get(0)?, row.get(1)?)))
                        .optional()
                })
                .map_err(BufferError::during("reading the head of the queue"))?;
            let quarantined = recovery::read_quarantine(&tx)?;
            let db_bytes: i64 = tx
                .query_row(
                    "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
                    [],
                    |row| row.get(0),
                )
                .map_err(BufferError::during("reading the file size"))?;
            drop(tx);

            let wal_bytes = fs::metadata(recovery::with_suffix(&self.path, "-wal"))
                .map(|m| m.len())
                .unwrap_or(0);
            Ok(OutboxStats {
                pending_count: to_u64(c.pending_count),
                pending_bytes: to_u64(c.pending_bytes),
                oldest_pending_seq: head.map(|(seq, _)| seq),
                oldest_pending_captured_at: match head {
                    Some((seq, ms)) => Some(from_millis(seq, ms)?),
                    None => None,
                },
                dead_letter_count: to_u64(c.dead_count),
                dead_letter_bytes: to_u64(c.dead_bytes),
                refused_total: to_u64(c.refused_total).saturating_add(self.unflushed_refusals),
                last_seq: c.last_seq,
                max_bytes: c.max_bytes.map(to_u64),
                file_bytes: to_u64(db_bytes).saturating_add(wal_bytes),
                quarantined,
            })
        })
    }

    /// Compares the running counters with a full count of both tables. Scans everything: for
    /// tests and the `doctor`-style checks, not for the hot path.
    pub fn audit(&self) -> Result<Audit, BufferError> {
        self.observed(|| {
            let (tx, c) = self.snapshot("starting an audit snapshot")?;
            let counted = tx
                .query_row(
                    "SELECT (SELECT count(*) FROM pending),
                            (SELECT coalesce(sum(length(payload)), 0) FROM pending),
                            (SELECT count(*) FROM dead_letters),
                            (SELECT coalesce(sum(length(payload)), 0) FROM dead_letters),
                            max(coalesce((SELECT max(seq) FROM pending), 0),
                                coalesce((SELECT max(seq) FROM dead_letters), 0))",
                    [],
                    |row| {
                        Ok((
                            row.get::<_, i64>(0)?,
                            row.get::<_, i64>(1)?,
                            row.get::<_, i64>(2)?,
                            row.get::<_, i64>(3)?,
                            row.get::<_, i64>(4)?,
                        ))
                    },
                )
                .map_err(BufferError::during("counting the tables"))?;
            Ok(Audit {
                recorded: Tally {
                    pending_count: to_u64(c.pending_count),
                    pending_bytes: to_u64(c.pending_bytes),
                    dead_letter_count: to_u64(c.dead_count),
                    dead_letter_bytes: to_u64(c.dead_bytes),
                },
                counted: Tally {
                    pending_count: to_u64(counted.0),
                    pending_bytes: to_u64(counted.1),
                    dead_letter_count: to_u64(counted.2),
                    dead_letter_bytes: to_u64(counted.3),
                },
                last_seq: c.last_seq,
                max_stored_seq: counted.4,
            })
        })
    }

    /// A read transaction, so that what follows sees one consistent state, and the counters
    /// as of it. `op` names the start in an error.
    fn snapshot(&self, op: &'static str) -> Result<(Transaction<'_>, Counters), BufferError> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(BufferError::during(op))?;
        let counters = Counters::read(&tx).map_err(BufferError::during("reading the counters"))?;
        Ok((tx, counters))
    }
}
