//! `POST /v1/ingest` and `POST /functions/v1/ingest-stream`: streaming NDJSON into bronze.
//!
//! The body is read chunk by chunk (gunzipped on the fly when `Content-Encoding: gzip`), framed
//! into numbered lines, parsed, and written to bronze in batches of bounded rows and bytes, so
//! memory does not grow with the body. Every line ends up counted once: inserted, duplicate, or
//! rejected with its line number and reason. The response is sent only after the last batch has
//! committed, so whatever it calls inserted or duplicate is durable.
//!
//! Status codes: 401 unknown or revoked token; 403 when every line names another device (lines
//! for another device or store inside an otherwise good request are rejected per line); 408 the
//! body stalled (`--body-idle-secs`) or took too long in all (`--body-timeout-secs`); 413 body
//! over the limit (refused from `Content-Length` before reading, or as soon as the count passes
//! it); 415 missing or wrong content type, or wrong encoding; 429 too many requests in flight for
//! one device; 503 collector or database unavailable. 429 and 503 carry `Retry-After`. An error
//! answer closes the connection (`Connection: close`): the rest of the body is not read.
//!
//! A database fault is never a line's fault: only a value the database refuses
//! ([`crate::store::StoreError::is_refused`]) rejects that one line; anything else fails the whole
//! request (503 when it may pass, 500 otherwise) so the agent sends the batch again.
//!
//! Memory per request is bounded whatever the body: at most one line (capped), two batches, and
//! the first [`MAX_REJECTED_LISTED`] rejections (the rest are counted, not listed).

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use scout_common::ndjson::{FrameError, Line, LineFramer};
use scout_common::protocol::MAX_REJECTED_LISTED;
use scout_common::{IngestResponse, RejectedLine, Transaction, protocol};
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncReadExt, BufReader};
use tokio_util::io::StreamReader;
use tracing::{Instrument, info, info_span};

use super::{AppState, auth};
use crate::bronze::{BronzeRow, Landing};
use crate::config::IngestLimits;
use crate::error::ApiError;
use crate::store::DeviceRecord;

/// `POST /v1/ingest`.
pub async fn ingest(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    ingest_ndjson(&state, &headers, body)
        .await
        .unwrap_or_else(closing)
}

/// An error answer that also closes the connection: the body may be partly unread, so the
/// connection cannot carry another request, and a client that pooled it must be told.
pub(super) fn closing(e: ApiError) -> Response {
    let mut response = e.into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

async fn ingest_ndjson(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let device = admit(state, headers).await?;
    let span = info_span!("ingest", device = %device.device_id, endpoint = "v1/ingest");
    let _slot = reserve(state, &device)?;
    let encoding = content_encoding(headers)?;
    let reader = body_reader(body, encoding, state.limits.max_body_bytes, &state.limits);
    land(state, &device, "v1/ingest", reader)
        .instrument(span)
        .await
}

/// The JSON envelope older Scout clients post to `/functions/v1/ingest-stream`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    device_id: Option<String>,
    #[serde(default)]
    store_id: Option<serde_json::Value>,
    data: String,
}

/// `POST /functions/v1/ingest-stream`: the same semantics, and also a JSON envelope body.
pub async fn ingest_stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let is_json = content_type(&headers).is_some_and(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
    });
    let answer = if is_json {
        ingest_envelope(&state, &headers, body).await
    } else {
        ingest_ndjson(&state, &headers, body).await
    };
    answer.unwrap_or_else(closing)
}

