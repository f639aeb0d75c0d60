//! Reading the head of the queue for the uplink: oldest first, within a record and byte budget,
//! never less than one row while any is pending (invariant 5). Peeking changes nothing.

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::{BufferError, OutboxReader, from_millis, to_i64, to_u64};

/// A pending transaction, as the uplink sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub seq: i64,
    pub transaction_id: String,
    pub captured_at: DateTime<Utc>,
    pub payload: Vec<u8>,
}

impl OutboxReader {
    /// Up to `max_records` pending rows, oldest first, stopping before the payloads would exceed
    /// `max_bytes`, but always at least one row if any is pending (invariant 5).
    pub fn peek_batch(
        &self,
        max_records: usize,
        max_bytes: u64,
    ) -> Result<Vec<Record>, BufferError> {
        self.peek_batch_after(0, max_records, max_bytes)
    }

    /// Like [`OutboxReader::peek_batch`], starting after sequence `after_seq` (for an uplink
    /// that keeps more than one batch in flight).
    pub fn peek_batch_after(
        &self,
        after_seq: i64,
        max_records: usize,
        max_bytes: u64,
    ) -> Result<Vec<Record>, BufferError> {
        if max_records == 0 {
            return Ok(Vec::new());
        }
        self.observed(|| {
            let mut stmt = self
                .conn
                .prepare_cached(
                    "SELECT seq, transaction_id, captured_at_ms, length(payload), payload
                     FROM pending WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                )
                .map_err(BufferError::during("preparing the peek"))?;
            let mut rows = stmt
                .query(params![after_seq, to_i64(max_records as u64)])
                .map_err(BufferError::during("reading pending rows"))?;
            let mut batch = Vec::new();
            let mut bytes = 0_u64;
            while let Some(row) = rows
                .next()
                .map_err(BufferError::during("reading pending rows"))?
            {
                let len: i64 = row
                    .get(3)
                    .map_err(BufferError::during("reading a row size"))?;
                let len = to_u64(len);
                if !batch.is_empty() && bytes.saturating_add(len) > max_bytes {
                    break;
                }
                let seq: i64 = row.get(0).map_err(BufferError::during("reading a row"))?;
                let captured_at_ms: i64 =
                    row.get(2).map_err(BufferError::during("reading a row"))?;
                batch.push(Record {
                    seq,
                    transaction_id: row.get(1).map_err(BufferError::during("reading a row"))?,
                    captured_at: from_millis(seq, captured_at_ms)?,
                    payload: row.get(4).map_err(BufferError::during("reading a row"))?,
                });
                bytes = bytes.saturating_add(len);
            }
            Ok(batch)
        })
    }
}
