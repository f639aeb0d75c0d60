//! `POST /v1/transactions`: a JSON object, a JSON array or NDJSON from the capture app. The
//! answer (202) comes only after the outbox commit; a full outbox answers 507 with the reason.
//! A request holds its body once (read into one buffer, dropped before the commit) and what
//! intake keeps of it, which is bounded whatever the body's shape (see [`crate::intake`]).

use std::sync::atomic::Ordering;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use serde_json::json;

use scout_common::serve::body::{BodyFailure, closing, timed_chunks};

use super::{AgentState, BODY_IDLE, BODY_TOTAL};
use crate::intake::{self, IntakeError, MAX_BODY_BYTES};

/// Buffer to start with when the request does not say its length.
const UNSIZED_BODY_START: usize = 64 * 1024;

/// Seconds a refused producer is told to wait when the outbox is full.
const FULL_RETRY_AFTER_SECS: u32 = 30;

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({"success": false, "error": message}))).into_response()
}

/// Reads the body into one buffer, sized from `Content-Length` when there is one: collecting
/// the chunks and then joining them would hold the body twice. Over [`MAX_BODY_BYTES`] is
/// refused (413) from `Content-Length` before reading, or as soon as the count passes it; a body
/// that stalls for [`BODY_IDLE`] or takes longer than [`BODY_TOTAL`] is a 408. Either answer
/// closes the connection, whose body is left unread.
async fn read_body(headers: &HeaderMap, body: Body) -> Result<Vec<u8>, Response> {
    let too_large = || {
        closing(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than the limit of {MAX_BODY_BYTES} bytes"),
        ))
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let capacity = match declared {
        Some(len) if len > MAX_BODY_BYTES as u64 => return Err(too_large()),
        Some(len) => usize::try_from(len).unwrap_or(MAX_BODY_BYTES),
        None => UNSIZED_BODY_START,
    };
    let mut bytes = Vec::with_capacity(capacity);
    let mut chunks = std::pin::pin!(timed_chunks(
        body,
        MAX_BODY_BYTES as u64,
        BODY_IDLE,
        BODY_TOTAL
    ));
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| match BodyFailure::of(&e) {
            BodyFailure::TooLarge => too_large(),
            BodyFailure::TimedOut(why) => closing(error(
                StatusCode::REQUEST_TIMEOUT,
                format!("{why}; send the request again"),
            )),
            BodyFailure::Broken(why) => error(
                StatusCode::BAD_REQUEST,
                format!("could not read the body: {why}"),
            ),
        })?;
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

#[tracing::instrument(skip_all, fields(bytes))]
/// Whether a browser sent the request from a page of another origin: browsers name the page's
/// origin on every cross-origin `POST`, even one simple enough to need no preflight
/// (`text/plain`), and any web page open on the device could otherwise feed the outbox, which
/// uploads under the device's token. The capture app is not a browser page and sends no
/// `Origin`; a page served from this address has its own host as origin.
fn from_another_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(axum::http::header::ORIGIN) else {
        return false;
    };
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, host)| host.trim_end_matches('/'));
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok());
    match (origin_host, host) {
        (Some(o), Some(h)) => !o.eq_ignore_ascii_case(h),
        // `Origin: null` (a sandboxed frame, a local file) or no host to compare with.
        _ => true,
    }
}

pub async fn transactions(
    State(state): State<AgentState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    state.intake.requests.fetch_add(1, Ordering::Relaxed);
    if from_another_origin(&headers) {
        return error(
            StatusCode::FORBIDDEN,
            "a web page from another origin may not post transactions here".to_owned(),
        );
    }
    let body = match read_body(&headers, body).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    tracing::Span::current().record("bytes", body.len());
    let parsed = intake::parse_body(&body, &state.owner, chrono::Utc::now());
    // The accepted items hold their own copies.
    drop(body);
    let parsed = match parsed {
        Ok(parsed) => parsed,
        Err(e @ (IntakeError::TooLarge { .. } | IntakeError::TooManyItems)) => {
            return error(StatusCode::PAYLOAD_TOO_LARGE, e.to_string());
        }
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    match intake::submit(&state.outbox, parsed).await {
        Ok(report) => {
            let counters = &state.intake;
            counters
                .accepted
                .fetch_add(report.accepted, Ordering::Relaxed);
            counters
                .duplicates
                .fetch_add(report.duplicates, Ordering::Relaxed);
            counters
                .rejected_items
                .fetch_add(report.refused(), Ordering::Relaxed);
            let status = if report.stored.is_empty() {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::ACCEPTED
            };
            tracing::debug!(
                accepted = report.accepted,
                duplicates = report.duplicates,
                rejected = report.refused(),
                rejected_omitted = report.rejected_omitted,
                "intake"
            );
            (status, Json(report)).into_response()
        }
        Err(e) if e.is_capacity() => {
            state.intake.refused_full.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, "intake refused: outbox full");
            let mut response = error(StatusCode::INSUFFICIENT_STORAGE, e.to_string());
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(FULL_RETRY_AFTER_SECS),
            );
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "intake failed");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("could not store the transactions: {e}"),
            )
        }
    }
}