async fn ingest_envelope(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let device = admit_with(state, headers, false).await?;
    let span = info_span!("ingest", device = %device.device_id, endpoint = "ingest-stream");
    let _slot = reserve(state, &device)?;
    let limits = &state.limits;
    let encoding = content_encoding(headers)?;
    // The envelope is parsed whole, so what is buffered is capped after decoding: a small gzip
    // body cannot inflate past the cap in memory.
    let cap = limits.max_envelope_bytes.min(limits.max_decoded_bytes);
    let mut raw = Vec::new();
    body_reader(body, encoding, limits.max_body_bytes, limits)
        .take(cap + 1)
        .read_to_end(&mut raw)
        .await
        .map_err(|e| body_error(e, limits.max_body_bytes))?;
    if raw.len() as u64 > cap {
        return Err(ApiError::TooLarge { limit: cap });
    }
    let envelope: Envelope = serde_json::from_slice(&raw)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON envelope: {e}")))?;
    drop(raw);
    if let Some(claimed) = envelope.device_id.as_deref() {
        let claimed = scout_common::DeviceId::parse(claimed)
            .map_err(|e| ApiError::BadRequest(format!("envelope deviceId: {e}")))?;
        if claimed.as_str() != device.device_id {
            return Err(ApiError::Forbidden(format!(
                "deviceId {claimed} belongs to another device; this token is for {}",
                device.device_id
            )));
        }
    }
    if let Some(claimed) = envelope.store_id.as_ref().and_then(store_text)
        && claimed != device.store_id
    {
        return Err(ApiError::Forbidden(other_store(&claimed, &device)));
    }
    tracing::debug!(
        source = envelope.source.as_deref(),
        "ingest-stream envelope"
    );
    let data: Pin<Box<dyn AsyncRead + Send>> = Box::pin(io::Cursor::new(envelope.data));
    land(state, &device, "functions/v1/ingest-stream", data)
        .instrument(span)
        .await
}

/// A `storeId` as text (`"104"` and `104` are the same store); `None` when absent or empty.
fn store_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn other_store(claimed: &str, device: &DeviceRecord) -> String {
    format!(
        "storeId {claimed} is not this device's store: {} is registered to store {}",
        device.device_id, device.store_id
    )
}

/// Checks the request's framing headers and token; nothing of the body is read.
async fn admit(state: &AppState, headers: &HeaderMap) -> Result<DeviceRecord, ApiError> {
    admit_with(state, headers, true).await
}

async fn admit_with(
    state: &AppState,
    headers: &HeaderMap,
    check_content_type: bool,
) -> Result<DeviceRecord, ApiError> {
    let token = auth::bearer(headers)?;
    if check_content_type {
        match content_type(headers) {
            Some(ct) if protocol::is_ndjson_content_type(ct) => {}
            Some(ct) => return Err(ApiError::UnsupportedMediaType(ct.to_owned())),
            None => return Err(ApiError::MissingContentType),
        }
    }
    content_encoding(headers)?;
    refuse_declared_length_over(headers, state.limits.max_body_bytes)?;
    auth::device(state, token).await
}

/// 413 when the request declares (`Content-Length`) a body larger than `limit`, before any of
/// it is read.
pub(super) fn refuse_declared_length_over(headers: &HeaderMap, limit: u64) -> Result<(), ApiError> {
    match headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        Some(length) if length > limit => Err(ApiError::TooLarge { limit }),
        _ => Ok(()),
    }
}

fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("<not text>"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Encoding {
    Identity,
    Gzip,
}

pub(super) fn content_encoding(headers: &HeaderMap) -> Result<Encoding, ApiError> {
    match headers.get(header::CONTENT_ENCODING) {
        None => Ok(Encoding::Identity),
        Some(v) => match v.to_str().map(|s| s.trim().to_ascii_lowercase()).as_deref() {
            Ok("" | "identity") => Ok(Encoding::Identity),
            Ok("gzip" | "x-gzip") => Ok(Encoding::Gzip),
            _ => Err(ApiError::UnsupportedEncoding(
                v.to_str().unwrap_or("<not text>").to_owned(),
            )),
        },
    }
}

/// A slot among the device's in-flight requests, freed on drop.
struct DeviceSlot {
    per_device: Arc<Mutex<HashMap<String, usize>>>,
    device_id: String,
}

impl Drop for DeviceSlot {
    fn drop(&mut self) {
        if let Ok(mut map) = self.per_device.lock()
            && let Some(n) = map.get_mut(&self.device_id)
        {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.device_id);
            }
        }
    }
}

