//! `POST /v1/ingest` and `POST /functions/v1/ingest-stream`: streaming NDJSON into bronze.
//!
//! The body is read chunk by chunk (gunzipped on the fly when `Content-Encoding: gzip`), framed
//! into numbered lines, parsed, and written to bronze in batches of bounded rows and bytes, so
//! memory does not grow with the body. Every line ends up counted once: inserted, duplicate, or
//! rejected with its line number and reason. The response is sent only after the last batch has
//! committed, so whatever it calls inserted or duplicate is durable.
//!
//! Status codes: 401 unknown or revoked token; 403 when every line names another device (lines
//! for another device inside an otherwise good request are rejected per line); 413 body over the
//! limit (refused from `Content-Length` before reading, or as soon as the count passes it); 415
//! wrong content type or encoding; 429 too many requests in flight for one device; 503 collector
//! or database busy. 429 and 503 carry `Retry-After`.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt, TryStreamExt};
use scout_common::ndjson::{FrameError, Line, LineFramer};
use scout_common::{IngestResponse, RejectedLine, Transaction, protocol};
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncReadExt, BufReader};
use tokio_util::io::StreamReader;
use tracing::{Instrument, info, info_span};

use super::{AppState, auth};
use crate::bronze::{BronzeRow, Landing};
use crate::error::ApiError;
use crate::store::DeviceRecord;

/// `POST /v1/ingest`.
pub async fn ingest(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let device = admit(&state, &headers).await?;
    let span = info_span!("ingest", device = %device.device_id, endpoint = "v1/ingest");
    let _slot = reserve(&state, &device)?;
    let encoding = content_encoding(&headers)?;
    let reader = body_reader(body, encoding, state.limits.max_body_bytes);
    land(&state, &device, "v1/ingest", reader)
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
    data: String,
}

/// `POST /functions/v1/ingest-stream`: the same semantics, and also a JSON envelope body.
pub async fn ingest_stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let is_json = content_type(&headers).is_some_and(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
    });
    if !is_json {
        return ingest(State(state), headers, body).await;
    }
    let device = admit_with(&state, &headers, false).await?;
    let span = info_span!("ingest", device = %device.device_id, endpoint = "ingest-stream");
    let _slot = reserve(&state, &device)?;
    let limit = state.limits.max_body_bytes;
    let encoding = content_encoding(&headers)?;
    let mut raw = Vec::new();
    body_reader(body, encoding, limit)
        .read_to_end(&mut raw)
        .await
        .map_err(|e| body_error(e, limit))?;
    let envelope: Envelope = serde_json::from_slice(&raw)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON envelope: {e}")))?;
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
    tracing::debug!(
        source = envelope.source.as_deref(),
        "ingest-stream envelope"
    );
    let data: Pin<Box<dyn AsyncRead + Send>> = Box::pin(io::Cursor::new(envelope.data));
    land(&state, &device, "functions/v1/ingest-stream", data)
        .instrument(span)
        .await
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
    if check_content_type
        && let Some(ct) = content_type(headers)
        && !protocol::is_ndjson_content_type(ct)
    {
        return Err(ApiError::UnsupportedMediaType(ct.to_owned()));
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

/// The request body as a byte reader: wire bytes counted against `limit`, gunzipped if asked.
pub(super) fn body_reader(
    body: Body,
    encoding: Encoding,
    limit: u64,
) -> Pin<Box<dyn AsyncRead + Send>> {
    let mut seen = 0_u64;
    let stream = body.into_data_stream().map_err(io::Error::other).map(
        move |chunk: io::Result<bytes::Bytes>| {
            let chunk = chunk?;
            seen += chunk.len() as u64;
            if seen > limit {
                return Err(io::Error::other(BodyTooLarge));
            }
            Ok(chunk)
        },
    );
    let reader = StreamReader::new(stream);
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
    let too_large = e
        .get_ref()
        .is_some_and(|inner| inner.downcast_ref::<BodyTooLarge>().is_some());
    if too_large {
        ApiError::TooLarge { limit }
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

    let r = &mut tally.response;
    r.records_processed = r.inserted + r.duplicates;
    info!(
        lines_seen = r.lines_seen,
        inserted = r.inserted,
        duplicates = r.duplicates,
        rejected = r.rejected.len(),
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
            reject(tally, e.line, None, e.to_string());
            return;
        }
    };
    let transaction = match Transaction::parse_line(&line.text) {
        Ok(t) => t,
        Err(e) => {
            reject(tally, line.number, None, e.to_string());
            return;
        }
    };
    if let Some(claimed) = &transaction.device_id
        && claimed.as_str() != device.device_id
    {
        tally.foreign += 1;
        let error = format!(
            "deviceId {claimed} belongs to another device; this token is for {}",
            device.device_id
        );
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

fn reject(tally: &mut Tally, line: u64, transaction_id: Option<String>, error: String) {
    tally.response.rejected.push(RejectedLine {
        line,
        transaction_id,
        error,
    });
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
/// If the database refuses the batch for a reason other than being busy (a value it cannot
/// store), the rows are retried one by one so the offending line is rejected with its number
/// and its neighbours still land: one bad row must not make the agent resend a batch forever.
async fn commit(state: &AppState, batch: Batch, out: &mut Committed) -> Result<(), ApiError> {
    let Batch { rows, lines } = batch;
    match state.store.insert_bronze(&rows).await {
        Ok(inserted) => {
            out.inserted += inserted;
            out.duplicates += rows.len() as u64 - inserted;
            Ok(())
        }
        Err(e) if e.is_transient() => Err(e.into()),
        Err(e) => {
            tracing::warn!(error = %e, rows = rows.len(), "batch refused; storing row by row");
            for (row, line) in rows.into_iter().zip(lines) {
                match state.store.insert_bronze(std::slice::from_ref(&row)).await {
                    Ok(1) => out.inserted += 1,
                    Ok(_) => out.duplicates += 1,
                    Err(e) if e.is_transient() => return Err(e.into()),
                    Err(e) => {
                        tracing::error!(line, error = %e, "row could not be stored");
                        out.rejected.push(RejectedLine {
                            line,
                            transaction_id: Some(row.transaction_id),
                            error: format!("could not be stored: {e}"),
                        });
                    }
                }
            }
            Ok(())
        }
    }
}
