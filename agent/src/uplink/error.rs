//! `UploadError`: every way an upload or heartbeat can fail, worded for the status page a field
//! technician reads, and classified for the retry loop (auth, TLS, busy, transient).

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::InvalidConfig;
use crate::outbox::BufferError;

/// Why an upload (or heartbeat) did not happen. The `Display` text is what status shows as the
/// last error, so it names the cause a technician can act on and holds no timestamps or counters
/// (an unchanged error is not rewritten to the SD card).
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    // ---- setting up the client -------------------------------------------------------------
    /// `ca_file` could not be read.
    #[error("cannot read ca_file {}: {source}", path.display())]
    CaFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// `ca_file` holds no usable PEM certificate.
    #[error("ca_file {} holds no usable PEM certificate: {detail}", path.display())]
    CaCertificates { path: PathBuf, detail: String },

    /// `collector_url` does not make a request URL.
    #[error("collector_url {url:?} is not usable: {detail}")]
    CollectorUrl { url: String, detail: String },

    /// The configuration handed to [`crate::uplink::run`] did not pass its check.
    #[error("{0}")]
    Config(#[source] InvalidConfig),

    /// The HTTP client could not be built (e.g. a certificate rustls refuses).
    #[error("failed to build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),

    // ---- one attempt: the network ----------------------------------------------------------
    /// The collector's certificate did not verify against the trusted roots (`ca_file`, or the
    /// platform's roots when none is configured), or does not name the host.
    #[error(
        "TLS: certificate not trusted ({detail}); check ca_file and the collector's certificate"
    )]
    TlsCertificate { detail: String },

    /// The TLS handshake failed for another reason (protocol, alert from the server).
    #[error("TLS: handshake failed ({detail})")]
    Tls { detail: String },

    /// Nothing listens at the collector's address.
    #[error("connection refused by {target} (collector not running, or the port is closed)")]
    ConnectionRefused { target: String },

    /// No complete answer within `request_timeout_secs`.
    #[error("timeout: no answer from the collector within {secs} s")]
    Timeout { secs: u64 },

    /// The collector could not be reached (DNS, no route, reset while connecting).
    #[error("cannot reach the collector: {detail}")]
    Connect { detail: String },

    /// The connection failed after it was established (reset, cut-off response).
    #[error("network error: {detail}")]
    Network { detail: String },

    // ---- one attempt: the collector's answer -----------------------------------------------
    /// 401: the token is unknown or revoked.
    #[error(
        "token refused by the collector (HTTP 401: {message}); check token / token_file and that \
         the device is registered"
    )]
    Unauthorized { message: String },

    /// 403: the token's device may not send these lines.
    #[error(
        "forbidden by the collector (HTTP 403: {message}); the transactions name another device \
         than this token's"
    )]
    Forbidden { message: String },

    /// 413: the body is over the collector's limit.
    #[error("batch too large for the collector (HTTP 413: {message})")]
    TooLarge { message: String },

    /// 415: the collector does not take the body's type or encoding (a bug or version skew).
    #[error(
        "collector refused the request format (HTTP 415: {message}); agent and collector versions \
         may not match"
    )]
    UnsupportedMediaType { message: String },

    /// 429 or 503: the collector asks to come back later.
    #[error("collector busy (HTTP {status}: {message})")]
    Busy {
        status: u16,
        /// The `Retry-After` delay, if the answer had a usable one (not yet capped).
        retry_after: Option<Duration>,
        message: String,
    },

    /// Any other 5xx: nothing was promised, send the same batch again.
    #[error("collector error (HTTP {status}: {message})")]
    Server { status: u16, message: String },

    /// A status the protocol does not use here (other 4xx, 1xx/2xx/3xx other than 200).
    #[error("unexpected answer from the collector (HTTP {status}: {message})")]
    Unexpected { status: u16, message: String },

    /// A 200 whose body is cut off or not an ingest response.
    #[error("invalid response from the collector: {detail}")]
    InvalidResponse { detail: String },

    /// A 200 that does not account for exactly the lines sent; nothing is acknowledged.
    #[error(
        "collector's answer does not account for the batch: sent {sent} lines, it saw \
         {lines_seen} (inserted {inserted} + duplicates {duplicates} + rejected {rejected}); \
         nothing acknowledged, the batch will be sent again"
    )]
    Unbalanced {
        sent: u64,
        lines_seen: u64,
        inserted: u64,
        duplicates: u64,
        rejected: u64,
    },

    // ---- on the device ---------------------------------------------------------------------
    /// Reading or settling the outbox failed.
    #[error("outbox: {0}")]
    Outbox(#[from] BufferError),

    /// Preparing a batch failed inside the agent (a panicked worker, a failed gzip).
    #[error("internal error while preparing a batch: {detail}")]
    Internal { detail: String },
}

impl UploadError {
    /// 401 or 403: the collector refused who we are.
    pub fn is_auth(&self) -> bool {
        matches!(self, Self::Unauthorized { .. } | Self::Forbidden { .. })
    }

    /// A TLS failure, or a `ca_file` problem (both mean "the secure channel cannot be set up").
    pub fn is_tls(&self) -> bool {
        matches!(
            self,
            Self::TlsCertificate { .. }
                | Self::Tls { .. }
                | Self::CaFile { .. }
                | Self::CaCertificates { .. }
        )
    }

    /// The collector's `Retry-After`, when it sent one with a 429 or 503.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Busy { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether this outcome shows the collector answering over HTTP (`Some(true)`), not being
    /// reachable (`Some(false)`), or says nothing about it (`None`, e.g. an outbox error).
    pub fn collector_reachable(&self) -> Option<bool> {
        match self {
            Self::Unauthorized { .. }
            | Self::Forbidden { .. }
            | Self::TooLarge { .. }
            | Self::UnsupportedMediaType { .. }
            | Self::Busy { .. }
            | Self::Server { .. }
            | Self::Unexpected { .. }
            | Self::InvalidResponse { .. }
            | Self::Unbalanced { .. } => Some(true),
            Self::TlsCertificate { .. }
            | Self::Tls { .. }
            | Self::ConnectionRefused { .. }
            | Self::Timeout { .. }
            | Self::Connect { .. }
            | Self::Network { .. } => Some(false),
            Self::CaFile { .. }
            | Self::CaCertificates { .. }
            | Self::CollectorUrl { .. }
            | Self::Config(_)
            | Self::Client(_)
            | Self::Outbox(_)
            | Self::Internal { .. } => None,
        }
    }
}