/// Held while a request is processed: its device's slot and a collector-wide permit.
struct Slot {
    _device: DeviceSlot,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

/// Takes the device's slot first (429 when that device is already busy), then a collector-wide
/// permit (503 when the collector is).
fn reserve(state: &AppState, device: &DeviceRecord) -> Result<Slot, ApiError> {
    let device_slot = {
        let mut map = state
            .per_device
            .lock()
            .map_err(|_| ApiError::Internal(anyhow::anyhow!("per-device slot table poisoned")))?;
        let n = map.entry(device.device_id.clone()).or_insert(0);
        if *n >= state.limits.max_in_flight_per_device {
            return Err(ApiError::TooManyRequests {
                retry_after_secs: 1,
            });
        }
        *n += 1;
        DeviceSlot {
            per_device: Arc::clone(&state.per_device),
            device_id: device.device_id.clone(),
        }
    };
    let permit = Arc::clone(&state.in_flight)
        .try_acquire_owned()
        .map_err(|_| ApiError::Unavailable {
            retry_after_secs: 1,
        })?;
    Ok(Slot {
        _device: device_slot,
        _permit: permit,
    })
}

/// The body limit was passed while reading.
#[derive(Debug, thiserror::Error)]
#[error("body limit passed")]
struct BodyTooLarge;

/// The body stalled, or took too long in all.
#[derive(Debug, thiserror::Error)]
#[error("the body {0}")]
struct BodyTimedOut(&'static str);

/// The request body as a byte reader: wire bytes counted against `limit`, each chunk awaited at
/// most `limits.body_idle()` and the whole body at most `limits.body_timeout()`, gunzipped if
/// asked.
pub(super) fn body_reader(
    body: Body,
    encoding: Encoding,
    limit: u64,
    limits: &IngestLimits,
) -> Pin<Box<dyn AsyncRead + Send>> {
    let idle = limits.body_idle();
    let deadline = tokio::time::Instant::now() + limits.body_timeout();
    let chunks = futures_util::stream::unfold(
        (body.into_data_stream(), 0_u64, false),
        move |(mut chunks, mut seen, failed)| async move {
            if failed {
                return None;
            }
            let wait = idle.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
            let chunk = match tokio::time::timeout(wait, chunks.next()).await {
                Ok(None) => return None,
                Ok(Some(Ok(chunk))) => {
                    seen += chunk.len() as u64;
                    if seen > limit {
                        Err(io::Error::other(BodyTooLarge))
                    } else {
                        Ok(chunk)
                    }
                }
                Ok(Some(Err(e))) => Err(io::Error::other(e)),
                Err(_) if wait < idle => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    BodyTimedOut("took longer than the body timeout in all"),
                )),
                Err(_) => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    BodyTimedOut("stalled: no bytes within the idle timeout"),
                )),
            };
            let failed = chunk.is_err();
            Some((chunk, (chunks, seen, failed)))
        },
    );
    let reader = StreamReader::new(Box::pin(chunks));
    match encoding {
        Encoding::Identity => Box::pin(reader),
        Encoding::Gzip => {
            let mut decoder =
                async_compression::tokio::bufread::GzipDecoder::new(BufReader::new(reader));
            decoder.multiple_members(true);
            Box::pin(decoder)
        }
    }
}

pub(super) fn body_error(e: io::Error, limit: u64) -> ApiError {
    let inner = e.get_ref();
    if inner.is_some_and(|inner| inner.downcast_ref::<BodyTooLarge>().is_some()) {
        ApiError::TooLarge { limit }
    } else if let Some(timed_out) = inner.and_then(|inner| inner.downcast_ref::<BodyTimedOut>()) {
        ApiError::RequestTimeout(timed_out.to_string())
    } else {
        ApiError::BadRequest(format!("could not read request body: {e}"))
    }
}

/// Per-request tally, and the rows waiting for the next batch commit.
struct Tally {
    response: IngestResponse,
    /// Lines rejected because they name another device.
    foreign: u64,
    pending: Vec<BronzeRow>,
    /// Line number of each pending row.
    pending_lines: Vec<u64>,
    pending_bytes: usize,
}

