//! Collector settings: every flag has an environment variable and a default, so
//! `scout-collector serve` with nothing set runs on the embedded SQLite default.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;
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
    pub gates: GatesSettings,
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
        self.gates
            .config()
            .context("Failed to read the gates' settings")?;
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

/// The quality gates' windows and thresholds, as `gates`, `doctor` and `serve` (`GET /v1/gates`)
/// take them; [`GatesSettings::config`] checks them into a [`crate::gates::GatesConfig`]. The
/// defaults are the operations manual's.
#[derive(Debug, Clone, Args)]
pub struct GatesSettings {
    /// How far back the gates look, in hours.
    #[arg(long, env = "SCOUT_GATES_WINDOW_HOURS", default_value_t = 24.0)]
    pub window_hours: f64,
    /// Windows of single gates, in hours, over --window-hours: `gate=hours,…`, e.g.
    /// `performance=1,integration=6`.
    #[arg(long, env = "SCOUT_GATES_WINDOWS", default_value = "")]
    pub gate_windows: String,
    /// A passing value this close to its threshold (a fraction of it) is a warning.
    #[arg(long, env = "SCOUT_GATES_WARN_MARGIN", default_value_t = 0.05)]
    pub warn_margin: f64,
    /// Least mean format detection confidence of imported files.
    #[arg(long, env = "SCOUT_GATE_FORMAT_DETECTION", default_value_t = 0.9)]
    pub min_format_detection: f64,
    /// Least mean schema quality score of imported files.
    #[arg(long, env = "SCOUT_GATE_SCHEMA_QUALITY", default_value_t = 0.8)]
    pub min_schema_quality: f64,
    /// Least mean column mapping confidence of imported files.
    #[arg(long, env = "SCOUT_GATE_MAPPING_CONFIDENCE", default_value_t = 0.85)]
    pub min_mapping_confidence: f64,
    /// Least share of branded silver rows.
    #[arg(long, env = "SCOUT_GATE_COMPLETENESS", default_value_t = 0.8)]
    pub min_completeness: f64,
    /// Largest relative gold/silver revenue difference of a day × store.
    #[arg(long, env = "SCOUT_GATE_REVENUE_TOLERANCE", default_value_t = 0.05)]
    pub revenue_tolerance: f64,
    /// Longest mean audited call, in seconds.
    #[arg(long, env = "SCOUT_GATE_MAX_AVG_SECONDS", default_value_t = 2.0)]
    pub max_avg_seconds: f64,
    /// Oldest the newest row of a layer may be, in minutes.
    #[arg(long, env = "SCOUT_GATE_FRESHNESS_MINUTES", default_value_t = 240.0)]
    pub freshness_minutes: f64,
    /// Bronze rows and day × store partitions missing their next layer tolerated.
    #[arg(long, env = "SCOUT_GATE_INTEGRATION_MAX_MISSING", default_value_t = 0)]
    pub integration_max_missing: u64,
    /// Minutes the pipeline has to reach new rows before the integration gate judges them.
    #[arg(
        long,
        env = "SCOUT_GATE_INTEGRATION_GRACE_MINUTES",
        default_value_t = 10.0
    )]
    pub integration_grace_minutes: f64,
}

impl Default for GatesSettings {
    fn default() -> Self {
        DefaultGates::parse_from(["scout-collector"]).gates
    }
}

#[derive(Debug, Parser)]
struct DefaultGates {
    #[command(flatten)]
    gates: GatesSettings,
}

impl GatesSettings {
    /// The checked configuration: shares and confidences within 0..=1, positive windows and
    /// limits, known gate names.
    pub fn config(&self) -> anyhow::Result<crate::gates::GatesConfig> {
        use crate::gates::GATE_NAMES;
        let hours = |what: &str, h: f64| {
            anyhow::ensure!(
                h.is_finite() && h > 0.0,
                "{what}: a positive number of hours"
            );
            Ok(Duration::from_secs_f64(h.min(24.0 * 366.0) * 3600.0))
        };
        let share = |what: &str, v: f64| {
            anyhow::ensure!(
                (0.0..=1.0).contains(&v),
                "{what}: a number from 0 to 1, not {v}"
            );
            Ok(v)
        };
        let positive = |what: &str, v: f64| {
            anyhow::ensure!(
                v.is_finite() && v >= 0.0,
                "{what}: a positive number, not {v}"
            );
            Ok(v)
        };
        let mut windows = std::collections::BTreeMap::new();
        for part in self
            .gate_windows
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let (name, h) = part
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("--gate-windows: `gate=hours`, not {part:?}"))?;
            let name = GATE_NAMES
                .iter()
                .find(|g| **g == name.trim())
                .ok_or_else(|| anyhow::anyhow!("--gate-windows: no gate {:?}", name.trim()))?;
            let h: f64 = h.trim().parse().map_err(|_| {
                anyhow::anyhow!("--gate-windows: {name}'s window is not a number of hours")
            })?;
            windows.insert(*name, hours("--gate-windows", h)?);
        }
        Ok(crate::gates::GatesConfig {
            window: hours("--window-hours", self.window_hours)?,
            windows,
            margin: share("--warn-margin", self.warn_margin)?,
            format_detection: share("--min-format-detection", self.min_format_detection)?,
            schema_quality: share("--min-schema-quality", self.min_schema_quality)?,
            mapping_confidence: share("--min-mapping-confidence", self.min_mapping_confidence)?,
            completeness: share("--min-completeness", self.min_completeness)?,
            revenue_tolerance: positive("--revenue-tolerance", self.revenue_tolerance)?,
            freshness_minutes: positive("--freshness-minutes", self.freshness_minutes)?,
            max_avg_seconds: positive("--max-avg-seconds", self.max_avg_seconds)?,
            integration_max_missing: self.integration_max_missing as f64,
            integration_grace: Duration::from_secs_f64(
                positive(
                    "--integration-grace-minutes",
                    self.integration_grace_minutes,
                )?
                .min(24.0 * 60.0)
                    * 60.0,
            ),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod gates_tests {
    use super::*;

    #[test]
    fn gate_settings_default_to_the_manual_and_are_checked() {
        let defaults = GatesSettings::default();
        assert_eq!(
            defaults.config().unwrap(),
            crate::gates::GatesConfig::default()
        );
        let parse = |args: &[&str]| {
            DefaultGates::try_parse_from(std::iter::once("x").chain(args.iter().copied()))
                .unwrap()
                .gates
                .config()
        };
        let c = parse(&[
            "--gate-windows",
            "performance=1, integration=6",
            "--min-completeness",
            "0.9",
        ])
        .unwrap();
        assert_eq!(c.window_of("performance"), Duration::from_secs(3600));
        assert_eq!(c.window_of("integration"), Duration::from_secs(6 * 3600));
        assert_eq!(c.window_of("completeness"), Duration::from_secs(24 * 3600));
        assert_eq!(c.completeness, 0.9);
        for bad in [
            &["--min-completeness", "80"][..],
            &["--window-hours", "0"],
            &["--gate-windows", "nonesuch=1"],
            &["--gate-windows", "performance"],
            &["--revenue-tolerance=-1"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
