//! Dead letters, the rows the collector rejected for good: listed for `status`, exported as NDJSON
//! for an operator, and purged only after that, by the operator's decision (invariant 6).

use std::io::{BufWriter, Write};

use chrono::{DateTime, Utc};
use rusqlite::{TransactionBehavior, params_from_iter};
use serde::Serialize;
use serde_json::value::RawValue;

use super::schema::Delta;
use super::{BufferError, Outbox, OutboxReader, commit_write, from_millis, to_i64, to_u64};

/// A transaction the collector rejected for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub seq: i64,
    pub transaction_id: String,
    pub captured_at: DateTime<Utc>,
    pub payload: Vec<u8>,
    pub reason: String,
    pub dead_lettered_at: DateTime<Utc>,
}

/// What [`OutboxReader::export_dead_letters`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportReport {
    pub count: u64,
    /// Highest sequence exported: pass it to [`Outbox::purge_dead_letters`] to drop exactly
    /// what was exported.
    pub last_seq: Option<i64>,
}

/// One line of the export.
#[derive(Serialize)]
struct ExportLine<'a> {
    seq: i64,
    transaction_id: &'a str,
    captured_at: DateTime<Utc>,
    dead_lettered_at: DateTime<Utc>,
    reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload_text: Option<String>,
}

impl OutboxReader {
    /// The most recent dead letters, newest first.
    pub fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, BufferError> {
        self.observed(|| {
            let mut out = Vec::new();
            self.each_dead_letter(Some(limit), |letter| {
                out.push(letter);
                Ok(())
            })?;
            Ok(out)
        })
    }

    /// Writes every dead letter, oldest first, as NDJSON: `seq`, `transaction_id`,
    /// `captured_at`, `dead_lettered_at`, `reason`, and `payload` (the stored line embedded as
    /// JSON) or `payload_text` (if the stored line is not valid JSON). Streams; memory use does
    /// not grow with the number of dead letters.
    pub fn export_dead_letters(&self, writer: impl Write) -> Result<ExportReport, BufferError> {
        self.observed(|| {
            let mut out = BufWriter::new(writer);
            let mut report = ExportReport {
                count: 0,
                last_seq: None,
            };
            self.each_dead_letter(None, |letter| {
                let raw = serde_json::from_slice::<&RawValue>(&letter.payload).ok();
                let line = ExportLine {
                    seq: letter.seq,
                    transaction_id: &letter.transaction_id,
                    captured_at: letter.captured_at,
                    dead_lettered_at: letter.dead_lettered_at,
                    reason: &letter.reason,
                    payload: raw,
                    payload_text: match raw {
                        Some(_) => None,
                        None => Some(String::from_utf8_lossy(&letter.payload).into_owned()),
                    },
                };
                serde_json::to_writer(&mut out, &line)
                    .map_err(|err| BufferError::Export(std::io::Error::other(err)))?;
                out.write_all(b"\n").map_err(BufferError::Export)?;
                report.count += 1;
                report.last_seq = Some(letter.seq);
                Ok(())
            })?;
            out.flush().map_err(BufferError::Export)?;
            Ok(report)
        })
    }

    /// Streams dead letters to `each`: the newest `limit` newest first, or every one oldest
    /// first when `limit` is `None` (the export).
    fn each_dead_letter(
        &self,
        limit: Option<usize>,
        mut each: impl FnMut(DeadLetter) -> Result<(), BufferError>,
    ) -> Result<(), BufferError> {
        let sql = match limit {
            Some(_) => {
                "SELECT seq, transaction_id, captured_at_ms, payload, reason, dead_lettered_at_ms
                 FROM dead_letters ORDER BY seq DESC LIMIT ?1"
            }
            None => {
                "SELECT seq, transaction_id, captured_at_ms, payload, reason, dead_lettered_at_ms
                 FROM dead_letters ORDER BY seq"
            }
        };
        let mut stmt = self
            .conn
            .prepare_cached(sql)
            .map_err(BufferError::during("preparing the dead-letter listing"))?;
        let mut rows = stmt
            .query(params_from_iter(limit.map(|n| to_i64(n as u64))))
            .map_err(BufferError::during("reading dead letters"))?;
        while let Some(row) = rows
            .next()
            .map_err(BufferError::during("reading dead letters"))?
        {
            each(dead_letter_from_row(row)?)?;
        }
        Ok(())
    }
}

impl Outbox {
    /// Deletes dead letters with sequence `<= through_seq` (after an export). Returns how many.
    pub fn purge_dead_letters(&mut self, through_seq: i64) -> Result<u64, BufferError> {
        self.observed_mut(|outbox| {
            let reader = &mut outbox.reader;
            let tx = reader
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(BufferError::during("starting the purge"))?;
            let (count, bytes): (i64, i64) = tx
                .query_row(
                    "SELECT count(*), coalesce(sum(length(payload)), 0)
                     FROM dead_letters WHERE seq <= ?1",
                    [through_seq],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .map_err(BufferError::during("measuring the purge"))?;
            if count == 0 {
                return Ok(0);
            }
            tx.execute("DELETE FROM dead_letters WHERE seq <= ?1", [through_seq])
                .map_err(BufferError::during("purging dead letters"))?;
            let delta = Delta {
                dead_count: -count,
                dead_bytes: -bytes,
                ..Delta::default()
            };
            commit_write(
                tx,
                delta,
                &mut reader.unflushed_refusals,
                "committing the purge",
            )?;
            tracing::info!(purged = count, through_seq, "dead letters purged");
            Ok(to_u64(count))
        })
    }
}

fn dead_letter_from_row(row: &rusqlite::Row<'_>) -> Result<DeadLetter, BufferError> {
    let read = BufferError::during("reading a dead letter");
    let fields = (|| -> rusqlite::Result<_> {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, i64>(2)?,
            row.get::<_, Vec<u8>>(3)?,
            row.get::<_, String>(4)?,
            row.get::<_, i64>(5)?,
        ))
    })()
    .map_err(read)?;
    let (seq, transaction_id, captured_ms, payload, reason, dead_ms) = fields;
    Ok(DeadLetter {
        seq,
        transaction_id,
        captured_at: from_millis(seq, captured_ms)?,
        payload,
        reason,
        dead_lettered_at: from_millis(seq, dead_ms)?,
    })
}
