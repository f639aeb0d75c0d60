//! The uplink: ships the outbox to the collector, oldest first, and reports how that goes.
//!
//! What enters: pending [`Record`](crate::outbox::Record)s peeked from the outbox (up to
//! `batch_max_records` / `batch_max_bytes`), and a [`Wake`] poke from intake after each commit.
//! What leaves: gzip NDJSON batches to `POST {collector_url}/v1/ingest` (bearer token), each
//! line the stored payload with `"_agent": {capturedAt, seq, version}` added; heartbeats to
//! `POST /v1/heartbeat` every `heartbeat_interval_secs`; a live [`UplinkStatus`] on a `watch`
//! channel; last upload / last error / next retry in the outbox's agent state.
//!
//! # Guarantees
//!
//! 1. **Nothing leaves the outbox without the collector's word.** Rows are settled only from a
//!    200 answer that accounts for every line sent (`inserted + duplicates + rejected ==
//!    lines_seen == lines sent`, each rejected line named once and in range): rejected lines
//!    become dead letters with the collector's reason (never resent), all others are deleted.
//!    Acknowledged and rejected rows of one answer are settled in one outbox transaction, so a
//!    crash or shutdown never leaves a half-settled batch. Any other answer settles nothing.
//! 2. **Transient failures are retried forever**, the same records again, with capped
//!    exponential backoff and full jitter ([`Backoff`]): 5xx, timeouts, refused or reset
//!    connections, cut-off or invalid answers, unbalanced answers, outbox errors, and (with a
//!    technician-readable state) 401/403 (`auth_failed`), TLS failures (`tls_failed`) and 415.
//!    429/503 wait the collector's `Retry-After` (seconds or HTTP date, capped at
//!    `backoff_max_ms`) when given; such a wait is the collector's, not a guess, so it does not
//!    advance the exponential sequence. Backoff resets after a success. Resending is safe: the
//!    collector lands a (device, transaction id) once however often it arrives.
//! 3. **413 halves the batch** (down to one record) and retries at once; a lone record still
//!    refused with 413 becomes a dead letter with the reason. The smaller limit sticks, and
//!    doubles back after 16 successful batches. Records whose payload is not a JSON object are
//!    dead-lettered by the agent (they could never be accepted).
//! 4. **Idle means quiet.** With nothing pending the uplink waits for a [`Wake`] poke, or
//!    [`DEFAULT_IDLE_POLL`] at most (for records written by another process, e.g.
//!    `scout-agent enqueue`); it does not poll SQLite in a loop, and writes agent state only when
//!    a value changes (last upload time at most every [`PERSIST_UPLOAD_EVERY`] while draining,
//!    and once more when the queue empties), so an idle agent does not write to the SD card.
//! 5. **Heartbeats never hold up uploads**: they run beside the upload loop, and their failures
//!    are logged once per distinct error (then at debug) and shown in status.
//! 6. **Shutdown** stops a wait at once; the requests in flight (at most [`IN_FLIGHT`]) are
//!    finished (bounded by `request_timeout_secs`) and their answers settled, in order, before
//!    [`Uplink::run`] returns. An outbox that was closed under it (`BufferError::Closed`) stops
//!    the uplink too, as there is nothing left to send or settle.
//! 7. **Intake never waits on the uplink**: a setup problem (unreadable `ca_file`, bad URL, no
//!    token) is shown in status and retried every `backoff_max_ms`; it does not stop the agent.
//! 8. **Answers are settled in the order the batches were peeked.** While uploads succeed, the
//!    next batch is sent while the collector works on the one before it; when the oldest batch
//!    in flight is not delivered, the answers behind it are discarded unsettled and everything
//!    is sent again, oldest first, one batch at a time until a batch is delivered.

mod backoff;
mod batch;
mod error;
mod heartbeat;
mod http;
mod port;
mod status;
mod upload;

use std::future::Future;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{Notify, watch};

pub use backoff::{Backoff, parse_retry_after};
pub use error::UploadError;
pub use heartbeat::disk_free_bytes;
pub use http::HttpTransport;
pub use port::{Transport, UplinkOutbox};
pub use status::{BatchSummary, UplinkState, UplinkStatus, UplinkTotals};
pub use upload::IN_FLIGHT;

