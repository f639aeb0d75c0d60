//! Reading a device request's body, shared by `/v1/ingest` (and its envelope variant) and
//! `/v1/heartbeat`: the encoding (identity or gzip, decoded on the fly), the declared length
//! checked before anything is read, the wire bytes counted against a limit as they come, and the
//! idle and total timeouts; and the error answer that closes the connection, since a body may be
//! left partly unread.

use std::io;
use std::pin::Pin;

use axum::body::Body;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use tokio::io::{AsyncRead, BufReader};
use tokio_util::io::StreamReader;

use scout_common::serve::body::{BodyFailure, timed_chunks};

use crate::config::IngestLimits;
use crate::error::ApiError;

/// An error answer that also closes the connection: the body may be partly unread, so the
/// connection cannot carry another request, and a client that pooled it must be told.
pub(super) fn closing(e: ApiError) -> Response {
    scout_common::serve::body::closing(e.into_response())
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

/// The request body as a byte reader: wire bytes counted against `limit`, each chunk awaited at
/// most `limits.body_idle()` and the whole body at most `limits.body_timeout()`, gunzipped if
/// asked.
pub(super) fn body_reader(
    body: Body,
    encoding: Encoding,
    limit: u64,
    limits: &IngestLimits,
) -> Pin<Box<dyn AsyncRead + Send>> {
    let chunks = timed_chunks(body, limit, limits.body_idle(), limits.body_timeout());
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

/// Largest body of a form or a question (`/login`, `/v1/nl2sql`): a question and its plan are a
/// few KB.
pub(super) const SMALL_BODY_LIMIT: u64 = 256 * 1024;

/// Middleware for routes whose bodies are small (logins, questions): the body is read whole
/// under the ingest's idle and total timeouts and [`SMALL_BODY_LIMIT`], before the handler runs,
/// so a client that stalls or trickles its body gets 408 and loses its connection instead of
/// holding it (and a file descriptor) for ever.
pub(super) async fn small_body(
    axum::extract::State(state): axum::extract::State<super::AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if let Err(e) = refuse_declared_length_over(request.headers(), SMALL_BODY_LIMIT) {
        return closing(e);
    }
    let (parts, body) = request.into_parts();
    let limits = &state.limits;
    let mut chunks = Box::pin(timed_chunks(
        body,
        SMALL_BODY_LIMIT,
        limits.body_idle(),
        limits.body_timeout(),
    ));
    let mut bytes = Vec::new();
    while let Some(chunk) = chunks.next().await {
        match chunk {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(e) => return closing(body_error(e, SMALL_BODY_LIMIT)),
        }
    }
    next.run(axum::extract::Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Middleware for uploads: the body still streams to the handler, but a chunk that does not
/// come within the ingest's idle timeout ends it with an error (the upload fails with 408's
/// reason instead of waiting for ever). Its size is the handler's to cap.
pub(super) async fn upload_body(
    axum::extract::State(state): axum::extract::State<super::AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (parts, body) = request.into_parts();
    // No total: a large file on a slow link may take long, as long as bytes keep coming.
    let chunks = timed_chunks(
        body,
        u64::MAX,
        state.limits.body_idle(),
        std::time::Duration::from_secs(24 * 3600),
    );
    next.run(axum::extract::Request::from_parts(
        parts,
        Body::from_stream(chunks),
    ))
    .await
}

pub(super) fn body_error(e: io::Error, limit: u64) -> ApiError {
    match BodyFailure::of(&e) {
        BodyFailure::TooLarge => ApiError::TooLarge { limit },
        BodyFailure::TimedOut(why) => ApiError::RequestTimeout(why),
        BodyFailure::Broken(why) => {
            ApiError::BadRequest(format!("could not read request body: {why}"))
        }
    }
}
