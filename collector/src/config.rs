//! Collector settings: every flag has an environment variable and a default, so
//! `scout-collector serve` with nothing set runs on the embedded SQLite default.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, Parser};

/// Limits on what one ingest request may cost.
#[derive(Debug, Clone, Args)]
pub struct IngestLimits {
    /// Largest request body on the wire, in bytes (413 above it).
    #[arg(long, env = "SCOUT_MAX_BODY_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_body_bytes: u64,
    /// Largest body after gunzip, in bytes (413 above it).
    #[arg(long, env = "SCOUT_MAX_DECODED_BYTES", default_value_t = 256 * 1024 * 1024)]
    pub max_decoded_bytes: u64,
    /// Largest JSON envelope body (`/functions/v1/ingest-stream` with `application/json`)
    /// after gunzip, in bytes (413 above it). The envelope is held whole to be parsed, so this
    /// bounds its memory; NDJSON bodies stream and are bounded by `--max-decoded-bytes`.
    #[arg(long, env = "SCOUT_MAX_ENVELOPE_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_envelope_bytes: u64,
    /// Longest NDJSON line, in bytes (that line is rejected, its neighbours land).
    #[arg(long, env = "SCOUT_MAX_LINE_BYTES", default_value_t = 1024 * 1024)]
    pub max_line_bytes: usize,
    /// Rows per bronze commit.
    #[arg(long, env = "SCOUT_BATCH_ROWS", default_value_t = 1000)]
    pub batch_rows: usize,
    /// Row bytes per bronze commit.
    #[arg(long, env = "SCOUT_BATCH_BYTES", default_value_t = 1024 * 1024)]
    pub batch_bytes: usize,
    /// Ingest requests processed at once, collector-wide (503 above it).
    #[arg(long, env = "SCOUT_MAX_IN_FLIGHT", default_value_t = 64)]
    pub max_in_flight: usize,
    /// Ingest requests processed at once for one device (429 above it).
    #[arg(long, env = "SCOUT_MAX_IN_FLIGHT_PER_DEVICE", default_value_t = 4)]
    pub max_in_flight_per_device: usize,
    /// Seconds an ingest body may go without sending a byte (408 after, and its slots free).
    #[arg(long, env = "SCOUT_BODY_IDLE_SECS", default_value_t = 30.0)]
    pub body_idle_secs: f64,
    /// Seconds an ingest body may take in all (408 after): a client trickling bytes cannot hold
    /// its slots for longer.
    #[arg(long, env = "SCOUT_BODY_TIMEOUT_SECS", default_value_t = 300.0)]
    pub body_timeout_secs: f64,
}

impl IngestLimits {
    /// How long a body may pause between bytes.
    pub fn body_idle(&self) -> Duration {
        secs(self.body_idle_secs)
    }

    /// How long a body may take in all.
    pub fn body_timeout(&self) -> Duration {
        secs(self.body_timeout_secs)
    }
}

/// A duration from seconds given by an operator, kept between 1 ms and a day.
fn secs(value: f64) -> Duration {
    let value = if value.is_finite() { value } else { 86_400.0 };
    Duration::from_secs_f64(value.clamp(0.001, 86_400.0))
}

/// How long a connection may wait on its client when no request is being processed.
#[derive(Debug, Clone, Copy, Args)]
pub struct ConnectionTimeouts {
    /// Seconds a client has, from the first byte of a request, to send its whole header (or,
    /// on a new connection, from connecting). The connection is closed after.
    #[arg(long, env = "SCOUT_HEADER_TIMEOUT_SECS", default_value_t = 15.0)]
    pub header_timeout_secs: f64,
    /// Seconds an idle connection (no request in progress, nothing sent) is kept open.
    #[arg(long, env = "SCOUT_KEEP_ALIVE_SECS", default_value_t = 75.0)]
    pub keep_alive_secs: f64,
}

impl Default for ConnectionTimeouts {
    fn default() -> Self {
        Self {
            header_timeout_secs: 15.0,
            keep_alive_secs: 75.0,
        }
    }
}

impl ConnectionTimeouts {
    pub fn header(&self) -> Duration {
        secs(self.header_timeout_secs)
    }

    pub fn keep_alive(&self) -> Duration {
        secs(self.keep_alive_secs)
    }
}

impl Default for IngestLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024 * 1024,
            max_decoded_bytes: 256 * 1024 * 1024,
            max_envelope_bytes: 16 * 1024 * 1024,
            max_line_bytes: 1024 * 1024,
            batch_rows: 1000,
            batch_bytes: 1024 * 1024,
            max_in_flight: 64,
            max_in_flight_per_device: 4,
            body_idle_secs: 30.0,
            body_timeout_secs: 300.0,
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
    /// Bearer token the fleet view (`GET /v1/devices`) requires; without one it is open.
    #[arg(long, env = "SCOUT_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<AdminToken>,
    #[command(flatten)]
    pub limits: IngestLimits,
    #[command(flatten)]
    pub timeouts: ConnectionTimeouts,
    #[command(flatten)]
    pub pipeline: PipelineConfig,
    #[command(flatten)]
    pub files: FilesConfig,
}