use crate::config::{AgentConfig, CheckedConfig, Secret};
use crate::outbox::{OutboxHandle, state_keys};

/// The longest an idle uplink sleeps before looking at the outbox again without a poke.
pub const DEFAULT_IDLE_POLL: Duration = Duration::from_secs(30);

/// While draining, the last-upload time is written to agent state at most this often.
pub const PERSIST_UPLOAD_EVERY: Duration = Duration::from_secs(10);

/// The agent's version ([`crate::VERSION`], the one constant), under the name the uplink's
/// callers know it by: stamped on every line and sent in heartbeats.
pub use crate::VERSION as AGENT_VERSION;

/// What the uplink reads from the agent's configuration, ready to use.
#[derive(Debug, Clone)]
pub struct UplinkSettings {
    /// `collector_url`; `/v1/ingest` and `/v1/heartbeat` are appended.
    pub collector_url: String,
    /// `token` or the contents of `token_file`.
    pub token: Secret,
    /// `ca_file`: when set, the only roots trusted for the collector.
    pub ca_file: Option<PathBuf>,
    /// `batch_max_records`, `batch_max_bytes` (payload bytes before stamping and gzip).
    pub batch_max_records: NonZeroUsize,
    pub batch_max_bytes: u64,
    /// `backoff_initial_ms`, `backoff_max_ms`.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// `request_timeout_secs`, for uploads and heartbeats alike.
    pub request_timeout: Duration,
    /// `heartbeat_interval_secs`.
    pub heartbeat_interval: Duration,
    /// How long an idle uplink waits without a poke ([`DEFAULT_IDLE_POLL`]).
    pub idle_poll: Duration,
    /// `outbox_path`: its file system's free space goes into heartbeats.
    pub outbox_path: PathBuf,
    /// Stamped on lines and heartbeats ([`AGENT_VERSION`]).
    pub agent_version: String,
    /// When the agent started, for the heartbeat's uptime.
    pub started: std::time::Instant,
    /// Seed for the backoff jitter; `None` (the service) seeds from the OS.
    pub jitter_seed: Option<u64>,
}

/// The service's settings: the checked configuration's, an OS-seeded jitter, started now.
impl From<&CheckedConfig> for UplinkSettings {
    fn from(config: &CheckedConfig) -> Self {
        Self {
            collector_url: config.collector_url().to_owned(),
            token: config.token().clone(),
            ca_file: config.ca_file().map(PathBuf::from),
            batch_max_records: config.batch_max_records(),
            batch_max_bytes: config.batch_max_bytes(),
            backoff_initial: config.backoff_initial(),
            backoff_max: config.backoff_max(),
            request_timeout: config.request_timeout(),
            heartbeat_interval: config.heartbeat_interval(),
            idle_poll: DEFAULT_IDLE_POLL,
            outbox_path: config.outbox_path().to_path_buf(),
            agent_version: AGENT_VERSION.to_owned(),
            started: std::time::Instant::now(),
            jitter_seed: None,
        }
    }
}

/// Intake's way to tell an idle uplink that records were committed. Clone it freely; call
/// [`Wake::notify`] after every successful enqueue. A poke while the uplink is busy is kept (one
/// permit), so none is lost.
#[derive(Debug, Clone, Default)]
pub struct Wake(Arc<Notify>);

impl Wake {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records are waiting: wake the uplink if it is idle, or have it look again when it is.
    pub fn notify(&self) {
        self.0.notify_one();
    }

    async fn notified(&self) {
        self.0.notified().await;
    }
}

