//! `HttpTransport`: the uplink's HTTPS client (reqwest on rustls with the ring provider).
//!
//! Trust: with `ca_file` set, the collector must present a certificate chaining to one of the
//! PEM certificates in that file, *and only those* (reqwest's `tls_certs_only`): a private
//! collector CA should not be widened to every public CA, and a device that was given a CA file
//! is meant to talk to one collector. Without `ca_file`, the platform's roots are used
//! (rustls-platform-verifier). Every failure is classified into an [`UploadError`] a technician
//! can act on: an untrusted certificate, a refused connection and a timeout read differently.

use std::error::Error as StdError;
use std::io;
use std::time::{Duration, SystemTime};

use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use scout_common::{Heartbeat, IngestResponse};

use super::backoff::parse_retry_after;
use super::{Transport, UplinkSettings, UploadError};
use crate::config::Secret;

/// Longest wait for a TCP + TLS connection, within the request timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Most characters of a collector's error text kept for status.
const MAX_MESSAGE_CHARS: usize = 300;

/// Posts batches and heartbeats to the collector over HTTP(S).
#[derive(Debug, Clone)]
pub struct HttpTransport {
    client: reqwest::Client,
    ingest_url: Url,
    heartbeat_url: Url,
    /// `host:port` for error messages.
    target: String,
    token: Secret,
    timeout: Duration,
}

impl HttpTransport {
    /// Builds the client: request timeout, trusted roots (see the module doc), user agent.
    /// Installs rustls's ring provider as the process default if none is installed yet.
    pub fn new(settings: &UplinkSettings) -> Result<Self, UploadError> {
        // Already installed by the binary at start; harmless (and refused) when it was.
        let _ = rustls::crypto::ring::default_provider().install_default();

        let base = settings.collector_url.trim_end_matches('/');
        let url = |path: &str| {
            Url::parse(&format!("{base}{path}")).map_err(|e| UploadError::CollectorUrl {
                url: settings.collector_url.clone(),
                detail: e.to_string(),
            })
        };
        let ingest_url = url("/v1/ingest")?;
        let heartbeat_url = url("/v1/heartbeat")?;
        if !matches!(ingest_url.scheme(), "http" | "https") {
            return Err(UploadError::CollectorUrl {
                url: settings.collector_url.clone(),
                detail: "must start with https:// (or http:// for a local test)".into(),
            });
        }
        let target = match (ingest_url.host_str(), ingest_url.port_or_known_default()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            _ => settings.collector_url.clone(),
        };

        let mut builder = reqwest::Client::builder()
            .timeout(settings.request_timeout)
            .connect_timeout(settings.request_timeout.min(CONNECT_TIMEOUT))
            .user_agent(format!("scout-agent/{}", settings.agent_version));
        if let Some(path) = &settings.ca_file {
            let pem = std::fs::read(path).map_err(|source| UploadError::CaFile {
                path: path.clone(),
                source,
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                UploadError::CaCertificates {
                    path: path.clone(),
                    detail: innermost(&e),
                }
            })?;
            if certs.is_empty() {
                return Err(UploadError::CaCertificates {
                    path: path.clone(),
                    detail: "no BEGIN CERTIFICATE block found".into(),
                });
            }
            builder = builder.tls_certs_only(certs);
        }
        let client = builder.build().map_err(|e| match &settings.ca_file {
            Some(path) => UploadError::CaCertificates {
                path: path.clone(),
                detail: innermost(&e),
            },
            None => UploadError::Client(e),
        })?;
        Ok(Self {
            client,
            ingest_url,
            heartbeat_url,
            target,
            token: settings.token.clone(),
            timeout: settings.request_timeout,
        })
    }

    /// Turns a reqwest failure into what a technician should read.
    fn classify(&self, err: &reqwest::Error) -> UploadError {
        classify(err, &self.target, self.timeout)
    }

    /// The status's error: the collector's JSON `error` field, or the start of the body, or
    /// the status's reason phrase.
    async fn error_message(response: reqwest::Response) -> String {
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or(text);
        let message = message.trim();
        if message.is_empty() {
            return status
                .canonical_reason()
                .unwrap_or("no reason given")
                .to_owned();
        }
        let mut cut: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
        if cut.len() < message.len() {
            cut.push('…');
        }
        cut
    }

