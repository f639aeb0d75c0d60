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
//!
//! This file holds the handlers and admission (token, content type, the envelope's claims);
//! `slots.rs` the per-device and collector-wide request slots, `land.rs` the reading, parsing
//! and batched commits that account for every line. Reading the body itself is
//! `routes/body.rs`, shared with the heartbeat.

mod land;
mod slots;

use std::io;
use std::pin::Pin;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncReadExt};
use tracing::{Instrument, info_span};

use super::body::{
    body_error, body_reader, closing, content_encoding, refuse_declared_length_over,
};
use scout_common::protocol;

use super::{AppState, auth};
use crate::error::ApiError;
use crate::store::DeviceRecord;
use land::land;
use slots::reserve;

/// `POST /v1/ingest`.
pub async fn ingest(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    ingest_ndjson(&state, &headers, body)
        .await
        .unwrap_or_else(closing)
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

fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("<not text>"))
}