/// Runs the uplink of the agent service with the outbox actor and an HTTPS client built from
/// `config`, until `shutdown` completes (see the module doc for what that waits for).
///
/// A setup problem (bad URL, unreadable or unusable `ca_file`) does not end it: the problem is
/// logged, shown in `status` and the outbox's last error, and setup is retried every
/// `backoff_max_ms`, while intake goes on filling the outbox.
pub async fn run_checked(
    outbox: OutboxHandle,
    config: &CheckedConfig,
    status: watch::Sender<UplinkStatus>,
    wake: Wake,
    shutdown: impl Future<Output = ()>,
) {
    let mut shutdown = pin!(shutdown);
    let settings = UplinkSettings::from(config);
    let retry_every = settings.backoff_max;
    let transport = loop {
        match HttpTransport::new(&settings) {
            Ok(transport) => break transport,
            Err(err) => {
                tracing::error!(
                    error = %err,
                    retry_in_secs = retry_every.as_secs(),
                    "uplink cannot start; transactions stay in the outbox"
                );
                show_setup_problem(&outbox, &status, &err).await;
                tokio::select! {
                    () = tokio::time::sleep(retry_every) => {}
                    () = &mut shutdown => return,
                }
            }
        }
    };
    tracing::info!(
        collector = %settings.collector_url,
        custom_ca = settings.ca_file.is_some(),
        batch_max_records = settings.batch_max_records.get(),
        "uplink started"
    );
    Uplink::new(outbox, transport, settings, status, wake)
        .run(shutdown)
        .await;
}

/// [`run_checked`] for a configuration as written, built in code: it is checked first. One
/// that does not pass is shown in `status` as the uplink's setup problem, and the uplink then
/// waits for `shutdown` (the service never gets here: it checks its configuration before it
/// starts).
pub async fn run(
    outbox: OutboxHandle,
    config: &AgentConfig,
    status: watch::Sender<UplinkStatus>,
    wake: Wake,
    shutdown: impl Future<Output = ()>,
) {
    match config.check() {
        Ok(config) => run_checked(outbox, &config, status, wake, shutdown).await,
        Err(invalid) => {
            let err = UploadError::Config(invalid);
            tracing::error!(error = %err, "uplink cannot start; transactions stay in the outbox");
            show_setup_problem(&outbox, &status, &err).await;
            shutdown.await;
        }
    }
}

/// Shows why the uplink cannot start: in the live status and as the outbox's last error.
async fn show_setup_problem(
    outbox: &OutboxHandle,
    status: &watch::Sender<UplinkStatus>,
    err: &UploadError,
) {
    let text = err.to_string();
    let state = if err.is_tls() {
        UplinkState::TlsFailed
    } else {
        UplinkState::Idle
    };
    if let Err(e) = outbox
        .set_state(state_keys::LAST_ERROR, Some(text.clone()))
        .await
    {
        tracing::debug!(error = %e, "could not record the uplink error");
    }
    let now = Utc::now();
    status.send_modify(|s| {
        s.state = state;
        s.last_error = Some(text);
        s.last_error_at = Some(now);
    });
}

/// The uplink's two loops (uploads, heartbeats) over any outbox and transport; [`run`] uses the
/// outbox actor and [`HttpTransport`].
#[derive(Debug)]
pub struct Uplink<O, T> {
    outbox: O,
    /// Shared with the tasks of the requests in flight.
    transport: Arc<T>,
    settings: UplinkSettings,
    status: watch::Sender<UplinkStatus>,
    wake: Wake,
}

impl<O: UplinkOutbox, T: Transport + 'static> Uplink<O, T> {
    pub fn new(
        outbox: O,
        transport: T,
        settings: UplinkSettings,
        status: watch::Sender<UplinkStatus>,
        wake: Wake,
    ) -> Self {
        Self {
            outbox,
            transport: Arc::new(transport),
            settings,
            status,
            wake,
        }
    }

    /// Uploads and heartbeats until `shutdown` completes; returns once the request in flight,
    /// if any, was answered (or timed out) and settled.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let (stop_tx, stop_rx) = watch::channel(false);
        let limit = self.settings.batch_max_records.get() as u64;
        self.status.send_modify(|s| s.batch_limit = limit);
        let trigger = async {
            shutdown.await;
            tracing::info!("uplink stopping");
            let _ = stop_tx.send(true);
        };
        tokio::join!(
            trigger,
            self.uploads(&stop_tx, stop_rx.clone()),
            self.heartbeats(stop_rx)
        );
        tracing::info!("uplink stopped");
    }
}

/// Completes once the stop flag is raised (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}
