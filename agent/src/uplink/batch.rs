//! One upload's body and its accounting: outbox [`Record`]s in, a gzip NDJSON body out (each
//! line the stored payload with the agent's `_agent` stamp added), and, when the collector
//! answers, the split of the batch's sequence numbers into acknowledged and rejected.
//!
//! The stamp is spliced in as the object's last member, so the payload's own bytes (key order,
//! number formatting, unknown fields) reach bronze exactly as the capture app wrote them;
//! serde_json checks the payload is one JSON object and writes the stamp. Being last also means
//! the agent's stamp wins should a payload carry its own `_agent` member (JSON readers keep the
//! last of duplicate keys, serde_json included).

use std::io::{self, Write as _};

use flate2::Compression;
use flate2::write::GzEncoder;
use scout_common::IngestResponse;
use scout_common::protocol::{AGENT_STAMP_KEY, AgentStamp};
use serde::de::IgnoredAny;

use super::UploadError;
use crate::outbox::Record;

/// gzip level for bodies: zlib's default (6). A store's mobile data is paid by the megabyte,
/// and on transaction NDJSON level 6 gives bodies roughly a third smaller than level 1 for about
/// twice the CPU, which runs off the async workers (`spawn_blocking`) once per batch.
const GZIP_LEVEL: u32 = 6;

/// A gzip NDJSON body ready to post, and what its lines are.
#[derive(Debug)]
pub(crate) struct PreparedBatch {
    /// The gzip-compressed NDJSON body.
    pub body: Vec<u8>,
    /// Sequence number of each line, in body order (line `n` is `seqs[n - 1]`).
    pub seqs: Vec<i64>,
    /// Records that cannot be sent at all (their payload is not a JSON object), with the reason
    /// they become dead letters.
    pub unsendable: Vec<(i64, String)>,
    /// Size of the NDJSON before compression.
    pub raw_bytes: u64,
}

/// Stamps every record and gzips the lines, oldest first (the order given).
pub(crate) fn prepare(records: &[Record], version: &str) -> io::Result<PreparedBatch> {
    let raw_estimate: usize = records.iter().map(|r| r.payload.len() + 96).sum();
    let mut gz = GzEncoder::new(
        Vec::with_capacity(raw_estimate / 4),
        Compression::new(GZIP_LEVEL),
    );
    let mut seqs = Vec::with_capacity(records.len());
    let mut unsendable = Vec::new();
    let mut line = Vec::new();
    let mut raw_bytes = 0_u64;
    for record in records {
        line.clear();
        match stamp_line(record, version, &mut line) {
            Ok(()) => {
                line.push(b'\n');
                gz.write_all(&line)?;
                raw_bytes += line.len() as u64;
                seqs.push(record.seq);
            }
            Err(reason) => {
                tracing::warn!(seq = record.seq, reason, "outbox record cannot be sent");
                unsendable.push((record.seq, format!("agent: {reason}; not sent")));
            }
        }
    }
    Ok(PreparedBatch {
        body: gz.finish()?,
        seqs,
        unsendable,
        raw_bytes,
    })
}

/// Writes `record`'s payload with `"_agent": {capturedAt, seq, version}` added as its last
/// member (no newline). Fails, writing nothing usable, when the payload is not a JSON object.
pub(crate) fn stamp_line(
    record: &Record,
    version: &str,
    out: &mut Vec<u8>,
) -> Result<(), &'static str> {
    let payload = record.payload.trim_ascii();
    if serde_json::from_slice::<IgnoredAny>(payload).is_err() {
        return Err("payload is not valid JSON");
    }
    // Valid JSON that starts with `{` is an object, and then it ends with `}`.
    let Some(inner) = payload
        .strip_prefix(b"{")
        .and_then(|rest| rest.strip_suffix(b"}"))
    else {
        return Err("payload is not a JSON object");
    };
    let seq = u64::try_from(record.seq).map_err(|_| "sequence number is negative")?;
    let stamp = AgentStamp {
        captured_at: record.captured_at,
        seq,
        version: version.to_owned(),
    };
    out.push(b'{');
    out.extend_from_slice(inner);
    if !inner.trim_ascii().is_empty() {
        out.push(b',');
    }
    out.push(b'"');
    out.extend_from_slice(AGENT_STAMP_KEY.as_bytes());
    out.extend_from_slice(b"\":");
    serde_json::to_writer(&mut *out, &stamp).map_err(|_| "the stamp could not be written")?;
    out.push(b'}');
    Ok(())
}