    /// A non-success answer as an error (`retry_after` read from its headers).
    async fn refusal(response: reqwest::Response) -> UploadError {
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let message = Self::error_message(response).await;
        let code = status.as_u16();
        match status {
            StatusCode::UNAUTHORIZED => UploadError::Unauthorized { message },
            StatusCode::FORBIDDEN => UploadError::Forbidden { message },
            StatusCode::PAYLOAD_TOO_LARGE => UploadError::TooLarge { message },
            StatusCode::UNSUPPORTED_MEDIA_TYPE => UploadError::UnsupportedMediaType { message },
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => UploadError::Busy {
                status: code,
                retry_after,
                message,
            },
            s if s.is_server_error() => UploadError::Server {
                status: code,
                message,
            },
            _ => UploadError::Unexpected {
                status: code,
                message,
            },
        }
    }
}

impl Transport for HttpTransport {
    async fn ingest(&self, gzip_body: Vec<u8>) -> Result<IngestResponse, UploadError> {
        let response = self
            .client
            .post(self.ingest_url.clone())
            .bearer_auth(self.token.expose())
            .header(CONTENT_TYPE, "application/x-ndjson")
            .header(CONTENT_ENCODING, "gzip")
            .body(gzip_body)
            .send()
            .await
            .map_err(|e| self.classify(&e))?;
        if response.status() != StatusCode::OK {
            return Err(Self::refusal(response).await);
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| match self.classify(&e) {
                timeout @ UploadError::Timeout { .. } => timeout,
                _ => UploadError::InvalidResponse {
                    detail: format!("the 200 answer was cut off ({})", innermost(&e)),
                },
            })?;
        serde_json::from_slice::<IngestResponse>(&body).map_err(|e| UploadError::InvalidResponse {
            detail: format!("the 200 answer is not an ingest response ({e})"),
        })
    }

    async fn heartbeat(&self, heartbeat: &Heartbeat) -> Result<(), UploadError> {
        let response = self
            .client
            .post(self.heartbeat_url.clone())
            .bearer_auth(self.token.expose())
            .json(heartbeat)
            .send()
            .await
            .map_err(|e| self.classify(&e))?;
        if response.status().is_success() {
            // Drain the small answer so the connection can be reused.
            let _ = response.bytes().await;
            return Ok(());
        }
        Err(Self::refusal(response).await)
    }
}

/// Walks the error's causes for the first one a technician can act on.
fn classify(err: &reqwest::Error, target: &str, timeout: Duration) -> UploadError {
    let mut cause: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cause {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return tls_error(tls);
        }
        if let Some(io) = e.downcast_ref::<io::Error>() {
            match io.kind() {
                io::ErrorKind::ConnectionRefused => {
                    return UploadError::ConnectionRefused {
                        target: target.to_owned(),
                    };
                }
                io::ErrorKind::TimedOut => {
                    return UploadError::Timeout {
                        secs: timeout.as_secs(),
                    };
                }
                _ => {}
            }
        }
        cause = next_cause(e);
    }
    if err.is_timeout() {
        UploadError::Timeout {
            secs: timeout.as_secs(),
        }
    } else if err.is_connect() {
        UploadError::Connect {
            detail: innermost(err),
        }
    } else {
        UploadError::Network {
            detail: innermost(err),
        }
    }
}

fn tls_error(err: &rustls::Error) -> UploadError {
    match err {
        rustls::Error::InvalidCertificate(cert) => UploadError::TlsCertificate {
            detail: cert.to_string(),
        },
        other => UploadError::Tls {
            detail: other.to_string(),
        },
    }
}

/// The error's cause. `io::Error::source` skips the error an `io::Error` wraps (it returns
/// that error's own source), which would hide e.g. the `rustls::Error` inside tokio-rustls's
/// `io::Error`, so an `io::Error` yields the error it wraps.
fn next_cause<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a (dyn StdError + 'static)> {
    match err.downcast_ref::<io::Error>() {
        Some(io) => match io.get_ref() {
            Some(inner) => Some(inner),
            None => None,
        },
        None => err.source(),
    }
}

/// The deepest cause's text (reqwest's own wording names the URL and little else).
fn innermost(err: &(dyn StdError + 'static)) -> String {
    let mut last: &(dyn StdError + 'static) = err;
    while let Some(next) = next_cause(last) {
        last = next;
    }
    last.to_string()
}
