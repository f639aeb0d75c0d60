//! Reading a request body under a byte limit and two timeouts: each chunk must come within the
//! idle timeout and the whole body within the total, so a client that stalls or trickles its
//! body cannot hold its connection. The errors say which rule ended the body, through whatever
//! wraps the stream ([`timed_out_in`], [`too_large_in`]).

use std::io;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use futures_util::{Stream, StreamExt as _};

/// The body limit was passed while reading.
#[derive(Debug, thiserror::Error)]
#[error("body limit passed")]
pub struct BodyTooLarge;

/// The body stalled, or took too long in all.
#[derive(Debug, thiserror::Error)]
#[error("the body {0}")]
pub struct BodyTimedOut(&'static str);

/// The first error of type `T` in `e`'s chain, looking inside IO errors (which is how a body
/// stream's errors travel through readers, multipart and axum).
fn find<'a, T: std::error::Error + 'static>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(t) = err.downcast_ref::<T>() {
            return Some(t);
        }
        if let Some(io) = err.downcast_ref::<io::Error>()
            && let Some(t) = io.get_ref().and_then(|i| i.downcast_ref::<T>())
        {
            return Some(t);
        }
        next = err.source();
    }
    None
}

/// The timeout behind `e`, if a body's stall or slowness is what broke it.
pub fn timed_out_in<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a BodyTimedOut> {
    find(e)
}

/// Whether the body limit is what broke `e`.
pub fn too_large_in(e: &(dyn std::error::Error + 'static)) -> bool {
    find::<BodyTooLarge>(e).is_some()
}

/// Why reading a body failed, in the terms a server answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyFailure {
    /// The body passed its limit (413).
    TooLarge,
    /// The body stalled or took too long (408); says which.
    TimedOut(String),
    /// The body could not be read for another reason (400); says why.
    Broken(String),
}

impl BodyFailure {
    /// Classifies an error met while reading a body.
    pub fn of(e: &(dyn std::error::Error + 'static)) -> Self {
        if too_large_in(e) {
            Self::TooLarge
        } else if let Some(timed_out) = timed_out_in(e) {
            Self::TimedOut(timed_out.to_string())
        } else {
            Self::Broken(e.to_string())
        }
    }
}

/// `response` marked as its connection's last: after a refused or broken body the rest of the
/// body is unread, so the connection cannot carry another request, and a client that pooled it
/// must be told.
pub fn closing(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// The body's chunks, counted against `limit` (bytes as they arrive), each awaited at most `idle`
/// and all of them at most `total`. The stream ends after its first error.
pub fn timed_chunks(
    body: Body,
    limit: u64,
    idle: Duration,
    total: Duration,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    let deadline = tokio::time::Instant::now() + total;
    futures_util::stream::unfold(
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
    )
}