/// What one 200 answer means for the outbox.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Accounting {
    pub acked: Vec<i64>,
    pub rejected: Vec<(i64, String)>,
}

/// Maps the collector's answer for a body of `seqs.len()` lines back to sequence numbers: the
/// lines it rejected (1-based line numbers) become dead letters with its reason, every other
/// line is acknowledged. An answer that does not account for exactly the lines sent, or names
/// a line twice or out of range, acknowledges nothing.
pub(crate) fn account(response: &IngestResponse, seqs: &[i64]) -> Result<Accounting, UploadError> {
    let sent = seqs.len() as u64;
    let unbalanced = || UploadError::Unbalanced {
        sent,
        lines_seen: response.lines_seen,
        inserted: response.inserted,
        duplicates: response.duplicates,
        rejected: response.rejected.len() as u64,
    };
    // Every rejected line must be named: one only counted cannot be told from its acknowledged
    // neighbours (the collector lists up to `MAX_REJECTED_LISTED`, more than a batch holds).
    if response.lines_seen != sent || !response.is_balanced() || response.rejected_omitted > 0 {
        return Err(unbalanced());
    }
    let mut rejected_flag = vec![false; seqs.len()];
    let mut rejected = Vec::with_capacity(response.rejected.len());
    for line in &response.rejected {
        let index = usize::try_from(line.line)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .filter(|&i| i < seqs.len())
            .ok_or_else(unbalanced)?;
        if std::mem::replace(&mut rejected_flag[index], true) {
            return Err(unbalanced());
        }
        rejected.push((seqs[index], format!("collector: {}", line.error)));
    }
    let acked = seqs
        .iter()
        .zip(&rejected_flag)
        .filter(|(_, rejected)| !**rejected)
        .map(|(seq, _)| *seq)
        .collect();
    Ok(Accounting { acked, rejected })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design
mod tests {
    use std::io::Read as _;

    use chrono::{TimeZone as _, Utc};
    use scout_common::RejectedLine;
    use serde_json::Value;

    use super::*;

    fn record(seq: i64, payload: &str) -> Record {
        Record {
            seq,
            transaction_id: format!("t{seq}"),
            captured_at: Utc.with_ymd_and_hms(2026, 11, 27, 1, 2, 3).unwrap()
                + chrono::Duration::milliseconds(45),
            payload: payload.as_bytes().to_vec(),
        }
    }

    fn stamped(payload: &str) -> Result<String, &'static str> {
        let mut out = Vec::new();
        stamp_line(&record(7, payload), "0.1.0", &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn stamp_is_the_last_member_and_the_payload_is_kept_byte_for_byte() {
        let line = stamped(r#"{"z":1,"a":[1.50,"x"],"transactionId":"t7"}"#).unwrap();
        assert_eq!(
            line,
            r#"{"z":1,"a":[1.50,"x"],"transactionId":"t7","_agent":{"capturedAt":"2026-11-27T01:02:03.045Z","seq":7,"version":"0.1.0"}}"#
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        let stamp: AgentStamp = serde_json::from_value(v[AGENT_STAMP_KEY].clone()).unwrap();
        assert_eq!(stamp.seq, 7);
        assert_eq!(stamp.captured_at, record(7, "{}").captured_at);
    }

    #[test]
    fn empty_objects_and_surrounding_space_are_handled() {
        let line = stamped("  { }  ").unwrap();
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v.as_object().unwrap().len(), 1);
        assert_eq!(v["_agent"]["seq"], 7);
    }

    #[test]
    fn a_payload_stamp_is_overridden_by_the_agent() {
        let line = stamped(r#"{"_agent":{"seq":1},"b":2}"#).unwrap();
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["_agent"]["seq"], 7);
        assert_eq!(v["_agent"]["version"], "0.1.0");
    }

    #[test]
    fn non_objects_are_refused() {
        assert_eq!(stamped("[1,2]"), Err("payload is not a JSON object"));
        assert_eq!(stamped("\"{}\""), Err("payload is not a JSON object"));
        assert_eq!(stamped("{\"a\":"), Err("payload is not valid JSON"));
        assert_eq!(stamped("{} {}"), Err("payload is not valid JSON"));
        assert_eq!(stamped(""), Err("payload is not valid JSON"));
    }

    #[test]
    fn prepare_gzips_stamped_lines_and_sets_aside_unsendable_ones() {
        let records = [
            record(1, r#"{"a":1}"#),
            record(2, "[]"),
            record(3, r#"{"b":2}"#),
        ];
        let batch = prepare(&records, "9.9.9").unwrap();
        assert_eq!(batch.seqs, [1, 3]);
        assert_eq!(batch.unsendable.len(), 1);
        assert_eq!(batch.unsendable[0].0, 2);
        assert!(batch.unsendable[0].1.contains("not a JSON object"));
        let mut text = String::new();
        flate2::read::GzDecoder::new(&batch.body[..])
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(batch.raw_bytes, text.len() as u64);
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert!(text.ends_with('\n'));
        assert_eq!(lines[0]["a"], 1);
        assert_eq!(lines[1]["_agent"]["seq"], 3);
        assert_eq!(lines[1]["_agent"]["version"], "9.9.9");
    }

    fn response(seen: u64, inserted: u64, duplicates: u64, rejected: &[u64]) -> IngestResponse {
        IngestResponse {
            success: true,
            device_id: "SCOUTPI-0004".into(),
            lines_seen: seen,
            inserted,
            duplicates,
            rejected: rejected
                .iter()
                .map(|&line| RejectedLine {
                    line,
                    transaction_id: None,
                    error: format!("bad line {line}"),
                })
                .collect(),
            rejected_omitted: 0,
            records_processed: inserted + duplicates,
        }
    }

    #[test]
    fn rejected_lines_map_back_to_sequence_numbers() {
        let seqs = [10, 11, 12, 13];
        let a = account(&response(4, 1, 1, &[2, 4]), &seqs).unwrap();
        assert_eq!(a.acked, [10, 12]);
        assert_eq!(
            a.rejected,
            [
                (11, "collector: bad line 2".to_owned()),
                (13, "collector: bad line 4".to_owned())
            ]
        );
        let all = account(&response(4, 4, 0, &[]), &seqs).unwrap();
        assert_eq!(all.acked, seqs);
    }

    #[test]
    fn answers_that_do_not_account_for_the_batch_ack_nothing() {
        let seqs = [1, 2, 3];
        for bad in [
            response(2, 2, 0, &[]),     // saw fewer lines than sent
            response(3, 3, 0, &[1]),    // unbalanced
            response(3, 1, 0, &[1, 1]), // the same line twice
            response(3, 2, 0, &[4]),    // out of range
            response(3, 2, 0, &[0]),    // lines are 1-based
            IngestResponse {
                rejected_omitted: 1, // a rejected line counted but not named
                ..response(3, 2, 0, &[])
            },
        ] {
            let err = account(&bad, &seqs).unwrap_err();
            assert!(
                matches!(err, UploadError::Unbalanced { sent: 3, .. }),
                "{err}"
            );
        }
    }
}