/// The ways files come in while serving: uploads (`POST /v1/files`) and the watched inbox.
#[derive(Debug, Clone, clap::Args)]
pub struct FilesConfig {
    /// Largest uploaded file (`POST /v1/files`), in bytes (413 above it). The upload is
    /// written to a temporary file as it arrives, so this bounds disk, not memory.
    #[arg(long, env = "SCOUT_MAX_FILE_BYTES", default_value_t = DEFAULT_MAX_FILE_BYTES)]
    pub max_file_bytes: u64,
    /// A folder to watch for sales files (a Drive folder synced by rclone, say): each file is
    /// imported, then moved to `done/`, `review/` or `failed/` beside an error note.
    #[arg(long, env = "SCOUT_INBOX", value_name = "DIR")]
    pub inbox: Option<PathBuf>,
    /// Seconds between looks at the inbox; a file is taken once its size and modification
    /// time have stayed the same for one such period.
    #[arg(long, env = "SCOUT_INBOX_POLL_SECS", default_value_t = 2.0)]
    pub inbox_poll_secs: f64,
    /// A second bearer token that admits file uploads only (for a back office's script), besides
    /// the admin token.
    #[arg(long, env = "SCOUT_UPLOAD_TOKEN", hide_env_values = true)]
    pub upload_token: Option<AdminToken>,
}

/// Default largest upload: 512 MiB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 512 * 1024 * 1024;

impl Default for FilesConfig {
    fn default() -> Self {
        Self {
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            inbox: None,
            inbox_poll_secs: 2.0,
            upload_token: None,
        }
    }
}

impl FilesConfig {
    /// How long the inbox waits between looks.
    pub fn inbox_poll(&self) -> Duration {
        Duration::from_secs_f64(self.inbox_poll_secs.clamp(0.05, 3600.0))
    }
}

/// The medallion pipeline as `serve` runs it.
#[derive(Debug, Clone, clap::Args)]
pub struct PipelineConfig {
    /// Run the medallion stages (silver, gold) in this process: `true` or `false` (an
    /// ingest-only collector). Several processing collectors may share one PostgreSQL database.
    #[arg(
        long = "process",
        env = "SCOUT_PROCESS",
        default_value_t = true,
        action = clap::ArgAction::Set,
        value_name = "BOOL"
    )]
    pub enabled: bool,
    /// Seconds between checks for new bronze rows when no ingest in this process wakes the
    /// pipeline (rows landed by another collector are found this way).
    #[arg(long, env = "SCOUT_PROCESS_POLL_SECS", default_value_t = 2.0)]
    pub process_poll_secs: f64,
    /// An operator's brand dictionary file, merged over the shipped one.
    #[arg(long = "brands-file", env = crate::brands::BRANDS_FILE_ENV, value_name = "PATH")]
    pub brands_file: Option<PathBuf>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            process_poll_secs: 2.0,
            brands_file: None,
        }
    }
}

impl PipelineConfig {
    /// The pipeline's options from these settings.
    pub fn options(&self) -> crate::pipeline::PipelineOptions {
        crate::pipeline::PipelineOptions {
            poll: std::time::Duration::from_secs_f64(self.process_poll_secs.clamp(0.05, 3600.0)),
            ..Default::default()
        }
    }
}

/// `serve` with every setting from the environment or its default.
#[derive(Debug, Parser)]
struct DefaultServe {
    #[command(flatten)]
    config: ServeConfig,
}

/// `serve`'s settings from the environment and defaults: what a bare `scout-collector` serves
/// with, and what the demo's collector starts from.
pub(crate) fn default_serve_config() -> ServeConfig {
    DefaultServe::parse_from(["scout-collector"]).config
}

impl ServeConfig {
    /// Checks what clap cannot (without echoing secrets); `serve` calls it before binding.
    pub fn check(&self) -> anyhow::Result<()> {
        if let Some(token) = &self.admin_token {
            anyhow::ensure!(
                token.as_str().len() >= AdminToken::MIN_LEN,
                "the admin token (--admin-token / SCOUT_ADMIN_TOKEN) must be at least {} characters",
                AdminToken::MIN_LEN
            );
        }
        if let Some(token) = &self.files.upload_token {
            anyhow::ensure!(
                token.as_str().len() >= AdminToken::MIN_LEN,
                "the upload token (--upload-token / SCOUT_UPLOAD_TOKEN) must be at least {} \
                 characters",
                AdminToken::MIN_LEN
            );
        }
        Ok(())
    }
}

/// The operator's token for the fleet view. Its `Debug` form is redacted, so a logged config
/// never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(String);

impl AdminToken {
    /// Shortest accepted token: long enough that guessing is hopeless (`openssl rand -hex 32`
    /// gives 64 characters).
    pub const MIN_LEN: usize = 16;

    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for AdminToken {
    type Err = std::convert::Infallible;

    /// Always succeeds: the length is checked when the server starts, so that a parse error
    /// (which clap prints with the offending value) cannot echo the secret.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.trim().to_owned()))
    }
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}
