//! Storing a read body: [`submit`] hands its accepted items to the outbox actor as one request
//! (one group of a group commit) and answers after the commit, with what was stored and what
//! was refused ([`IntakeReport`], the local intake API's answer body).

use serde::Serialize;

use super::Position;
use super::parse::{BodyFormat, Parsed};
use super::refusal::ItemError;
use crate::outbox::{BufferError, OutboxHandle};

/// One stored item, for the producer's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredItem {
    #[serde(skip)]
    pub position: Position,
    pub transaction_id: String,
    pub seq: i64,
    /// Already pending: nothing new was stored.
    pub duplicate: bool,
}

/// The outcome of [`submit`]: what was stored and what was refused. Serialises as the local
/// intake API's answer body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IntakeReport {
    pub format: BodyFormat,
    /// Items stored now.
    pub accepted: u64,
    /// Items whose transaction id was already pending (acknowledged, nothing new stored).
    pub duplicates: u64,
    /// The first [`MAX_DETAILED_REFUSALS`](super::MAX_DETAILED_REFUSALS) refused items.
    pub rejected: Vec<ItemError>,
    /// Refused items after those, counted only.
    pub rejected_omitted: u64,
    pub stored: Vec<StoredItem>,
}

impl IntakeReport {
    /// Items refused, detailed or not.
    pub fn refused(&self) -> u64 {
        self.rejected.len() as u64 + self.rejected_omitted
    }
}

/// Stores a parsed body's accepted items through the outbox actor (one request, so one group
/// of a group commit) and returns after the commit. Refused items are carried over into the
/// report. An outbox refusal (full, disk full, closed) stores none of the items.
pub async fn submit(handle: &OutboxHandle, parsed: Parsed) -> Result<IntakeReport, BufferError> {
    let Parsed {
        format,
        accepted,
        rejected,
        rejected_omitted,
    } = parsed;
    let mut positions = Vec::with_capacity(accepted.len());
    let mut records = Vec::with_capacity(accepted.len());
    for item in accepted {
        positions.push(item.position);
        records.push(item.record);
    }
    let ids: Vec<String> = records.iter().map(|r| r.transaction_id.clone()).collect();
    let outcome = if records.is_empty() {
        Vec::new()
    } else {
        handle.enqueue(records).await?
    };
    let stored: Vec<StoredItem> = outcome
        .into_iter()
        .zip(positions)
        .zip(ids)
        .map(|((enqueued, position), transaction_id)| StoredItem {
            position,
            transaction_id,
            seq: enqueued.seq,
            duplicate: enqueued.duplicate,
        })
        .collect();
    let duplicates = stored.iter().filter(|s| s.duplicate).count() as u64;
    Ok(IntakeReport {
        format,
        accepted: stored.len() as u64 - duplicates,
        duplicates,
        rejected,
        rejected_omitted,
        stored,
    })
}