/// Reads, parses and lands every line of `reader`; answers once all batches have committed.
async fn land(
    state: &AppState,
    device: &DeviceRecord,
    endpoint: &str,
    mut reader: Pin<Box<dyn AsyncRead + Send>>,
) -> Result<Response, ApiError> {
    let limits = &state.limits;
    let mut framer = LineFramer::new(limits.max_line_bytes);
    let mut tally = Tally {
        response: IngestResponse {
            success: true,
            device_id: device.device_id.clone(),
            lines_seen: 0,
            inserted: 0,
            duplicates: 0,
            rejected: Vec::new(),
            rejected_omitted: 0,
            records_processed: 0,
        },
        foreign: 0,
        pending: Vec::new(),
        pending_lines: Vec::new(),
        pending_bytes: 0,
    };
    // The body is parsed while the previous batch commits: one batch in flight, so memory
    // stays bounded while parsing (CPU here) and committing (the database) overlap.
    let (batches, queue) = tokio::sync::mpsc::channel::<Batch>(1);
    let reading = read_lines(
        state,
        device,
        endpoint,
        &mut reader,
        &mut framer,
        &mut tally,
        batches,
    );
    let (read, written) = tokio::join!(reading, write_batches(state, queue));
    let written = written?;
    read?;
    let r = &mut tally.response;
    r.inserted = written.inserted;
    r.duplicates = written.duplicates;
    r.rejected.extend(written.rejected);
    r.rejected.sort_by_key(|rejected| rejected.line);
    r.rejected_omitted += written.rejected_omitted;
    if r.rejected.len() > MAX_REJECTED_LISTED {
        r.rejected_omitted += (r.rejected.len() - MAX_REJECTED_LISTED) as u64;
        r.rejected.truncate(MAX_REJECTED_LISTED);
    }

    let r = &mut tally.response;
    r.records_processed = r.inserted + r.duplicates;
    info!(
        lines_seen = r.lines_seen,
        inserted = r.inserted,
        duplicates = r.duplicates,
        rejected = r.rejected_total(),
        "ingest finished"
    );
    let every_line_foreign = tally.foreign > 0 && tally.foreign == r.lines_seen;
    let status = if every_line_foreign {
        r.success = false;
        StatusCode::FORBIDDEN
    } else {
        StatusCode::OK
    };
    Ok((status, Json(tally.response)).into_response())
}

/// Accounts for one framed line: a pending row, or a rejection with its line number.
fn take(tally: &mut Tally, item: Result<Line, FrameError>, device: &DeviceRecord, endpoint: &str) {
    tally.response.lines_seen += 1;
    let line = match item {
        Ok(line) => line,
        Err(e) => {
            reject(tally, e.line, None, || e.to_string());
            return;
        }
    };
    let transaction = match Transaction::parse_line(&line.text) {
        Ok(t) => t,
        Err(e) => {
            reject(tally, line.number, None, || e.to_string());
            return;
        }
    };
    if let Some(claimed) = &transaction.device_id
        && claimed.as_str() != device.device_id
    {
        tally.foreign += 1;
        let error = || {
            format!(
                "deviceId {claimed} belongs to another device; this token is for {}",
                device.device_id
            )
        };
        reject(tally, line.number, Some(transaction.transaction_id), error);
        return;
    }
    if let Some(claimed) = &transaction.store_id
        && claimed.trim() != device.store_id
    {
        let error = || other_store(claimed.trim(), device);
        reject(tally, line.number, Some(transaction.transaction_id), error);
        return;
    }
    let row = BronzeRow::new(
        transaction,
        Landing {
            device_id: &device.device_id,
            store_id: &device.store_id,
            endpoint,
            received_at: chrono::Utc::now(),
        },
    );
    tally.pending_bytes += row.weight();
    tally.pending.push(row);
    tally.pending_lines.push(line.number);
}

/// Accounts for a rejected line; its reason is only worked out when it will be listed.
fn reject(
    tally: &mut Tally,
    line: u64,
    transaction_id: Option<String>,
    error: impl FnOnce() -> String,
) {
    if tally.response.rejected.len() >= MAX_REJECTED_LISTED {
        tally.response.rejected_omitted += 1;
        return;
    }
    let error = error();
    push_rejected(
        &mut tally.response.rejected,
        &mut tally.response.rejected_omitted,
        RejectedLine {
            line,
            transaction_id,
            error,
        },
    );
}

/// Longest reason given for one rejected line, in bytes.
const MAX_REASON_BYTES: usize = 512;

/// Lists a rejection while fewer than [`MAX_REJECTED_LISTED`] are listed, else only counts it.
fn push_rejected(listed: &mut Vec<RejectedLine>, omitted: &mut u64, mut line: RejectedLine) {
    if listed.len() >= MAX_REJECTED_LISTED {
        *omitted += 1;
        return;
    }
    scout_common::text::clip(&mut line.error, MAX_REASON_BYTES);
    if let Some(id) = &mut line.transaction_id {
        id.truncate(id.floor_char_boundary(MAX_REASON_BYTES));
    }
    listed.push(line);
}

