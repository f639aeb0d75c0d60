//! Collector settings: every flag has an environment variable and a default, so
//! `scout-collector serve` with nothing set runs on the embedded SQLite default.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

/// Limits on what one ingest request may cost.
#[derive(Debug, Clone, Args)]
pub struct IngestLimits {
    /// Largest request body on the wire, in bytes (413 above it).
    #[arg(long, env = "SCOUT_MAX_BODY_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_body_bytes: u64,
    /// Largest body after gunzip, in bytes (413 above it).
    #[arg(long, env = "SCOUT_MAX_DECODED_BYTES", default_value_t = 256 * 1024 * 1024)]
    pub max_decoded_bytes: u64,
    /// Longest NDJSON line, in bytes (that line is rejected, its neighbours land).
    #[arg(long, env = "SCOUT_MAX_LINE_BYTES", default_value_t = 1024 * 1024)]
    pub max_line_bytes: usize,
    /// Rows per bronze commit.
    #[arg(long, env = "SCOUT_BATCH_ROWS", default_value_t = 1000)]
    pub batch_rows: usize,
    /// Row bytes per bronze commit.
    #[arg(long, env = "SCOUT_BATCH_BYTES", default_value_t = 2 * 1024 * 1024)]
    pub batch_bytes: usize,
    /// Ingest requests processed at once, collector-wide (503 above it).
    #[arg(long, env = "SCOUT_MAX_IN_FLIGHT", default_value_t = 64)]
    pub max_in_flight: usize,
    /// Ingest requests processed at once for one device (429 above it).
    #[arg(long, env = "SCOUT_MAX_IN_FLIGHT_PER_DEVICE", default_value_t = 2)]
    pub max_in_flight_per_device: usize,
}

impl Default for IngestLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024 * 1024,
            max_decoded_bytes: 256 * 1024 * 1024,
            max_line_bytes: 1024 * 1024,
            batch_rows: 1000,
            batch_bytes: 2 * 1024 * 1024,
            max_in_flight: 64,
            max_in_flight_per_device: 2,
        }
    }
}

/// Settings of `scout-collector serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on.
    #[arg(long, env = "SCOUT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// PEM certificate chain: serve HTTPS (needs --tls-key).
    #[arg(long, env = "SCOUT_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "SCOUT_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Seconds to let in-flight requests finish after a shutdown signal.
    #[arg(long, env = "SCOUT_DRAIN_SECS", default_value_t = 30)]
    pub drain_secs: u64,
    #[command(flatten)]
    pub limits: IngestLimits,
}
