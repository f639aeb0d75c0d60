//! The uplink's two edges as traits: where batches come from and are settled ([`UplinkOutbox`],
//! implemented by the outbox actor's `OutboxHandle`) and how they travel ([`Transport`],
//! implemented by [`super::HttpTransport`]). The service uses the real ones; tests swap in
//! in-memory ones to drive the retry loop on a paused tokio clock.

use std::future::Future;

use scout_common::{Heartbeat, IngestResponse};

use super::UploadError;
use crate::outbox::OutboxHandle;
use crate::outbox::{BufferError, OutboxStats, Record, Settled};

/// The outbox operations the uplink needs (see `crate::outbox` for their guarantees).
pub trait UplinkOutbox: Send + Sync {
    /// Up to `max_records` pending records with a sequence number above `after_seq`, oldest
    /// first, within `max_bytes` of payload (at least one if any is pending). `after_seq` 0
    /// reads from the oldest pending record; the uplink passes the last sequence number of a
    /// batch still in flight to read the next batch.
    fn peek_after(
        &self,
        after_seq: i64,
        max_records: usize,
        max_bytes: u64,
    ) -> impl Future<Output = Result<Vec<Record>, BufferError>> + Send;

    /// Deletes `acked` and moves `rejected` to dead letters with their reasons, in one
    /// transaction.
    fn settle(
        &self,
        acked: Vec<i64>,
        rejected: Vec<(i64, String)>,
    ) -> impl Future<Output = Result<Settled, BufferError>> + Send;

    /// Sets or clears an agent-state entry, writing only when the value changes.
    fn set_state(
        &self,
        key: &'static str,
        value: Option<String>,
    ) -> impl Future<Output = Result<bool, BufferError>> + Send;

    /// Counts for the heartbeat.
    fn stats(&self) -> impl Future<Output = Result<OutboxStats, BufferError>> + Send;
}

impl UplinkOutbox for OutboxHandle {
    async fn peek_after(
        &self,
        after_seq: i64,
        max_records: usize,
        max_bytes: u64,
    ) -> Result<Vec<Record>, BufferError> {
        OutboxHandle::peek_after(self, after_seq, max_records, max_bytes).await
    }

    async fn settle(
        &self,
        acked: Vec<i64>,
        rejected: Vec<(i64, String)>,
    ) -> Result<Settled, BufferError> {
        OutboxHandle::settle(self, acked, rejected).await
    }

    async fn set_state(
        &self,
        key: &'static str,
        value: Option<String>,
    ) -> Result<bool, BufferError> {
        OutboxHandle::set_state(self, key, value).await
    }

    async fn stats(&self) -> Result<OutboxStats, BufferError> {
        OutboxHandle::stats(self).await
    }
}

/// How batches and heartbeats reach the collector.
pub trait Transport: Send + Sync {
    /// Posts one gzip NDJSON body to `/v1/ingest`: the collector's 200 answer, or why not.
    fn ingest(
        &self,
        gzip_body: Vec<u8>,
    ) -> impl Future<Output = Result<IngestResponse, UploadError>> + Send;

    /// Posts one heartbeat to `/v1/heartbeat`.
    fn heartbeat(
        &self,
        heartbeat: &Heartbeat,
    ) -> impl Future<Output = Result<(), UploadError>> + Send;
}