/// Rows ready to commit, with the line number of each.
struct Batch {
    rows: Vec<BronzeRow>,
    lines: Vec<u64>,
}

/// What the committed batches came to.
#[derive(Default)]
struct Committed {
    inserted: u64,
    duplicates: u64,
    /// Rows the database refused (rejected one by one, with their line numbers).
    rejected: Vec<RejectedLine>,
    rejected_omitted: u64,
}

/// Frames and parses the body, handing full batches to the writer. Stops early (without an
/// error of its own) when the writer has gone, which means a commit failed.
async fn read_lines(
    state: &AppState,
    device: &DeviceRecord,
    endpoint: &str,
    reader: &mut Pin<Box<dyn AsyncRead + Send>>,
    framer: &mut LineFramer,
    tally: &mut Tally,
    batches: tokio::sync::mpsc::Sender<Batch>,
) -> Result<(), ApiError> {
    let limits = &state.limits;
    let mut buf = vec![0_u8; 64 * 1024];
    let mut decoded = 0_u64;
    loop {
        let n = reader
            .read(&mut buf)
            .await
            .map_err(|e| body_error(e, limits.max_body_bytes))?;
        if n == 0 {
            break;
        }
        decoded += n as u64;
        if decoded > limits.max_decoded_bytes {
            return Err(ApiError::TooLarge {
                limit: limits.max_decoded_bytes,
            });
        }
        framer.push(&buf[..n]);
        while let Some(item) = framer.next_line() {
            take(tally, item, device, endpoint);
        }
        if (tally.pending.len() >= limits.batch_rows || tally.pending_bytes >= limits.batch_bytes)
            && batches.send(tally.take_batch()).await.is_err()
        {
            return Ok(());
        }
    }
    while let Some(item) = framer.finish() {
        take(tally, item, device, endpoint);
    }
    if !tally.pending.is_empty() {
        let _ = batches.send(tally.take_batch()).await;
    }
    Ok(())
}

impl Tally {
    fn take_batch(&mut self) -> Batch {
        self.pending_bytes = 0;
        Batch {
            rows: std::mem::take(&mut self.pending),
            lines: std::mem::take(&mut self.pending_lines),
        }
    }
}

/// Commits batches as they come; only then do their lines count as acknowledged.
async fn write_batches(
    state: &AppState,
    mut queue: tokio::sync::mpsc::Receiver<Batch>,
) -> Result<Committed, ApiError> {
    let mut committed = Committed::default();
    while let Some(batch) = queue.recv().await {
        commit(state, batch, &mut committed).await?;
    }
    if committed.inserted > 0 {
        state.pipeline_wake.notify_one();
    }
    Ok(committed)
}

/// Commits one batch.
///
/// If the database refuses the batch's data ([`crate::store::StoreError::is_refused`]: a value
/// it cannot store), the rows are retried one by one so the offending line is rejected with its
/// number and its neighbours still land: one bad row must not make the agent resend a batch
/// forever. Any other failure (the database unreachable, restarting, out of connections, or a
/// fault of the collector's) fails the whole request: nothing is claimed as rejected, and what
/// was committed is recognised as duplicate when the batch comes again.
async fn commit(state: &AppState, batch: Batch, out: &mut Committed) -> Result<(), ApiError> {
    let Batch { rows, lines } = batch;
    match state.store.insert_bronze(&rows).await {
        Ok(inserted) => {
            out.inserted += inserted;
            out.duplicates += rows.len() as u64 - inserted;
            Ok(())
        }
        Err(e) if e.is_refused() => {
            tracing::warn!(error = %e, rows = rows.len(), "batch refused; storing row by row");
            for (row, line) in rows.into_iter().zip(lines) {
                match state.store.insert_bronze(std::slice::from_ref(&row)).await {
                    Ok(1) => out.inserted += 1,
                    Ok(_) => out.duplicates += 1,
                    Err(e) if e.is_refused() => {
                        tracing::error!(line, error = %e, "row could not be stored");
                        push_rejected(
                            &mut out.rejected,
                            &mut out.rejected_omitted,
                            RejectedLine {
                                line,
                                transaction_id: Some(row.transaction_id),
                                error: format!("could not be stored: {e}"),
                            },
                        );
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}
